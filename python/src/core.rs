//! `LoopCore`: the Rust half of `simul.EventLoop`, a front end on simul's own loop core.
//!
//! # Design
//!
//! `simul.EventLoop` (Python, `simul/_loop.py`) derives from `LoopCore` first and from
//! asyncio's `BaseEventLoop` second, so the hot methods (`call_soon`, `call_later`,
//! `call_at`, `call_soon_threadsafe`, `time`, `stop`, `create_future`, and `create_task`
//! without a task factory or debug mode) are these Rust methods, while asyncio's own code
//! supplies the cold ones (`run_until_complete`, the exception handler, executors,
//! `getaddrinfo`, `create_connection`'s address logic).
//!
//! There is no second engine: a Python callback is a closure in simul's ready queue, a
//! Python timer an entry in simul's timer wheel, and `run_forever` is simul's
//! `EventLoop::run_forever`. The loop's park hook releases the GIL while the thread waits
//! in `epoll_wait`, then takes it back and runs Python's signal handlers
//! (`PyErr_CheckSignals`), so Ctrl-C raises `KeyboardInterrupt` out of `run_forever` as
//! it does on the stock loop (epoll's `EINTR` ends the wait).
//!
//! # Threads
//!
//! `LoopCore` itself is `Send`: flags the other threads may read (closed, debug) and a
//! `simul::LoopHandle` for `call_soon_threadsafe`. The simul `EventLoop` is not `Send`; it
//! lives in an `Engine` bound to the thread that created the loop, which is the thread the
//! loop must run on, and be closed on. This is a documented limitation: the stock loop may
//! be created on one thread and run (one thread at a time) or closed on another, but a
//! simul loop, its tasks and its selector cannot move between threads, and a loop run on
//! a worker and closed by the main thread after the worker ended would have to drop the
//! engine off its thread. `run_forever`, `close` and the scheduling methods called from
//! another thread raise a `RuntimeError` that says so (while the loop runs, the stock
//! debug mode's "Non-thread-safe operation ..." message); `call_soon_threadsafe` and
//! `stop` work from any thread.
//!
//! # Invariants
//! - A `SystemExit` or `KeyboardInterrupt` from a callback or a signal handler is kept in
//!   `Flags::pending` (the first one wins) and the loop is stopped; `_run` raises it.
//! - `stop()` before `run_forever()` makes the next run do one iteration, as asyncio does.
//! - `create_future` and a plain `create_task` always pass `loop=` (asyncio's calls): a C
//!   `Future` made without its loop asks `get_running_loop`, a `getpid` system call each
//!   time. The `{"loop": loop}` dict is made once and kept in `LoopCore` until
//!   `_close_core`; the cycle it makes is visited by `__traverse__`, so an unclosed loop
//!   is still collected and a closed one is freed without the cycle collector.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple};
use pyo3::{PyTraverseError, PyVisit};

use crate::fdwatch::FdEntry;
use crate::glue;
use crate::handle::{self, Args, Armed, Call, Handle, TimerHandle};

/// What callbacks and other threads need to know about the loop.
pub(crate) struct Flags {
    debug: AtomicBool,
    slow: AtomicU64,
    closed: AtomicBool,
    /// Whether `_run` is running the loop (read by other threads' error messages).
    running: AtomicBool,
    pending: Mutex<Option<PyErr>>,
    /// For other threads; dropped at close (it holds the loop's wake-up eventfd).
    remote: Mutex<Option<simul::LoopHandle>>,
}

impl Flags {
    pub(crate) fn debug(&self) -> bool {
        self.debug.load(Ordering::Relaxed)
    }

    pub(crate) fn slow_callback_duration(&self) -> f64 {
        f64::from_bits(self.slow.load(Ordering::Relaxed))
    }

    /// Keeps `err` to raise out of `run_forever` (the first one wins) and stops the loop.
    pub(crate) fn fail(&self, err: PyErr) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if p.is_none() {
            *p = Some(err);
        }
        drop(p);
        if let Some(r) = self.remote().as_ref() {
            r.stop();
        }
    }

    pub(crate) fn remote(&self) -> std::sync::MutexGuard<'_, Option<simul::LoopHandle>> {
        self.remote.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Flags of no loop: defaults, nothing to wake.
    fn detached() -> Flags {
        Flags {
            debug: AtomicBool::new(false),
            slow: AtomicU64::new(0.1f64.to_bits()),
            closed: AtomicBool::new(false),
            running: AtomicBool::new(false),
            pending: Mutex::new(None),
            remote: Mutex::new(None),
        }
    }

    fn take_pending(&self) -> Option<PyErr> {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }
}

thread_local! {
    /// The flags of the loop running on this thread (null when none). Only compared,
    /// never dereferenced: the hot paths' one check that they run on the loop's thread
    /// while it runs, where simul's current-loop functions reach the right loop without
    /// borrowing the thread-bound `Engine`.
    static RUNNING: Cell<*const Flags> = const { Cell::new(std::ptr::null()) };
}

thread_local! {
    /// The flags of the loop whose queued callbacks may run on this thread now: set while
    /// `_run` runs the loop and while `_close_core` shuts it down (simul's shutdown runs
    /// the callbacks still queued). `call_soon`'s queue entries carry only their handle
    /// (`sys::SoonEntry`) and read their loop's flags here when they run.
    static CALLBACK_FLAGS: RefCell<Option<Arc<Flags>>> = const { RefCell::new(None) };
}

/// The flags of the loop running callbacks on this thread (see `CALLBACK_FLAGS`); outside
/// one (not expected: simul runs callbacks only in `run_forever` and at shutdown), a
/// loop's defaults, so the callback still runs and reports as in a loop without debug.
pub(crate) fn callback_flags() -> Arc<Flags> {
    CALLBACK_FLAGS
        .with(|f| f.borrow().clone())
        .unwrap_or_else(|| Arc::new(Flags::detached()))
}

/// Makes `flags` the callback flags of this thread until dropped (also on a panic).
struct CallbackScope(Option<Arc<Flags>>);

impl CallbackScope {
    fn enter(flags: &Arc<Flags>) -> CallbackScope {
        CallbackScope(CALLBACK_FLAGS.with(|f| f.borrow_mut().replace(flags.clone())))
    }
}

impl Drop for CallbackScope {
    fn drop(&mut self) {
        let prev = self.0.take();
        // The `Arc` it replaces is dropped after the borrow ends.
        let ours = CALLBACK_FLAGS.with(|f| std::mem::replace(&mut *f.borrow_mut(), prev));
        drop(ours);
    }
}

/// Marks `flags`' loop as running on this thread until dropped (also on a panic).
struct RunningHere(*const Flags, #[allow(dead_code)] CallbackScope);

impl RunningHere {
    fn enter(flags: &Arc<Flags>) -> RunningHere {
        let scope = CallbackScope::enter(flags);
        RunningHere(RUNNING.with(|r| r.replace(Arc::as_ptr(flags))), scope)
    }
}

impl Drop for RunningHere {
    fn drop(&mut self) {
        RUNNING.with(|r| r.set(self.0));
    }
}

/// The thread-bound part: simul's loop and the descriptor watchers.
#[pyclass(unsendable, module = "simul._simul")]
pub struct Engine {
    lp: RefCell<Option<simul::EventLoop>>,
    running: Cell<bool>,
    stop_pending: Cell<bool>,
    pub(crate) fds: RefCell<HashMap<RawFd, FdWatch>>,
    /// A finished connect watch's registration, for the socket's transport (see
    /// `fdwatch::Spare`).
    pub(crate) spare: RefCell<Option<crate::fdwatch::Spare>>,
}

/// A watched descriptor: its entry and the task that runs its callbacks.
pub(crate) struct FdWatch {
    pub(crate) entry: Rc<FdEntry>,
    pub(crate) task: simul::Task<()>,
}

impl Engine {
    pub(crate) fn with_loop<R>(&self, f: impl FnOnce(&simul::EventLoop) -> R) -> PyResult<R> {
        match self.lp.borrow().as_ref() {
            Some(lp) => Ok(f(lp)),
            None => Err(PyRuntimeError::new_err("Event loop is closed")),
        }
    }
}

/// The module `asyncio.tasks` and `asyncio.BaseEventLoop.create_task`, looked up once.
static TASKS_MODULE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static BASE_CREATE_TASK: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// `asyncio.tasks.Task`, looked up at each call as asyncio's `create_task` does.
fn task_type(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    TASKS_MODULE
        .get_or_try_init(py, || {
            Ok::<_, PyErr>(py.import("asyncio.tasks")?.into_any().unbind())
        })?
        .bind(py)
        .getattr(pyo3::intern!(py, "Task"))
}

/// The namespace of the module `asyncio.futures`, looked up once.
static FUTURES_DICT: PyOnceLock<Py<PyDict>> = PyOnceLock::new();

/// `asyncio.futures.Future(loop=loop_)`, as asyncio's `create_future` makes it (the class
/// looked up in the module's namespace at each call, as there): `LoopCore.create_future`,
/// a raw method (`sys::install_loop_methods`), so a stream read's waiter costs no Python
/// frame. The loop is always passed by keyword, even when it is the running one: a
/// `Future` made without a loop asks `get_running_loop`, and CPython's C version checks
/// the process id on every call (a `getpid` system call, ~150 ns here, that callgrind's
/// user-space counts do not show), where the keyword dict costs a few hundred instructions.
pub(crate) fn new_future<'py>(loop_: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let py = loop_.py();
    let ns = FUTURES_DICT.get_or_try_init(py, || {
        Ok::<_, PyErr>(py.import("asyncio.futures")?.dict().unbind())
    })?;
    let Some(class) = ns.bind(py).get_item(pyo3::intern!(py, "Future"))? else {
        return Err(pyo3::exceptions::PyAttributeError::new_err(
            "module 'asyncio.futures' has no attribute 'Future'",
        ));
    };
    class.call((), Some(&loop_kw(loop_)?))
}

/// `{"loop": loop_}`, the keywords of [`new_future`] and a plain task: for a simul loop
/// the one dict its `LoopCore` keeps from the first use until `_close_core` (never
/// changed, so a call that re-enters while another uses it is harmless, and a callee
/// taking `**kwargs` gets a copy; the loop-dict-loop cycle is visited by `__traverse__`),
/// otherwise a new one (a closed loop, another loop).
fn loop_kw<'py>(loop_: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
    let py = loop_.py();
    let core = loop_.cast::<LoopCore>().ok().map(|c| c.get());
    if let Some(core) = core {
        let kept = core.loop_kw.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(kw) = kept.as_ref() {
            return Ok(kw.bind(py).clone());
        }
    }
    // Made with the lock released: the allocation may run the cycle collector, whose
    // `__traverse__` takes the lock.
    let kw = PyDict::new(py);
    kw.set_item(pyo3::intern!(py, "loop"), loop_)?;
    if let Some(core) = core.filter(|c| !c.flags.closed.load(Ordering::Acquire)) {
        *core.loop_kw.lock().unwrap_or_else(|e| e.into_inner()) = Some(kw.clone().unbind());
    }
    Ok(kw)
}

fn base_create_task(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    BASE_CREATE_TASK
        .get_or_try_init(py, || {
            Ok::<_, PyErr>(
                py.import("asyncio.base_events")?
                    .getattr("BaseEventLoop")?
                    .getattr("create_task")?
                    .unbind(),
            )
        })
        .map(|t| t.bind(py))
}

/// The Rust half of `simul.EventLoop` (see the module doc).
#[pyclass(subclass, frozen, module = "simul._simul")]
pub struct LoopCore {
    pub(crate) flags: Arc<Flags>,
    /// Taken out (and dropped, on the loop's thread) at close: the engine is
    /// thread-bound, and a closed loop may be dropped on any thread.
    engine: Mutex<Option<Py<Engine>>>,
    owner: ThreadId,
    owner_name: String,
    epoch: Instant,
    epoch_time: f64,
    /// `{"loop": <this loop>}` once made (see [`loop_kw`]); dropped at close.
    loop_kw: Mutex<Option<Py<PyDict>>>,
}

impl LoopCore {
    /// Drops the kept `{"loop": ...}` dict (see [`loop_kw`]), outside the lock: its drop
    /// may free the loop's last other reference and run arbitrary code.
    fn drop_loop_kw(&self) {
        let kw = self
            .loop_kw
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        drop(kw);
    }

    /// The engine, on the loop's own thread.
    pub(crate) fn engine<'py>(&self, py: Python<'py>) -> PyResult<PyRef<'py, Engine>> {
        self.check_thread(py)?;
        let e = self
            .engine
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|e| e.clone_ref(py));
        match e {
            Some(e) => Ok(e.into_bound(py).borrow()),
            None => Err(PyRuntimeError::new_err("Event loop is closed")),
        }
    }

    /// `RuntimeError` unless called on the thread that created the loop: while the loop
    /// runs, the stock loop's own message (its debug mode's check); otherwise one that says
    /// the loop is bound to its creating thread (see the module doc, "Threads").
    fn check_thread(&self, py: Python<'_>) -> PyResult<()> {
        if std::thread::current().id() == self.owner {
            return Ok(());
        }
        if self.flags.running.load(Ordering::Acquire) {
            return Err(PyRuntimeError::new_err(
                "Non-thread-safe operation invoked on an event loop other than the current one",
            ));
        }
        let here = py
            .import("threading")
            .and_then(|t| t.call_method0("current_thread"))
            .and_then(|t| t.getattr("name"))
            .and_then(|n| n.extract::<String>())
            .unwrap_or_else(|_| "<unknown>".into());
        Err(PyRuntimeError::new_err(format!(
            "simul.EventLoop is bound to the thread that created it ({:?}); it cannot be \
             run, scheduled on or closed from thread {:?}: create the loop on the thread that \
             runs it (call simul.new_event_loop() inside that thread), or use \
             call_soon_threadsafe / run_coroutine_threadsafe from other threads",
            self.owner_name, here,
        )))
    }

    /// Whether this loop is running on the calling thread (then simul's current loop is
    /// this loop's).
    fn running_here(&self) -> bool {
        RUNNING.with(|r| r.get() == Arc::as_ptr(&self.flags))
    }

    fn check_closed(&self) -> PyResult<()> {
        if self.flags.closed.load(Ordering::Acquire) {
            return Err(PyRuntimeError::new_err("Event loop is closed"));
        }
        Ok(())
    }

    fn make_call(
        py: Python<'_>,
        callback: Bound<'_, PyAny>,
        args: Args,
        context: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Call> {
        let context = match context {
            Some(c) if !c.is_none() => c.unbind(),
            _ => glue::copy_context(py)?,
        };
        Ok(Call {
            callback: callback.unbind(),
            args,
            context,
        })
    }

    /// The `Handle` of a `call_soon*` (`what`, for debug mode's check of the callback),
    /// out of the cycle collector's sight (see `handle.rs`).
    fn new_handle(
        &self,
        py: Python<'_>,
        callback: Bound<'_, PyAny>,
        args: Args,
        context: Option<Bound<'_, PyAny>>,
        what: &str,
    ) -> PyResult<Py<Handle>> {
        if self.flags.debug() {
            glue::check_callback(py, &callback, what)?;
        }
        let call = Self::make_call(py, callback, args, context)?;
        let handle = Py::new(py, Handle::new(call))?;
        crate::sys::untrack_gc(handle.bind(py).as_any());
        Ok(handle)
    }

    /// `call_soon`'s work, for both its entry points (the pyo3 method and the raw
    /// fastcall one `sys::install_loop_methods` puts on the class). The handle is of
    /// `call_soon`'s own type (`sys::new_soon_handle`: not counted by the cycle collector).
    pub(crate) fn schedule_soon(
        &self,
        py: Python<'_>,
        callback: Bound<'_, PyAny>,
        args: Args,
        context: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        self.check_closed()?;

        let fast = self.running_here();
        let engine = if fast { None } else { Some(self.engine(py)?) };
        if self.flags.debug() {
            glue::check_callback(py, &callback, "call_soon")?;
        }
        let call = Self::make_call(py, callback, args, context)?;
        let handle = crate::sys::new_soon_handle(py, call)?;
        let h = handle.clone_ref(py);
        match &engine {
            // Running here: simul's current loop is this one, and runs the entry (one
            // pointer, no allocation) with this loop's flags current.
            None => simul::call_soon_thin(crate::sys::SoonEntry::new(h)),
            Some(engine) => {
                let flags = self.flags.clone();
                let f = move || {
                    crate::sys::in_loop_callback(|py| crate::sys::run_soon(py, h.bind(py), &flags))
                };
                drop(engine.with_loop(|lp| lp.call_soon(f))?)
            }
        }
        Ok(handle)
    }

    /// The `Instant` of loop time `when`; `None` beyond what the clock can represent.
    fn instant_of(&self, when: f64) -> Option<Instant> {
        let since = when - self.epoch_time;
        if since <= 0.0 {
            return Some(self.epoch);
        }
        let d = Duration::try_from_secs_f64(since).ok()?;
        self.epoch.checked_add(d)
    }

    fn schedule_at(
        slf: &Bound<'_, Self>,
        py: Python<'_>,
        when: f64,
        callback: Bound<'_, PyAny>,
        args: Bound<'_, PyTuple>,
        context: Option<Bound<'_, PyAny>>,
        method: &str,
    ) -> PyResult<Py<TimerHandle>> {
        let this = slf.get();
        this.check_closed()?;
        let fast = this.running_here();
        let engine = if fast { None } else { Some(this.engine(py)?) };
        if this.flags.debug() {
            glue::check_callback(py, &callback, method)?;
        }
        let call = Self::make_call(py, callback, Args::Tuple(args.unbind()), context)?;
        let init = PyClassInitializer::from(Handle::new(call)).add_subclass(TimerHandle::new(when));
        let timer: Py<TimerHandle> = Py::new(py, init)?;
        crate::sys::untrack_gc(timer.bind(py).as_any());
        if let Some(at) = this.instant_of(when) {
            let h: Py<Handle> = timer.bind(py).clone().into_super().unbind();
            let flags = this.flags.clone();
            let f =
                move || crate::sys::in_loop_callback(|py| handle::run_py(py, h.bind(py), &flags));
            let armed = match &engine {
                // Running here: simul's current loop is this one.
                None => simul::call_at(at, f).id(),
                Some(engine) => engine.with_loop(|lp| lp.call_at(at, f).id())?,
            };
            if let Some(id) = armed {
                timer.get().set_armed(Armed {
                    id,
                    core: slf.clone().unbind(),
                });
            }
        }
        Ok(timer)
    }
}

#[pymethods]
impl LoopCore {
    #[new]
    #[pyo3(signature = (*_args, **_kwargs))]
    fn new(
        py: Python<'_>,
        _args: &Bound<'_, PyTuple>,
        _kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<LoopCore> {
        let lp = simul::EventLoop::builder()
            .debug(false)
            .build()
            .map_err(PyErr::from)?;
        let flags = Arc::new(Flags {
            debug: AtomicBool::new(false),
            slow: AtomicU64::new(0.1f64.to_bits()),
            closed: AtomicBool::new(false),
            running: AtomicBool::new(false),
            pending: Mutex::new(None),
            remote: Mutex::new(Some(lp.handle())),
        });
        // asyncio's loop looks at its selector every iteration: a busy loop sees a
        // socket's data (or its EOF) the next iteration, not dozens later.
        lp.set_io_interval(0);
        // But not right after a wait: the callbacks the I/O steps just scheduled (a
        // stream's waiter woken by `data_received`) run before the next look, as uvloop's
        // do, saving a zero-timeout `epoll_wait` per I/O step of a request and response.
        lp.set_io_rest_after_wait(1);
        let hook_flags = flags.clone();
        lp.set_park_hook(move |wait| {
            crate::sys::without_gil(wait);
            Python::attach(|py| {
                if let Err(e) = py.check_signals() {
                    hook_flags.fail(e);
                }
            });
        });
        let monotonic = py.import("time")?.getattr("monotonic")?;
        let epoch = Instant::now();
        let epoch_time: f64 = monotonic.call0()?.extract()?;
        let engine = Py::new(
            py,
            Engine {
                lp: RefCell::new(Some(lp)),
                running: Cell::new(false),
                stop_pending: Cell::new(false),
                fds: RefCell::new(HashMap::new()),
                spare: RefCell::new(None),
            },
        )?;
        Ok(LoopCore {
            flags,
            engine: Mutex::new(Some(engine)),
            owner: std::thread::current().id(),
            owner_name: py
                .import("threading")?
                .call_method0("current_thread")?
                .getattr("name")?
                .extract()?,
            epoch,
            epoch_time,
            loop_kw: Mutex::new(None),
        })
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        // Only `loop_kw` refers back to the loop. Never held across a call that could
        // collect (see `loop_kw`), so the lock is free here unless another thread has it:
        // then the dict is not visited, which keeps the loop alive, never frees it early.
        if let Ok(kw) = self.loop_kw.try_lock() {
            if let Some(kw) = kw.as_ref() {
                visit.call(kw)?;
            }
        }
        Ok(())
    }

    fn __clear__(&self) {
        self.drop_loop_kw();
    }

    /// Whether debug mode is on (asyncio's `get_debug`; every `Future` asks it).
    fn get_debug(&self) -> bool {
        self.flags.debug()
    }

    /// `asyncio.Task(coro, loop=self, name=name, context=context)`, as asyncio's
    /// `create_task` makes it; with a task factory set, or in debug mode (which trims the
    /// task's creation traceback), asyncio's own `create_task` runs. The loop is passed by
    /// keyword even when it is the running one (see [`new_future`]: no `getpid`).
    #[pyo3(signature = (coro, *, name = None, context = None))]
    fn create_task<'py>(
        slf: &Bound<'py, Self>,
        py: Python<'py>,
        coro: Bound<'py, PyAny>,
        name: Option<Bound<'py, PyAny>>,
        context: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let this = slf.get();
        this.check_closed()?;
        let factory = slf.getattr(pyo3::intern!(py, "_task_factory"))?;
        let plain = factory.is_none() && !this.flags.debug();
        if plain
            && name.as_ref().is_none_or(|n| n.is_none())
            && context.as_ref().is_none_or(|c| c.is_none())
        {
            return task_type(py)?.call((coro,), Some(&loop_kw(slf.as_any())?));
        }
        let kw = PyDict::new(py);
        if let Some(n) = name.as_ref().filter(|n| !n.is_none()) {
            kw.set_item(pyo3::intern!(py, "name"), n)?;
        }
        if let Some(c) = context.as_ref().filter(|c| !c.is_none()) {
            kw.set_item(pyo3::intern!(py, "context"), c)?;
        }
        if plain {
            kw.set_item(pyo3::intern!(py, "loop"), slf)?;
            return task_type(py)?.call((coro,), Some(&kw));
        }
        base_create_task(py)?.call((slf, coro), Some(&kw))
    }

    /// The loop's clock: `time.monotonic()`'s scale, in seconds.
    fn time(&self) -> f64 {
        self.epoch_time + self.epoch.elapsed().as_secs_f64()
    }

    /// Schedules `callback(*args)` for the next iteration; returns an `asyncio.Handle`-like
    /// handle.
    #[pyo3(signature = (callback, *args, context = None))]
    fn call_soon(
        &self,
        py: Python<'_>,
        callback: Bound<'_, PyAny>,
        args: Bound<'_, PyTuple>,
        context: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        self.schedule_soon(py, callback, Args::Tuple(args.unbind()), context)
    }

    /// Schedules `callback(*args)` from any thread, waking the loop if it waits.
    #[pyo3(signature = (callback, *args, context = None))]
    fn call_soon_threadsafe(
        &self,
        py: Python<'_>,
        callback: Bound<'_, PyAny>,
        args: Bound<'_, PyTuple>,
        context: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Py<Handle>> {
        self.check_closed()?;
        let args = Args::Tuple(args.unbind());
        let handle = self.new_handle(py, callback, args, context, "call_soon_threadsafe")?;
        let h = handle.clone_ref(py);
        let flags = self.flags.clone();
        let remote = self.flags.remote().clone();
        match remote {
            Some(r) => {
                r.call_soon_threadsafe(move || {
                    crate::sys::in_loop_callback(|py| handle::run_py(py, h.bind(py), &flags))
                });
            }
            None => return Err(PyRuntimeError::new_err("Event loop is closed")),
        }
        Ok(handle)
    }

    /// Schedules `callback(*args)` at loop time `when`.
    #[pyo3(signature = (when, callback, *args, context = None))]
    fn call_at(
        slf: &Bound<'_, Self>,
        py: Python<'_>,
        when: Option<f64>,
        callback: Bound<'_, PyAny>,
        args: Bound<'_, PyTuple>,
        context: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Py<TimerHandle>> {
        let Some(when) = when else {
            return Err(PyTypeError::new_err("when cannot be None"));
        };
        Self::schedule_at(slf, py, when, callback, args, context, "call_at")
    }

    /// Schedules `callback(*args)` `delay` seconds from now.
    #[pyo3(signature = (delay, callback, *args, context = None))]
    fn call_later(
        slf: &Bound<'_, Self>,
        py: Python<'_>,
        delay: Option<f64>,
        callback: Bound<'_, PyAny>,
        args: Bound<'_, PyTuple>,
        context: Option<Bound<'_, PyAny>>,
    ) -> PyResult<Py<TimerHandle>> {
        let Some(delay) = delay else {
            return Err(PyTypeError::new_err("delay must not be None"));
        };
        let when = slf.get().time() + delay;
        Self::schedule_at(slf, py, when, callback, args, context, "call_at")
    }

    /// Asks `run_forever` to return after the current iteration (or, before it runs, after
    /// its first iteration).
    fn stop(&self, py: Python<'_>) -> PyResult<()> {
        if std::thread::current().id() != self.owner {
            if let Some(r) = self.flags.remote().as_ref() {
                r.stop();
            }
            return Ok(());
        }
        let engine = self.engine(py)?;
        if engine.running.get() {
            engine.with_loop(|lp| lp.stop())?;
        } else {
            engine.stop_pending.set(true);
        }
        Ok(())
    }

    /// Runs simul's loop until `stop()`; raises what stopped it abnormally (Ctrl-C, a
    /// callback's `SystemExit`).
    fn _run(&self, py: Python<'_>) -> PyResult<()> {
        let engine = self.engine(py)?;
        if engine.running.replace(true) {
            return Err(PyRuntimeError::new_err(
                "This event loop is already running",
            ));
        }
        let res = engine.with_loop(|lp| {
            if engine.stop_pending.replace(false) {
                let h = lp.handle();
                lp.call_soon(move || h.stop());
            }
            let _here = RunningHere::enter(&self.flags);
            self.flags.running.store(true, Ordering::Release);
            lp.run_forever();
            self.flags.running.store(false, Ordering::Release);
        });
        engine.running.set(false);
        res?;
        match self.flags.take_pending() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Releases the engine: drops pending callbacks and timers and stops watching
    /// descriptors. Called by `close()` once asyncio's part is done.
    fn _close_core(&self, py: Python<'_>) -> PyResult<()> {
        self.flags.closed.store(true, Ordering::Release);
        let engine = self.engine(py)?;
        let fds: Vec<FdWatch> = engine.fds.borrow_mut().drain().map(|(_, w)| w).collect();
        for w in fds {
            w.entry.release();
            w.task.cancel();
        }
        crate::fdwatch::discard_any_spare(py, &engine);
        let lp = engine.lp.borrow_mut().take();
        drop(engine);
        // Shutdown runs the callbacks still queued: with this loop's flags.
        let scope = CallbackScope::enter(&self.flags);
        drop(lp);
        drop(scope);
        let remote = self.flags.remote().take();
        drop(remote);
        self.drop_loop_kw();
        let e = self.engine.lock().unwrap_or_else(|e| e.into_inner()).take();
        drop(e);
        Ok(())
    }

    #[getter(_debug)]
    fn get_debug_flag(&self) -> bool {
        self.flags.debug()
    }

    #[setter(_debug)]
    fn set_debug_flag(&self, on: bool) {
        self.flags.debug.store(on, Ordering::Relaxed);
    }

    #[getter(_closed)]
    fn get_closed_flag(&self) -> bool {
        self.flags.closed.load(Ordering::Acquire)
    }

    #[setter(_closed)]
    fn set_closed_flag(&self, on: bool) {
        self.flags.closed.store(on, Ordering::Release);
    }

    /// Debug mode logs callbacks that take at least this long (seconds).
    #[getter]
    fn get_slow_callback_duration(&self) -> f64 {
        self.flags.slow_callback_duration()
    }

    #[setter]
    fn set_slow_callback_duration(&self, secs: f64) {
        self.flags.slow.store(secs.to_bits(), Ordering::Relaxed);
    }

    /// Watches `fd` for reading: `callback(*args)` runs at every iteration while it is
    /// readable. Replaces an earlier reader of `fd`.
    fn _add_reader(
        &self,
        py: Python<'_>,
        fd: RawFd,
        callback: Bound<'_, PyAny>,
        args: Bound<'_, PyTuple>,
    ) -> PyResult<Py<Handle>> {
        self.add_watch(py, fd, callback, args, false)
    }

    /// Watches `fd` for writing (see `_add_reader`).
    fn _add_writer(
        &self,
        py: Python<'_>,
        fd: RawFd,
        callback: Bound<'_, PyAny>,
        args: Bound<'_, PyTuple>,
    ) -> PyResult<Py<Handle>> {
        self.add_watch(py, fd, callback, args, true)
    }

    /// Stops watching `fd` for reading; whether it was watched.
    fn _remove_reader(&self, py: Python<'_>, fd: RawFd) -> PyResult<bool> {
        self.remove_watch(py, fd, false)
    }

    /// Stops watching `fd` for writing; whether it was watched.
    fn _remove_writer(&self, py: Python<'_>, fd: RawFd) -> PyResult<bool> {
        self.remove_watch(py, fd, true)
    }

    /// Tells the watcher of `fd` that the reading (or writing) callback now running found
    /// the descriptor drained (its last call gave `EAGAIN`): the watcher then waits for the
    /// next event without asking the kernel (`poll(2)`) whether `fd` is still ready.
    fn _watch_drained(&self, py: Python<'_>, fd: RawFd, write: bool) -> PyResult<()> {
        self.mark_drained(py, fd, write)
    }

    /// Accepts one connection on the listening IPv4 or IPv6 socket `fd` (the body of the
    /// accept loop of a TLS or TCP server): `(descriptor, address)`, the descriptor
    /// already non-blocking (`accept4` with `SOCK_NONBLOCK`), the address as
    /// `socket.accept` gives it; `None` once the backlog is empty (`EAGAIN`), which also
    /// tells `fd`'s reading watch it is drained, as `_watch_drained` does, without an
    /// exception raised and caught per accept round. Other errors raise the `OSError`
    /// `socket.accept` would.
    fn _accept_inet(&self, py: Python<'_>, fd: RawFd) -> PyResult<Option<(RawFd, Py<PyAny>)>> {
        match crate::sys::accept_nonblocking(fd) {
            Ok((new, peer)) => {
                // `new` is owned until handed to Python, so a failure to build the address
                // (a `MemoryError`) closes it rather than leaking it.
                let addr = peer_to_py(py, peer)?;
                Ok(Some((std::os::fd::IntoRawFd::into_raw_fd(new), addr)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                self.mark_drained(py, fd, false)?;
                Ok(None)
            }
            Err(e) => Err(crate::tcore::os_error(py, e)),
        }
    }

    /// A TCP socket transport's set-up on its descriptor `fd` (`_make_socket_transport`,
    /// for a plain `socket.socket` of an IPv4 or IPv6 TCP socket): its `getsockname()`,
    /// its `getpeername()` if `peer` (each `None` where the call fails, as the stock
    /// loop's transport has it), then `TCP_NODELAY` on (`base_events._set_nodelay`, whose
    /// `OSError` it raises); the names as `socket.getsockname` gives them, without that
    /// method's Python call and its argument parsing.
    fn _tcp_setup(
        &self,
        py: Python<'_>,
        fd: RawFd,
        peer: bool,
    ) -> PyResult<(Py<PyAny>, Py<PyAny>)> {
        let name = |which: bool| -> PyResult<Py<PyAny>> {
            match crate::sys::sock_name(fd, which) {
                Ok(p) => peer_to_py(py, p),
                Err(_) => Ok(py.None()),
            }
        };
        let sockname = name(false)?;
        let peername = if peer { name(true)? } else { py.None() };
        crate::sys::set_nodelay(fd).map_err(|e| crate::tcore::os_error(py, e))?;
        Ok((sockname, peername))
    }

    /// Ends the connect watch (the writer) of `fd`, whose socket is `sock`, handing its
    /// registration on to the transport that takes `sock` over next (see
    /// `fdwatch::Spare`).
    fn _hand_over_writer(
        &self,
        py: Python<'_>,
        fd: RawFd,
        sock: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        self.hand_over_writer(py, fd, sock)
    }

    /// Raises `RuntimeError` unless called on the loop's thread (see `check_thread`).
    fn _check_thread(&self, py: Python<'_>) -> PyResult<()> {
        self.check_thread(py)
    }

    /// Busy iterations between two looks at the selector (`0` by default: every
    /// iteration, as asyncio); for benchmarks and tests comparing the two policies.
    fn _set_io_interval(&self, py: Python<'_>, iterations: u32) -> PyResult<()> {
        let engine = self.engine(py)?;
        engine.with_loop(|lp| lp.set_io_interval(iterations))
    }

    /// How many timers simul's wheel holds for this loop (Python timers, and the sleeps
    /// of simul's own tasks); for tests that check cancelled timers leave it.
    fn _armed_timers(&self, py: Python<'_>) -> PyResult<usize> {
        let engine = self.engine(py)?;
        engine.with_loop(|lp| lp.armed_timers())
    }

    /// Whether `fd` has a reader (`write=False`) or writer (`write=True`).
    fn _has_watch(&self, py: Python<'_>, fd: RawFd, write: bool) -> PyResult<bool> {
        let engine = self.engine(py)?;
        let fds = engine.fds.borrow();
        Ok(fds.get(&fd).is_some_and(|w| w.entry.has(write)))
    }
}

/// An address as CPython's `socket` module names it: `(host, port)` for IPv4, `(host,
/// port, flowinfo, scope_id)` for IPv6; `None` for another family.
fn peer_to_py(py: Python<'_>, peer: crate::sys::Peer) -> PyResult<Py<PyAny>> {
    Ok(match peer {
        crate::sys::Peer::V4(a) => {
            // Dotted decimal, as `inet_ntop(3)` writes it, without `fmt`'s machinery.
            let mut buf = [0u8; 15];
            let mut n = 0;
            for (i, octet) in a.ip().octets().into_iter().enumerate() {
                if i > 0 {
                    buf[n] = b'.';
                    n += 1;
                }
                if octet >= 100 {
                    buf[n] = b'0' + octet / 100;
                    n += 1;
                }
                if octet >= 10 {
                    buf[n] = b'0' + octet / 10 % 10;
                    n += 1;
                }
                buf[n] = b'0' + octet % 10;
                n += 1;
            }
            let host = std::str::from_utf8(&buf[..n]).expect("ASCII digits and dots");
            (pyo3::types::PyString::new(py, host), a.port())
                .into_pyobject(py)?
                .into_any()
                .unbind()
        }
        crate::sys::Peer::V6 {
            host,
            port,
            flowinfo,
            scope_id,
        } => (host, port, flowinfo, scope_id)
            .into_pyobject(py)?
            .into_any()
            .unbind(),
        crate::sys::Peer::Other => py.None(),
    })
}
