//! Callbacks and their handles: `call_soon`, `call_later`, `call_at` (asyncio's loop
//! methods, acting on the current loop), [`CallbackHandle`], [`TimerHandle`], and the loop's
//! clock as users read it ([`time`]).
//!
//! A callback is an `Rc<dyn Callback>` cell shared by the ready queue (or the timer wheel)
//! and the user's handle: cancelling drops the closure at once and marks the cell, so a
//! queue entry that is reached later does nothing. A callback that panics is reported to
//! the loop's exception handler and never unwinds into the loop.
//!
//! [`call_soon_thin`] (hidden: for embedders) is the allocation-free variant for a caller
//! whose callback is one pointer it already reference-counts (the Python face's `Handle`):
//! the ready queue holds that pointer and a `'static` vtable (`Runnable::Thin`, no larger
//! than the other entries), and the callback's own object does what the cell does here
//! (knowing whether it was cancelled). Its unsafe half is `ThinCall` in `task/raw.rs`.

use std::cell::Cell;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::task::Waker;
use std::time::{Duration, Instant};

use super::context::{try_with_core, with_core};
use super::{Core, ExceptionContext, ExceptionKind};
use crate::time::wheel::TimerKey;

pub(crate) trait Callback {
    fn run(&self);
    fn cancel(&self);
    fn is_cancelled(&self) -> bool;
}

pub(super) struct CallbackCell<F> {
    pub(super) f: Cell<Option<F>>,
    pub(super) cancelled: Cell<bool>,
}

impl<F: FnOnce()> Callback for CallbackCell<F> {
    fn run(&self) {
        if let Some(f) = self.f.take() {
            f();
        }
    }
    fn cancel(&self) {
        self.cancelled.set(true);
        drop(self.f.take());
    }
    fn is_cancelled(&self) -> bool {
        self.cancelled.get()
    }
}

/// What a timer carries.
pub(crate) enum TimerPayload {
    Wake(Waker),
    Call(Rc<dyn Callback>),
}

impl Core {
    pub(super) fn run_callback(&self, cb: Rc<dyn Callback>) {
        if cb.is_cancelled() {
            return;
        }
        self.run_guarded(|| cb.run());
    }

    /// Runs a thin entry; a panic is reported as `run_callback` reports one.
    pub(super) fn run_thin(&self, cb: crate::task::raw::ThinCall) {
        self.run_guarded(|| cb.run());
    }

    /// Runs a callback; a panic goes to the exception handler, and the loop goes on.
    #[inline]
    fn run_guarded(&self, f: impl FnOnce()) {
        if let Err(p) = catch_unwind(AssertUnwindSafe(f)) {
            let msg = crate::task::panic_message(&*p);
            self.call_exception_handler(&ExceptionContext::new(
                ExceptionKind::CallbackPanicked,
                format!("Exception in callback: {msg}"),
                None,
            ));
        }
    }
}

/// Schedules a [`ThinCallback`](crate::ThinCallback) on the current loop: like
/// [`call_soon`], but the queue entry is the callback's own pointer, so nothing is
/// allocated, and there is no handle (the caller's object is its own handle: it decides
/// in [`run`](crate::ThinCallback::run) whether it was cancelled). Runs in FIFO
/// order with `call_soon` callbacks and task steps; a panic is reported to the exception
/// handler; if the loop shuts down first, the callback is dropped unrun (once).
///
/// For embedders that already own a reference-counted object per callback (the Python
/// face's `Handle`); everyone else wants [`call_soon`].
///
/// # Panics
/// Outside a running loop.
#[doc(hidden)]
pub fn call_soon_thin<T: crate::task::raw::ThinCallback>(cb: T) {
    with_core("call_soon", |core| {
        core.ready
            .borrow_mut()
            .push_back(super::Runnable::Thin(crate::task::raw::ThinCall::new(cb)))
    })
}

/// A scheduled `call_soon` callback (asyncio's `Handle`); [`CallbackHandle::cancel`] keeps
/// it from running.
///
/// # Examples
/// ```
/// simul::run(async {
///     let h = simul::call_soon(|| panic!("never runs"));
///     h.cancel();
///     simul::yield_now().await;
/// });
/// ```
#[doc(alias = "Handle")]
pub struct CallbackHandle {
    pub(super) cb: Rc<dyn Callback>,
}

/// The old name of [`CallbackHandle`] (kept for one release).
#[deprecated(
    since = "0.2.0",
    note = "renamed `CallbackHandle`: `Handle` next to `LoopHandle` said neither what it handles"
)]
pub type Handle = CallbackHandle;

impl CallbackHandle {
    /// Prevents the callback from running, if it has not run yet.
    ///
    /// # Examples
    /// ```
    /// simul::run(async { let h = simul::call_soon(|| {}); h.cancel(); assert!(h.is_cancelled()); });
    /// ```
    pub fn cancel(&self) {
        self.cb.cancel();
    }
    /// Whether [`CallbackHandle::cancel`] was called.
    ///
    /// # Examples
    /// ```
    /// simul::run(async { assert!(!simul::call_soon(|| {}).is_cancelled()); });
    /// ```
    #[doc(alias = "cancelled")]
    pub fn is_cancelled(&self) -> bool {
        self.cb.is_cancelled()
    }
}

impl fmt::Debug for CallbackHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackHandle")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

/// A callback scheduled for a time; [`TimerHandle::cancel`] disarms it.
///
/// # Examples
/// ```
/// simul::run(async {
///     let h = simul::call_later(std::time::Duration::from_secs(60), || panic!("never"));
///     h.cancel();
/// });
/// ```
pub struct TimerHandle {
    cb: Rc<dyn Callback>,
    key: Option<TimerKey>,
    /// The loop it was armed on (unique in the process, so a handle that outlived its
    /// loop never cancels a timer of a later one).
    loop_id: u64,
    when: Instant,
}

impl TimerHandle {
    /// Disarms the timer (and drops its callback) if it has not fired yet.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let h = simul::call_later(std::time::Duration::from_millis(1), || panic!("never"));
    ///     h.cancel();
    ///     simul::sleep(std::time::Duration::from_millis(5)).await;
    /// });
    /// ```
    pub fn cancel(&self) {
        self.cb.cancel();
        if let Some(key) = self.key {
            try_with_core(|core| {
                if core.id() == self.loop_id {
                    core.remove_timer(key);
                }
            });
        }
    }
    /// Whether [`TimerHandle::cancel`] was called.
    ///
    /// # Examples
    /// ```
    /// simul::run(async { assert!(!simul::call_later(std::time::Duration::ZERO, || {}).is_cancelled()) });
    /// ```
    #[doc(alias = "cancelled")]
    pub fn is_cancelled(&self) -> bool {
        self.cb.is_cancelled()
    }
    /// When the callback is due.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let h = simul::call_later(std::time::Duration::from_secs(1), || {});
    ///     assert!(h.when() > simul::time());
    ///     h.cancel();
    /// });
    /// ```
    pub fn when(&self) -> Instant {
        self.when
    }

    /// The wheel key and the loop it is armed on (for [`super::TimerId`]).
    pub(super) fn key_parts(&self) -> (Option<TimerKey>, u64) {
        (self.key, self.loop_id)
    }
}

impl fmt::Debug for TimerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerHandle")
            .field("when", &self.when)
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

pub(super) fn callback_cell(f: impl FnOnce() + 'static) -> Rc<dyn Callback> {
    Rc::new(CallbackCell {
        f: Cell::new(Some(f)),
        cancelled: Cell::new(false),
    })
}

/// Schedules `f` to run on the current loop soon: after the running task yields, in FIFO
/// order with other callbacks and ready tasks.
///
/// # Panics
/// Outside a running loop.
///
/// # Examples
/// ```
/// use std::{cell::RefCell, rc::Rc};
/// simul::run(async {
///     let log = Rc::new(RefCell::new(vec![]));
///     for i in 0..3 { let l = log.clone(); simul::call_soon(move || l.borrow_mut().push(i)); }
///     assert!(log.borrow().is_empty()); // nothing runs until we yield
///     simul::yield_now().await;
///     assert_eq!(*log.borrow(), [0, 1, 2]);
/// });
/// ```
#[track_caller]
pub fn call_soon(f: impl FnOnce() + 'static) -> CallbackHandle {
    with_core("call_soon", |core| {
        let cb = callback_cell(f);
        core.call_soon_rc(cb.clone());
        CallbackHandle { cb }
    })
}

/// Schedules `f` to run after `delay` on the current loop.
///
/// # Panics
/// Outside a running loop.
///
/// # Examples
/// ```
/// use std::{cell::Cell, rc::Rc, time::Duration};
/// simul::run(async {
///     let hit = Rc::new(Cell::new(false));
///     let h = hit.clone();
///     simul::call_later(Duration::from_millis(2), move || h.set(true));
///     simul::sleep(Duration::from_millis(10)).await;
///     assert!(hit.get());
/// });
/// ```
#[track_caller]
pub fn call_later(delay: Duration, f: impl FnOnce() + 'static) -> TimerHandle {
    with_core("call_later", |core| {
        let now = core.now();
        let when = now.checked_add(delay);
        schedule_at(core, when, f)
    })
}

/// Schedules `f` to run at `when` (by the loop's clock, [`time`]).
///
/// # Panics
/// Outside a running loop.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// simul::run(async {
///     let at = simul::time() + Duration::from_millis(1);
///     let h = simul::call_at(at, || println!("on time"));
///     assert_eq!(h.when(), at);
///     simul::sleep(Duration::from_millis(5)).await;
/// });
/// ```
#[track_caller]
pub fn call_at(when: Instant, f: impl FnOnce() + 'static) -> TimerHandle {
    with_core("call_at", |core| schedule_at(core, Some(when), f))
}

pub(super) fn schedule_at(
    core: &Core,
    when: Option<Instant>,
    f: impl FnOnce() + 'static,
) -> TimerHandle {
    let cb = callback_cell(f);
    let loop_id = core.id();
    let Some(when) = when else {
        // Beyond the representable future: it never fires.
        return TimerHandle {
            cb,
            key: None,
            loop_id,
            when: core.clock().now() + Duration::from_secs(u32::MAX as u64),
        };
    };
    // A deadline already past goes into the wheel too (it fires at the next tick): due
    // timers run in deadline order, so one armed late still runs after earlier ones.
    let deadline = core.clock().ns_of(when);
    let key = Some(core.add_timer(deadline, TimerPayload::Call(cb.clone())));
    TimerHandle {
        cb,
        key,
        loop_id,
        when,
    }
}

/// The current loop's time (monotonic; virtual under [`Builder::virtual_time`](super::Builder::virtual_time)).
///
/// # Panics
/// Outside a running loop.
///
/// # Examples
/// ```
/// simul::run(async {
///     let t0 = simul::time();
///     simul::sleep(std::time::Duration::from_millis(2)).await;
///     assert!(simul::time() - t0 >= std::time::Duration::from_millis(2));
/// });
/// ```
#[track_caller]
pub fn time() -> Instant {
    with_core("time", |core| core.now())
}
