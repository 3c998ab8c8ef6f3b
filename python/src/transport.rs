//! `SocketTransport`: asyncio's stream transport for TCP and Unix sockets, in Rust.
//!
//! # Design
//!
//! The transport watches the Python socket's descriptor with a [`simul::net::AsyncFd`]
//! and does its reads and writes with raw system calls on it (the socket object keeps
//! owning the descriptor and is closed with the transport). One simul task per transport
//! moves the bytes:
//! - reading (while `is_reading()`): up to 256 KiB per `recv` into the thread's one
//!   read buffer, copied into a `bytes` handed to
//!   `protocol.data_received(bytes)` — or, once reads are large (the last one at least
//!   [`DIRECT_READ_MIN`]), straight into a `bytes` sized by `FIONREAD`, saving the copy;
//!   for a `_FastSSLProtocol` with its Rust feed, into the read buffer and from there
//!   into its incoming BIO through a `memoryview` (`TlsFeed::feed`, no `bytes` made);
//!   for a `BufferedProtocol`, straight into the buffer `get_buffer()` returns, then
//!   `buffer_updated(n)` (a read that leaves room in it drained the socket, so no second
//!   `get_buffer` and failing read follow); at most [`READS_PER_STEP`] reads per step,
//!   then it yields so one
//!   busy connection cannot starve the loop. EOF calls `eof_received()`; unless it
//!   returns true the transport closes.
//! - writing: `write()` sends at once when nothing is queued; what the kernel does not
//!   take is queued as the `bytes` object itself (no copy; a `bytearray` or `memoryview`
//!   is copied once into `bytes`, as it may change) and flushed by the task when the
//!   socket is writable, up to 64 queued buffers per `sendmsg`. Above the high
//!   water mark the protocol's `pause_writing()` is called, at or below the low one
//!   `resume_writing()` (asyncio's defaults: 64 KiB and a quarter of it).
//!
//! The read side of each step runs in a `contextvars` context copied in `_start`, as the
//! stock loop's reader handle is; the write side in one copied by the `write()` that left
//! data queued, as its writer handle (see `tcore.rs`). An accepted connection is set up
//! in a copy of its own (`_loop.py`'s `_accept_ready`), as the stock loop's task per
//! accept.
//!
//! Writes after the connection is lost are dropped; from the fifth on each logs
//! "socket.send() raised exception." on asyncio's logger, as the stock loop does.
//!
//! # sendfile
//! `loop.sendfile` (`simul/_sendfile.py`) pauses reading, waits for the write queue to
//! empty (`_make_empty_waiter`; `write()` raises meanwhile), then borrows the descriptor:
//! `_writable` lends it the transport's own write watch (the selector takes a
//! descriptor once) for the `os.sendfile` calls; reading resumes on the same watch.
//!
//! # Closing
//! `close()` stops reading and calls `connection_lost(None)` once the write queue is
//! flushed; `abort()` drops the queue and does it at once. `connection_lost` always runs
//! through `loop.call_soon`, after which the descriptor is deregistered and the socket
//! closed (in that order: a closed descriptor number may be reused at once).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::io;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::task::{Context, Poll};

use pyo3::exceptions::{PyBlockingIOError, PyOSError, PyRuntimeError};
use pyo3::prelude::*;

use crate::sys::CallMethod0;
use pyo3::types::{PyBytes, PyDict, PyString, PyTuple};
use pyo3::{PyTraverseError, PyVisit};

use crate::sys;
use crate::tcore::{bytes_of, os_error, Flushed, TransportCore, WriteSide};
use crate::tls::{self, TlsFeed};

/// Reads one transport makes in one task step before it yields.
const READS_PER_STEP: usize = 16;
/// The largest read (asyncio's `max_size`).
const MAX_READ: usize = 256 * 1024;
/// From this size on, a read goes straight into the `bytes` handed to `data_received`
/// (sized by `FIONREAD`, one cheap system call) instead of being copied out of the read
/// buffer: taken when the previous read was at least this large.
const DIRECT_READ_MIN: usize = 32 * 1024;
thread_local! {
    /// The one read buffer of the thread's transports (as uvloop's per-loop buffer): a
    /// `recv` lands in memory the cache still holds, and is copied into the `bytes` handed
    /// to `data_received` before anything else runs. A buffer per transport made every
    /// read touch cold memory once many connections were open.
    static READ_BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// asyncio's `constants.LOG_THRESHOLD_FOR_CONNLOST_WRITES`.
const CONNLOST_WRITES_LOG_THRESHOLD: u32 = 5;

struct State {
    core: TransportCore,
    sock: RefCell<Option<Py<PyAny>>>,
    fd: RawFd,
    buffered: Cell<bool>,
    /// The protocol's `TlsFeed` (a `_FastSSLProtocol`): each chunk goes to it directly.
    tls: RefCell<Option<Py<TlsFeed>>>,
    /// The size of the last `data_received` read (see [`DIRECT_READ_MIN`]).
    last_read: Cell<usize>,
    afd: RefCell<Option<simul::net::AsyncFd>>,
    /// Queued outgoing data: the `bytes` objects as written (never copied), the first
    /// one sent up to `woff`; `wlen` bytes in all.
    wq: RefCell<VecDeque<Py<PyBytes>>>,
    woff: Cell<usize>,
    wlen: Cell<usize>,
    closing: Cell<bool>,
    reading: Cell<bool>,
    eof_written: Cell<bool>,
    eof_sent: Cell<bool>,
    lost_scheduled: Cell<bool>,
    /// asyncio's `_conn_lost`: 1 once `connection_lost` is scheduled, plus one per write
    /// dropped since.
    conn_lost: Cell<u32>,
    /// `loop.sendfile`'s wait for the socket to be writable (see `_writable`), and the
    /// readiness it was given, to forget when it comes back after `EAGAIN`.
    writable_waiter: RefCell<Option<Py<PyAny>>>,
    lent_ready: Cell<Option<simul::net::Readiness>>,
    server: Option<Py<PyAny>>,
    /// `loop.sendfile`'s wait for an empty write queue (see `_make_empty_waiter`).
    empty_waiter: RefCell<Option<Py<PyAny>>>,
    /// `connection_lost`'s argument when the transport was lost before `_start` (closed
    /// or aborted in `connection_made`): `_start` schedules the call.
    lost_deferred: RefCell<Option<Py<PyAny>>>,
}

/// The Rust half of asyncio's socket transport (see the module doc); `simul._loop`
/// wraps it in a class deriving from `asyncio.Transport`, whose methods are this object's.
#[pyclass(unsendable, module = "simul._simul")]
pub struct SocketTransport {
    st: Rc<State>,
}

impl State {
    fn pending(&self) -> usize {
        self.wlen.get()
    }

    fn wake(&self) {
        self.core.wake();
    }

    fn schedule_lost(&self, py: Python<'_>, exc: Py<PyAny>) {
        if self.lost_scheduled.replace(true) {
            return;
        }
        self.conn_lost.set(1);
        if let Err(exc) = self.core.schedule_call_lost(py, exc) {
            // Closed before `_start` (in `connection_made`): `_start` schedules it.
            *self.lost_deferred.borrow_mut() = Some(exc);
        }
    }

    fn force_close(&self, py: Python<'_>, exc: Py<PyAny>) {
        if self.lost_scheduled.get() {
            return;
        }
        self.settle_writable_waiter(py, true);
        self.settle_empty_waiter(py, |py| {
            py.get_type::<pyo3::exceptions::PyConnectionError>()
                .call1(("Connection is closed by peer",))
                .map(Bound::unbind)
                .map(Some)
        });
        let dropped = std::mem::take(&mut *self.wq.borrow_mut());
        drop(dropped);
        self.woff.set(0);
        self.wlen.set(0);
        self.closing.set(true);
        self.reading.set(false);
        self.schedule_lost(py, exc);
    }

    /// Settles `loop.sendfile`'s empty waiter, if one waits: with the exception `exc`
    /// makes, or with `None` when it makes none.
    fn settle_empty_waiter(
        &self,
        py: Python<'_>,
        exc: impl FnOnce(Python<'_>) -> PyResult<Option<Py<PyAny>>>,
    ) {
        let fut = self.empty_waiter.borrow().as_ref().map(|f| f.clone_ref(py));
        let Some(fut) = fut else { return };
        let res = (|| -> PyResult<()> {
            if fut
                .bind(py)
                .vcall_method0(pyo3::intern!(py, "done"))?
                .is_truthy()?
            {
                return Ok(());
            }
            match exc(py)? {
                Some(e) => fut.bind(py).call_method1("set_exception", (e,))?,
                None => fut.bind(py).call_method1("set_result", (py.None(),))?,
            };
            Ok(())
        })();
        if let Err(e) = res {
            e.print(py);
        }
    }

    fn fatal(&self, py: Python<'_>, err: PyErr, message: &str) {
        let exc = err.into_value(py).into_any();
        self.settle_empty_waiter(py, |py| Ok(Some(exc.clone_ref(py))));
        if !exc.bind(py).is_instance_of::<PyOSError>() {
            self.core.report(py, message, Some(exc.bind(py)));
        }
        self.force_close(py, exc);
    }

    /// A write to a lost connection is dropped; from asyncio's
    /// `LOG_THRESHOLD_FOR_CONNLOST_WRITES` (5) on, each one logs a warning, as the stock
    /// loop's transports do.
    fn write_after_lost(&self, py: Python<'_>) {
        let n = self.conn_lost.get().max(1);
        if n >= CONNLOST_WRITES_LOG_THRESHOLD {
            let res = py
                .import("asyncio.log")
                .and_then(|m| m.getattr("logger"))
                .and_then(|l| l.call_method1("warning", ("socket.send() raised exception.",)));
            if let Err(e) = res {
                e.print(py);
            }
        }
        self.conn_lost.set(n.saturating_add(1));
    }

    fn maybe_pause(&self, py: Python<'_>) {
        self.core.maybe_pause(py, self.pending());
    }

    fn maybe_resume(&self, py: Python<'_>) {
        self.core.maybe_resume(py, self.pending());
    }

    /// Sends queued bytes until the queue is empty or the kernel says `EAGAIN`.
    /// `Err` is a fatal write error.
    fn send_queued(&self, py: Python<'_>) -> io::Result<bool> {
        loop {
            if self.wlen.get() == 0 {
                return Ok(true);
            }
            let sent = {
                let q = self.wq.borrow();
                let mut bufs: [&[u8]; sys::MAX_IOV] = [&[]; sys::MAX_IOV];
                let mut k = 0;
                for (slot, b) in bufs.iter_mut().zip(q.iter()) {
                    let data = b.bind(py).as_bytes();
                    *slot = if k == 0 {
                        &data[self.woff.get()..]
                    } else {
                        data
                    };
                    k += 1;
                }
                match sys::send_vectored(self.fd, &bufs[..k]) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                    Err(e) => return Err(e),
                }
            };
            self.consume(py, sent);
        }
    }

    /// Drops `n` sent bytes from the front of the write queue.
    fn consume(&self, py: Python<'_>, mut n: usize) {
        self.wlen.set(self.wlen.get() - n);
        let mut q = self.wq.borrow_mut();
        let mut off = self.woff.get();
        while n > 0 {
            let Some(front) = q.front() else { break };
            let left = front.bind(py).as_bytes().len() - off;
            if n >= left {
                q.pop_front();
                n -= left;
                off = 0;
            } else {
                off += n;
                n = 0;
            }
        }
        self.woff.set(off);
    }

    fn after_flush(&self, py: Python<'_>) {
        self.maybe_resume(py);
        if self.pending() == 0 {
            self.settle_empty_waiter(py, |_| Ok(None));
            if self.closing.get() {
                self.schedule_lost(py, py.None());
            } else if self.eof_written.get() && !self.eof_sent.replace(true) {
                let _ = sys::shutdown_write(self.fd);
            }
        }
    }

    /// Settles `loop.sendfile`'s writable waiter, if one waits: `Ok` once the socket is
    /// writable, `Err` once the transport is gone.
    fn settle_writable_waiter(&self, py: Python<'_>, gone: bool) {
        let Some(fut) = self.writable_waiter.borrow_mut().take() else {
            return;
        };
        let res = (|| -> PyResult<()> {
            if fut
                .bind(py)
                .vcall_method0(pyo3::intern!(py, "done"))?
                .is_truthy()?
            {
                return Ok(());
            }
            if gone {
                let exc = py
                    .get_type::<pyo3::exceptions::PyConnectionError>()
                    .call1(("Connection is closed by peer",))?;
                fut.bind(py).call_method1("set_exception", (exc,))?;
            } else {
                fut.bind(py).call_method1("set_result", (py.None(),))?;
            }
            Ok(())
        })();
        if let Err(e) = res {
            e.print(py);
        }
    }

    // Out of line, with its helpers (`enter`, `in_loop_callback`, the context runs) inlined
    // into it: inlined into the task's poll, it pushed them out of line instead, ~40
    // instructions more per echo round trip (callgrind).
    #[inline(never)]
    fn poll(&self, cx: &mut Context<'_>) -> Poll<()> {
        if !self.core.enter(cx) {
            return Poll::Ready(());
        }
        crate::sys::in_loop_callback(|py| {
            if self.core.lost_done.get() {
                return Poll::Ready(());
            }
            let writing = self.pending() > 0 || self.writable_waiter.borrow().is_some();
            if writing && !self.core.in_write_context(py, || self.poll_write(py, cx)) {
                return Poll::Ready(());
            }
            let reading = self.reading.get() && !self.closing.get();
            if reading && !self.core.in_context(py, || self.poll_read(py, cx)) {
                return Poll::Ready(());
            }
            Poll::Pending
        })
    }

    /// The write side of a step (in the write context, see `tcore.rs`); `false` once the
    /// watch is gone (the task ends).
    fn poll_write(&self, py: Python<'_>, cx: &mut Context<'_>) -> bool {
        // loop.sendfile waits for the socket to take more.
        if self.writable_waiter.borrow().is_some() && self.pending() == 0 {
            let ready = match self.afd.borrow().as_ref() {
                Some(fd) => fd.poll_write_ready(cx),
                None => return false,
            };
            if let Poll::Ready(Ok(r)) = ready {
                self.lent_ready.set(Some(r));
                self.settle_writable_waiter(py, false);
            }
        }
        crate::tcore::poll_write_side(self, py, cx)
    }

    /// The read side of a step (in the transport's context); `false` once the watch is
    /// gone.
    fn poll_read(&self, py: Python<'_>, cx: &mut Context<'_>) -> bool {
        // Read side.
        let mut reads = 0;
        while self.reading.get() && !self.closing.get() {
            if reads == READS_PER_STEP {
                cx.waker().wake_by_ref();
                break;
            }
            let ready = match self.afd.borrow().as_ref() {
                Some(fd) => fd.poll_read_ready(cx),
                None => return false,
            };
            let Poll::Ready(Ok(r)) = ready else { break };
            reads += 1;
            match self.read_once(py) {
                Ok(ReadOutcome::Data { drained }) => {
                    if drained {
                        if let Some(fd) = self.afd.borrow().as_ref() {
                            fd.clear_read_ready(r);
                        }
                    }
                }
                Ok(ReadOutcome::WouldBlock) => {
                    if let Some(fd) = self.afd.borrow().as_ref() {
                        fd.clear_read_ready(r);
                    }
                }
                Ok(ReadOutcome::Eof) => {
                    self.on_eof(py);
                    break;
                }
                Err((e, msg)) => {
                    self.fatal(py, e, msg);
                    break;
                }
            }
        }
        true
    }

    fn read_once(&self, py: Python<'_>) -> Result<ReadOutcome, (PyErr, &'static str)> {
        let tls = self.tls.borrow().as_ref().map(|t| t.clone_ref(py));
        if let Some(tls) = tls {
            return self.read_tls(tls.bind(py));
        }
        let proto = self.core.protocol.borrow().clone_ref(py);
        if self.buffered.get() {
            const GET_BUFFER_FAILED: &str = "Fatal error: protocol.get_buffer() call failed.";
            let buf = proto
                .bind(py)
                .call_method1(pyo3::intern!(py, "get_buffer"), (-1,))
                .map_err(|e| (e, GET_BUFFER_FAILED))?;
            if buf.len().map_err(|e| (e, GET_BUFFER_FAILED))? == 0 {
                let e = PyRuntimeError::new_err("get_buffer() returned an empty buffer");
                return Err((e, GET_BUFFER_FAILED));
            }
            if self.sock.borrow().is_none() {
                return Ok(ReadOutcome::WouldBlock);
            }
            // Straight into the protocol's buffer; the export ends before
            // `buffer_updated` (which may resize a bytearray).
            // The buffer's size when the read went straight into it (0 otherwise: a
            // read through `recv_into` says nothing about what is left).
            let mut len = 0;
            let direct = pyo3::buffer::PyUntypedBuffer::get(&buf)
                .ok()
                .and_then(|view| {
                    len = view.len_bytes();
                    sys::recv_into_buffer(self.fd, &view)
                });
            let n: usize = match direct {
                Some(Ok(n)) => n,
                Some(Err(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Ok(ReadOutcome::WouldBlock)
                }
                Some(Err(e)) => {
                    return Err((os_error(py, e), "Fatal read error on socket transport"))
                }
                // Not a writable contiguous buffer: `socket.recv_into` raises asyncio's
                // error for it.
                None => {
                    let sock = self.sock.borrow().as_ref().map(|s| s.clone_ref(py));
                    let Some(sock) = sock else {
                        return Ok(ReadOutcome::WouldBlock);
                    };
                    match sock.bind(py).call_method1("recv_into", (buf,)) {
                        Ok(n) => n
                            .extract()
                            .map_err(|e| (e, "Fatal read error on socket transport"))?,
                        Err(e) if e.is_instance_of::<PyBlockingIOError>(py) => {
                            return Ok(ReadOutcome::WouldBlock)
                        }
                        Err(e) => return Err((e, "Fatal read error on socket transport")),
                    }
                }
            };
            if n == 0 {
                return Ok(ReadOutcome::Eof);
            }
            proto
                .bind(py)
                .call_method1(pyo3::intern!(py, "buffer_updated"), (n,))
                .map_err(|e| (e, "Fatal error: protocol.buffer_updated() call failed."))?;
            return Ok(ReadOutcome::Data { drained: n < len });
        }
        let res = self.read_direct(py).unwrap_or_else(|| {
            READ_BUF.with(|rbuf| {
                let mut rbuf = rbuf.borrow_mut();
                if rbuf.len() < MAX_READ {
                    rbuf.resize(MAX_READ, 0);
                }
                match sys::recv(self.fd, &mut rbuf[..]) {
                    Ok(0) => Ok(None),
                    Ok(n) => Ok(Some(PyBytes::new(py, &rbuf[..n]).unbind())),
                    Err(e) => Err(e),
                }
            })
        });
        match res {
            Ok(None) => Ok(ReadOutcome::Eof),
            Ok(Some(data)) => {
                let len = data.bind(py).as_bytes().len();
                self.last_read.set(len);
                let drained = len < MAX_READ;
                crate::sys::call_method(
                    proto.bind(py),
                    pyo3::intern!(py, "data_received"),
                    &[data.bind(py).as_any()],
                )
                .map_err(|e| (e, "Fatal error: protocol.data_received() call failed."))?;
                Ok(ReadOutcome::Data { drained })
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(ReadOutcome::WouldBlock),
            Err(e) => Err((os_error(py, e), "Fatal read error on socket transport")),
        }
    }

    /// A large read straight into a `bytes` sized by `FIONREAD` (no copy out of the read
    /// buffer): when the last read was at least `DIRECT_READ_MIN` and as much is waiting
    /// now; `None` when the read should go through the shared read buffer instead.
    fn read_direct(&self, py: Python<'_>) -> Option<io::Result<Option<Py<PyBytes>>>> {
        if self.last_read.get() < DIRECT_READ_MIN {
            return None;
        }
        match sys::bytes_available(self.fd) {
            Ok(avail) if avail >= DIRECT_READ_MIN => {
                Some(sys::recv_bytes(py, self.fd, avail.min(MAX_READ)))
            }
            _ => None,
        }
    }

    /// One read for a `_FastSSLProtocol`: into the thread's read buffer (whatever the
    /// size: no `bytes` is made, so no `FIONREAD`), handed from there to its
    /// `TlsFeed::feed`, which writes it into its incoming BIO.
    fn read_tls(&self, tls: &Bound<'_, TlsFeed>) -> Result<ReadOutcome, (PyErr, &'static str)> {
        let fed: io::Result<PyResult<usize>> = READ_BUF.with(|rbuf| {
            // The buffer is held through the feed, which runs the protocols' callbacks:
            // another read cannot start meanwhile on this thread (its loop is running
            // this one), but it would get a buffer of its own.
            let mut own = Vec::new();
            let mut shared = rbuf.try_borrow_mut();
            let buf = match shared.as_deref_mut() {
                Ok(buf) => buf,
                Err(_) => &mut own,
            };
            if buf.len() < MAX_READ {
                buf.resize(MAX_READ, 0);
            }
            let n = sys::recv(self.fd, &mut buf[..])?;
            Ok(if n == 0 {
                Ok(0)
            } else {
                TlsFeed::feed(tls, &buf[..n]).map(|()| n)
            })
        });
        match fed {
            Ok(Ok(0)) => Ok(ReadOutcome::Eof),
            Ok(Ok(n)) => Ok(ReadOutcome::Data {
                drained: n < MAX_READ,
            }),
            Ok(Err(e)) => Err((e, "Fatal error: protocol.buffer_updated() call failed.")),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(ReadOutcome::WouldBlock),
            Err(e) => Err((
                os_error(tls.py(), e),
                "Fatal read error on socket transport",
            )),
        }
    }

    fn on_eof(&self, py: Python<'_>) {
        let proto = self.core.protocol.borrow().clone_ref(py);
        match proto
            .bind(py)
            .vcall_method0(pyo3::intern!(py, "eof_received"))
        {
            Ok(keep) => {
                if keep.is_truthy().unwrap_or(false) {
                    self.reading.set(false);
                } else {
                    self.close(py);
                }
            }
            Err(e) => self.fatal(py, e, "Fatal error: protocol.eof_received() call failed."),
        }
    }

    fn close(&self, py: Python<'_>) {
        if self.closing.replace(true) {
            return;
        }
        self.reading.set(false);
        if self.pending() == 0 {
            self.schedule_lost(py, py.None());
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
        match self.send_queued(py) {
            Ok(true) => Flushed::All,
            Ok(false) => Flushed::Blocked,
            Err(e) => {
                self.fatal(py, os_error(py, e), "Fatal write error on socket transport");
                Flushed::Failed
            }
        }
    }

    fn flushed(&self, py: Python<'_>) {
        self.after_flush(py);
    }

    fn core(&self) -> &TransportCore {
        &self.core
    }

    fn queued(&self) -> usize {
        self.pending()
    }
}

enum ReadOutcome {
    Data { drained: bool },
    WouldBlock,
    Eof,
}

impl SocketTransport {
    /// Queues `data` for sending (sends at once when nothing is queued): the transport's
    /// `write`, a raw `METH_O` method (`sys::install_transport_methods`).
    pub(crate) fn write(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let st = &self.st;
        let b = bytes_of(data)?;
        if st.eof_written.get() {
            return Err(PyRuntimeError::new_err(
                "Cannot call write() after write_eof()",
            ));
        }
        if st.empty_waiter.borrow().is_some() {
            return Err(PyRuntimeError::new_err(
                "unable to write; sendfile is in progress",
            ));
        }
        let bytes = b.as_bytes();
        if bytes.is_empty() {
            return Ok(());
        }
        if st.lost_scheduled.get() || st.afd.borrow().is_none() {
            st.write_after_lost(py);
            return Ok(());
        }
        let mut sent = 0;
        if st.pending() == 0 {
            match sys::send(st.fd, bytes) {
                Ok(n) => sent = n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    st.fatal(py, os_error(py, e), "Fatal write error on socket transport");
                    return Ok(());
                }
            }
            if sent == bytes.len() {
                return Ok(());
            }
        }
        if st.pending() == 0 {
            // The stock loop's `add_writer` here: the write side runs in a copy of this
            // context until the queue empties.
            st.core.capture_write_context(py);
            st.woff.set(sent);
        } else {
            sent = 0;
        }
        st.wlen.set(st.wlen.get() + bytes.len() - sent);
        st.wq.borrow_mut().push_back(b.clone().unbind());
        st.wake();
        st.maybe_pause(py);
        Ok(())
    }

    /// Whether the transport is closing or closed: the transport's `is_closing`, a raw
    /// `METH_NOARGS` method (`sys::install_transport_methods`).
    pub(crate) fn is_closing(&self) -> bool {
        self.st.closing.get()
    }
}

/// `asyncio.BufferedProtocol`, looked up once (every transport made asks whether its
/// protocol is one).
static BUFFERED_PROTOCOL: pyo3::sync::PyOnceLock<Py<PyAny>> = pyo3::sync::PyOnceLock::new();

/// Whether `protocol` is an `asyncio.BufferedProtocol`.
fn is_buffered(protocol: &Bound<'_, PyAny>) -> PyResult<bool> {
    let py = protocol.py();
    let class = BUFFERED_PROTOCOL.get_or_try_init(py, || {
        Ok::<_, PyErr>(py.import("asyncio")?.getattr("BufferedProtocol")?.unbind())
    })?;
    protocol.is_instance(class.bind(py))
}

/// `socket.socket` and `_socket.socket.close`, looked up once.
static SOCKET_CLOSE: pyo3::sync::PyOnceLock<(Py<PyAny>, Py<PyAny>)> = pyo3::sync::PyOnceLock::new();

/// `sock.close()`. For a plain `socket.socket` these are the steps of its Python `close`
/// and `_real_close` (`_closed` set; the descriptor closed by `_socket.socket.close`
/// unless a `makefile()` object still holds it), without their two frames; a subclass's
/// own `close` is called.
pub(crate) fn close_socket(sock: &Bound<'_, PyAny>) -> PyResult<()> {
    let py = sock.py();
    let (class, close) = SOCKET_CLOSE.get_or_try_init(py, || {
        Ok::<_, PyErr>((
            py.import("socket")?.getattr("socket")?.unbind(),
            py.import("_socket")?
                .getattr("socket")?
                .getattr("close")?
                .unbind(),
        ))
    })?;
    if !sock.get_type().is(class.bind(py)) {
        return sock.vcall_method0(pyo3::intern!(py, "close")).map(drop);
    }
    sock.setattr(pyo3::intern!(py, "_closed"), true)?;
    let refs = sock.getattr(pyo3::intern!(py, "_io_refs"))?;
    if refs.le(0)? {
        close.bind(py).call1((sock,))?;
    }
    Ok(())
}

#[pymethods]
impl SocketTransport {
    #[new]
    #[pyo3(signature = (loop_, sock, protocol, extra, server = None))]
    fn new(
        py: Python<'_>,
        loop_: Py<PyAny>,
        sock: Py<PyAny>,
        protocol: Py<PyAny>,
        extra: Py<PyDict>,
        server: Option<Py<PyAny>>,
    ) -> PyResult<SocketTransport> {
        let fd: RawFd = sock
            .bind(py)
            .vcall_method0(pyo3::intern!(py, "fileno"))?
            .extract()?;
        let afd = crate::fdwatch::register_transport(py, loop_.bind(py), fd, Some(sock.bind(py)))?;
        let buffered = is_buffered(protocol.bind(py))?;
        let tls_feed = tls::feed_of(protocol.bind(py));
        let server = server.filter(|s| !s.is_none(py));
        if let Some(s) = &server {
            s.bind(py).vcall_method0(pyo3::intern!(py, "_attach"))?;
        }
        Ok(SocketTransport {
            st: Rc::new(State {
                core: TransportCore::new(loop_, protocol, extra),
                sock: RefCell::new(Some(sock)),
                fd,
                buffered: Cell::new(buffered),
                tls: RefCell::new(tls_feed),
                last_read: Cell::new(0),
                afd: RefCell::new(Some(afd)),
                wq: RefCell::new(VecDeque::new()),
                woff: Cell::new(0),
                wlen: Cell::new(0),
                closing: Cell::new(false),
                // On from the start, as on the stock loop: `pause_reading()` in
                // `connection_made` (before `_start`) holds.
                reading: Cell::new(true),
                eof_written: Cell::new(false),
                eof_sent: Cell::new(false),
                lost_scheduled: Cell::new(false),
                conn_lost: Cell::new(0),
                writable_waiter: RefCell::new(None),
                lent_ready: Cell::new(None),
                server,
                empty_waiter: RefCell::new(None),
                lost_deferred: RefCell::new(None),
            }),
        })
    }

    /// `setattr(target, name, getattr(self, name))` for each of `names`: the Python
    /// transport's hot methods are this core's, bound once (`_loop.py`'s
    /// `SocketTransport`; the others are [`CoreMethod`] descriptors).
    fn _bind_methods(
        slf: &Bound<'_, Self>,
        target: &Bound<'_, PyAny>,
        names: &Bound<'_, PyTuple>,
    ) -> PyResult<()> {
        for name in names.iter() {
            let name = name.cast_into::<PyString>()?;
            target.setattr(&name, slf.as_any().getattr(&name)?)?;
        }
        Ok(())
    }

    /// Starts the I/O task and reading (after `connection_made`); `this` is the Python
    /// transport object the protocol sees.
    fn _start(&self, py: Python<'_>, this: Py<PyAny>) {
        let st = self.st.clone();
        *st.core.this.borrow_mut() = Some(this);
        st.core.capture_context(py);
        let deferred = st.lost_deferred.borrow_mut().take();
        if let Some(exc) = deferred {
            // Lost in `connection_made`: nothing left to send or read.
            let _ = st.core.schedule_call_lost(py, exc);
            return;
        }
        // Closed in `connection_made` with data still queued: the task flushes it (it
        // reads no more), then schedules `connection_lost`.
        let s = st.clone();
        drop(simul::spawn(async move { poll_fn(|cx| s.poll(cx)).await }));
    }

    /// Calls `protocol.connection_lost(exc)`, then releases the socket.
    fn _call_connection_lost(&self, py: Python<'_>, exc: Py<PyAny>) -> PyResult<()> {
        let st = &self.st;
        if st.core.lost_done.replace(true) {
            return Ok(());
        }
        let proto = st.core.protocol.borrow().clone_ref(py);
        let res = crate::sys::call_method(
            proto.bind(py),
            pyo3::intern!(py, "connection_lost"),
            &[exc.bind(py)],
        );
        st.settle_writable_waiter(py, true);
        drop(st.tls.borrow_mut().take());
        drop(st.afd.borrow_mut().take());
        if let Some(sock) = st.sock.borrow_mut().take() {
            let _ = close_socket(sock.bind(py));
        }
        if let Some(s) = &st.server {
            let _ = s.bind(py).vcall_method0(pyo3::intern!(py, "_detach"));
        }
        st.core.release();
        res.map(drop)
    }

    /// `write(b"".join(list_of_data))`.
    fn writelines(&self, py: Python<'_>, list: &Bound<'_, PyAny>) -> PyResult<()> {
        let joined = PyBytes::new(py, b"").call_method1("join", (list,))?;
        self.write(py, &joined)
    }

    /// Closes the write side once the queue is flushed.
    fn write_eof(&self) {
        let st = &self.st;
        if st.closing.get() || st.eof_written.replace(true) {
            return;
        }
        if st.pending() == 0 && !st.eof_sent.replace(true) {
            let _ = sys::shutdown_write(st.fd);
        }
    }

    fn can_write_eof(&self) -> bool {
        true
    }

    /// Closes after flushing; `connection_lost(None)` follows.
    fn close(&self, py: Python<'_>) {
        self.st.close(py);
    }

    /// Closes at once, dropping queued data.
    fn abort(&self, py: Python<'_>) {
        self.st.force_close(py, py.None());
    }

    /// Closes at once with `connection_lost(exc)` (asyncio's `_force_close`, which
    /// `sslproto` calls on a fatal TLS error).
    fn _force_close(&self, py: Python<'_>, exc: Py<PyAny>) {
        self.st.force_close(py, exc);
    }

    fn is_reading(&self) -> bool {
        self.st.reading.get() && !self.st.closing.get()
    }

    fn pause_reading(&self) {
        self.st.reading.set(false);
    }

    fn resume_reading(&self) {
        let st = &self.st;
        if st.closing.get() || st.reading.replace(true) {
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

    fn set_protocol(&self, py: Python<'_>, protocol: Py<PyAny>) -> PyResult<()> {
        let buffered = is_buffered(protocol.bind(py))?;
        self.st.buffered.set(buffered);
        *self.st.tls.borrow_mut() = tls::feed_of(protocol.bind(py));
        *self.st.core.protocol.borrow_mut() = protocol;
        Ok(())
    }

    /// `loop.sendfile`: a future done once the write queue is empty (at once if it is);
    /// `write()` raises until `_reset_empty_waiter()`.
    fn _make_empty_waiter(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let st = &self.st;
        if st.empty_waiter.borrow().is_some() {
            return Err(PyRuntimeError::new_err("Empty waiter is already set"));
        }
        let fut = st.core.create_future(py)?;
        *st.empty_waiter.borrow_mut() = Some(fut.clone_ref(py));
        if st.pending() == 0 {
            fut.bind(py).call_method1("set_result", (py.None(),))?;
        }
        Ok(fut)
    }

    /// `loop.sendfile`: a future done once the socket is writable (the transport lends
    /// its own watch: the selector takes a descriptor once). Calling it again means the
    /// last `os.sendfile` said `EAGAIN`: the readiness it was given is forgotten first.
    /// The future fails with `ConnectionError` if the transport is closed meanwhile.
    fn _writable(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let st = &self.st;
        let fut = st.core.create_future(py)?;
        if let Some(r) = st.lent_ready.take() {
            if let Some(fd) = st.afd.borrow().as_ref() {
                fd.clear_write_blocked(r);
            }
        }
        st.settle_writable_waiter(py, true);
        *st.writable_waiter.borrow_mut() = Some(fut.clone_ref(py));
        if st.lost_scheduled.get() || st.afd.borrow().is_none() {
            st.settle_writable_waiter(py, true);
        }
        st.wake();
        Ok(fut)
    }

    /// Ends `loop.sendfile`'s hold on the transport (see `_make_empty_waiter`).
    fn _reset_empty_waiter(&self) {
        self.st.empty_waiter.borrow_mut().take();
    }

    /// Whether the protocol's writing is paused (`pause_writing()` was called last).
    #[getter]
    fn _protocol_paused(&self) -> bool {
        self.st.core.write_paused.get()
    }

    /// The socket (`None` once the transport is closed).
    #[getter]
    fn _sock(&self, py: Python<'_>) -> Py<PyAny> {
        match self.st.sock.borrow().as_ref() {
            Some(s) => s.clone_ref(py),
            None => py.None(),
        }
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
        if let Ok(s) = self.st.sock.try_borrow() {
            visit.call(s.as_ref())?;
        }
        visit.call(self.st.server.as_ref())?;
        if let Ok(t) = self.st.tls.try_borrow() {
            visit.call(t.as_ref())?;
        }
        Ok(())
    }

    fn __clear__(&self) {
        if Rc::strong_count(&self.st) == 1 {
            self.st.core.clear();
        }
    }

    fn __repr__(&self) -> String {
        let state = match self.st.core.state_word(self.st.closing.get()) {
            Some(w) => format!(" {w}"),
            None => String::new(),
        };
        format!("<SocketTransport fd={}{}>", self.st.fd, state)
    }
}

/// A method of a transport's Rust core that the Python transport class does not bind
/// per transport (`_loop.py`'s `SocketTransport`, for the methods a connection seldom
/// calls): on an instance, `getattr(instance._core, name)`, looked up at each access, as
/// a plain method is (no Python frame); on the class, the descriptor itself. It defines
/// no `__set__`, so an attribute set on the instance shadows it, as it would a method.
#[pyclass(module = "simul._simul", frozen)]
pub struct CoreMethod {
    name: Py<PyString>,
}

#[pymethods]
impl CoreMethod {
    #[new]
    fn new(name: Bound<'_, PyString>) -> Self {
        CoreMethod {
            name: name.unbind(),
        }
    }

    fn __get__(
        slf: &Bound<'_, Self>,
        instance: Option<&Bound<'_, PyAny>>,
        _owner: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        match instance {
            Some(obj) if !obj.is_none() => Ok(obj
                .getattr(pyo3::intern!(py, "_core"))?
                .getattr(slf.get().name.bind(py))?
                .unbind()),
            _ => Ok(slf.clone().into_any().unbind()),
        }
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!("<core method {}>", self.name.bind(py))
    }
}
