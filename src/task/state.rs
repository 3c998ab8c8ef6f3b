//! A task's state word: scheduling flags and the reference count in one atomic.
//!
//! ```text
//!  usize:  | refcount (bits 5..) | (bit 4) | CANCEL | COMPLETE | RUNNING | SCHEDULED |
//! ```
//!
//! * `SCHEDULED` — the task sits in a ready queue. Set by a wake that finds it clear (and
//!   the task not complete); that wake then enqueues one reference. Cleared by the loop
//!   just before it polls, so a wake during the poll enqueues the task again.
//! * `RUNNING` — the loop is polling the future.
//! * `COMPLETE` — the future is gone; never cleared. Wakes of a complete task do nothing.
//! * `CANCEL` — cancellation requested; the loop drops the future instead of polling.
//! * refcount — one per: registry entry, `Task` handle, `Waker`, queue entry. The thread
//!   that drops the count to zero frees the task.
//!
//! This file holds only the transitions, on an atomic that is `loom`'s under `cfg(loom)`,
//! so the model checker explores exactly the code the runtime runs (see the loom tests at
//! the bottom, run with `RUSTFLAGS="--cfg loom" cargo test --release --lib loom`).

#[cfg(loom)]
use loom::sync::atomic::{AtomicUsize, Ordering};
#[cfg(not(loom))]
use std::sync::atomic::{AtomicUsize, Ordering};

/// The task sits in a ready queue.
pub(crate) const SCHEDULED: usize = 1 << 0;
/// The loop is polling the future.
pub(crate) const RUNNING: usize = 1 << 1;
/// The future is gone; the stage holds the output (or it was taken).
pub(crate) const COMPLETE: usize = 1 << 2;
/// Cancellation was requested.
pub(crate) const CANCEL: usize = 1 << 3;
/// One reference in the refcount part of the word.
const REF_ONE: usize = 1 << 5;
const REF_MASK: usize = !(REF_ONE - 1);

/// The state word.
pub(crate) struct State(AtomicUsize);

impl State {
    /// A new task: not scheduled, with `refs` references.
    pub(crate) fn new(refs: usize) -> State {
        State(AtomicUsize::new(refs * REF_ONE))
    }

    pub(crate) fn load(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }

    fn update(&self, f: impl Fn(usize) -> Option<usize>) -> Result<usize, usize> {
        let mut cur = self.0.load(Ordering::Acquire);
        loop {
            let Some(next) = f(cur) else {
                return Err(cur);
            };
            match self
                .0
                .compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(prev) => return Ok(prev),
                Err(actual) => cur = actual,
            }
        }
    }

    /// Sets `SCHEDULED`. `true` if the caller must enqueue the task (it was neither queued
    /// nor complete).
    pub(crate) fn transition_to_scheduled(&self) -> bool {
        self.update(|cur| (cur & (SCHEDULED | COMPLETE) == 0).then_some(cur | SCHEDULED))
            .is_ok()
    }

    /// Sets `CANCEL`. `false` if the task had already completed.
    pub(crate) fn request_cancel(&self) -> bool {
        self.0.fetch_or(CANCEL, Ordering::AcqRel) & COMPLETE == 0
    }

    /// The loop picked the task from a queue: clear `SCHEDULED`, set `RUNNING`. Returns
    /// the state before.
    pub(crate) fn transition_to_running(&self) -> usize {
        match self.update(|cur| Some((cur & !SCHEDULED) | RUNNING)) {
            Ok(prev) | Err(prev) => prev,
        }
    }

    /// The poll returned `Pending`.
    pub(crate) fn transition_to_idle(&self) {
        self.0.fetch_and(!RUNNING, Ordering::AcqRel);
    }

    /// The future is gone for good.
    pub(crate) fn transition_to_complete(&self) {
        let _ = self.update(|cur| Some((cur & !(RUNNING | SCHEDULED)) | COMPLETE));
    }

    pub(crate) fn ref_inc(&self) {
        self.0.fetch_add(REF_ONE, Ordering::Relaxed);
    }

    /// Drops one reference; `true` if it was the last.
    pub(crate) fn ref_dec(&self) -> bool {
        let prev = self.0.fetch_sub(REF_ONE, Ordering::AcqRel);
        debug_assert!(prev & REF_MASK >= REF_ONE, "task refcount underflow");
        prev & REF_MASK == REF_ONE
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn wake_during_poll_requeues_once() {
        let s = State::new(1);
        assert!(s.transition_to_scheduled());
        assert!(!s.transition_to_scheduled(), "already queued");
        assert_eq!(s.transition_to_running() & SCHEDULED, SCHEDULED);
        assert!(
            s.transition_to_scheduled(),
            "a wake while running queues it again"
        );
        s.transition_to_idle();
        assert_eq!(s.load() & (SCHEDULED | RUNNING), SCHEDULED);
    }

    #[test]
    fn complete_ignores_wakes_and_cancel() {
        let s = State::new(1);
        s.transition_to_running();
        s.transition_to_complete();
        assert!(!s.transition_to_scheduled());
        assert!(!s.request_cancel());
        assert_eq!(s.load() & (RUNNING | SCHEDULED), 0);
    }

    #[test]
    fn refcount_reports_the_last_drop() {
        let s = State::new(2);
        s.ref_inc();
        assert!(!s.ref_dec());
        assert!(!s.ref_dec());
        assert!(s.ref_dec());
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;
    use loom::thread;

    /// Two wakers race each other and the loop's poll: the task is enqueued exactly as
    /// many times as needed — never twice at once, and never lost after a poll.
    #[test]
    fn loom_concurrent_wakes_and_poll() {
        loom::model(|| {
            let s = Arc::new(State::new(1));
            // The task is in the queue once, as after spawn.
            assert!(s.transition_to_scheduled());
            let enq = Arc::new(loom::sync::atomic::AtomicUsize::new(0));
            let wakers: Vec<_> = (0..2)
                .map(|_| {
                    let (s, enq) = (s.clone(), enq.clone());
                    thread::spawn(move || {
                        if s.transition_to_scheduled() {
                            enq.fetch_add(1, Ordering::SeqCst);
                        }
                    })
                })
                .collect();
            // The loop polls it once.
            let prev = s.transition_to_running();
            assert_eq!(prev & SCHEDULED, SCHEDULED);
            s.transition_to_idle();
            for w in wakers {
                w.join().unwrap();
            }
            // At most one new enqueue, and if there was none, both wakes landed before the
            // poll cleared SCHEDULED (so the poll saw their effects).
            let n = enq.load(Ordering::SeqCst);
            assert!(n <= 1);
            let st = s.load();
            assert_eq!(st & SCHEDULED != 0, n == 1);
            assert_eq!(st & RUNNING, 0);
        });
    }

    /// Cancel from another thread racing completion: either cancel reports the task was
    /// still alive, or it reports done; never both complete and cancel-accepted unseen.
    #[test]
    fn loom_cancel_races_completion() {
        loom::model(|| {
            let s = Arc::new(State::new(1));
            let s2 = s.clone();
            let t = thread::spawn(move || s2.request_cancel());
            s.transition_to_running();
            s.transition_to_complete();
            let accepted = t.join().unwrap();
            let st = s.load();
            assert_ne!(st & COMPLETE, 0);
            assert_eq!(accepted, st & CANCEL != 0 && accepted);
        });
    }

    /// The last reference is freed exactly once when dropped on two threads.
    #[test]
    fn loom_last_reference_freed_once() {
        loom::model(|| {
            let s = Arc::new(State::new(2));
            let s2 = s.clone();
            let t = thread::spawn(move || s2.ref_dec());
            let mine = s.ref_dec();
            let theirs = t.join().unwrap();
            assert!(mine ^ theirs, "exactly one side sees the last drop");
        });
    }
}
