//! The park/notify handshake between the loop and other threads.
//!
//! The loop must never block in the selector while work handed in from another thread is
//! waiting, and other threads must not pay a syscall (writing the selector's eventfd) for
//! every hand-off while the loop is busy anyway. One atomic word settles it:
//!
//! ```text
//!   PENDING  work was pushed to the injection queue (or stop was requested)
//!   MAIN     the main future of `run_until_complete` was woken
//!   PARKED   the loop is blocked (or about to block) in the selector
//! ```
//!
//! * A remote thread publishes its work, then in one read-modify-write sets `PENDING` (or
//!   `MAIN`) and clears `PARKED`; only if `PARKED` was set does it write the eventfd.
//! * The loop parks with a compare-and-swap that sets `PARKED` only if neither `PENDING`
//!   nor `MAIN` is set; otherwise it does not block.
//!
//! Every decision is a single RMW on one word, so the two sides are totally ordered: either
//! the loop sees the flag, or the remote side sees `PARKED` and wakes it. The loom tests
//! below check that no interleaving loses a wake-up.
//!
//! A loop may spin before it parks ([`ParkState::spin`], the policy in `spin.rs`): it only
//! loads the word, without setting `PARKED`, so a hand-off during the spin costs its sender
//! no eventfd write, and the spin's end is an ordinary `prepare_park` — nothing of the
//! handshake changes (loom: `loom_spin_then_park`).

#[cfg(loom)]
use loom::hint::spin_loop;
#[cfg(loom)]
use loom::sync::atomic::{AtomicU8, Ordering};
#[cfg(not(loom))]
use std::hint::spin_loop;
#[cfg(not(loom))]
use std::sync::atomic::{AtomicU8, Ordering};

const PENDING: u8 = 1;
const MAIN: u8 = 2;
const PARKED: u8 = 4;

/// The one word of the handshake (see the module doc).
pub(crate) struct ParkState(AtomicU8);

impl ParkState {
    pub(crate) fn new() -> ParkState {
        ParkState(AtomicU8::new(0))
    }

    fn raise(&self, bit: u8) -> bool {
        let prev = self
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
                Some((cur | bit) & !PARKED)
            })
            .unwrap_or_else(|cur| cur);
        prev & PARKED != 0
    }

    /// Remote side, after publishing work. `true`: the caller must wake the selector.
    pub(crate) fn notify(&self) -> bool {
        self.raise(PENDING)
    }

    /// The main future was woken. `true`: the caller must wake the selector.
    pub(crate) fn wake_main(&self) -> bool {
        self.raise(MAIN)
    }

    /// Loop side: neither `PENDING` nor `MAIN` is up (one plain load; see
    /// [`ParkState::take_pending`] for why a flag raised just after it is not lost).
    #[inline]
    pub(crate) fn is_quiet(&self) -> bool {
        self.0.load(Ordering::Acquire) & (PENDING | MAIN) == 0
    }

    /// Loop side, idle: watches the word until `PENDING` or `MAIN` is up (`true`) or
    /// `keep_going`, asked every `turns` pauses, says stop (`false`). Sets nothing: a
    /// sender meanwhile sees no `PARKED` and writes no eventfd. Call
    /// [`ParkState::prepare_park`] after a `false`, as without a spin.
    pub(crate) fn spin(&self, turns: u32, mut keep_going: impl FnMut() -> bool) -> bool {
        loop {
            for _ in 0..turns {
                if !self.is_quiet() {
                    return true;
                }
                spin_loop();
            }
            if !keep_going() {
                return !self.is_quiet();
            }
        }
    }

    /// Loop side: whether work was handed in since the last call (clears the flag).
    ///
    /// Called every iteration, so the common case (nothing handed in) is a plain load:
    /// a locked read-modify-write only when the flag is up. A flag raised just after the
    /// load is not lost: the next iteration sees it, and [`ParkState::prepare_park`]
    /// refuses to park while it is set.
    #[inline]
    pub(crate) fn take_pending(&self) -> bool {
        if self.0.load(Ordering::Acquire) & PENDING == 0 {
            return false;
        }
        self.0.fetch_and(!PENDING, Ordering::AcqRel) & PENDING != 0
    }

    /// Loop side: whether the main future was woken (clears the flag).
    pub(crate) fn take_main(&self) -> bool {
        self.0.fetch_and(!MAIN, Ordering::AcqRel) & MAIN != 0
    }

    /// Loop side: whether the main future is waiting to be polled.
    pub(crate) fn main_woken(&self) -> bool {
        self.0.load(Ordering::Acquire) & MAIN != 0
    }

    /// Loop side, before blocking: `true` if the loop may block (then call
    /// [`ParkState::after_park`] once the selector returns).
    pub(crate) fn prepare_park(&self) -> bool {
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
                (cur & (PENDING | MAIN) == 0).then_some(cur | PARKED)
            })
            .is_ok()
    }

    /// Loop side, after the selector returned.
    pub(crate) fn after_park(&self) {
        self.0.fetch_and(!PARKED, Ordering::AcqRel);
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::atomic::AtomicBool;
    use loom::sync::Arc;
    use loom::thread;

    /// A remote hand-off racing the loop's decision to park is never lost: if the loop
    /// blocks, the remote side was told to wake the selector, and the work is visible.
    #[test]
    fn loom_no_lost_wakeup() {
        loom::model(|| {
            let sig = Arc::new(ParkState::new());
            let work = Arc::new(AtomicBool::new(false));
            let (s2, w2) = (sig.clone(), work.clone());
            let remote = thread::spawn(move || {
                w2.store(true, Ordering::Release); // publish the work
                s2.notify()
            });
            let saw = sig.take_pending();
            if saw {
                assert!(work.load(Ordering::Acquire), "flag seen before the work");
            }
            let blocked = !saw && sig.prepare_park();
            let woke_selector = remote.join().unwrap();
            if blocked {
                assert!(woke_selector, "the loop blocked and nobody woke it");
                sig.after_park();
                assert!(sig.take_pending());
            }
            assert!(work.load(Ordering::Acquire));
        });
    }

    /// A loop that spins before parking: a hand-off during the spin is caught with no
    /// selector wake; one after it is caught by the park as before. Never lost, and the
    /// selector is woken only when the loop really blocked.
    #[test]
    fn loom_spin_then_park() {
        loom::model(|| {
            let sig = Arc::new(ParkState::new());
            let work = Arc::new(AtomicBool::new(false));
            let (s2, w2) = (sig.clone(), work.clone());
            let remote = thread::spawn(move || {
                w2.store(true, Ordering::Release);
                s2.notify()
            });
            let mut checks = 0;
            let caught = sig.spin(1, || {
                checks += 1;
                checks < 2
            });
            let blocked = !caught && sig.prepare_park();
            let woke_selector = remote.join().unwrap();
            assert_eq!(
                woke_selector, blocked,
                "an eventfd write iff the loop blocked"
            );
            if blocked {
                sig.after_park();
            }
            assert!(sig.take_pending(), "the hand-off is always seen");
            assert!(work.load(Ordering::Acquire), "flag seen before the work");
        });
    }

    /// The main future's wake goes through the same word.
    #[test]
    fn loom_main_wake_not_lost() {
        loom::model(|| {
            let sig = Arc::new(ParkState::new());
            let s2 = sig.clone();
            let remote = thread::spawn(move || s2.wake_main());
            let blocked = sig.prepare_park();
            let woke_selector = remote.join().unwrap();
            if blocked {
                assert!(woke_selector);
            } else {
                assert!(sig.take_main());
            }
        });
    }

    /// Two remote threads and a parking loop: at most one eventfd write per park.
    #[test]
    fn loom_one_wake_per_park() {
        loom::model(|| {
            let sig = Arc::new(ParkState::new());
            let remotes: Vec<_> = (0..2)
                .map(|_| {
                    let s = sig.clone();
                    thread::spawn(move || s.notify())
                })
                .collect();
            let blocked = sig.prepare_park();
            let writes = remotes
                .into_iter()
                .map(|r| usize::from(r.join().unwrap()))
                .sum::<usize>();
            assert_eq!(writes, usize::from(blocked));
        });
    }
}
