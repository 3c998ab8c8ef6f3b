//! `PipeTransport`: asyncio's read and write pipe transports (`connect_read_pipe`,
//! `connect_write_pipe`, a child's stdin/stdout/stderr), in Rust.
//!
//! # Design
//!
//! One class serves both directions (`writer` picks one at construction); `simul._pipes`
//! wraps it in `ReadPipeTransport` (an `asyncio.ReadTransport`) or `WritePipeTransport`
//! (an `asyncio.WriteTransport`) exposing only that direction's methods. The descriptor
//! (a pipe, a socket or a character device, non-blocking; the Python side checks) is
//! watched with a [`simul::net::AsyncFd`] and one simul task per transport moves the
//! bytes with `read(2)`/`write(2)`:
//! - read pipe: while reading, up to 256 KiB per `read`, handed to
//!   `protocol.data_received(bytes)`; at most [`READS_PER_STEP`] reads per step. EOF
//!   schedules `eof_received()` and then `connection_lost(None)` (the return value of
//!   `eof_received` is ignored, as the stock loop ignores it for pipes).
//! - write pipe: `write()` writes at once when nothing is queued; the rest is queued and
//!   flushed when the pipe is writable, with the protocol's `pause_writing()` above the
//!   high-water mark and `resume_writing()` at or below the low one (64 KiB and a
//!   quarter). For a pipe or a socket the task also waits for the descriptor to become
//!   readable, which a pipe's write end does only when its reader is gone (`EPOLLERR`):
//!   the transport then closes, with `BrokenPipeError` if bytes were still queued, as the
//!   stock loop does (not for a terminal, whose write end is readable on input).
//!
//! # Errors and closing
//! Errors follow `unix_events.py`: a read error other than `EIO` (a pty whose other side
//! closed) and a write error that is not an `OSError` go to the loop's exception handler;
//! every error closes the transport with `connection_lost(exc)`. `close()` of a write
//! pipe is `write_eof()`: `connection_lost(None)` follows the flush; `abort()` drops the
//! queue. `connection_lost` always runs through `loop.call_soon`, then the descriptor is
//! deregistered and the pipe object closed (in that order: the number may be reused).
//! The Python transport, its Rust half and the protocol form a cycle the collector
//! cannot see while the I/O task holds the state (the loop owns them then, as the
//! stock loop's selector does); `__traverse__`/`__clear__` report and break it once
//! the task is gone (the `Rc` count is 1), so an unclosed transport and its closed
//! loop are collected.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::io;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::task::{Context, Poll};

use pyo3::exceptions::{PyBrokenPipeError, PyOSError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use pyo3::{PyTraverseError, PyVisit};

use crate::sys;
use crate::tcore::{bytes_of, os_error, Flushed, TransportCore, WriteSide};

/// Reads one transport makes in one task step before it yields.
const READS_PER_STEP: usize = 16;
/// The largest read (asyncio's `max_size`).
const MAX_READ: usize = 256 * 1024;
/// Writes after the connection is lost before each one logs a warning (asyncio's
/// `LOG_THRESHOLD_FOR_CONNLOST_WRITES`).
const CONNLOST_WARN: usize = 5;

struct State {
    core: TransportCore,
    pipe: RefCell<Option<Py<PyAny>>>,
    fd: RawFd,
    writer: bool,
    /// A write pipe closes when its descriptor turns readable (pipes and sockets only).
    watch_close: bool,
    afd: RefCell<Option<simul::net::AsyncFd>>,
    wbuf: RefCell<Vec<u8>>,
    woff: Cell<usize>,
    closing: Cell<bool>,
    reading: Cell<bool>,
    conn_lost_writes: Cell<usize>,
    lost_scheduled: Cell<bool>,
    rbuf: RefCell<Vec<u8>>,
}

/// The Rust half of asyncio's pipe transports (see the module doc).
#[pyclass(unsendable, module = "simul._simul")]
pub struct PipeTransport {
    st: Rc<State>,
}

impl State {
    fn pending(&self) -> usize {
        self.wbuf.borrow().len() - self.woff.get()
    }

    fn wake(&self) {
        self.core.wake();
    }

    fn call_soon(&self, py: Python<'_>, f: Bound<'_, PyAny>, args: Vec<Py<PyAny>>) {
        let mut all = vec![f.unbind()];
        all.extend(args);
        let res = pyo3::types::PyTuple::new(py, all)
            .and_then(|t| self.core.loop_.bind(py).call_method1("call_soon", t));
        if let Err(e) = res {
            e.print(py);
        }
    }

    /// Schedules `connection_lost(exc)` once; reading and writing stop.
    fn schedule_lost(&self, py: Python<'_>, exc: Py<PyAny>) {
        self.closing.set(true);
        self.reading.set(false);
        if self.lost_scheduled.replace(true) {
            return;
        }
        if self.core.schedule_call_lost(py, exc).is_err() {
            // Closed before `_start`: `_start` schedules it.
            self.lost_scheduled.set(false);
        }
    }

    /// Drops the queue and closes with `exc` (asyncio's `_close`).
    fn force_close(&self, py: Python<'_>, exc: Py<PyAny>) {
        self.wbuf.borrow_mut().clear();
        self.woff.set(0);
        self.schedule_lost(py, exc);
    }

    fn fatal(&self, py: Python<'_>, err: PyErr, message: &str) {
        let exc = err.into_value(py).into_any();
        let is_os = exc.bind(py).is_instance_of::<PyOSError>();
        let quiet = if self.writer {
            is_os
        } else {
            is_os
                && exc
                    .bind(py)
                    .getattr("errno")
                    .and_then(|e| e.extract::<i32>())
                    .is_ok_and(|e| e == libc::EIO)
        };
        if !quiet {
            self.core.report(py, message, Some(exc.bind(py)));
        }
        self.force_close(py, exc);
    }

    fn maybe_pause(&self, py: Python<'_>) {
        self.core.maybe_pause(py, self.pending());
    }

    fn maybe_resume(&self, py: Python<'_>) {
        self.core.maybe_resume(py, self.pending());
    }

    /// Writes queued bytes until the queue is empty (`Ok(true)`) or the pipe is full.
    fn write_queued(&self) -> io::Result<bool> {
        loop {
            let n = {
                let buf = self.wbuf.borrow();
                let off = self.woff.get();
                if off >= buf.len() {
                    return Ok(true);
                }
                match sys::write(self.fd, &buf[off..]) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                    Err(e) => return Err(e),
                }
            };
            let off = self.woff.get() + n;
            let mut buf = self.wbuf.borrow_mut();
            if off >= buf.len() {
                buf.clear();
                self.woff.set(0);
                return Ok(true);
            }
            if off > 64 * 1024 && off * 2 > buf.len() {
                buf.drain(..off);
                self.woff.set(0);
            } else {
                self.woff.set(off);
            }
        }
    }

    fn poll(&self, cx: &mut Context<'_>) -> Poll<()> {
        if !self.core.enter(cx) {
            return Poll::Ready(());
        }
        crate::sys::in_loop_callback(|py| {
            if self.core.lost_done.get() || self.afd.borrow().is_none() {
                return Poll::Ready(());
            }
            if self.writer {
                self.core.in_write_context(py, || self.poll_writer(py, cx));
            } else {
                self.core.in_context(py, || self.poll_reader(py, cx));
            }
            Poll::Pending
        })
    }

    fn poll_writer(&self, py: Python<'_>, cx: &mut Context<'_>) {
        if !crate::tcore::poll_write_side(self, py, cx) {
            return;
        }
        if self.lost_scheduled.get() || !self.watch_close {
            return;
        }
        // The write end turns "readable" only when the reader is gone.
        let ready = match self.afd.borrow().as_ref() {
            Some(fd) => fd.poll_read_ready(cx),
            None => return,
        };
        if ready.is_ready() {
            if self.pending() > 0 {
                let exc = PyBrokenPipeError::new_err(()).into_value(py).into_any();
                self.force_close(py, exc);
            } else {
                self.force_close(py, py.None());
            }
        }
    }

    fn poll_reader(&self, py: Python<'_>, cx: &mut Context<'_>) {
        let mut reads = 0;
        while self.reading.get() && !self.closing.get() {
            if reads == READS_PER_STEP {
                cx.waker().wake_by_ref();
                break;
            }
            let ready = match self.afd.borrow().as_ref() {
                Some(fd) => fd.poll_read_ready(cx),
                None => return,
            };
            let Poll::Ready(Ok(r)) = ready else { break };
            reads += 1;
            let res = {
                let mut rbuf = self.rbuf.borrow_mut();
                if rbuf.len() < MAX_READ {
                    rbuf.resize(MAX_READ, 0);
                }
                match sys::read(self.fd, &mut rbuf[..]) {
                    Ok(n) => Ok((n, PyBytes::new(py, &rbuf[..n]).unbind())),
                    Err(e) => Err(e),
                }
            };
            match res {
                Ok((0, _)) => {
                    self.closing.set(true);
                    self.reading.set(false);
                    let proto = self.core.protocol.borrow().clone_ref(py);
                    match proto.bind(py).getattr("eof_received") {
                        Ok(f) => self.call_soon(py, f, vec![]),
                        Err(e) => e.print(py),
                    }
                    self.schedule_lost(py, py.None());
                    break;
                }
                Ok((n, data)) => {
                    if n < MAX_READ {
                        if let Some(fd) = self.afd.borrow().as_ref() {
                            fd.clear_read_ready(r);
                        }
                    }
                    let proto = self.core.protocol.borrow().clone_ref(py);
                    if let Err(e) = proto
                        .bind(py)
                        .call_method1(pyo3::intern!(py, "data_received"), (data,))
                    {
                        self.fatal(py, e, "Fatal error: protocol.data_received() call failed.");
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if let Some(fd) = self.afd.borrow().as_ref() {
                        fd.clear_read_ready(r);
                    }
                }
                Err(e) => {
                    self.fatal(py, os_error(py, e), "Fatal read error on pipe transport");
                    break;
                }
            }
        }
    }

    fn warn_conn_lost(&self, py: Python<'_>) {
        let n = self.conn_lost_writes.get();
        self.conn_lost_writes.set(n + 1);
        if n >= CONNLOST_WARN {
            let res = py.import("asyncio.log").and_then(|m| {
                m.getattr("logger")?.call_method1(
                    "warning",
                    ("pipe closed by peer or os.write(pipe, data) raised exception.",),
                )
            });
            if let Err(e) = res {
                e.print(py);
            }
        }
    }
}

impl WriteSide for State {
    fn watch(&self) -> &RefCell<Option<simul::net::AsyncFd>> {
        &self.afd
    }

    fn wants_write(&self) -> bool {
        self.pending() > 0 && !self.lost_scheduled.get()
    }

    fn flush(&self, py: Python<'_>) -> Flushed {
        match self.write_queued() {
            Ok(true) => Flushed::All,
            Ok(false) => Flushed::Blocked,
            Err(e) => {
                self.conn_lost_writes.set(self.conn_lost_writes.get() + 1);
                self.fatal(py, os_error(py, e), "Fatal write error on pipe transport");
                Flushed::Failed
            }
        }
    }

    fn flushed(&self, py: Python<'_>) {
        self.maybe_resume(py);
        if self.closing.get() {
            self.schedule_lost(py, py.None());
        }
    }

    fn core(&self) -> &TransportCore {
        &self.core
    }

    fn queued(&self) -> usize {
        self.pending()
    }
}

#[pymethods]
impl PipeTransport {
    /// `pipe` is the file object (closed with the transport), `fd` its non-blocking
    /// descriptor, `writer` the direction; `watch_close` makes a write pipe close when
    /// the descriptor turns readable (for a pipe or a socket, not a terminal, whose write
    /// end is readable when input arrives).
    #[new]
    #[pyo3(signature = (loop_, pipe, fd, protocol, extra, writer, watch_close = true))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        loop_: Py<PyAny>,
        pipe: Py<PyAny>,
        fd: RawFd,
        protocol: Py<PyAny>,
        extra: Py<PyDict>,
        writer: bool,
        watch_close: bool,
    ) -> PyResult<PipeTransport> {
        let afd = crate::fdwatch::register_transport(py, loop_.bind(py), fd, None)?;
        Ok(PipeTransport {
            st: Rc::new(State {
                core: TransportCore::new(loop_, protocol, extra),
                pipe: RefCell::new(Some(pipe)),
                fd,
                writer,
                watch_close,
                afd: RefCell::new(Some(afd)),
                wbuf: RefCell::new(Vec::new()),
                woff: Cell::new(0),
                closing: Cell::new(false),
                reading: Cell::new(false),
                conn_lost_writes: Cell::new(0),
                lost_scheduled: Cell::new(false),
                rbuf: RefCell::new(Vec::new()),
            }),
        })
    }

    /// Starts the I/O task (after `connection_made`); `this` is the Python transport.
    fn _start(&self, py: Python<'_>, this: Py<PyAny>) {
        let st = self.st.clone();
        *st.core.this.borrow_mut() = Some(this);
        st.core.capture_context(py);
        if st.closing.get() {
            if st.pending() == 0 {
                st.schedule_lost(py, py.None());
            }
            if !st.writer {
                return;
            }
        } else if !st.writer {
            st.reading.set(true);
        }
        let s = st.clone();
        drop(simul::spawn(async move { poll_fn(|cx| s.poll(cx)).await }));
    }

    /// Calls `protocol.connection_lost(exc)`, then releases the pipe.
    fn _call_connection_lost(&self, py: Python<'_>, exc: Py<PyAny>) -> PyResult<()> {
        let st = &self.st;
        if st.core.lost_done.replace(true) {
            return Ok(());
        }
        let proto = st.core.protocol.borrow().clone_ref(py);
        let res = proto.bind(py).call_method1("connection_lost", (exc,));
        drop(st.afd.borrow_mut().take());
        if let Some(pipe) = st.pipe.borrow_mut().take() {
            let _ = pipe.bind(py).call_method0("close");
        }
        st.core.release();
        res.map(drop)
    }

    /// Whether the pipe object is still open (for `__del__`'s `ResourceWarning`).
    fn _is_open(&self) -> bool {
        self.st.pipe.borrow().is_some()
    }

    /// Closes the pipe object without `connection_lost` (a transport never started).
    fn _release(&self, py: Python<'_>) {
        drop(self.st.afd.borrow_mut().take());
        if let Some(pipe) = self.st.pipe.borrow_mut().take() {
            let _ = pipe.bind(py).call_method0("close");
        }
    }

    /// Queues `data` (writes at once when nothing is queued).
    fn write(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let st = &self.st;
        let b = bytes_of(data)?;
        let bytes = b.as_bytes();
        if bytes.is_empty() {
            return Ok(());
        }
        if st.conn_lost_writes.get() > 0 || st.closing.get() || st.afd.borrow().is_none() {
            st.warn_conn_lost(py);
            return Ok(());
        }
        let mut sent = 0;
        if st.pending() == 0 {
            match sys::write(st.fd, bytes) {
                Ok(n) => sent = n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    st.conn_lost_writes.set(st.conn_lost_writes.get() + 1);
                    st.fatal(py, os_error(py, e), "Fatal write error on pipe transport");
                    return Ok(());
                }
            }
            if sent == bytes.len() {
                return Ok(());
            }
            // The stock loop's `add_writer` here (see `tcore.rs`).
            st.core.capture_write_context(py);
        }
        st.wbuf.borrow_mut().extend_from_slice(&bytes[sent..]);
        st.wake();
        st.maybe_pause(py);
        Ok(())
    }

    /// `write(b"".join(list_of_data))`.
    fn writelines(&self, py: Python<'_>, list: &Bound<'_, PyAny>) -> PyResult<()> {
        let joined = PyBytes::new(py, b"").call_method1("join", (list,))?;
        self.write(py, &joined)
    }

    /// Closes the pipe once the queue is flushed (`connection_lost(None)` follows).
    fn write_eof(&self, py: Python<'_>) {
        let st = &self.st;
        if st.closing.replace(true) {
            return;
        }
        if st.pending() == 0 {
            st.schedule_lost(py, py.None());
        }
    }

    fn can_write_eof(&self) -> bool {
        true
    }

    /// A read pipe stops reading and closes; a write pipe closes after flushing.
    fn close(&self, py: Python<'_>) {
        let st = &self.st;
        if st.writer {
            if st.pipe.borrow().is_some() {
                self.write_eof(py);
            }
        } else if !st.closing.get() {
            st.schedule_lost(py, py.None());
        }
    }

    /// Closes at once, dropping queued data.
    fn abort(&self, py: Python<'_>) {
        self.st.force_close(py, py.None());
    }

    fn is_closing(&self) -> bool {
        self.st.closing.get()
    }

    fn is_reading(&self) -> bool {
        self.st.reading.get() && !self.st.closing.get()
    }

    fn pause_reading(&self) {
        self.st.reading.set(false);
    }

    fn resume_reading(&self) {
        let st = &self.st;
        if st.closing.get() || st.core.this.borrow().is_none() || st.reading.replace(true) {
            return;
        }
        st.wake();
    }

    #[pyo3(signature = (name, default = None))]
    fn get_extra_info(
        &self,
        py: Python<'_>,
        name: &str,
        default: Option<Py<PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        self.st.core.extra_info(py, name, default)
    }

    fn get_protocol(&self, py: Python<'_>) -> Py<PyAny> {
        self.st.core.protocol(py)
    }

    fn set_protocol(&self, protocol: Py<PyAny>) {
        *self.st.core.protocol.borrow_mut() = protocol;
    }

    fn get_write_buffer_size(&self) -> usize {
        self.st.pending()
    }

    fn get_write_buffer_limits(&self) -> (usize, usize) {
        self.st.core.limits()
    }

    #[pyo3(signature = (high = None, low = None))]
    fn set_write_buffer_limits(
        &self,
        py: Python<'_>,
        high: Option<i64>,
        low: Option<i64>,
    ) -> PyResult<()> {
        self.st.core.set_limits(py, high, low, self.st.pending())
    }

    /// The references the cycle collector sees: none while the I/O task holds the state
    /// (the loop owns the transport then); all of them once it is gone (the loop closed
    /// with the transport open), so a dropped transport and its loop are collectable.
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        if Rc::strong_count(&self.st) > 1 {
            return Ok(());
        }
        self.st.core.traverse(&visit)?;
        if let Ok(p) = self.st.pipe.try_borrow() {
            visit.call(p.as_ref())?;
        }
        Ok(())
    }

    /// Breaks the cycle `transport -> Rust half -> transport` once the I/O task is gone.
    fn __clear__(&self) {
        if Rc::strong_count(&self.st) == 1 {
            self.st.core.clear();
        }
    }

    fn __repr__(&self) -> String {
        let state = self
            .st
            .core
            .state_word(self.st.closing.get())
            .unwrap_or("open");
        format!("fd={} {}", self.st.fd, state)
    }
}
