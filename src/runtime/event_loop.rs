//! [`EventLoop`] and [`run`]: running futures on a loop (the main future of
//! `run_until_complete`, `run_forever`), stopping, closing, and asyncio.run's Ctrl-C
//! behaviour.

use std::fmt;
use std::future::Future;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe, Location};
use std::pin::pin;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Instant;

use super::context::{self, Enter};
use super::tasks::TASK_IDS;
use super::{Builder, Core, ExceptionContext, LoopHandle, Shared};

struct MainWake {
    shared: Arc<Shared>,
}

impl Wake for MainWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }
    fn wake_by_ref(self: &Arc<Self>) {
        if self.shared.signal.wake_main() {
            let _ = self.shared.waker.wake();
        }
    }
}

/// An event loop: one thread, many tasks.
///
/// Most programs use [`run`]; an `EventLoop` is for running several futures on one loop
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
            .field("debug", &self.core.config.debug)
            .field("virtual_time", &self.core.clock.is_virtual())
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
        self.core.config.debug
    }

    /// Runs the loop until `future` completes and returns its output. Other tasks run
    /// meanwhile; those still alive afterwards stay on the loop for the next run.
    ///
    /// # Panics
    /// When another loop runs on this thread; re-raises a panic of `future` itself.
    ///
    /// # Examples
    /// ```
    /// let lp = simul::EventLoop::new().unwrap();
    /// assert_eq!(lp.run_until_complete(async { 1 + 1 }), 2);
    /// ```
    pub fn run_until_complete<F: Future>(&self, future: F) -> F::Output {
        let _enter = Enter::new(&self.core);
        let core = &*self.core;
        let main_wake = Arc::new(MainWake {
            shared: core.shared.clone(),
        });
        core.shared.signal.wake_main();
        let waker = Waker::from(main_wake.clone());
        let mut cx = Context::from_waker(&waker);
        let mut future = pin!(future);
        let created = Instant::now();
        let main_id = TASK_IDS.fetch_add(1, Ordering::Relaxed);
        let mut polls = 0u64;
        loop {
            if core.shared.signal.take_main() {
                core.main.set(Some((main_id, polls, created)));
                let saved_budget = core.budget.replace(crate::io::BUDGET);
                let t0 = core.tracer.is_some().then(Instant::now);
                let res = catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(&mut cx)));
                core.budget.set(saved_budget);
                core.main.set(None);
                polls += 1;
                if let (Some(t0), Some(tr)) = (t0, &core.tracer) {
                    tr.borrow_mut()
                        .poll(main_id, || "main".to_string(), t0, t0.elapsed(), polls);
                }
                match res {
                    Ok(Poll::Ready(v)) => return v,
                    Ok(Poll::Pending) => {}
                    Err(p) => std::panic::resume_unwind(p),
                }
            }
            core.run_once();
        }
    }

    /// Runs the loop until [`EventLoop::stop`] or [`LoopHandle::stop`] is called.
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
        let _enter = Enter::new(&self.core);
        let core = &*self.core;
        while !core.shared.stop.swap(false, Ordering::SeqCst) {
            // A stale waker of an earlier run_until_complete must not keep us busy.
            core.shared.signal.take_main();
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
        self.core.shared.request_stop();
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
        LoopHandle::new(self.core.shared.clone())
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
        self.core.clock.now()
    }

    /// Spawns a task on this loop before (or between) runs.
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

    /// Cancels every task, runs shutdown hooks and releases the loop's resources. Also done
    /// on drop; calling it twice is harmless.
    ///
    /// # Examples
    /// ```
    /// let lp = simul::EventLoop::new().unwrap();
    /// let t = lp.spawn(std::future::pending::<()>());
    /// lp.close();
    /// assert!(t.is_cancelled());
    /// ```
    pub fn close(&self) {
        let _enter = Enter::new(&self.core);
        self.core.shutdown();
    }
}

impl Drop for EventLoop {
    fn drop(&mut self) {
        if !self.core.closed.get() {
            let running = context::is_running();
            if !running {
                self.close();
            } else {
                self.core.shutdown();
            }
        }
    }
}

/// Runs `future` on a new event loop on this thread and returns its output (asyncio.run).
///
/// When `future` completes, every task still alive is cancelled (its future dropped, so
/// its destructors run), the blocking pool is shut down, and the loop is released.
///
/// # Ctrl-C
/// Like `asyncio.run`, the first SIGINT (Ctrl-C) drops `future` (its destructors run), the
/// loop shuts down as above and stdout/stderr are flushed; then, instead of returning, the
/// process ends by SIGINT, as Python does after an uncaught `KeyboardInterrupt` (shells
/// report exit status 130). A second SIGINT during that shutdown ends the process at once.
/// This applies only when SIGINT has its default disposition when `run` starts, to the
/// first `run` active in the process, and only while the program does not listen for
/// SIGINT itself (see [`crate::signal`]).
///
/// # Panics
/// Inside a running loop (spawn a task instead), or if the OS selector cannot be created.
/// A panic of `future` itself is re-raised after the shutdown.
///
/// # Examples
/// ```
/// let out = simul::run(async {
///     simul::sleep(std::time::Duration::from_millis(1)).await;
///     "done"
/// });
/// assert_eq!(out, "done");
/// ```
pub fn run<F: Future>(future: F) -> F::Output {
    if context::is_running() {
        panic!(
            "simul::run() cannot be called from a running event loop \
             (asyncio: \"asyncio.run() cannot be called from a running event loop\")"
        );
    }
    let lp = EventLoop::new().expect("simul::run: cannot create the event loop");
    let mut sigint = crate::signal::RunInterrupt::arm();
    let out = catch_unwind(AssertUnwindSafe(|| {
        lp.run_until_complete(sigint.watch(future))
    }));
    lp.close();
    match out {
        Ok(Some(v)) => v,
        Ok(None) => sigint.exit_interrupted(),
        Err(p) => std::panic::resume_unwind(p),
    }
}
