//! Hooks for a second front end on the loop core, such as the Python event loop in
//! `python/`: scheduling callbacks on a loop that is not running, and wrapping the one
//! blocking wait of an iteration.
//!
//! # The park hook
//!
//! [`EventLoop::set_park_hook`] installs a function that wraps the selector wait of an
//! idle iteration (step 4 of the iteration in the module doc of [`crate::runtime`]). The
//! Python loop uses it to release the GIL while the thread sleeps in `epoll_wait` and to
//! take it back (and run Python's signal handlers) when it wakes.
//!
//! Invariants:
//! - the hook runs on the loop's thread, only around the *blocking* wait, never around the
//!   zero-timeout polls a busy loop makes every [`crate::runtime::IO_INTERVAL`] iterations
//!   (or as [`EventLoop::set_io_interval`] says);
//! - the hook is handed the wait and must call it once; not calling it makes the iteration
//!   go on without waiting (and an idle loop spin);
//! - the hook may schedule callbacks and timers; while it runs it is taken out of the loop,
//!   so a hook it installs replaces it, and no hook runs inside itself.
//!
//! # Timers a front end cancels
//!
//! A front end's timer handles may have to live where a [`TimerHandle`] (thread-bound)
//! cannot, such as a Python object any thread may drop. [`TimerHandle::id`] gives a plain
//! [`TimerId`] (`Send`, `Copy`), and [`EventLoop::cancel_timer`] disarms the timer through
//! it, running or not: its wheel entry is removed at once (O(1)), so arming and cancelling
//! many long timers keeps the wheel's size flat ([`EventLoop::armed_timers`]). An id whose
//! timer fired, was cancelled, or belongs to another loop is ignored.

use std::time::Instant;

use super::callback::{callback_cell, schedule_at};
use super::{CallbackHandle, EventLoop, TimerHandle};
use crate::time::wheel::TimerKey;

/// A timer's identity, as plain data: what [`EventLoop::cancel_timer`] takes (see the
/// module doc of `runtime::hooks`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerId {
    key: TimerKey,
    loop_id: u64,
}

impl TimerHandle {
    /// The timer's [`TimerId`], for [`EventLoop::cancel_timer`]; `None` for a timer that
    /// can never fire (a deadline beyond what the clock represents), which has no entry.
    ///
    /// # Examples
    /// ```
    /// let lp = simul::EventLoop::new().unwrap();
    /// let h = lp.call_at(lp.time() + std::time::Duration::from_secs(60), || {});
    /// assert!(h.id().is_some());
    /// ```
    pub fn id(&self) -> Option<TimerId> {
        let (key, loop_id) = self.key_parts();
        key.map(|key| TimerId { key, loop_id })
    }
}

/// A function wrapping the loop's blocking selector wait (see the module doc).
pub(crate) type ParkHook = Box<dyn FnMut(&mut dyn FnMut())>;

impl EventLoop {
    /// Schedules `f` on this loop, running or not: like [`crate::call_soon`], for a front
    /// end that schedules before it runs the loop (asyncio's `loop.call_soon(f)` followed by
    /// `loop.run_forever()`).
    ///
    /// Work handed in from other threads before this call (`call_soon_threadsafe`, remote
    /// wakes) is moved to the ready queue first, so it runs before `f`: one FIFO order in
    /// real time, as asyncio's single ready queue gives.
    ///
    /// # Examples
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// let lp = simul::EventLoop::new().unwrap();
    /// let hit = Rc::new(Cell::new(false));
    /// let h = hit.clone();
    /// let stop = lp.handle();
    /// lp.call_soon(move || { h.set(true); stop.stop(); });
    /// lp.run_forever();
    /// assert!(hit.get());
    /// ```
    pub fn call_soon(&self, f: impl FnOnce() + 'static) -> CallbackHandle {
        self.core.drain_inject();
        let cb = callback_cell(f);
        self.core.call_soon_rc(cb.clone());
        CallbackHandle { cb }
    }

    /// Schedules `f` for `when` (by [`EventLoop::time`]) on this loop, running or not; a
    /// time already past fires at the next timer tick, after the timers due before it. Cancelling the handle while the loop is not running
    /// keeps the callback from running; its timer entry is dropped when it comes due.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// let lp = simul::EventLoop::new().unwrap();
    /// let stop = lp.handle();
    /// let h = lp.call_at(lp.time() + Duration::from_millis(1), move || stop.stop());
    /// assert!(!h.is_cancelled());
    /// lp.run_forever(); // the timer stops it
    /// ```
    #[doc(alias = "call_later")]
    pub fn call_at(&self, when: Instant, f: impl FnOnce() + 'static) -> TimerHandle {
        schedule_at(&self.core, Some(when), f)
    }

    /// Disarms the timer `id` names and drops its callback, running or not; whether it was
    /// still armed. An id of a timer that fired or of another loop is ignored (`false`).
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// let lp = simul::EventLoop::new().unwrap();
    /// let id = lp.call_at(lp.time() + Duration::from_secs(3600), || panic!("never")).id().unwrap();
    /// assert_eq!(lp.armed_timers(), 1);
    /// assert!(lp.cancel_timer(id));
    /// assert_eq!(lp.armed_timers(), 0);
    /// assert!(!lp.cancel_timer(id));
    /// ```
    #[doc(alias = "TimerHandle.cancel")]
    pub fn cancel_timer(&self, id: TimerId) -> bool {
        if id.loop_id != self.core.id() {
            return false;
        }
        // Dropping the payload drops the callback (and what it holds) now.
        self.core.remove_timer(id.key).is_some()
    }

    /// How many timers are armed in this loop's wheel (sleeps, timeouts and timer
    /// callbacks), for front ends and tests that check cancelled timers are gone.
    ///
    /// # Examples
    /// ```
    /// let lp = simul::EventLoop::new().unwrap();
    /// assert_eq!(lp.armed_timers(), 0);
    /// let h = lp.call_at(lp.time() + std::time::Duration::from_secs(1), || {});
    /// assert_eq!(lp.armed_timers(), 1);
    /// h.cancel();
    /// ```
    pub fn armed_timers(&self) -> usize {
        self.core.armed_timers()
    }

    /// Wraps the loop's blocking selector wait with `hook` (see the module doc of
    /// `runtime::hooks`): the hook is called with the wait, and must call it once. The
    /// Python loop releases the GIL around it. Replaces an earlier hook.
    ///
    /// # Examples
    /// ```
    /// use std::{cell::Cell, rc::Rc, time::Duration};
    /// let lp = simul::EventLoop::new().unwrap();
    /// let waits = Rc::new(Cell::new(0));
    /// let w = waits.clone();
    /// lp.set_park_hook(move |wait| { w.set(w.get() + 1); wait(); });
    /// lp.run_until_complete(simul::sleep(Duration::from_millis(5)));
    /// assert!(waits.get() >= 1);
    /// ```
    pub fn set_park_hook(&self, hook: impl FnMut(&mut dyn FnMut()) + 'static) {
        *self.core.park_hook.borrow_mut() = Some(Box::new(hook));
    }

    /// After a wait in the selector, lets at least `iterations` busy iterations pass before
    /// the next non-blocking look (default `0`: only [`set_io_interval`](Self::set_io_interval)
    /// counts). The Python loop sets `1`: the callbacks its I/O steps scheduled run before
    /// the selector is asked again, as uvloop's (libuv's) do, which saves a zero-timeout
    /// `epoll_wait` per I/O step of a request-response exchange; a loop kept busy without
    /// waiting still looks every [`set_io_interval`](Self::set_io_interval) iterations.
    ///
    /// # Examples
    /// ```
    /// let lp = simul::EventLoop::new().unwrap();
    /// lp.set_io_interval(0);
    /// lp.set_io_rest_after_wait(1);
    /// lp.run_until_complete(async { simul::yield_now().await });
    /// ```
    #[doc(hidden)]
    pub fn set_io_rest_after_wait(&self, iterations: u32) {
        self.core.io_rest_after_wait.set(iterations);
    }

    /// Sets how many busy iterations (ready work waiting) pass between two non-blocking
    /// looks at the selector: [`crate::runtime::IO_INTERVAL`] by default, `0` for a look
    /// at every iteration, as asyncio's loop does (the Python loop's choice: a task that
    /// spins on `sleep(0)` sees its socket's data the next iteration). Either way a busy
    /// loop with no descriptor registered makes no such system call.
    ///
    /// # Examples
    /// ```
    /// let lp = simul::EventLoop::new().unwrap();
    /// lp.set_io_interval(0);
    /// lp.run_until_complete(async { simul::yield_now().await });
    /// ```
    pub fn set_io_interval(&self, iterations: u32) {
        self.core.io_interval.set(iterations);
        self.core.reset_io_countdown();
    }

    /// Removes the park hook: the loop waits in the selector directly again.
    ///
    /// # Examples
    /// ```
    /// let lp = simul::EventLoop::new().unwrap();
    /// lp.set_park_hook(|wait| wait());
    /// lp.clear_park_hook();
    /// ```
    pub fn clear_park_hook(&self) {
        self.core.park_hook.borrow_mut().take();
    }
}
