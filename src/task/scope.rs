//! What a combinator tells the task handles it drops or polls, through thread-local
//! scopes: a handle cannot be told apart from other futures by its type (stable Rust has
//! no specialization, and `Task` is a `Future` like any other), but it can ask, in its
//! own `Drop` or `poll`, what is happening around it.
//!
//! * [`TimedOut`]: a [`wait_for`](crate::wait_for) / [`timeout_at`](crate::timeout_at)
//!   whose deadline passed is dropping the work it timed. A task handle dropped in this
//!   scope *while it is being awaited* cancels its task instead of detaching it — asyncio's
//!   `wait_for` cancels the awaited task, and cancelling a coroutine cancels the task it is
//!   awaiting. A handle that was only held, not awaited, detaches as usual.
//! * [`Gathering`]: [`gather`](crate::gather()) is polling its children. A task handle
//!   that delivers a panic (`Err(TaskError::Panicked)`) in this scope marks the panic as
//!   *watched*: if every copy of it is dropped unread, the loop reports it as never
//!   retrieved (see `PanicPayload`).
//!
//! # Invariant
//! Each scope is a depth counter, incremented by its guard and decremented when the guard
//! drops (also on unwind), so nesting and panics leave it balanced. The loop thread is the
//! only one that polls or drops task handles (they are `!Send`), so a thread-local is the
//! scope of exactly the combinator on this thread's stack.

use std::cell::Cell;

thread_local! {
    static TIMED_OUT: Cell<u32> = const { Cell::new(0) };
    static GATHERING: Cell<u32> = const { Cell::new(0) };
}

/// Guard of the "dropping timed-out work" scope.
pub(crate) struct TimedOut(());

impl TimedOut {
    pub(crate) fn enter() -> TimedOut {
        TIMED_OUT.with(|d| d.set(d.get() + 1));
        TimedOut(())
    }

    /// Whether a handle being dropped now is dropped because its awaiter timed out.
    pub(crate) fn active() -> bool {
        TIMED_OUT.with(|d| d.get() > 0)
    }
}

impl Drop for TimedOut {
    fn drop(&mut self) {
        TIMED_OUT.with(|d| d.set(d.get() - 1));
    }
}

/// Guard of the "gather is polling its children" scope.
pub(crate) struct Gathering(());

impl Gathering {
    pub(crate) fn enter() -> Gathering {
        GATHERING.with(|d| d.set(d.get() + 1));
        Gathering(())
    }

    /// Whether a result delivered now goes into a `gather`'s `Vec`.
    pub(crate) fn active() -> bool {
        GATHERING.with(|d| d.get() > 0)
    }
}

impl Drop for Gathering {
    fn drop(&mut self) {
        GATHERING.with(|d| d.set(d.get() - 1));
    }
}
