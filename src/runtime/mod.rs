//! The event loop: asyncio's `run`, `EventLoop`, `call_soon`, `call_later`, and friends.
//!
//! # One iteration
//!
//! Like asyncio's `_run_once`, each iteration of the loop:
//!
//! 1. polls the main future if it was woken;
//! 2. runs the entries that were in the ready queue when the iteration started (task steps
//!    and `call_soon` callbacks, in FIFO order — so a task that yields goes behind every
//!    other ready task, and callbacks run in the order they were scheduled);
//! 3. moves work handed in from other threads (wakes, `call_soon_threadsafe`, remote
//!    spawns) from the injection queue into the ready queue;
//! 4. waits in the selector (`epoll_wait` through mio): not at all if something is ready
//!    (and then only every [`IO_INTERVAL`] iterations, to keep the busy path free of
//!    syscalls), else until the earliest timer or an external wake-up;
//! 5. fires the timers whose deadline has passed, in deadline order.
//!
//! # Threads
//!
//! The loop and everything in `Core` belong to one thread: `Core` is reached through a
//! thread-local pointer that is set while the loop runs. Other threads only see
//! `Shared`: the injection queue (a mutex-guarded `Vec`) and the mio waker that breaks
//! the loop out of `epoll_wait`. A remote wake pushes to the queue, then wakes the
//! selector only if the loop announced it is parked (the handshake in `park.rs`,
//! model-checked with loom), so a busy loop pays no syscalls.
//!
//! # Shutdown
//!
//! [`run`] (and dropping an [`EventLoop`]) cancels every task still alive — each future is
//! dropped on the loop thread with the loop still current, so destructors can use it —
//! then drops pending callbacks and timers and closes the injection queue, which from then
//! on drops what it is handed instead of keeping it.

mod handle;
mod hooks;
mod park;

pub use handle::{JoinHandle, LoopHandle};

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe, Location};
use std::pin::pin;
use std::ptr::NonNull;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use crate::debug::Watch;
use crate::io::driver::Driver;
use crate::task::raw::{self, TaskRef};
use crate::task::{Local, TaskInfo, TaskState};
use crate::time::wheel::{self, TimerKey, Wheel};
use crate::trace::{Tracer, TracerCell};

/// Iterations with ready work between two non-blocking selector polls.
pub const IO_INTERVAL: u32 = 61;

thread_local! {
    static CONTEXT: Cell<*const Core> = const { Cell::new(std::ptr::null()) };
}

/// Runs `f` with the current thread's running loop.
///
/// # Panics
/// With a message naming `what` when no loop runs on this thread.
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

/// The part of a loop other threads may touch.
pub(crate) struct Shared {
    inject: Mutex<Inject>,
    signal: park::Signal,
    stop: AtomicBool,
    waker: mio::Waker,
}

type RemoteCall = Box<dyn FnOnce() + Send>;
type ExceptionHandler = Rc<dyn Fn(&ExceptionContext)>;

#[derive(Default)]
struct Inject {
    tasks: Vec<TaskRef>,
    calls: Vec<RemoteCall>,
    closed: bool,
}

impl Shared {
    fn push_task(&self, task: TaskRef) {
        let mut q = self.inject.lock().unwrap_or_else(|e| e.into_inner());
        if q.closed {
            return; // the loop is gone; dropping the reference is all that is left to do
        }
        q.tasks.push(task);
        drop(q);
        self.notify();
    }

    /// Hands a closure to the loop. Returns `false` if the loop is closed.
    pub(crate) fn push_call(&self, f: Box<dyn FnOnce() + Send>) -> bool {
        let mut q = self.inject.lock().unwrap_or_else(|e| e.into_inner());
        if q.closed {
            return false;
        }
        q.calls.push(f);
        drop(q);
        self.notify();
        true
    }

    fn notify(&self) {
        if self.signal.notify() {
            let _ = self.waker.wake();
        }
    }

    pub(crate) fn request_stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.notify();
    }

    /// Closes the queue for good; returns what was still in it.
    fn close(&self) -> (Vec<TaskRef>, Vec<RemoteCall>) {
        let mut q = self.inject.lock().unwrap_or_else(|e| e.into_inner());
        q.closed = true;
        (std::mem::take(&mut q.tasks), std::mem::take(&mut q.calls))
    }
}

/// Schedules a task from a waker or a `cancel()`, on whatever thread this runs.
pub(crate) fn schedule_ref(task: &TaskRef) {
    let Some(queued) = task.schedule() else {
        return;
    };
    let shared_ptr = Arc::as_ptr(task.shared());
    let mut queued = Some(queued);
    try_with_core(|core| {
        if Arc::as_ptr(&core.shared) == shared_ptr {
            if let Some(q) = queued.take() {
                if let Some(tr) = &core.tracer {
                    // SAFETY: loop thread; copy out the id.
                    tr.borrow_mut().wake(unsafe { q.local() }.id, false);
                }
                core.ready.borrow_mut().push_back(Runnable::Task(q));
            }
        }
    });
    if let Some(q) = queued {
        let shared = q.shared().clone();
        shared.push_task(q);
    }
}

pub(crate) trait Callback {
    fn run(&self);
    fn cancel(&self);
    fn is_cancelled(&self) -> bool;
}

struct CallbackCell<F> {
    f: Cell<Option<F>>,
    cancelled: Cell<bool>,
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

enum Runnable {
    Task(TaskRef),
    Call(Rc<dyn Callback>),
}

/// What a timer carries.
pub(crate) enum TimerPayload {
    Wake(Waker),
    Call(Rc<dyn Callback>),
}

/// The loop's clock: real monotonic time, or virtual time that only moves when the loop
/// is idle and jumps to the next timer.
pub(crate) struct Clock {
    origin: Instant,
    virtual_ns: Option<Cell<u64>>,
    /// The coarse clock's reading at `origin` (see [`Clock::coarse_instant`]).
    coarse_origin: Option<u64>,
}

/// `CLOCK_MONOTONIC_COARSE` in ns: the monotonic clock at the kernel tick's resolution
/// (1-4 ms), which the vDSO serves without reading the time counter (a few ns, against
/// ~25 ns for `Instant::now()` on a VM). `None` where it is unavailable.
#[cfg(target_os = "linux")]
fn coarse_ns() -> Option<u64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through the valid pointer it is given.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    let (secs, nanos) = (
        u64::try_from(ts.tv_sec).ok()?,
        u64::try_from(ts.tv_nsec).ok()?,
    );
    (r == 0).then(|| secs * 1_000_000_000 + nanos)
}

#[cfg(not(target_os = "linux"))]
fn coarse_ns() -> Option<u64> {
    None
}

impl Clock {
    fn new(virtual_time: bool) -> Clock {
        Clock {
            coarse_origin: coarse_ns(),
            origin: Instant::now(),
            virtual_ns: virtual_time.then(|| Cell::new(0)),
        }
    }

    /// Real time (never virtual) to within the kernel tick, cheaply: for bookkeeping such
    /// as task creation times, not for timers.
    pub(crate) fn coarse_instant(&self) -> Instant {
        match (self.coarse_origin, coarse_ns()) {
            (Some(c0), Some(c)) => self.origin + Duration::from_nanos(c.saturating_sub(c0)),
            _ => Instant::now(),
        }
    }

    pub(crate) fn now_ns(&self) -> u64 {
        match &self.virtual_ns {
            Some(v) => v.get(),
            None => u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX),
        }
    }
    pub(crate) fn now(&self) -> Instant {
        self.origin + Duration::from_nanos(self.now_ns())
    }
    /// Nanoseconds since the origin for `t` (0 if before it).
    pub(crate) fn ns_of(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.origin).as_nanos()).unwrap_or(u64::MAX)
    }
    pub(crate) fn is_virtual(&self) -> bool {
        self.virtual_ns.is_some()
    }
}

/// The loop's own state; lives on the loop's thread.
pub(crate) struct Core {
    pub(crate) shared: Arc<Shared>,
    ready: RefCell<VecDeque<Runnable>>,
    tasks: RefCell<Registry>,
    pub(crate) timers: RefCell<Wheel<TimerPayload>>,
    pub(crate) clock: Clock,
    pub(crate) driver: RefCell<Driver>,
    /// The task being polled (raw identity; the queue entry keeps it alive).
    current: Cell<Option<NonNull<raw::Header>>>,
    /// Polls of the main future, when it is the one running.
    main: Cell<Option<(u64, u64, Instant)>>,
    /// Work outstanding outside the loop (I/O waits, blocking-pool jobs): virtual time
    /// must not jump while it is non-zero.
    pub(crate) external: Cell<usize>,
    /// Cooperative budget of the running task (see the `io` module).
    pub(crate) budget: Cell<u32>,
    pub(crate) config: Config,
    exception_handler: RefCell<Option<ExceptionHandler>>,
    io_countdown: Cell<u32>,
    /// Creation time shared by the tasks spawned in one stretch of running (cleared on
    /// entering and leaving each iteration), so a spawn does not read the clock each time;
    /// read from the coarse clock, so one spawn per iteration stays cheap too.
    spawn_time: Cell<Option<Instant>>,
    closed: Cell<bool>,
    /// Hooks run at shutdown (e.g. the blocking pool), in registration order.
    pub(crate) shutdown_hooks: RefCell<Vec<Box<dyn FnOnce()>>>,
    /// Trace recorder (tracing on).
    tracer: Option<Box<TracerCell>>,
    /// Stall watchdog (watchdog on).
    watch: Option<Arc<Watch>>,
    /// Debug mode, tracing or the watchdog is on: polls go through `before_poll` and
    /// `after_poll` (fixed at build time, so the plain poll path tests one flag).
    instrumented: bool,
    /// This loop's number in the process (trace thread id).
    loop_no: u64,
    /// Wraps the blocking selector wait (see `hooks.rs`).
    park_hook: RefCell<Option<hooks::ParkHook>>,
}

/// Loop settings fixed at build time.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) debug: bool,
    pub(crate) slow_poll_threshold: Duration,
    trace: Option<Option<std::path::PathBuf>>,
    watchdog: Option<Duration>,
}

#[derive(Default)]
struct Registry {
    slots: Vec<Option<TaskRef>>,
    free: Vec<usize>,
    len: usize,
}

impl Registry {
    fn insert(&mut self, t: TaskRef) -> usize {
        self.len += 1;
        match self.free.pop() {
            Some(i) => {
                self.slots[i] = Some(t);
                i
            }
            None => {
                self.slots.push(Some(t));
                self.slots.len() - 1
            }
        }
    }
    fn remove(&mut self, i: usize) -> Option<TaskRef> {
        let t = self.slots.get_mut(i)?.take();
        if t.is_some() {
            self.len -= 1;
            self.free.push(i);
        }
        t
    }
}

/// What an exception handler is told (asyncio's `call_exception_handler` context).
///
/// # Examples
/// ```
/// use std::{cell::RefCell, rc::Rc};
/// let seen = Rc::new(RefCell::new(Vec::new()));
/// let lp = simul::EventLoop::new().unwrap();
/// let s = seen.clone();
/// lp.set_exception_handler(move |ctx| s.borrow_mut().push(ctx.message().to_string()));
/// lp.run_until_complete(async {
///     drop(simul::spawn(async { panic!("lost") }));
///     simul::yield_now().await;
/// });
/// assert!(seen.borrow()[0].contains("never retrieved"));
/// ```
#[derive(Clone, Debug)]
pub struct ExceptionContext {
    kind: ExceptionKind,
    message: String,
    task: Option<String>,
}

/// What kind of problem an [`ExceptionContext`] reports.
///
/// # Examples
/// ```
/// assert_ne!(simul::ExceptionKind::CallbackPanicked, simul::ExceptionKind::SlowPoll);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExceptionKind {
    /// A task panicked and nobody retrieved the panic.
    UnretrievedPanic,
    /// A `call_soon`/`call_later` callback panicked.
    CallbackPanicked,
    /// A poll took longer than the slow-poll threshold (debug mode).
    SlowPoll,
    /// A resource was dropped while still open (debug mode).
    ResourceWarning,
    /// The stall watchdog saw one poll hold the loop longer than its threshold.
    Stall,
    /// A server's connection handler returned an error (its connection is closed).
    HandlerFailed,
}

impl ExceptionContext {
    pub(crate) fn new(kind: ExceptionKind, message: String, task: Option<String>) -> Self {
        ExceptionContext {
            kind,
            message,
            task,
        }
    }
    /// The report's kind.
    ///
    /// # Examples
    /// ```
    /// # let c = simul::ExceptionContext::example();
    /// let _ = c.kind();
    /// ```
    pub fn kind(&self) -> ExceptionKind {
        self.kind
    }
    /// The human-readable message.
    ///
    /// # Examples
    /// ```
    /// # let c = simul::ExceptionContext::example();
    /// assert!(!c.message().is_empty());
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }
    /// The task involved, if any (its name).
    ///
    /// # Examples
    /// ```
    /// # let c = simul::ExceptionContext::example();
    /// assert_eq!(c.task(), Some("Task-1"));
    /// ```
    pub fn task(&self) -> Option<&str> {
        self.task.as_deref()
    }
    #[doc(hidden)]
    pub fn example() -> Self {
        ExceptionContext::new(
            ExceptionKind::UnretrievedPanic,
            "example".into(),
            Some("Task-1".into()),
        )
    }
}

impl fmt::Display for ExceptionContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.task {
            Some(t) => write!(f, "{} (task {t:?})", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Reports an unretrieved task panic to the current loop (or stderr without one).
pub(crate) fn report_unretrieved(task: &TaskRef, msg: &str) {
    // SAFETY: called on the loop thread (from completion or a Task handle's drop).
    let local = unsafe { task.local() };
    if local.panic_retrieved {
        return; // someone else (a TaskGroup) took charge of the panic
    }
    let name = crate::task::task_name(local);
    let loc = local.location;
    let ctx = ExceptionContext::new(
        ExceptionKind::UnretrievedPanic,
        format!(
            "Task exception was never retrieved: task spawned at {}:{} panicked: {msg}",
            loc.file(),
            loc.line()
        ),
        Some(name),
    );
    match try_with_core(|core| core.call_exception_handler(&ctx)) {
        Some(()) => {}
        None => eprintln!("simul: {ctx}"),
    }
}

static TASK_IDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
static LOOP_NOS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl Core {
    fn new(config: Config, virtual_time: bool) -> io::Result<Core> {
        let driver = Driver::new()?;
        let waker = driver.new_waker()?;
        let tracer = config
            .trace
            .clone()
            .map(|path| Box::new(RefCell::new(Tracer::new(path))));
        let watch = config.watchdog.map(Watch::start);
        let instrumented = config.debug || tracer.is_some() || watch.is_some();
        Ok(Core {
            tracer,
            watch,
            instrumented,
            loop_no: LOOP_NOS.fetch_add(1, Ordering::Relaxed),
            shared: Arc::new(Shared {
                inject: Mutex::new(Inject::default()),
                signal: park::Signal::new(),
                stop: AtomicBool::new(false),
                waker,
            }),
            ready: RefCell::new(VecDeque::with_capacity(256)),
            tasks: RefCell::new(Registry::default()),
            timers: RefCell::new(Wheel::new()),
            clock: Clock::new(virtual_time),
            driver: RefCell::new(driver),
            current: Cell::new(None),
            main: Cell::new(None),
            external: Cell::new(0),
            budget: Cell::new(u32::MAX),
            config,
            exception_handler: RefCell::new(None),
            io_countdown: Cell::new(IO_INTERVAL),
            spawn_time: Cell::new(None),
            closed: Cell::new(false),
            shutdown_hooks: RefCell::new(Vec::new()),
            park_hook: RefCell::new(None),
        })
    }

    pub(crate) fn call_exception_handler(&self, ctx: &ExceptionContext) {
        let h = self.exception_handler.borrow().clone();
        match h {
            Some(h) => {
                if catch_unwind(AssertUnwindSafe(|| h(ctx))).is_err() {
                    eprintln!("simul: the exception handler panicked while handling: {ctx}");
                }
            }
            None => eprintln!("simul: {ctx}"),
        }
    }

    pub(crate) fn spawn_raw<F>(
        &self,
        future: F,
        name: Option<String>,
        location: &'static Location<'static>,
        eager: bool,
    ) -> TaskRef
    where
        F: Future + 'static,
    {
        let id = TASK_IDS.fetch_add(1, Ordering::Relaxed);
        let created = match self.spawn_time.get() {
            Some(t) => t,
            None => {
                let t = self.clock.coarse_instant();
                self.spawn_time.set(Some(t));
                t
            }
        };
        let (registry_ref, handle_ref, queue_ref) = raw::allocate(
            future,
            self.shared.clone(),
            Local::new(id, name, location, created),
        );
        let slot = self.tasks.borrow_mut().insert(registry_ref);
        // SAFETY: loop thread; nobody else has seen the task yet.
        unsafe { handle_ref.local() }.slot = slot;
        if eager {
            // Run the first step right here, as if it had been popped from the queue.
            self.run_task(queue_ref);
        } else {
            self.ready.borrow_mut().push_back(Runnable::Task(queue_ref));
        }
        handle_ref
    }

    /// Cancels `task` right away, on this stack: its future is dropped in place (so its
    /// destructors have run when this returns) and the task completes as cancelled.
    /// A task that is being polled (only the caller's own task can be) is instead asked to
    /// cancel at its next suspension, like [`crate::Task::cancel`]. Returns `false` if the
    /// task had already finished. Used by `TaskGroup` so that inner work ends before the
    /// outer work that owns it (structured cancellation).
    pub(crate) fn cancel_now(&self, task: &TaskRef) -> bool {
        if !task.request_cancel() {
            return false;
        }
        if task.state() & raw::RUNNING != 0 {
            schedule_ref(task);
            return true;
        }
        // Mark it running while its future is dropped, so that a destructor that tries to
        // cancel it again only schedules it (and the queue entry then finds it complete).
        task.transition_to_running();
        // SAFETY: loop thread (Core is thread-local) and the task is not being polled.
        let state = unsafe { task.cancel_future() };
        self.complete(task, state);
        true
    }

    pub(crate) fn call_soon_rc(&self, cb: Rc<dyn Callback>) {
        self.ready.borrow_mut().push_back(Runnable::Call(cb));
    }

    fn run_task(&self, task: TaskRef) {
        let prev = task.transition_to_running();
        if prev & raw::COMPLETE != 0 {
            return;
        }
        if prev & raw::CANCEL != 0 {
            // SAFETY: loop thread, not being polled (we just took it from the queue).
            let state = unsafe { task.cancel_future() };
            self.complete(&task, state);
            return;
        }
        let waker = task.borrowed_waker();
        let mut cx = Context::from_waker(&waker);
        let saved = self.current.replace(Some(task.as_raw()));
        let saved_budget = self.budget.replace(crate::io::BUDGET);
        let started = self.instrumented.then(|| self.before_poll(&task));
        // SAFETY: loop thread; RUNNING is set; the queue's reference keeps it alive.
        let res = unsafe { task.poll(&mut cx) };
        self.current.set(saved);
        self.budget.set(saved_budget);
        // SAFETY: loop thread; the poll is over.
        unsafe { task.local() }.polls += 1;
        if let Some(t0) = started {
            self.after_poll(&task, t0);
        }
        match res {
            Poll::Pending => task.idle_and_release(),
            Poll::Ready(state) => self.complete(&task, state),
        }
    }

    /// Instrumentation before a poll (debug, trace or watchdog on).
    #[cold]
    fn before_poll(&self, task: &TaskRef) -> Instant {
        if let Some(w) = &self.watch {
            // SAFETY: loop thread; copy out.
            let local = unsafe { task.local() };
            w.enter(local.id, local.location);
        }
        Instant::now()
    }

    /// Instrumentation after a poll.
    #[cold]
    fn after_poll(&self, task: &TaskRef, t0: Instant) {
        let took = t0.elapsed();
        if let Some(w) = &self.watch {
            if let Some(stuck) = w.exit() {
                crate::debug::report_stall(self, task, stuck.max(took));
            }
        }
        if self.config.debug && took >= self.config.slow_poll_threshold {
            crate::debug::report_slow_poll(self, task, took);
        }
        if let Some(tr) = &self.tracer {
            // SAFETY: loop thread; the poll is over.
            let local = unsafe { task.local() };
            tr.borrow_mut().poll(
                local.id,
                || crate::task::task_name(local),
                t0,
                took,
                local.polls,
            );
        }
    }

    pub(crate) fn tracer(&self) -> Option<&TracerCell> {
        self.tracer.as_deref()
    }

    fn complete(&self, task: &TaskRef, state: TaskState) {
        task.transition_to_complete();
        // SAFETY: loop thread; no other borrow of this task's Local is live.
        let local = unsafe { task.local() };
        local.outcome = Some(state);
        let registry_ref = self.tasks.borrow_mut().remove(local.slot);
        let join = local.join_waker.take();
        let callbacks = local.callbacks.take();
        let detached = local.detached;
        for cb in callbacks.into_iter().flat_map(|v| *v) {
            self.call_soon_rc(Rc::new(CallbackCell {
                f: Cell::new(Some(move || cb(state))),
                cancelled: Cell::new(false),
            }));
        }
        if let Some(w) = join {
            w.wake();
        }
        if detached {
            // SAFETY: loop thread.
            if let Some(msg) = unsafe { task.drop_output() } {
                report_unretrieved(task, &msg);
            }
        }
        drop(registry_ref);
    }

    fn run_callback(&self, cb: Rc<dyn Callback>) {
        if cb.is_cancelled() {
            return;
        }
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| cb.run())) {
            let msg = crate::task::panic_message(&*p);
            self.call_exception_handler(&ExceptionContext::new(
                ExceptionKind::CallbackPanicked,
                format!("Exception in callback: {msg}"),
                None,
            ));
        }
    }

    pub(crate) fn current_task_info(&self) -> Option<TaskInfo> {
        if let Some(ptr) = self.current.get() {
            // SAFETY: `current` is set only while the task is polled, and the queue entry
            // being polled holds a reference.
            let t = unsafe { TaskRef::borrow_raw(ptr) };
            return Some(TaskInfo::of(&t));
        }
        self.main
            .get()
            .map(|(id, polls, created)| TaskInfo::main(id, polls, created))
    }

    pub(crate) fn all_task_infos(&self) -> Vec<TaskInfo> {
        let tasks = self.tasks.borrow();
        let mut v: Vec<TaskInfo> = tasks.slots.iter().flatten().map(TaskInfo::of).collect();
        v.sort_by_key(|i| i.id());
        v
    }

    pub(crate) fn task_count(&self) -> usize {
        self.tasks.borrow().len
    }

    /// Arms a timer; `None` deadline never fires.
    pub(crate) fn add_timer(&self, deadline_ns: u64, payload: TimerPayload) -> TimerKey {
        self.timers.borrow_mut().insert(deadline_ns, payload)
    }

    pub(crate) fn remove_timer(&self, key: TimerKey) -> Option<TimerPayload> {
        self.timers.borrow_mut().remove(key)
    }

    fn fire_timers(&self) {
        let mut timers = self.timers.borrow_mut();
        if timers.len() == 0 {
            return;
        }
        let now_tick = self.clock.now_ns() / wheel::TICK_NS;
        match timers.next_tick() {
            Some(t) if t <= now_tick => {}
            _ => return,
        }
        let mut fired = timers.advance(now_tick);
        drop(timers);
        if let Some(tr) = &self.tracer {
            tr.borrow_mut().timers(fired.len());
        }
        for (_, _, p) in fired.drain(..) {
            match p {
                TimerPayload::Wake(w) => w.wake(),
                TimerPayload::Call(cb) => self.call_soon_rc(cb),
            }
        }
        self.timers.borrow_mut().recycle(fired);
    }

    fn drain_inject(&self) {
        if !self.shared.signal.take_pending() {
            return;
        }
        let (tasks, calls) = {
            let mut q = self.shared.inject.lock().unwrap_or_else(|e| e.into_inner());
            (std::mem::take(&mut q.tasks), std::mem::take(&mut q.calls))
        };
        let mut ready = self.ready.borrow_mut();
        for t in tasks {
            if let Some(tr) = &self.tracer {
                // SAFETY: loop thread; copy out the id.
                tr.borrow_mut().wake(unsafe { t.local() }.id, true);
            }
            ready.push_back(Runnable::Task(t));
        }
        for c in calls {
            ready.push_back(Runnable::Call(Rc::new(CallbackCell {
                f: Cell::new(Some(c)),
                cancelled: Cell::new(false),
            })));
        }
    }

    /// One iteration (see the module doc).
    fn run_once(&self) {
        self.spawn_time.set(None);
        let n = self.ready.borrow().len();
        for _ in 0..n {
            let Some(item) = self.ready.borrow_mut().pop_front() else {
                break;
            };
            match item {
                Runnable::Task(t) => self.run_task(t),
                Runnable::Call(cb) => self.run_callback(cb),
            }
        }
        self.drain_inject();
        let busy = !self.ready.borrow().is_empty() || self.shared.signal.main_woken();
        if busy {
            let c = self.io_countdown.get();
            if c == 0 {
                self.io_countdown.set(IO_INTERVAL);
                self.poll_io(Some(Duration::ZERO));
            } else {
                self.io_countdown.set(c - 1);
            }
        } else if self.shared.stop.load(Ordering::SeqCst) {
            // run_forever returns at the top of the next iteration
        } else {
            self.park();
        }
        self.fire_timers();
        self.spawn_time.set(None);
    }

    fn park(&self) {
        let next = self.timers.borrow().next_tick();
        let io_waiting = self.driver.borrow().shared.waiting.load(Ordering::Relaxed);
        if self.clock.is_virtual() && self.external.get() == 0 && io_waiting == 0 {
            if let Some(tick) = next {
                // Idle and waiting only on timers: jump to the next one.
                let v = self.clock.virtual_ns.as_ref().expect("virtual clock");
                let target = tick.saturating_mul(wheel::TICK_NS);
                if target > v.get() {
                    v.set(target);
                }
                self.poll_io(Some(Duration::ZERO));
                return;
            }
        }
        let timeout = match next {
            _ if self.clock.is_virtual() => None,
            Some(tick) => {
                let now = self.clock.now_ns();
                let at = tick.saturating_mul(wheel::TICK_NS);
                Some(Duration::from_nanos(at.saturating_sub(now)))
            }
            None => None,
        };
        if !self.shared.signal.prepare_park() {
            return;
        }
        let t0 = self.tracer.is_some().then(Instant::now);
        self.park_io(timeout);
        self.shared.signal.after_park();
        self.io_countdown.set(IO_INTERVAL);
        if let (Some(t0), Some(tr)) = (t0, &self.tracer) {
            tr.borrow_mut().park(t0, t0.elapsed());
        }
    }

    fn poll_io(&self, timeout: Option<Duration>) {
        let res = self.driver.borrow_mut().poll(timeout);
        if let Err(e) = res {
            if e.kind() != io::ErrorKind::Interrupted {
                panic!("simul: the OS selector failed: {e}");
            }
        }
    }

    /// Cancels every task, drops callbacks and timers, closes the injection queue.
    fn shutdown(&self) {
        if self.closed.replace(true) {
            return;
        }
        for _round in 0..16 {
            let tasks: Vec<TaskRef> = {
                let reg = self.tasks.borrow();
                reg.slots.iter().flatten().map(|t| t.clone_ref()).collect()
            };
            if tasks.is_empty() {
                break;
            }
            for t in tasks {
                if t.state() & raw::COMPLETE != 0 {
                    continue;
                }
                if t.state() & raw::RUNNING != 0 {
                    continue; // shutdown from inside the task itself; it ends when it returns
                }
                // SAFETY: loop thread; the task is not being polled.
                let state = unsafe { t.cancel_future() };
                self.complete(&t, state);
            }
            // Run what cancellation scheduled (done callbacks), but no task steps.
            let pending: Vec<Runnable> = self.ready.borrow_mut().drain(..).collect();
            for r in pending {
                if let Runnable::Call(cb) = r {
                    self.run_callback(cb);
                }
            }
        }
        // Hooks may register more hooks: take them out before running any.
        loop {
            let hooks = std::mem::take(&mut *self.shutdown_hooks.borrow_mut());
            if hooks.is_empty() {
                break;
            }
            for hook in hooks {
                hook();
            }
        }
        let timers = self.timers.borrow_mut().drain();
        drop(timers);
        let leftover: Vec<Runnable> = self.ready.borrow_mut().drain(..).collect();
        drop(leftover);
        let inject = self.shared.close();
        drop(inject);
        if let Some(w) = &self.watch {
            w.stop();
        }
        if let Some(tr) = &self.tracer {
            tr.borrow().flush_to_file(self.loop_no);
        }
    }
}

/// Marks this thread as running `core` for the guard's lifetime.
struct Enter {
    prev: *const Core,
}

impl Enter {
    fn new(core: &Core) -> Enter {
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

impl Drop for Enter {
    fn drop(&mut self) {
        CONTEXT.with(|c| c.set(self.prev));
    }
}

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

/// Settings for an [`EventLoop`].
///
/// # Examples
/// ```
/// use std::time::Duration;
/// let lp = simul::EventLoop::builder().virtual_time(true).build().unwrap();
/// let t0 = lp.time();
/// lp.run_until_complete(simul::sleep(Duration::from_secs(3600)));
/// assert!(lp.time() - t0 >= Duration::from_secs(3600)); // an hour, in no time
/// ```
#[derive(Clone, Debug)]
pub struct Builder {
    debug: Option<bool>,
    slow_poll_threshold: Duration,
    virtual_time: bool,
    trace: Option<bool>,
    trace_path: Option<std::path::PathBuf>,
    watchdog: Option<Duration>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            debug: None,
            slow_poll_threshold: Duration::from_millis(100),
            virtual_time: false,
            trace: None,
            trace_path: None,
            watchdog: None,
        }
    }
}

impl Builder {
    /// Debug mode (asyncio's `debug=True`): reports polls slower than the threshold and
    /// other misuse. Defaults to the `SIMUL_DEBUG` environment variable (`1` = on).
    ///
    /// # Examples
    /// ```
    /// let lp = simul::EventLoop::builder().debug(true).build().unwrap();
    /// assert!(lp.is_debug());
    /// ```
    #[doc(alias = "set_debug")]
    pub fn debug(mut self, on: bool) -> Self {
        self.debug = Some(on);
        self
    }

    /// The poll duration above which debug mode reports a task (asyncio's
    /// `slow_callback_duration`, default 100 ms).
    ///
    /// # Examples
    /// ```
    /// let b = simul::EventLoop::builder().slow_poll_threshold(std::time::Duration::from_millis(5));
    /// assert!(b.build().is_ok());
    /// ```
    #[doc(alias = "slow_callback_duration")]
    pub fn slow_poll_threshold(mut self, d: Duration) -> Self {
        self.slow_poll_threshold = d;
        self
    }

    /// Virtual time: the clock stands still while tasks run and jumps to the next timer
    /// when every task waits only on timers (never while I/O or other threads are pending).
    ///
    /// # Examples
    /// ```
    /// let lp = simul::EventLoop::builder().virtual_time(true).build().unwrap();
    /// let r = lp.run_until_complete(simul::wait_for(std::time::Duration::from_secs(60), std::future::pending::<()>()));
    /// assert!(r.is_err());
    /// ```
    pub fn virtual_time(mut self, on: bool) -> Self {
        self.virtual_time = on;
        self
    }

    /// Records a trace of polls, wakes, timers and selector waits (see [`crate::trace`]).
    /// Defaults to on when `SIMUL_TRACE` is set, which also names the JSON file written
    /// when the loop closes.
    ///
    /// # Examples
    /// ```
    /// let lp = simul::EventLoop::builder().trace(true).build().unwrap();
    /// lp.run_until_complete(async {
    ///     simul::spawn(async {}).await.unwrap();
    ///     assert!(simul::trace::timeline().lines().any(|l| l.contains("main") && l.contains("part 1")));
    /// });
    /// ```
    pub fn trace(mut self, on: bool) -> Self {
        self.trace = Some(on);
        self
    }

    /// Turns tracing on and names the Chrome trace-event JSON file written when the loop
    /// closes (what `SIMUL_TRACE=path` does).
    ///
    /// # Examples
    /// ```
    /// let path = std::env::temp_dir().join("simul-doc-trace.json");
    /// let lp = simul::EventLoop::builder().trace_path(&path).build().unwrap();
    /// lp.run_until_complete(simul::yield_now());
    /// lp.close();
    /// assert!(std::fs::read_to_string(&path).unwrap().contains("traceEvents"));
    /// ```
    pub fn trace_path(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.trace = Some(true);
        self.trace_path = Some(path.into());
        self
    }

    /// Starts a watchdog thread that reports a loop stuck in one poll for longer than
    /// `threshold`, reported as [`ExceptionKind::Stall`] naming the task. Cheap
    /// enough for production. Defaults to `SIMUL_WATCHDOG_MS` when that is set.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// let lp = simul::EventLoop::builder().stall_watchdog(Duration::from_millis(50)).build().unwrap();
    /// lp.run_until_complete(async {});
    /// ```
    pub fn stall_watchdog(mut self, threshold: Duration) -> Self {
        self.watchdog = Some(threshold);
        self
    }

    /// Creates the loop.
    ///
    /// # Errors
    /// When the OS selector cannot be created (e.g. out of file descriptors).
    ///
    /// # Examples
    /// ```
    /// let lp = simul::EventLoop::builder().build().unwrap();
    /// assert_eq!(lp.run_until_complete(async { 5 }), 5);
    /// ```
    pub fn build(self) -> io::Result<EventLoop> {
        let debug = self
            .debug
            .unwrap_or_else(|| std::env::var("SIMUL_DEBUG").is_ok_and(|v| v == "1"));
        let trace_path = self.trace_path.clone().or_else(|| {
            std::env::var_os("SIMUL_TRACE")
                .filter(|p| !p.is_empty())
                .map(std::path::PathBuf::from)
        });
        let trace = match self.trace {
            Some(false) => None,
            Some(true) => Some(trace_path),
            None => trace_path.map(Some),
        };
        let watchdog = self.watchdog.or_else(|| {
            std::env::var("SIMUL_WATCHDOG_MS")
                .ok()
                .and_then(|v| v.parse::<u64>().ok())
                .filter(|&ms| ms > 0)
                .map(Duration::from_millis)
        });
        let core = Core::new(
            Config {
                debug,
                slow_poll_threshold: self.slow_poll_threshold,
                trace,
                watchdog,
            },
            self.virtual_time,
        )?;
        Ok(EventLoop {
            core: Box::new(core),
            _not_send: std::marker::PhantomData,
        })
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
            let running = CONTEXT.with(|c| !c.get().is_null());
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
    if CONTEXT.with(|c| !c.get().is_null()) {
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

/// A scheduled `call_soon` callback; [`Handle::cancel`] keeps it from running.
///
/// # Examples
/// ```
/// simul::run(async {
///     let h = simul::call_soon(|| panic!("never runs"));
///     h.cancel();
///     simul::yield_now().await;
/// });
/// ```
pub struct Handle {
    cb: Rc<dyn Callback>,
}

impl Handle {
    /// Prevents the callback from running, if it has not run yet.
    ///
    /// # Examples
    /// ```
    /// simul::run(async { let h = simul::call_soon(|| {}); h.cancel(); assert!(h.is_cancelled()); });
    /// ```
    pub fn cancel(&self) {
        self.cb.cancel();
    }
    /// Whether [`Handle::cancel`] was called.
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

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
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
    shared: *const Shared,
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
                if Arc::as_ptr(&core.shared) == self.shared {
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
}

impl fmt::Debug for TimerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerHandle")
            .field("when", &self.when)
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

fn callback_cell(f: impl FnOnce() + 'static) -> Rc<dyn Callback> {
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
pub fn call_soon(f: impl FnOnce() + 'static) -> Handle {
    with_core("call_soon", |core| {
        let cb = callback_cell(f);
        core.call_soon_rc(cb.clone());
        Handle { cb }
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
pub fn call_later(delay: Duration, f: impl FnOnce() + 'static) -> TimerHandle {
    with_core("call_later", |core| {
        let now = core.clock.now();
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
pub fn call_at(when: Instant, f: impl FnOnce() + 'static) -> TimerHandle {
    with_core("call_at", |core| schedule_at(core, Some(when), f))
}

fn schedule_at(core: &Core, when: Option<Instant>, f: impl FnOnce() + 'static) -> TimerHandle {
    let cb = callback_cell(f);
    let shared = Arc::as_ptr(&core.shared);
    let Some(when) = when else {
        // Beyond the representable future: it never fires.
        return TimerHandle {
            cb,
            key: None,
            shared,
            when: core.clock.now() + Duration::from_secs(u32::MAX as u64),
        };
    };
    let deadline = core.clock.ns_of(when);
    let key = if deadline <= core.clock.now_ns() {
        core.call_soon_rc(cb.clone());
        None
    } else {
        Some(core.add_timer(deadline, TimerPayload::Call(cb.clone())))
    };
    TimerHandle {
        cb,
        key,
        shared,
        when,
    }
}

/// The current loop's time (monotonic; virtual under [`Builder::virtual_time`]).
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
pub fn time() -> Instant {
    with_core("time", |core| core.clock.now())
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn shutdown_hooks_may_register_more_hooks() {
        let ran = Rc::new(Cell::new(0));
        let lp = EventLoop::new().unwrap();
        let r = ran.clone();
        lp.core.shutdown_hooks.borrow_mut().push(Box::new(move || {
            r.set(r.get() + 1);
            let r2 = r.clone();
            with_core("test", |core| {
                core.shutdown_hooks
                    .borrow_mut()
                    .push(Box::new(move || r2.set(r2.get() + 10)))
            });
        }));
        lp.close();
        assert_eq!(ran.get(), 11);
    }
}
