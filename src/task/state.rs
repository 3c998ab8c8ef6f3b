//! A task's state word: scheduling flags and the reference count in one atomic.
//!
//! ```text
//!  usize:  | refcount (bits 5..) | ORPHAN | CANCEL | COMPLETE | RUNNING | SCHEDULED |
//! ```
//!
//! * `SCHEDULED` — the task sits in a ready queue. Set by a wake that finds it clear (and
//!   the task not complete), which takes the queue entry's reference in the same step and
//!   enqueues it; a new task starts out scheduled. Cleared by the loop just before it
//!   polls, so a wake during the poll enqueues the task again; after a pending poll the
//!   loop clears `RUNNING` and drops the entry's reference in one step.
//! * `RUNNING` — the loop is polling the future.
//! * `COMPLETE` — the future is gone; never cleared. Wakes of a complete task do nothing.
//! * `CANCEL` — cancellation requested; the loop drops the future instead of polling.
//! * `ORPHAN` — the owner's reference went away while the future was being polled; the
//!   poll drops the future as soon as it returns (set and read on the owner's thread only).
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
/// The owner's reference is gone; drop the future after the poll in progress.
pub(crate) const ORPHAN: usize = 1 << 4;
/// One reference in the refcount part of the word.
const REF_ONE: usize = 1 << 5;
const REF_MASK: usize = !(REF_ONE - 1);

/// The state word.
pub(crate) struct State(AtomicUsize);

/// What [`State::schedule_consuming_ref`] did with the reference it was given.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Wake {
    /// The task must be queued; the reference is the queue entry's now.
    Queue,
    /// Nothing to queue; the reference was dropped (`true`: it was the last one).
    Dropped(bool),
}

impl State {
    /// A new task already in a ready queue: `SCHEDULED`, with `refs` references (the
    /// queue entry's among them).
    pub(crate) fn new_scheduled(refs: usize) -> State {
        State(AtomicUsize::new(SCHEDULED | (refs * REF_ONE)))
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

    /// Sets `SCHEDULED` and takes one reference for the queue entry, in one step. `true`
    /// if the caller must enqueue the task (with that reference); `false` (and no
    /// reference taken) if it was already queued or complete.
    pub(crate) fn schedule_with_ref(&self) -> bool {
        self.update(|cur| {
            (cur & (SCHEDULED | COMPLETE) == 0).then_some((cur | SCHEDULED) + REF_ONE)
        })
        .is_ok()
    }

    /// Sets `CANCEL`. `false` if the task had already completed.
    pub(crate) fn request_cancel(&self) -> bool {
        self.0.fetch_or(CANCEL, Ordering::AcqRel) & COMPLETE == 0
    }

    /// Consumes one reference (a waker's) to schedule the task: if it was neither queued
    /// nor complete, sets `SCHEDULED` and the reference becomes the queue entry's
    /// ([`Wake::Queue`]); otherwise the reference is dropped ([`Wake::Dropped`], with
    /// `true` if it was the last). One atomic step either way.
    pub(crate) fn schedule_consuming_ref(&self) -> Wake {
        match self.update(|cur| {
            Some(if cur & (SCHEDULED | COMPLETE) == 0 {
                cur | SCHEDULED
            } else {
                cur - REF_ONE
            })
        }) {
            Ok(prev) | Err(prev) if prev & (SCHEDULED | COMPLETE) == 0 => Wake::Queue,
            Ok(prev) | Err(prev) => {
                debug_assert!(prev & REF_MASK >= REF_ONE, "task refcount underflow");
                Wake::Dropped(prev & REF_MASK == REF_ONE)
            }
        }
    }

    /// Starts running the future (a poll, or dropping it): clears `SCHEDULED`, sets
    /// `RUNNING`. Fails, changing nothing, if the task is complete or already running;
    /// returns the state before either way.
    pub(crate) fn start_run(&self) -> Result<usize, usize> {
        self.update(|cur| (cur & (RUNNING | COMPLETE) == 0).then_some((cur & !SCHEDULED) | RUNNING))
    }

    /// Sets `CANCEL` and `ORPHAN` (the owner's reference is gone during a poll).
    pub(crate) fn orphan(&self) {
        self.0.fetch_or(CANCEL | ORPHAN, Ordering::AcqRel);
    }

    /// The poll returned `Pending`: clears `RUNNING` and drops the queue entry's reference,
    /// in one step. `true` if that was the last reference.
    pub(crate) fn idle_and_ref_dec(&self) -> bool {
        // Only the loop clears RUNNING, and it is set while it polls, so subtracting the
        // bit clears it without borrowing from the bits above.
        let prev = self.0.fetch_sub(RUNNING + REF_ONE, Ordering::AcqRel);
        debug_assert!(prev & RUNNING != 0, "idle without a poll");
        debug_assert!(prev & REF_MASK >= REF_ONE, "task refcount underflow");
        prev & REF_MASK == REF_ONE
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
        self.ref_dec_by(1)
    }

    /// Drops `n` references held by the caller in one atomic step; `true` if they were
    /// the last.
    pub(crate) fn ref_dec_by(&self, n: usize) -> bool {
        let prev = self.0.fetch_sub(n * REF_ONE, Ordering::AcqRel);
        debug_assert!(prev & REF_MASK >= n * REF_ONE, "task refcount underflow");
        prev & REF_MASK == n * REF_ONE
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn complete_ignores_wakes_and_cancel() {
        let s = State::new_scheduled(1);
        s.start_run().unwrap();
        s.transition_to_complete();
        assert!(!s.schedule_with_ref());
        assert!(!s.request_cancel());
        assert_eq!(s.load() & (RUNNING | SCHEDULED), 0);
    }

    #[test]
    fn schedule_with_ref_and_idle_release_keep_the_count() {
        let s = State::new_scheduled(3); // registry, handle, queue entry
        assert_eq!(s.load(), SCHEDULED | (3 * REF_ONE));
        assert!(
            !s.schedule_with_ref(),
            "already queued: no second entry, no ref"
        );
        assert_eq!(s.load() & REF_MASK, 3 * REF_ONE);
        s.start_run().unwrap();
        assert!(
            s.schedule_with_ref(),
            "a wake while running queues it again"
        );
        assert_eq!(s.load(), SCHEDULED | RUNNING | (4 * REF_ONE));
        assert!(!s.idle_and_ref_dec());
        assert_eq!(s.load(), SCHEDULED | (3 * REF_ONE));
        s.start_run().unwrap();
        s.transition_to_complete();
        assert!(!s.schedule_with_ref(), "complete: no entry, no ref");
        assert_eq!(s.load() & REF_MASK, 3 * REF_ONE);
    }

    #[test]
    fn idle_release_of_the_last_reference_reports_it() {
        let s = State::new_scheduled(1);
        s.start_run().unwrap();
        assert!(s.idle_and_ref_dec());
    }

    #[test]
    fn releasing_two_references_at_once_reports_the_last_drop() {
        let s = State::new_scheduled(3);
        assert!(!s.ref_dec_by(2));
        assert_eq!(s.load() & REF_MASK, REF_ONE);
        s.ref_inc();
        assert!(s.ref_dec_by(2));
    }

    #[test]
    fn refcount_reports_the_last_drop() {
        let s = State::new_scheduled(2);
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

    /// Wakes that take their queue reference in the scheduling step race the loop's poll
    /// and release: every reference taken is one enqueue, and the count comes back to
    /// the registry's once every entry has been run.
    #[test]
    fn loom_wakes_with_ref_race_poll_and_release() {
        loom::model(|| {
            // registry + queue entry, as after spawn
            let s = Arc::new(State::new_scheduled(2));
            let wakers: Vec<_> = (0..2)
                .map(|_| {
                    let s = s.clone();
                    thread::spawn(move || usize::from(s.schedule_with_ref()))
                })
                .collect();
            let prev = s.start_run().unwrap();
            assert_eq!(prev & SCHEDULED, SCHEDULED);
            assert!(!s.idle_and_ref_dec(), "the registry still holds one");
            let queued: usize = wakers.into_iter().map(|w| w.join().unwrap()).sum();
            assert!(queued <= 1);
            let st = s.load();
            assert_eq!(st & SCHEDULED != 0, queued == 1);
            assert_eq!(st & REF_MASK, (1 + queued) * REF_ONE);
            if queued == 1 {
                s.start_run().unwrap();
                assert!(!s.idle_and_ref_dec());
            }
            assert_eq!(s.load(), REF_ONE);
        });
    }

    /// Cancel from another thread racing completion: either cancel reports the task was
    /// still alive, or it reports done; never both complete and cancel-accepted unseen.
    #[test]
    fn loom_cancel_races_completion() {
        loom::model(|| {
            let s = Arc::new(State::new_scheduled(1));
            let s2 = s.clone();
            let t = thread::spawn(move || s2.request_cancel());
            s.start_run().unwrap();
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
            let s = Arc::new(State::new_scheduled(2));
            let s2 = s.clone();
            let t = thread::spawn(move || s2.ref_dec());
            let mine = s.ref_dec();
            let theirs = t.join().unwrap();
            assert!(mine ^ theirs, "exactly one side sees the last drop");
        });
    }
}
