//! `Handle` and `TimerHandle`: what `call_soon`, `call_later` and `call_at` return, and
//! how a scheduled Python callback runs.
//!
//! A handle is a Python object that owns the callback, its arguments and the
//! `contextvars.Context` to run it in. The entry in simul's ready queue or timer wheel is a
//! Rust closure holding a reference to the handle; `cancel()` sets a flag the closure
//! checks, and drops the callback at once. A one-shot handle also drops its callback once
//! it has run (asyncio's keeps it): handles take no part in the cycle collector (that
//! would cost every `call_soon`), so the callback must not outlive the run for a cycle
//! through the handle to be collectable. A descriptor watcher's handle keeps it. A timer handle also removes its entry from
//! simul's wheel at `cancel()` (O(1), through a `simul::TimerId`), so a program that arms
//! and cancels many long timers keeps the wheel's size flat.
//!
//! The Rust [`Handle`] lives in one of two Python objects. `call_soon`'s handles are of a
//! type of their own built in `sys.rs` (`sys::new_soon_handle`, also named `Handle`),
//! which is not a GC type, so that making one does not count towards the cycle
//! collector's next collection (pyo3 makes every class a GC type). The pyo3 class
//! [`Handle`] serves the others (`call_soon_threadsafe`, descriptor watchers, and
//! [`TimerHandle`], which extends it). Both have the same methods, over the same code.
//!
//! Running a callback follows asyncio's `Handle._run`: `context.run(callback, *args)`
//! (a single argument is kept without a tuple, [`Args`]);
//! `SystemExit` and `KeyboardInterrupt` stop the loop and are raised out of
//! `run_forever`; any other exception goes to the loop's exception handler, and the loop
//! goes on. In debug mode a callback that takes `slow_callback_duration` or longer is
//! logged, naming the callback.
//!
//! Handles are `Send` (a flag and a mutex): `call_soon_threadsafe` creates them on other
//! threads, and any thread may drop them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use pyo3::exceptions::{PyKeyboardInterrupt, PySystemExit};
use pyo3::prelude::*;
use pyo3::pyclass::CompareOp;
use pyo3::types::PyTuple;

use crate::core::{Flags, LoopCore};
use crate::glue;

/// A callback with its arguments and context.
pub(crate) struct Call {
    pub(crate) callback: Py<PyAny>,
    pub(crate) args: Args,
    pub(crate) context: Py<PyAny>,
}

/// A callback's positional arguments. One argument is kept on its own (a future's done
/// callbacks, `call_soon(f, x)`): a tuple for it would be one more object the cycle
/// collector counts and, while the handle waits in the queue, traverses. Cold paths that
/// show the arguments (a handle's repr, an error report) make the tuple then.
pub(crate) enum Args {
    One(Py<PyAny>),
    Tuple(Py<PyTuple>),
}

impl Args {
    /// The arguments as a tuple (a new one for a single argument).
    pub(crate) fn tuple<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        match self {
            Args::One(a) => PyTuple::new(py, [a.bind(py)]),
            Args::Tuple(t) => Ok(t.bind(py).clone()),
        }
    }

    fn clone_ref(&self, py: Python<'_>) -> Args {
        match self {
            Args::One(a) => Args::One(a.clone_ref(py)),
            Args::Tuple(t) => Args::Tuple(t.clone_ref(py)),
        }
    }
}

impl Call {
    fn clone_ref(&self, py: Python<'_>) -> Call {
        Call {
            callback: self.callback.clone_ref(py),
            args: self.args.clone_ref(py),
            context: self.context.clone_ref(py),
        }
    }
}

/// asyncio's `Handle`: a callback scheduled by `call_soon` (or watched by `add_reader`).
#[pyclass(frozen, subclass, module = "simul._simul")]
pub struct Handle {
    call: Mutex<Option<Call>>,
    cancelled: AtomicBool,
}

/// asyncio's `TimerHandle`: a callback scheduled for a loop time.
#[pyclass(frozen, extends = Handle, module = "simul._simul")]
pub struct TimerHandle {
    when: f64,
    /// The wheel entry while armed, to remove at `cancel()`; only the loop's thread
    /// touches the engine.
    armed: Mutex<Option<Armed>>,
}

/// Where a timer's wheel entry is: its id and the loop it is armed on.
pub(crate) struct Armed {
    pub(crate) id: simul::TimerId,
    pub(crate) core: Py<LoopCore>,
}

impl Handle {
    pub(crate) fn new(call: Call) -> Handle {
        Handle {
            call: Mutex::new(Some(call)),
            cancelled: AtomicBool::new(false),
        }
    }

    /// Marks the handle cancelled and drops its callback.
    pub(crate) fn cancel_quietly(&self) {
        self.cancelled.store(true, Ordering::Release);
        let old = self.lock().take();
        drop(old);
    }

    /// Takes the call out (the handle's object is being freed: no lock needed).
    pub(crate) fn take_call_mut(&mut self) -> Option<Call> {
        self.call
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Call>> {
        self.call.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// After a one-shot callback ran (a context is set: not a descriptor watcher's),
    /// drops it, so a cycle through the handle (`obj._h = loop.call_soon(obj.m)`) is
    /// collectable although handles are invisible to the cycle collector.
    fn ran(&self, py: Python<'_>, call: &Call) {
        if !call.context.is_none(py) {
            let old = self.lock().take();
            drop(old);
        }
    }

    /// Takes out the call of a one-shot handle (one with a context: not a descriptor
    /// watcher's) that is due to run; `None` for a cancelled or watcher's handle.
    fn take_one_shot(&self, py: Python<'_>) -> Option<Call> {
        if self.is_cancelled() {
            return None;
        }
        let mut slot = self.lock();
        match slot.as_ref() {
            Some(c) if !c.context.is_none(py) => slot.take(),
            _ => None,
        }
    }

    /// The call to make (the handle keeps it until it ran once or was cancelled).
    fn call_for_run(&self, py: Python<'_>) -> Option<Call> {
        if self.is_cancelled() {
            return None;
        }
        self.lock().as_ref().map(|c| c.clone_ref(py))
    }

    fn source(&self, py: Python<'_>) -> Option<String> {
        let c = self.lock().as_ref().map(|c| c.clone_ref(py));
        c.and_then(|c| glue::callback_source(py, &c))
    }
}

/// Runs the callback of `handle` (see the module doc): once for a `call_soon` or timer
/// handle, at every readiness for a descriptor watcher's. `obj` is the Python object the
/// handle lives in (a pyo3 `Handle`, or `call_soon`'s own type, `sys::new_soon_handle`),
/// shown in error reports.
pub(crate) fn run(py: Python<'_>, this: &Handle, obj: &Bound<'_, PyAny>, flags: &Flags) {
    if !flags.debug() {
        if let Some(call) = this.take_one_shot(py) {
            run_taken(py, this, obj, call, flags);
            return;
        }
    }
    let Some(call) = this.call_for_run(py) else {
        return;
    };
    let t0 = flags.debug().then(Instant::now);
    let res = invoke(py, &call);
    if let Err(e) = res {
        if e.is_instance_of::<PyKeyboardInterrupt>(py) || e.is_instance_of::<PySystemExit>(py) {
            flags.fail(e);
        } else {
            glue::report_callback_error(py, obj, &call, e);
        }
    }
    if let Some(t0) = t0 {
        let took = t0.elapsed().as_secs_f64();
        if took >= flags.slow_callback_duration() {
            glue::report_slow_callback(py, obj, &call.callback, took);
        }
    }
    this.ran(py, &call);
}

/// [`run`] for a pyo3 `Handle` (or `TimerHandle`).
pub(crate) fn run_py(py: Python<'_>, handle: &Bound<'_, Handle>, flags: &Flags) {
    run(py, handle.get(), handle.as_any(), flags);
}

/// Runs a one-shot callback taken out of its handle (no references copied, one lock); a
/// failing one is put back for the report, which shows the handle with its callback.
fn run_taken(py: Python<'_>, this: &Handle, obj: &Bound<'_, PyAny>, call: Call, flags: &Flags) {
    let Err(e) = invoke(py, &call) else {
        return;
    };
    if e.is_instance_of::<PyKeyboardInterrupt>(py) || e.is_instance_of::<PySystemExit>(py) {
        flags.fail(e);
        return;
    }
    if !this.is_cancelled() {
        *this.lock() = Some(call.clone_ref(py));
    }
    glue::report_callback_error(py, obj, &call, e);
    this.ran(py, &call);
}

/// `context.run(callback, *args)` (or `callback(*args)` without a context).
fn invoke(py: Python<'_>, call: &Call) -> PyResult<()> {
    if call.context.is_none(py) {
        // A descriptor watcher: asyncio runs those in the loop's own context.
        call.callback.bind(py).call1(call.args.tuple(py)?)?;
        return Ok(());
    }
    crate::sys::run_in_context(call.context.bind(py), call.callback.bind(py), &call.args)
}

impl Handle {
    /// `cancelled()`.
    pub(crate) fn cancelled_py(&self) -> bool {
        self.is_cancelled()
    }

    /// `get_context()`: the `contextvars.Context` the callback runs in (`None` once it is
    /// gone).
    pub(crate) fn context_py(&self, py: Python<'_>) -> Py<PyAny> {
        self.lock()
            .as_ref()
            .map(|c| c.context.clone_ref(py))
            .unwrap_or_else(|| py.None())
    }

    /// `_run()`: runs the callback now, as the loop would (asyncio's `Handle._run`); `obj`
    /// is the handle's Python object, for the error report.
    pub(crate) fn run_by_hand(&self, py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<()> {
        let Some(call) = self.call_for_run(py) else {
            return Ok(());
        };
        let res = match invoke(py, &call) {
            Ok(()) => Ok(()),
            Err(e)
                if e.is_instance_of::<PyKeyboardInterrupt>(py)
                    || e.is_instance_of::<PySystemExit>(py) =>
            {
                Err(e)
            }
            Err(e) => {
                glue::report_callback_error(py, obj, &call, e);
                Ok(())
            }
        };
        self.ran(py, &call);
        res
    }

    /// The repr: `<Handle cancelled when=... cb(args) at file:line>`, named after the
    /// type of `obj`, the handle's Python object (`when` for a timer handle).
    pub(crate) fn repr(&self, py: Python<'_>, obj: &Bound<'_, PyAny>, when: Option<f64>) -> String {
        let mut parts = vec![obj
            .get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_else(|_| "Handle".into())];
        if self.is_cancelled() {
            parts.push("cancelled".into());
        }
        if let Some(when) = when {
            parts.push(format!("when={when}"));
        }
        if let Some(src) = self.source(py) {
            parts.push(src);
        }
        format!("<{}>", parts.join(" "))
    }
}

#[pymethods]
impl Handle {
    /// Keeps the callback from running (if it has not run yet) and drops it.
    fn cancel(&self) {
        self.cancel_quietly();
    }

    /// Whether `cancel()` was called.
    fn cancelled(&self) -> bool {
        self.cancelled_py()
    }

    /// The `contextvars.Context` the callback runs in (`None` once it is gone).
    fn get_context(&self, py: Python<'_>) -> Py<PyAny> {
        self.context_py(py)
    }

    /// Runs the callback now, as the loop would (asyncio's `Handle._run`).
    fn _run(slf: &Bound<'_, Self>, py: Python<'_>) -> PyResult<()> {
        slf.get().run_by_hand(py, slf.as_any())
    }

    fn __repr__(slf: &Bound<'_, Self>, py: Python<'_>) -> String {
        let when = slf.cast::<TimerHandle>().ok().map(|t| t.get().when);
        slf.get().repr(py, slf.as_any(), when)
    }
}

#[pymethods]
impl TimerHandle {
    /// Keeps the callback from running and removes its timer from the loop's wheel (on
    /// the loop's thread; from another thread the entry is dropped when it comes due).
    fn cancel(slf: &Bound<'_, Self>, py: Python<'_>) {
        slf.as_super().get().cancel_quietly();
        let armed = slf
            .get()
            .armed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let Some(a) = armed else { return };
        // Only on the loop's thread (`engine` refuses others) and while it is open.
        if let Ok(engine) = a.core.get().engine(py) {
            let _ = engine.with_loop(|lp| lp.cancel_timer(a.id));
        }
    }

    /// The loop time (`loop.time()`) the callback is due at.
    fn when(&self) -> f64 {
        self.when
    }

    fn __richcmp__(&self, other: &Bound<'_, PyAny>, op: CompareOp) -> PyResult<Py<PyAny>> {
        let py = other.py();
        let Ok(o) = other.cast::<TimerHandle>() else {
            return Ok(py.NotImplemented());
        };
        let (a, b) = (self.when, o.get().when);
        let r = match op {
            CompareOp::Lt => a < b,
            CompareOp::Le => a <= b,
            CompareOp::Gt => a > b,
            CompareOp::Ge => a >= b,
            CompareOp::Eq => std::ptr::eq(self, o.get()),
            CompareOp::Ne => !std::ptr::eq(self, o.get()),
        };
        Ok(pyo3::types::PyBool::new(py, r)
            .to_owned()
            .into_any()
            .unbind())
    }

    fn __hash__(&self) -> u64 {
        self.when.to_bits()
    }
}

impl TimerHandle {
    pub(crate) fn new(when: f64) -> TimerHandle {
        TimerHandle {
            when,
            armed: Mutex::new(None),
        }
    }

    /// Records where the timer's wheel entry is (see `cancel`).
    pub(crate) fn set_armed(&self, armed: Armed) {
        *self.armed.lock().unwrap_or_else(|e| e.into_inner()) = Some(armed);
    }
}
