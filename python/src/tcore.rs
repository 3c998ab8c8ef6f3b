//! `TransportCore`: the state and the asyncio-facing chores every transport shares.
//!
//! # Design
//!
//! `SocketTransport`, `DatagramTransport` and `PipeTransport` differ in how they move
//! bytes, not in how they talk to asyncio. This core holds what they have in common and
//! does it once:
//! - the loop, the protocol (swappable with `set_protocol`), the `extra` dict, and the
//!   Python transport object the protocol sees (`this`, set by `_start`);
//! - the I/O task's waker ([`TransportCore::enter`] keeps it current, [`wake`] wakes it);
//! - write flow control: the water marks and the protocol's `pause_writing` /
//!   `resume_writing`, against the pending byte count the transport passes in;
//! - the write side of every I/O step ([`poll_write_side`]): flush while the descriptor
//!   is writable, forget the readiness the kernel refused, flow control after; each
//!   transport only says how it flushes its queue ([`WriteSide`]);
//! - reporting to `loop.call_exception_handler` with asyncio's context keys;
//! - scheduling `this._call_connection_lost(exc)` through `loop.call_soon`, and letting go
//!   of `this` and the waker once it has run ([`TransportCore::release`]);
//! - the `contextvars` context the I/O task's protocol callbacks run in
//!   ([`TransportCore::in_context`]). On the stock loop the reads are one `add_reader`
//!   handle made by a `call_soon` from the transport's `__init__`, so they run in one
//!   context, a copy of the one `__init__` ran in (`connection_made`, another `call_soon`
//!   from `__init__`, runs in another copy). Here `_start` is that `call_soon`: it takes a
//!   copy of its own context ([`TransportCore::capture_context`]), and each step of the I/O
//!   task enters it once around all its callbacks (`data_received`, `eof_received`,
//!   `pause_writing`/`resume_writing`, `datagram_received`, ...), so what one callback sets
//!   the later ones see, and a `call_soon` they make (`connection_lost` after EOF) copies
//!   it. The write side (`resume_writing`, `connection_lost` after the last flush) runs,
//!   as the stock loop's `add_writer` handle, in a copy of the context of the `write()`
//!   that left data queued on an empty queue ([`TransportCore::capture_write_context`];
//!   a transport that never calls it runs its write side in the transport's context).
//!
//! # Invariants
//! - Once `lost_done` is set the task keeps no waker: a waker would keep the loop alive.
//! - `this` is dropped when `connection_lost` has run: the Rust task holds the core, and
//!   a reference back to the Python transport would be a cycle the collector cannot see.
//!
//! [`wake`]: TransportCore::wake

use std::cell::{Cell, RefCell};
use std::task::{Context, Waker};

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

use crate::sys::CallMethod0;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyMemoryView};
use pyo3::{PyTraverseError, PyVisit};

/// asyncio's default high-water mark (`FlowControlMixin`: 64 KiB, the low one a quarter).
const DEFAULT_HIGH: usize = 64 * 1024;

/// What the three transports share (see the module doc).
pub(crate) struct TransportCore {
    pub(crate) loop_: Py<PyAny>,
    pub(crate) protocol: RefCell<Py<PyAny>>,
    pub(crate) extra: Py<PyDict>,
    pub(crate) this: RefCell<Option<Py<PyAny>>>,
    pub(crate) waker: RefCell<Option<Waker>>,
    pub(crate) write_paused: Cell<bool>,
    pub(crate) high: Cell<usize>,
    pub(crate) low: Cell<usize>,
    /// `connection_lost` has run.
    pub(crate) lost_done: Cell<bool>,
    /// The context of the I/O task's callbacks (see the module doc), from `_start` on.
    pub(crate) context: RefCell<Option<Py<PyAny>>>,
    /// The write side's context: copied by the `write()` that left data queued.
    pub(crate) write_context: RefCell<Option<Py<PyAny>>>,
}

impl TransportCore {
    pub(crate) fn new(loop_: Py<PyAny>, protocol: Py<PyAny>, extra: Py<PyDict>) -> Self {
        TransportCore {
            loop_,
            protocol: RefCell::new(protocol),
            extra,
            this: RefCell::new(None),
            waker: RefCell::new(None),
            write_paused: Cell::new(false),
            high: Cell::new(DEFAULT_HIGH),
            low: Cell::new(DEFAULT_HIGH / 4),
            lost_done: Cell::new(false),
            context: RefCell::new(None),
            write_context: RefCell::new(None),
        }
    }

    /// Takes a copy of the current context as the I/O task's (from `_start`, itself a
    /// `call_soon` from the transport's `__init__`, as the stock loop's `add_reader`).
    pub(crate) fn capture_context(&self, py: Python<'_>) {
        Self::capture(py, &self.context);
    }

    /// Takes a copy of the current context as the write side's (from the `write()` that
    /// queued data on an empty queue, as the stock loop's `add_writer`).
    pub(crate) fn capture_write_context(&self, py: Python<'_>) {
        Self::capture(py, &self.write_context);
    }

    fn capture(py: Python<'_>, slot: &RefCell<Option<Py<PyAny>>>) {
        match crate::sys::copy_context(py) {
            Ok(c) => {
                // The old context is dropped after the borrow ends (its values' finalizers
                // may use the transport).
                let old = slot.borrow_mut().replace(c);
                drop(old);
            }
            Err(e) => e.print(py),
        }
    }

    /// Runs `f` (the read side of a step) inside the transport's context, if taken.
    #[inline(always)]
    pub(crate) fn in_context<R>(&self, py: Python<'_>, f: impl FnOnce() -> R) -> R {
        Self::run_in(py, &self.context, f)
    }

    /// Runs `f` (the write side of a step) inside the write side's context, or the
    /// transport's when no `write()` queued data (a transport that queues none).
    #[inline(always)]
    pub(crate) fn in_write_context<R>(&self, py: Python<'_>, f: impl FnOnce() -> R) -> R {
        if self.write_context.borrow().is_some() {
            Self::run_in(py, &self.write_context, f)
        } else {
            Self::run_in(py, &self.context, f)
        }
    }

    fn run_in<R>(py: Python<'_>, slot: &RefCell<Option<Py<PyAny>>>, f: impl FnOnce() -> R) -> R {
        // A `Bound` (its drop is a plain decref), not the `RefCell`'s borrow: `f` may
        // end the transport, or queue a write that replaces the context.
        let ctx = slot.borrow().as_ref().map(|c| c.bind(py).clone());
        match ctx {
            Some(c) => crate::sys::in_context(&c, f),
            None => f(),
        }
    }

    /// The start of each poll of the I/O task: `false` once `connection_lost` has run
    /// (the task ends, keeping no waker); otherwise the task's waker is kept current.
    pub(crate) fn enter(&self, cx: &Context<'_>) -> bool {
        if self.lost_done.get() {
            return false;
        }
        let mut w = self.waker.borrow_mut();
        match w.as_ref() {
            Some(old) if old.will_wake(cx.waker()) => {}
            _ => *w = Some(cx.waker().clone()),
        }
        true
    }

    pub(crate) fn wake(&self) {
        if let Some(w) = self.waker.borrow().as_ref() {
            w.wake_by_ref();
        }
    }

    /// `loop.create_future()`.
    pub(crate) fn create_future(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(self
            .loop_
            .bind(py)
            .vcall_method0(pyo3::intern!(py, "create_future"))?
            .unbind())
    }

    pub(crate) fn this(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.this.borrow().as_ref().map(|t| t.clone_ref(py))
    }

    pub(crate) fn protocol(&self, py: Python<'_>) -> Py<PyAny> {
        self.protocol.borrow().clone_ref(py)
    }

    /// `loop.call_exception_handler({message, exception, transport, protocol})`; a
    /// failure of the handler itself is printed.
    pub(crate) fn report(&self, py: Python<'_>, message: &str, exc: Option<&Bound<'_, PyAny>>) {
        let ctx = PyDict::new(py);
        let res = (|| -> PyResult<()> {
            ctx.set_item("message", message)?;
            if let Some(e) = exc {
                ctx.set_item("exception", e)?;
            }
            ctx.set_item("transport", self.this(py))?;
            ctx.set_item("protocol", self.protocol.borrow().bind(py))?;
            self.loop_
                .bind(py)
                .call_method1("call_exception_handler", (ctx,))?;
            Ok(())
        })();
        if let Err(e) = res {
            e.print(py);
        }
    }

    /// Calls `protocol.<name>()`; an exception is reported with `message`.
    pub(crate) fn protocol_call(&self, py: Python<'_>, name: &str, message: &str) {
        let p = self.protocol(py);
        if let Err(e) = p.bind(py).call_method0(name) {
            self.report(py, message, Some(e.into_value(py).bind(py).as_any()));
        }
    }

    /// `pause_writing()` once `pending` is above the high-water mark.
    pub(crate) fn maybe_pause(&self, py: Python<'_>, pending: usize) {
        if pending > self.high.get() && !self.write_paused.get() {
            self.write_paused.set(true);
            self.protocol_call(py, "pause_writing", "protocol.pause_writing() failed");
        }
    }

    /// `resume_writing()` once paused and `pending` is at or below the low-water mark.
    pub(crate) fn maybe_resume(&self, py: Python<'_>, pending: usize) {
        if self.write_paused.get() && pending <= self.low.get() {
            self.write_paused.set(false);
            self.protocol_call(py, "resume_writing", "protocol.resume_writing() failed");
        }
    }

    /// `get_write_buffer_limits()`: `(low, high)`.
    pub(crate) fn limits(&self) -> (usize, usize) {
        (self.low.get(), self.high.get())
    }

    /// `set_write_buffer_limits(high, low)` with asyncio's defaults and check
    /// (`ValueError` unless `high >= low >= 0`); may pause the protocol at once.
    pub(crate) fn set_limits(
        &self,
        py: Python<'_>,
        high: Option<i64>,
        low: Option<i64>,
        pending: usize,
    ) -> PyResult<()> {
        let high = match (high, low) {
            (Some(h), _) => h,
            (None, Some(l)) => 4 * l,
            (None, None) => DEFAULT_HIGH as i64,
        };
        let low = low.unwrap_or(high / 4);
        if !(high >= low && low >= 0) {
            return Err(PyValueError::new_err(format!(
                "high ({high}) must be >= low ({low}) must be >= 0"
            )));
        }
        self.high.set(high as usize);
        self.low.set(low as usize);
        self.maybe_pause(py, pending);
        Ok(())
    }

    /// `get_extra_info(name, default)`.
    pub(crate) fn extra_info(
        &self,
        py: Python<'_>,
        name: &str,
        default: Option<Py<PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        match self.extra.bind(py).get_item(name)? {
            Some(v) => Ok(v.unbind()),
            None => Ok(default.unwrap_or_else(|| py.None())),
        }
    }

    /// `loop.call_soon(this._call_connection_lost, exc)`; `Err(exc)` (nothing scheduled,
    /// the argument handed back) when there is no `this` yet, i.e. before `_start`.
    pub(crate) fn schedule_call_lost(
        &self,
        py: Python<'_>,
        exc: Py<PyAny>,
    ) -> Result<(), Py<PyAny>> {
        let Some(t) = self.this(py) else {
            return Err(exc);
        };
        let res = t
            .bind(py)
            .getattr(pyo3::intern!(py, "_call_connection_lost"))
            .and_then(|f| {
                crate::sys::call_method(
                    self.loop_.bind(py),
                    pyo3::intern!(py, "call_soon"),
                    &[&f, exc.bind(py)],
                )
            });
        if let Err(e) = res {
            e.print(py);
        }
        Ok(())
    }

    /// After `connection_lost` ran: drops `this`, wakes the task so it ends, and drops
    /// its waker.
    pub(crate) fn release(&self) {
        self.this.borrow_mut().take();
        self.context.borrow_mut().take();
        self.write_context.borrow_mut().take();
        self.wake();
        self.waker.borrow_mut().take();
    }

    /// Reports the core's references to the cycle collector (for a transport's
    /// `__traverse__`, only once its I/O task is gone: while it runs, the loop owns them).
    /// A `RefCell` borrowed at the moment is skipped (the collector may run anywhere).
    pub(crate) fn traverse(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.loop_)?;
        visit.call(&self.extra)?;
        if let Ok(p) = self.protocol.try_borrow() {
            visit.call(&*p)?;
        }
        if let Ok(t) = self.this.try_borrow() {
            visit.call(t.as_ref())?;
        }
        if let Ok(c) = self.context.try_borrow() {
            visit.call(c.as_ref())?;
        }
        if let Ok(c) = self.write_context.try_borrow() {
            visit.call(c.as_ref())?;
        }
        Ok(())
    }

    /// A transport's `__clear__`: drops the reference back to the Python transport,
    /// which breaks the cycle `transport -> Rust half -> transport`.
    pub(crate) fn clear(&self) {
        if let Ok(mut t) = self.this.try_borrow_mut() {
            let old = t.take();
            drop(old);
        }
        for slot in [&self.context, &self.write_context] {
            if let Ok(mut c) = slot.try_borrow_mut() {
                let old = c.take();
                drop(old);
            }
        }
    }

    /// The state word of a `repr`: `"closed"`, `"closing"` or `None` (open).
    pub(crate) fn state_word(&self, closing: bool) -> Option<&'static str> {
        if self.lost_done.get() {
            Some("closed")
        } else if closing {
            Some("closing")
        } else {
            None
        }
    }
}

/// The `bytes` a `write(data)` queues: `data` itself when it is `bytes` (never copied),
/// a copy of a `bytearray` or `memoryview` (the caller may change it); anything else is
/// asyncio's `TypeError`.
pub(crate) fn bytes_of<'py>(data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    if let Ok(b) = data.cast::<PyBytes>() {
        return Ok(b.clone());
    }
    if data.is_instance_of::<PyByteArray>() || data.is_instance_of::<PyMemoryView>() {
        let b = data.py().get_type::<PyBytes>().call1((data,))?;
        return Ok(b.cast_into::<PyBytes>()?);
    }
    // asyncio's wording: the type's name as `repr` shows it.
    Err(PyTypeError::new_err(format!(
        "data argument must be a bytes-like object, not {}",
        data.get_type().name()?.repr()?
    )))
}

/// The exception for the OS error `e`, as Python's `socket` and `os` functions raise it:
/// `OSError(errno, strerror)`, which Python turns into its subclass (`BrokenPipeError`,
/// `ConnectionResetError`, ...) with `errno` and `strerror` set, as the stock loop's
/// transports pass it on. An error that carries no errno keeps pyo3's conversion.
/// Cold and never inlined: only the transports' error paths call it, and it stays out of
/// their hot I/O step.
#[cold]
#[inline(never)]
pub(crate) fn os_error(py: Python<'_>, e: std::io::Error) -> PyErr {
    let Some(code) = e.raw_os_error() else {
        return PyErr::from(e);
    };
    let made = (|| -> PyResult<PyErr> {
        let msg = py.import("os")?.getattr("strerror")?.call1((code,))?;
        let exc = py
            .get_type::<pyo3::exceptions::PyOSError>()
            .call1((code, msg))?;
        Ok(PyErr::from_value(exc))
    })();
    made.unwrap_or_else(|err| err)
}

/// What one flush of a transport's write queue did (see [`WriteSide`]).
pub(crate) enum Flushed {
    /// The queue is empty.
    All,
    /// The kernel took no more (`EAGAIN`): the rest waits for the next writable event.
    Blocked,
    /// A fatal error, already handled (the transport is closing, its queue dropped).
    Failed,
}

/// A transport's write side as [`poll_write_side`] drives it: the one loop of the
/// socket, datagram and pipe transports' I/O steps that flushes their queue whenever the
/// descriptor is writable.
pub(crate) trait WriteSide {
    /// After `EAGAIN`, also forget a pending error on the descriptor (a datagram socket's
    /// errors go to `error_received`, not to the write).
    const FORGET_ERROR: bool = false;

    /// The descriptor's watch (`None` once the transport let it go).
    fn watch(&self) -> &RefCell<Option<simul::net::AsyncFd>>;

    /// Whether bytes wait to be written and the connection is not lost.
    fn wants_write(&self) -> bool;

    /// Writes queued bytes until the queue is empty or the kernel takes no more.
    fn flush(&self, py: Python<'_>) -> Flushed;

    /// The queue emptied: `resume_writing` at or below the low mark, and what the
    /// transport does once flushed (close, shut down its write side...).
    fn flushed(&self, py: Python<'_>);

    /// The transport's shared core (for flow control).
    fn core(&self) -> &TransportCore;

    /// The bytes queued (the flow-control count).
    fn queued(&self) -> usize;

    /// The kernel took part of the queue: `resume_writing` at or below the low mark.
    fn blocked(&self, py: Python<'_>) {
        self.core().maybe_resume(py, self.queued());
    }
}

/// Flushes `side`'s queue while it wants to write and its descriptor is writable,
/// clearing the readiness the kernel refused; `false` when the watch is gone.
pub(crate) fn poll_write_side<W: WriteSide>(
    side: &W,
    py: Python<'_>,
    cx: &mut Context<'_>,
) -> bool {
    while side.wants_write() {
        let ready = match side.watch().borrow().as_ref() {
            Some(fd) => fd.poll_write_ready(cx),
            None => return false,
        };
        let std::task::Poll::Ready(Ok(r)) = ready else {
            break;
        };
        match side.flush(py) {
            Flushed::All => side.flushed(py),
            Flushed::Blocked => {
                if let Some(fd) = side.watch().borrow().as_ref() {
                    if W::FORGET_ERROR {
                        fd.clear_write_blocked(r);
                    } else {
                        fd.clear_write_ready(r);
                    }
                }
                side.blocked(py);
            }
            Flushed::Failed => {}
        }
    }
    true
}
