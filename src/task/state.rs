//! A task's state word: what other threads may see and change, and the reference count,
//! in one atomic.
//!
//! ```text
//!  usize:  | refcount (bits 4..) | ORPHAN | CANCEL | COMPLETE | SCHEDULED |
//! ```
//!
//! * `SCHEDULED` — a *counted* queue entry (a `raw::Runnable`, the kind any thread can
//!   make) exists: a wake that was not local set it, taking the entry's reference in the
//!   same step. Cleared, with that reference dropped, in one step when the loop accepts
//!   the entry ([`State::accept`]) or drops it. At most one counted entry exists at a time.
//! * `COMPLETE` — the future is gone; never cleared. Wakes of a complete task do nothing.
//! * `CANCEL` — cancellation requested; the loop drops the future instead of polling.
//! * `ORPHAN` — the owner's reference went away while the future was being polled; the
//!   poll drops the future as soon as it returns (set and read on the owner's thread only).
//! * refcount — one per: registry entry, `Task` handle, `Waker`, counted queue entry. The
//!   thread that drops the count to zero frees the task.
//!
//! What only the owner thread touches is not here: whether the future is being polled
//! (`running`) and whether a *local* queue entry is in the ready queue (`queued`) are
//! plain flags in the task's `Local` (see `raw.rs`), so a wake on the loop's own thread
//! and the step that follows it cost no atomic operation at all.
//!
//! This file holds only the transitions, on an atomic that is `loom`'s under `cfg(loom)`,
//! so the model checker explores exactly the code the runtime runs (see the loom tests at
//! the bottom, run with `RUSTFLAGS="--cfg loom" cargo test --release --lib loom`).

#[cfg(loom)]
use loom::sync::atomic::{AtomicUsize, Ordering};
#[cfg(not(loom))]
use std::sync::atomic::{AtomicUsize, Ordering};

/// A counted queue entry exists.
pub(crate) const SCHEDULED: usize = 1 << 0;
/// The future is gone; the stage holds the output (or it was taken).
pub(crate) const COMPLETE: usize = 1 << 1;
/// Cancellation was requested.
pub(crate) const CANCEL: usize = 1 << 2;
/// The owner's reference is gone; drop the future after the poll in progress.
pub(crate) const ORPHAN: usize = 1 << 3;
/// One reference in the refcount part of the word.
const REF_ONE: usize = 1 << 4;
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
    /// A new task with `refs` references and no counted entry.
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

    /// Sets `SCHEDULED` and takes one reference for the counted entry, in one step. `true`
    /// if the caller must enqueue the task (with that reference); `false` (and no
    /// reference taken) if a counted entry exists already or the task is complete.
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

    /// Consumes one reference (a waker's) to schedule the task: if it had no counted entry
    /// and was not complete, sets `SCHEDULED` and the reference becomes the entry's
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

    /// The counted entry is taken (accepted by the loop, or dropped): clears `SCHEDULED`
    /// and drops the entry's reference, in one step. Returns the state before; its
    /// refcount is one if that was the last reference.
    pub(crate) fn accept(&self) -> usize {
        let prev = self.0.fetch_sub(SCHEDULED + REF_ONE, Ordering::AcqRel);
        debug_assert!(prev & SCHEDULED != 0, "counted entry without SCHEDULED");
        debug_assert!(prev & REF_MASK >= REF_ONE, "task refcount underflow");
        prev
    }

    /// Whether a state returned by [`State::accept`] held the last reference.
    pub(crate) fn was_last(prev: usize) -> bool {
        prev & REF_MASK == REF_ONE
    }

    /// Sets `CANCEL` and `ORPHAN` (the owner's reference is gone during a poll).
    pub(crate) fn orphan(&self) {
        self.0.fetch_or(CANCEL | ORPHAN, Ordering::AcqRel);
    }

    /// The future is gone for good: sets `COMPLETE` and takes `refs` new references, in
    /// one step (owner thread, once).
    pub(crate) fn complete_with_refs(&self, refs: usize) {
        let prev = self
            .0
            .fetch_add(COMPLETE + refs * REF_ONE, Ordering::AcqRel);
        debug_assert!(prev & COMPLETE == 0, "completed twice");
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
        let s = State::new(1);
        s.complete_with_refs(0);
        assert!(!s.schedule_with_ref());
        assert!(!s.request_cancel());
        assert_eq!(s.load() & SCHEDULED, 0);
    }

    #[test]
    fn completing_takes_the_references_asked_for() {
        let s = State::new(2);
        s.complete_with_refs(2);
        assert_eq!(s.load(), COMPLETE | (4 * REF_ONE));
    }

    #[test]
    fn schedule_with_ref_and_accept_keep_the_count() {
        let s = State::new(2); // registry, handle
        assert!(s.schedule_with_ref(), "no counted entry yet: queue one");
        assert_eq!(s.load(), SCHEDULED | (3 * REF_ONE));
        assert!(
            !s.schedule_with_ref(),
            "already queued: no second entry, no ref"
        );
        assert_eq!(s.load() & REF_MASK, 3 * REF_ONE);
        let prev = s.accept();
        assert!(!State::was_last(prev));
        assert_eq!(s.load(), 2 * REF_ONE);
        assert!(s.schedule_with_ref(), "accepted: a new wake queues again");
        s.complete_with_refs(0);
        assert!(!s.schedule_with_ref(), "complete: no entry, no ref");
        let prev = s.accept();
        assert_ne!(prev & COMPLETE, 0);
        assert_eq!(s.load() & REF_MASK, 2 * REF_ONE);
    }

    #[test]
    fn accepting_the_last_reference_reports_it() {
        let s = State::new(0);
        assert!(s.schedule_with_ref());
        assert!(State::was_last(s.accept()));
    }

    #[test]
    fn releasing_two_references_at_once_reports_the_last_drop() {
        let s = State::new(3);
        assert!(!s.ref_dec_by(2));
        assert_eq!(s.load() & REF_MASK, REF_ONE);
        s.ref_inc();
        assert!(s.ref_dec_by(2));
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

    /// Wakes that take their entry's reference in the scheduling step race the loop
    /// accepting the entry: every reference taken is one entry, at most one exists at a
    /// time, and the count comes back to the registry's once every entry is accepted.
    #[test]
    fn loom_wakes_with_ref_race_accept() {
        loom::model(|| {
            let s = Arc::new(State::new(1)); // the registry's
            assert!(s.schedule_with_ref());
            let wakers: Vec<_> = (0..2)
                .map(|_| {
                    let s = s.clone();
                    thread::spawn(move || usize::from(s.schedule_with_ref()))
                })
                .collect();
            let prev = s.accept();
            assert!(!State::was_last(prev), "the registry still holds one");
            let queued: usize = wakers.into_iter().map(|w| w.join().unwrap()).sum();
            assert!(queued <= 1);
            let st = s.load();
            assert_eq!(st & SCHEDULED != 0, queued == 1);
            assert_eq!(st & REF_MASK, (1 + queued) * REF_ONE);
            if queued == 1 {
                assert!(!State::was_last(s.accept()));
            }
            assert_eq!(s.load(), REF_ONE);
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
            s.complete_with_refs(0);
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
