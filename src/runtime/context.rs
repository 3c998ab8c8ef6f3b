//! The thread's current loop: a thread-local pointer to the running `Core`, set by
//! [`Enter`] for as long as a loop runs on this thread, and the accessors every layer uses
//! to reach "the current loop" (`with_core`, `try_with_core`).
//!
//! # Invariant
//! `CONTEXT` is non-null only while an `Enter` guard for that `Core` is alive, and the
//! guard restores the previous value before the `Core` can be dropped; so a `&Core` handed
//! out by `try_with_core` never dangles. At most one loop is current per thread.

use std::cell::Cell;

use super::Core;

thread_local! {
    static CONTEXT: Cell<*const Core> = const { Cell::new(std::ptr::null()) };
}

/// Runs `f` with the current thread's running loop.
///
/// # Panics
/// With a message naming `what` when no loop runs on this thread.
#[track_caller]
pub(crate) fn with_core<R>(what: &str, f: impl FnOnce(&Core) -> R) -> R {
    match try_with_core(f) {
        Some(r) => r,
        None => panic!(
            "simul::{what}() called outside a running event loop: \
             call it from a task inside simul::run() or EventLoop::run_until_complete()"
        ),
    }
}

/// Runs `f` with the current loop, if there is one.
#[inline]
pub(crate) fn try_with_core<R>(f: impl FnOnce(&Core) -> R) -> Option<R> {
    let ptr = CONTEXT.with(|c| c.get());
    if ptr.is_null() {
        None
    } else {
        // SAFETY: CONTEXT is set only by `Enter` to a Core that outlives the guard, and the
        // guard restores it before the Core can be dropped.
        Some(f(unsafe { &*ptr }))
    }
}

/// Marks this thread as running `core` for the guard's lifetime.
pub(super) struct Enter {
    prev: *const Core,
}

impl Enter {
    pub(super) fn new(core: &Core) -> Enter {
        let prev = CONTEXT.with(|c| c.replace(core as *const Core));
        if !prev.is_null() {
            CONTEXT.with(|c| c.set(prev));
            panic!(
                "simul: cannot start an event loop while another one is running on this \
                 thread (asyncio: \"asyncio.run() cannot be called from a running event \
                 loop\"); spawn the future as a task instead"
            );
        }
        Enter { prev }
    }
}

impl Enter {
    /// Makes `core` current even if another loop runs on this thread (restoring that one
    /// afterwards): for a loop's shutdown, whose destructors must see their own loop.
    pub(super) fn nested(core: &Core) -> Enter {
        Enter {
            prev: CONTEXT.with(|c| c.replace(core as *const Core)),
        }
    }
}

impl Drop for Enter {
    fn drop(&mut self) {
        CONTEXT.with(|c| c.set(self.prev));
    }
}

/// Whether `core` is the current loop of this thread.
pub(super) fn is_current(core: &Core) -> bool {
    CONTEXT.with(|c| std::ptr::eq(c.get(), core))
}
