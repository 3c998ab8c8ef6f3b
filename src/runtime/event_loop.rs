//! [`EventLoop`]: running futures on a loop (the main future of `run_until_complete`,
//! `run_forever`), stopping, and closing.
//!
//! # The main future
//!
//! `run_until_complete` polls its future in place (so it may borrow from the caller's
//! stack and need not be `'static`), but to users it is a task like any other: it has a
//! task id, is named `main`, and is seen by `current_task()`, `all_tasks()`, dumps,
//! traces, debug mode's slow-poll reports and the stall watchdog (`MainTask` in
//! `iteration.rs`).
//!
//! # Closing
//!
//! `close()` (or dropping the loop, which always closes it) shuts the loop down once (see
//! `shutdown.rs`). A closed loop refuses to run or spawn: it panics with asyncio's
//! "Event loop is closed". The loop being dropped is made the current loop for its
//! shutdown even when another loop runs on this thread, so the destructors of its tasks
//! see their own loop.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe, Location};
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Instant;

use super::context::{self, Enter};
use super::iteration::{Lifecycle, MainTask};
use super::tasks::{next_task_id, Polled};
use super::{Builder, Core, ExceptionContext, LoopHandle, Shared};

struct MainWake {
    shared: Arc<Shared>,
}

impl Wake for MainWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }
    fn wake_by_ref(self: &Arc<Self>) {
        // On the loop's thread: the main future takes its place in the ready queue.
        let here = context::try_with_core(|core| {
            let mine = Arc::ptr_eq(core.shared(), &self.shared);
            if mine {
                core.queue_main();
            }
            mine
        });
        if here != Some(true) && self.shared.signal.wake_main() {
            self.shared.unpark();
        }
    }
}

/// Clears the loop's main-task record when `run_until_complete` returns or unwinds.
struct MainGuard<'a>(&'a Core);

impl Drop for MainGuard<'_> {
    fn drop(&mut self) {
        self.0.main.borrow_mut().take();
        self.0.clear_main_turn();
    }
}

#[track_caller]
fn refuse_if_closed(core: &Core, what: &str) {
    if core.life.get() != Lifecycle::Open {
        panic!("simul: Event loop is closed (EventLoop::{what} on a closed loop)");
    }
}

/// An event loop: one thread, many tasks.
///
/// Most programs use [`crate::run`]; an `EventLoop` is for running several futures on one loop
/// in turn, [`EventLoop::run_forever`], or settings from [`Builder`].
///
/// Dropping the loop cancels the tasks still alive on it.
///
/// # Examples
/// ```
/// let lp = simul::EventLoop::new().unwrap();
/// let t = lp.run_until_complete(async { simul::spawn(async { 1 }) });
/// assert_eq!(lp.run_until_complete(t).unwrap(), 1);
/// ```
#[doc(alias = "AbstractEventLoop")]
#[doc(alias = "new_event_loop")]
pub struct EventLoop {
    pub(crate) core: Box<Core>,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl fmt::Debug for EventLoop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventLoop")
            .field("tasks", &self.core.task_count())
            .field("debug", &self.core.is_debug())
            .field("virtual_time", &self.core.clock().is_virtual())
            .finish()
    }
}

impl EventLoop {
    pub(super) fn from_core(core: Core) -> EventLoop {
        EventLoop {
            core: Box::new(core),
            _not_send: std::marker::PhantomData,
        }
    }
}

impl EventLoop {
    /// A loop with default settings.
    ///
    /// # Errors
    /// When the OS selector cannot be created.
    ///
    /// # Examples
    /// ```
    /// let lp = simul::EventLoop::new().unwrap();
    /// assert_eq!(lp.run_until_complete(async { "done" }), "done");
    /// ```
    pub fn new() -> io::Result<EventLoop> {
        Builder::default().build()
    }

    /// A [`Builder`] for a loop with settings.
    ///
    /// # Examples
    /// ```
    /// let lp = simul::EventLoop::builder().debug(false).build().unwrap();
    /// assert!(!lp.is_debug());
    /// ```
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// Whether debug mode is on.
    ///
    /// # Examples
    /// ```
    /// assert!(!simul::EventLoop::builder().debug(false).build().unwrap().is_debug());
    /// ```
    #[doc(alias = "get_debug")]
    pub fn is_debug(&self) -> bool {
        self.core.is_debug()
    }

    /// Runs the loop until `future` completes and returns its output. Other tasks run
    /// meanwhile; those still alive afterwards stay on the loop for the next run. The
    /// future runs as the task named `main` (see the module doc).
    ///
    /// # Panics
    /// When another loop runs on this thread, or the loop is closed ("Event loop is
    /// closed"); re-raises a panic of `future` itself.
    ///
    /// # Examples
    /// ```
    /// let lp = simul::EventLoop::new().unwrap();
    /// assert_eq!(lp.run_until_complete(async { 1 + 1 }), 2);
    /// ```
    #[track_caller]
    pub fn run_until_complete<F: Future>(&self, future: F) -> F::Output {
        self.run_main(future, Location::caller())
    }

    /// [`EventLoop::run_until_complete`], with the main task's location given.
    #[track_caller]
    pub(crate) fn run_main<F: Future>(
        &self,
        future: F,
        location: &'static Location<'static>,
    ) -> F::Output {
        refuse_if_closed(&self.core, "run_until_complete");
        let _enter = Enter::new(&self.core);
        let core = &*self.core;
        let main_wake = Arc::new(MainWake {
            shared: core.shared().clone(),
        });
        core.queue_main();
        let waker = Waker::from(main_wake.clone());
        let mut cx = Context::from_waker(&waker);
        let mut future = pin!(future);
        let main = Rc::new(MainTask {
            id: next_task_id(),
            location,
            created: core.clock().coarse_instant(),
            polls: Cell::new(0),
            running: Cell::new(false),
        });
        *core.main.borrow_mut() = Some(main.clone());
        let _main_guard = MainGuard(core);
        loop {
            if core.take_main_turn() {
                let saved_budget = core.fresh_budget();
                let started = core
                    .instrumented
                    .then(|| core.before_poll(main.id, main.location));
                main.running.set(true);
                let res = catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(&mut cx)));
                main.running.set(false);
                core.restore_budget(saved_budget);
                main.polls.set(main.polls.get() + 1);
                if let Some(t0) = started {
                    let polled = Polled {
                        id: main.id,
                        location: main.location,
                        polls: main.polls.get(),
                        name: &|| "main".to_string(),
                    };
                    core.after_poll(&polled, t0);
                }
                match res {
                    Ok(Poll::Ready(v)) => return v,
                    Ok(Poll::Pending) => {}
                    Err(p) => std::panic::resume_unwind(p),
                }
            }
            core.run_until_main_turn();
        }
    }

    /// Runs the loop until [`EventLoop::stop`] or [`LoopHandle::stop`] is called.
    ///
    /// # Panics
    /// When another loop runs on this thread, or the loop is closed.
    ///
    /// # Examples
    /// ```
    /// let lp = simul::EventLoop::new().unwrap();
    /// let h = lp.handle();
    /// lp.run_until_complete(async move {
    ///     simul::call_later(std::time::Duration::from_millis(1), move || h.stop());
    /// });
    /// lp.run_forever(); // returns once the timer stopped it
    /// ```
    pub fn run_forever(&self) {
        refuse_if_closed(&self.core, "run_forever");
        let _enter = Enter::new(&self.core);
        let core = &*self.core;
        while !core.shared().take_stop() {
            // A stale waker of an earlier run_until_complete must not keep us busy.
            core.shared().signal.take_main();
            core.run_once();
        }
    }

    /// Asks [`EventLoop::run_forever`] to return after the current iteration.
    ///
    /// # Examples
    /// ```
    /// let lp = simul::EventLoop::new().unwrap();
    /// lp.stop();
    /// lp.run_forever(); // returns at once
    /// ```
    pub fn stop(&self) {
        self.core.shared().request_stop();
    }

    /// A `Send + Sync` handle for other threads.
    ///
    /// # Examples
    /// ```
    /// let lp = simul::EventLoop::new().unwrap();
    /// let h = lp.handle();
    /// std::thread::spawn(move || h.call_soon_threadsafe(|| println!("hi"))).join().unwrap();
    /// ```
    pub fn handle(&self) -> LoopHandle {
        LoopHandle::new(self.core.shared().clone())
    }

    /// The loop's clock (virtual under [`Builder::virtual_time`]).
    ///
    /// # Examples
    /// ```
    /// let lp = simul::EventLoop::new().unwrap();
    /// let t0 = lp.time();
    /// assert!(lp.time() >= t0);
    /// ```
    pub fn time(&self) -> Instant {
        self.core.now()
    }

    /// Spawns a task on this loop before (or between) runs.
    ///
    /// # Panics
    /// When the loop is closed ("Event loop is closed").
    ///
    /// # Examples
    /// ```
    /// let lp = simul::EventLoop::new().unwrap();
    /// let t = lp.spawn(async { 9 });
    /// assert_eq!(lp.run_until_complete(t).unwrap(), 9);
    /// ```
    #[track_caller]
    #[doc(alias = "create_task")]
    pub fn spawn<F>(&self, future: F) -> crate::Task<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        refuse_if_closed(&self.core, "spawn");
        let loc = Location::caller();
        crate::Task::from_raw(self.core.spawn_raw(future, None, loc, false))
    }

    /// Installs the handler for loop-level reports (unretrieved panics, panicking
    /// callbacks, debug-mode warnings). By default they go to stderr.
    ///
    /// # Examples
    /// ```
    /// let lp = simul::EventLoop::new().unwrap();
    /// lp.set_exception_handler(|ctx| eprintln!("custom: {ctx}"));
    /// ```
    pub fn set_exception_handler(&self, f: impl Fn(&ExceptionContext) + 'static) {
        *self.core.exception_handler.borrow_mut() = Some(Rc::new(f));
    }

    /// Cancels every task, runs shutdown hooks and releases the loop's resources (see the
    /// module doc). Also done on drop; calling it twice is harmless. Afterwards the loop
    /// refuses to run or spawn.
    ///
    /// # Panics
    /// From inside this loop's own tasks (asyncio: "Cannot close a running event loop").
    ///
    /// # Examples
    /// ```
    /// let lp = simul::EventLoop::new().unwrap();
    /// let t = lp.spawn(std::future::pending::<()>());
    /// lp.close();
    /// assert!(t.is_cancelled());
    /// ```
    pub fn close(&self) {
        if context::is_current(&self.core) {
            panic!("simul: Cannot close a running event loop");
        }
        self.shut_down();
    }

    /// Shuts the loop down with it current, whatever loop runs on this thread.
    fn shut_down(&self) {
        if self.core.life.get() != Lifecycle::Open {
            return;
        }
        let _enter = Enter::nested(&self.core);
        self.core.shutdown();
    }

    /// The loop core (for the layers that extend `EventLoop`, e.g. `signal`).
    pub(crate) fn core(&self) -> &Core {
        &self.core
    }
}

impl Drop for EventLoop {
    fn drop(&mut self) {
        self.shut_down();
    }
}
