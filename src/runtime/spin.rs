//! Adaptive spin before park, for the loops of a [`Loops`](crate::Loops) set.
//!
//! A loop that blocks in `epoll_wait` costs whoever hands it work a wake-up of a sleeping
//! CPU: an eventfd write, an interrupt, the CPU leaving its idle state — tens of
//! microseconds in a VM, and the same again on the way back for a round trip such as
//! `spawn_on(other, ..).await`. So a loop of a set that has just received work from another
//! thread, on becoming idle, first watches its park word for up to [`SPIN`] (a plain load
//! per turn of a `spin_loop` pause, the clock read every [`CHECK_EVERY`] turns) before it
//! blocks. It does not set `PARKED` while it spins, so a sender that raises `PENDING` then
//! sees no `PARKED` and skips the eventfd write (the handshake of `park.rs` is unchanged:
//! spinning is only more `is_quiet` loads before `prepare_park`).
//!
//! # When a loop spins
//!
//! Only when all of these hold:
//!
//! 1. the loop is a member of a `Loops` set (`Builder::spin_before_park`, set by the set's
//!    worker threads): a plain loop — `simul::run`, an `EventLoop`, the Python loop —
//!    never spins, whatever reaches its injection queue;
//! 2. it is *armed*: work was handed in (`Core::move_injected`) since its last spin that
//!    found nothing. A loop with no cross-thread traffic therefore never spins, and an
//!    idle one spins at most once, right after the last hand-off it received;
//! 3. the thread that last handed it work ran on another CPU (`Shared` records each
//!    sender's CPU for a loop that may spin): when both threads share one CPU, spinning
//!    would only keep the CPU from the thread it waits for (and yielding instead hands the
//!    CPU to any other busy process for a whole slice: tried, and dropped);
//! 4. the back-off allows it: after `k` spins in a row that found nothing, the next
//!    `2^k - 1` hand-offs received do not arm (`k` at most [`MAX_FAILS`]); a spin that
//!    finds work resets `k`;
//! 5. no timer is due within the spin: the spin ends at the earliest armed timer's tick,
//!    and does not start if that is already past (the caller only parks with nothing
//!    ready, so a spin never runs while a local task is ready).
//!
//! # Bounds
//!
//! - One spin lasts at most [`SPIN`] (plus any time the thread is preempted), then the loop
//!   parks as before.
//! - An idle loop spins at most once, after the last hand-off it received, then not again
//!   until it is handed work; a loop that keeps being handed work that its spins never
//!   catch spends at most [`SPIN`] per `2^MAX_FAILS` hand-offs spinning (under 1 µs per
//!   hand-off).
//! - I/O readiness and timers are never starved: the work a spin caught is moved into the
//!   ready queue at the end of the next iteration, which makes that a busy iteration, so a
//!   loop that keeps catching work still looks at the selector every
//!   [`IO_INTERVAL`](super::IO_INTERVAL) iterations and fires its timers at the end of
//!   each; I/O that becomes ready during a spin that catches nothing waits at most
//!   [`SPIN`] (the park that follows sees it).
//!
//! Virtual time never spins (the set refuses it anyway).

use std::cell::Cell;
use std::time::Duration;

/// The longest one spin lasts: above the ~35 µs a wake-up of a sleeping CPU takes in the
/// VM the figures come from, so a loop whose peer is itself waking still catches the
/// reply.
pub(crate) const SPIN: Duration = Duration::from_micros(50);

/// Where a spin starting at `start_ns` must end (ns since the clock's origin): [`SPIN`]
/// later, or at the earliest armed timer's tick if that comes first; `None` (no spin) if
/// that tick has already begun.
pub(crate) fn deadline(start_ns: u64, next_timer_ns: Option<u64>) -> Option<u64> {
    let end = start_ns.saturating_add(SPIN.as_nanos() as u64);
    match next_timer_ns {
        Some(at) if at <= start_ns => None,
        Some(at) => Some(end.min(at)),
        None => Some(end),
    }
}

/// Pauses between two readings of the clock during a spin.
pub(crate) const CHECK_EVERY: u32 = 16;

/// The back-off's cap: after this many fruitless spins in a row, a loop spins once per
/// `2^MAX_FAILS` hand-offs received.
pub(crate) const MAX_FAILS: u32 = 6;

/// Counts of one loop's spins (for tests and introspection).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SpinCounts {
    /// Spins started.
    pub(crate) spins: u64,
    /// Spins that found work handed in (the loop did not block).
    pub(crate) caught: u64,
    /// Time spent spinning, in ns (each spin to its last reading of the clock).
    pub(crate) spun_ns: u64,
}

/// The spin policy of one loop (loop thread only; see the module doc).
pub(crate) struct Spin {
    enabled: bool,
    armed: Cell<bool>,
    /// Fruitless spins in a row (at most [`MAX_FAILS`]).
    fails: Cell<u32>,
    /// Hand-offs still to receive before one arms the loop again.
    skip: Cell<u32>,
    counts: Cell<SpinCounts>,
}

impl Spin {
    pub(crate) fn new(enabled: bool) -> Spin {
        Spin {
            enabled,
            armed: Cell::new(false),
            fails: Cell::new(0),
            skip: Cell::new(0),
            counts: Cell::new(SpinCounts::default()),
        }
    }

    /// Work was handed in from another thread.
    #[inline]
    pub(crate) fn received(&self) {
        if !self.enabled {
            return;
        }
        match self.skip.get() {
            0 => self.armed.set(true),
            n => self.skip.set(n - 1),
        }
    }

    /// Whether the loop is armed (rules 1, 2 and 4 of the module doc; the caller checks
    /// the CPUs and the timers).
    #[inline]
    pub(crate) fn armed(&self) -> bool {
        self.armed.get()
    }

    /// A spin of `ns` ended: `caught` if work came in during it.
    pub(crate) fn finished(&self, caught: bool, ns: u64) {
        let mut c = self.counts.get();
        c.spins += 1;
        c.spun_ns += ns;
        if caught {
            c.caught += 1;
            self.fails.set(0);
        } else {
            self.armed.set(false);
            let k = (self.fails.get() + 1).min(MAX_FAILS);
            self.fails.set(k);
            self.skip.set((1 << k) - 1);
        }
        self.counts.set(c);
    }

    /// The loop's spin counts so far.
    #[cfg(test)]
    pub(crate) fn counts(&self) -> SpinCounts {
        self.counts.get()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_spin_ends_at_its_bound_or_at_the_next_timer() {
        let spin = SPIN.as_nanos() as u64;
        assert_eq!(deadline(1_000, None), Some(1_000 + spin));
        assert_eq!(deadline(1_000, Some(1_000 + 10 * spin)), Some(1_000 + spin));
        assert_eq!(
            deadline(1_000, Some(1_500)),
            Some(1_500),
            "cut at the timer"
        );
        assert_eq!(deadline(1_000, Some(1_000)), None, "a timer due: no spin");
        assert_eq!(deadline(1_000, Some(10)), None);
    }

    #[test]
    fn a_plain_loop_is_never_armed() {
        let s = Spin::new(false);
        for _ in 0..10 {
            s.received();
        }
        assert!(!s.armed());
    }

    #[test]
    fn a_member_arms_only_on_work_handed_in() {
        let s = Spin::new(true);
        assert!(!s.armed(), "armed before any hand-off");
        s.received();
        assert!(s.armed());
        s.finished(true, 1);
        assert!(s.armed(), "a spin that caught work keeps the loop armed");
        s.finished(false, 1);
        assert!(!s.armed(), "a fruitless spin disarms");
        assert_eq!(
            s.counts(),
            SpinCounts {
                spins: 2,
                caught: 1,
                spun_ns: 2
            }
        );
    }

    #[test]
    fn fruitless_spins_back_off_exponentially_up_to_the_cap() {
        let s = Spin::new(true);
        // How many hand-offs it takes to arm again after each fruitless spin.
        let mut needed = Vec::new();
        for _ in 0..(MAX_FAILS + 2) {
            let mut n = 0;
            while !s.armed() {
                s.received();
                n += 1;
            }
            needed.push(n);
            s.finished(false, 1);
        }
        let cap = 1 << MAX_FAILS;
        let want: Vec<u32> = [1, 2, 4, 8, 16, 32, 64, 64]
            .into_iter()
            .map(|n: u32| n.min(cap))
            .collect();
        assert_eq!(needed, want);
        // One catch resets the back-off.
        while !s.armed() {
            s.received();
        }
        s.finished(true, 1);
        s.finished(false, 1);
        s.received();
        s.received();
        assert!(
            s.armed(),
            "after a catch, one fruitless spin skips one hand-off only"
        );
    }
}
