//! `DatagramTransport`: asyncio's UDP (and Unix datagram) transport, in Rust.
//!
//! # Design
//!
//! As `SocketTransport` does for streams, the transport watches the Python socket's
//! descriptor with a [`simul::net::AsyncFd`], and one simul task per transport moves the
//! datagrams. Addresses are the `socket` module's: sends to an address go through the
//! socket object's own `sendto` (a host name in the address included), and receives on
//! anything but IPv4 through its `recvfrom` (bound once per transport). The hot paths
//! are raw system calls: `recvfrom` on an IPv4 socket (the sender's `(host, port)` built
//! here), `send` of `bytes` on a connected socket; their errors become the `OSError`
//! subclass the `socket` module would raise.
//! - reading (from `connection_made` until `close()`): `recvfrom(256 KiB)` (asyncio's
//!   `max_size`), handed to `protocol.datagram_received(data, addr)`; at most
//!   [`READS_PER_STEP`] datagrams per step, then the task yields. An `OSError` from
//!   `recvfrom` (an ICMP error such as port unreachable, queued on a connected socket) goes
//!   to `protocol.error_received(exc)` and reading goes on.
//! - writing: `sendto()` sends at once when nothing is queued; a datagram the kernel does
//!   not take (`EAGAIN`) is copied into the queue, in order, and flushed by the task when
//!   the socket is writable. `get_write_buffer_size()` is the queued payload bytes; above
//!   the high-water mark the protocol's `pause_writing()` is called, at or below the low
//!   one `resume_writing()`. An `OSError` from a send goes to `error_received` and drops
//!   that datagram.
//!
//! # Invariants
//! - Readiness is forgotten only after a call said `EAGAIN`, and then all of it, the
//!   error state included ([`simul::net::AsyncFd::clear_read_blocked`]): the kernel
//!   reports a socket error once, `recvfrom` returns it once, so a socket whose peer is
//!   gone never keeps the task spinning.
//! - `connection_lost` runs once, through `loop.call_soon`: after `close()` once the queue
//!   is flushed, after `abort()` or a fatal error at once. Then the descriptor is
//!   deregistered and the socket closed, in that order.
//! - The Python transport, its Rust half and the protocol form a cycle the collector
//!   cannot see while the I/O task holds the state (the loop owns them then, as the
//!   stock loop's selector does); `__traverse__`/`__clear__` report and break it once
//!   the task is gone (the `Rc` count is 1), so an unclosed transport and its closed
//!   loop are collected.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::io;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::task::{Context, Poll};

use pyo3::exceptions::{
    PyBlockingIOError, PyInterruptedError, PyOSError, PyTypeError, PyValueError,
};
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyMemoryView};
use pyo3::{PyTraverseError, PyVisit};

use crate::sys;
use crate::tcore::{os_error, TransportCore};

/// Datagrams one transport receives in one task step before it yields.
const READS_PER_STEP: usize = 16;
/// The largest datagram read (asyncio's `max_size`).
const MAX_SIZE: usize = 256 * 1024;
/// After this many sends on a lost connected transport, each one logs a warning
/// (asyncio's `LOG_THRESHOLD_FOR_CONNLOST_WRITES`).
const LOG_THRESHOLD_FOR_CONNLOST_WRITES: usize = 5;

struct State {
    core: TransportCore,
    sock: RefCell<Option<Py<PyAny>>>,
    fd: RawFd,
    afd: RefCell<Option<simul::net::AsyncFd>>,
    /// The remote address given to `create_datagram_endpoint` (`None`: not connected).
    address: Py<PyAny>,
    /// Whether the socket is connected (`extra["peername"]` is set): send with `send`.
    connected: bool,
    /// An IPv4 socket: datagrams are received with a raw `recvfrom` into `rbuf` (the
    /// sender's `(host, port)` built here, as the `socket` module builds it).
    inet4: bool,
    rbuf: RefCell<Vec<u8>>,
    recvfrom: Py<PyAny>,
    send: Py<PyAny>,
    sendto: Py<PyAny>,
    queue: RefCell<VecDeque<(Py<PyBytes>, Py<PyAny>)>>,
    queued: Cell<usize>,
    closing: Cell<bool>,
    started: Cell<bool>,
    /// Sends refused after the connection was lost (asyncio's `_conn_lost` counter).
    lost_sends: Cell<usize>,
    lost_scheduled: Cell<bool>,
    /// `connection_lost`'s argument when the transport was lost before `_start` (closed
    /// or aborted in `connection_made`): `_start` schedules the call.
    lost_deferred: RefCell<Option<Py<PyAny>>>,
}

/// The Rust half of asyncio's datagram transport (see the module doc); `simul._datagram`
/// wraps it in a class deriving from `asyncio.DatagramTransport`.
#[pyclass(unsendable, module = "simul._simul")]
pub struct DatagramTransport {
    st: Rc<State>,
}

/// What one send attempt did.
enum Sent {
    Done,
    WouldBlock,
    /// An `OSError` (given to `error_received`) or a fatal error (the transport closed).
    Failed,
}

impl State {
    fn wake(&self) {
        self.core.wake();
    }

    fn report(&self, py: Python<'_>, message: &str, exc: &Bound<'_, PyAny>) {
        self.core.report(py, message, Some(exc));
    }

    fn schedule_lost(&self, py: Python<'_>, exc: Py<PyAny>) {
        if self.lost_scheduled.replace(true) {
            return;
        }
        if let Err(exc) = self.core.schedule_call_lost(py, exc) {
            // Lost before `_start` (in `connection_made`): `_start` schedules it.
            *self.lost_deferred.borrow_mut() = Some(exc);
        }
    }

    fn force_close(&self, py: Python<'_>, exc: Py<PyAny>) {
        if self.lost_scheduled.get() {
            return;
        }
        self.queue.borrow_mut().clear();
        self.queued.set(0);
        self.closing.set(true);
        self.schedule_lost(py, exc);
    }

    fn close(&self, py: Python<'_>) {
        if self.closing.replace(true) {
            return;
        }
        if self.queue.borrow().is_empty() {
            self.schedule_lost(py, py.None());
        }
    }

    /// asyncio's `_fatal_error`: an `OSError` closes quietly, anything else is reported
    /// to the exception handler first.
    fn fatal(&self, py: Python<'_>, err: PyErr, message: &str) {
        let exc = err.into_value(py).into_any();
        if !exc.bind(py).is_instance_of::<PyOSError>() {
            self.report(py, message, exc.bind(py));
        }
        self.force_close(py, exc);
    }

    fn error_received(&self, py: Python<'_>, err: PyErr) {
        let proto = self.core.protocol.borrow().clone_ref(py);
        let exc = err.into_value(py);
        if let Err(e) = proto.bind(py).call_method1("error_received", (exc,)) {
            let exc = e.into_value(py);
            self.report(py, "protocol.error_received() call failed.", exc.bind(py));
        }
    }

    fn maybe_pause(&self, py: Python<'_>) {
        self.core.maybe_pause(py, self.queued.get());
    }

    fn maybe_resume(&self, py: Python<'_>) {
        self.core.maybe_resume(py, self.queued.get());
    }

    /// One send of `data` to `addr` (`send` on a connected socket).
    fn send_one(&self, py: Python<'_>, data: &Bound<'_, PyAny>, addr: &Py<PyAny>) -> Sent {
        if self.connected {
            if let Ok(b) = data.cast::<PyBytes>() {
                return match sys::send(self.fd, b.as_bytes()) {
                    Ok(_) => Sent::Done,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => Sent::WouldBlock,
                    Err(e) => {
                        self.error_received(py, os_error(py, e));
                        Sent::Failed
                    }
                };
            }
        }
        let res = if self.connected {
            self.send.bind(py).call1((data,))
        } else {
            self.sendto.bind(py).call1((data, addr.bind(py)))
        };
        match res {
            Ok(_) => Sent::Done,
            Err(e)
                if e.is_instance_of::<PyBlockingIOError>(py)
                    || e.is_instance_of::<PyInterruptedError>(py) =>
            {
                Sent::WouldBlock
            }
            Err(e) if e.is_instance_of::<PyOSError>(py) => {
                self.error_received(py, e);
                Sent::Failed
            }
            Err(e) => {
                self.fatal(py, e, "Fatal write error on datagram transport");
                Sent::Failed
            }
        }
    }

    /// Sends queued datagrams until the queue is empty or the kernel says `EAGAIN`
    /// (`false`).
    fn send_queued(&self, py: Python<'_>) -> bool {
        loop {
            let front = self.queue.borrow_mut().pop_front();
            let Some((data, addr)) = front else {
                return true;
            };
            let len = data.bind(py).as_bytes().len();
            self.queued.set(self.queued.get() - len);
            match self.send_one(py, data.bind(py), &addr) {
                Sent::Done => {}
                Sent::WouldBlock => {
                    self.queue.borrow_mut().push_front((data, addr));
                    self.queued.set(self.queued.get() + len);
                    return false;
                }
                // asyncio drops the datagram and stops this flush; the rest waits for the
                // next writable event (which the still-set readiness gives at once).
                Sent::Failed => return true,
            }
        }
    }

    fn after_flush(&self, py: Python<'_>) {
        self.maybe_resume(py);
        if self.queue.borrow().is_empty() && self.closing.get() {
            self.schedule_lost(py, py.None());
        }
    }

    /// The outcome of a `datagram_received` call: as on the stock loop, the protocol's
    /// exception is reported and the transport goes on receiving.
    fn received(&self, py: Python<'_>, res: PyResult<Bound<'_, PyAny>>) {
        if let Err(e) = res {
            let exc = e.into_value(py);
            self.report(
                py,
                "protocol.datagram_received() call failed.",
                exc.bind(py),
            );
        }
    }

    /// One `recvfrom` on an IPv4 socket (see `inet4`); as `read_once`.
    fn read_once_v4(&self, py: Python<'_>) -> bool {
        let res = {
            let mut buf = self.rbuf.borrow_mut();
            if buf.len() < MAX_SIZE {
                buf.resize(MAX_SIZE, 0);
            }
            sys::recvfrom_v4(self.fd, &mut buf[..])
                .map(|(n, from)| (PyBytes::new(py, &buf[..n]), from))
        };
        match res {
            Ok((data, from)) => {
                let proto = self.core.protocol.borrow().clone_ref(py);
                let addr = match from {
                    Some(a) => (a.ip().to_string(), a.port())
                        .into_pyobject(py)
                        .map(|t| t.into_any().unbind()),
                    None => Ok(py.None()),
                };
                let res = addr.and_then(|addr| {
                    proto
                        .bind(py)
                        .call_method1(pyo3::intern!(py, "datagram_received"), (data, addr))
                });
                self.received(py, res);
                true
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => false,
            Err(e) => {
                self.error_received(py, os_error(py, e));
                true
            }
        }
    }

    /// One `recvfrom`: `false` once the socket said `EAGAIN` or the transport stopped.
    fn read_once(&self, py: Python<'_>) -> bool {
        if self.inet4 {
            return self.read_once_v4(py);
        }
        match self.recvfrom.bind(py).call1((MAX_SIZE,)) {
            Ok(pair) => {
                let proto = self.core.protocol.borrow().clone_ref(py);
                let res = pair
                    .cast_into::<pyo3::types::PyTuple>()
                    .map_err(PyErr::from)
                    .and_then(|t| {
                        proto
                            .bind(py)
                            .call_method1(pyo3::intern!(py, "datagram_received"), t)
                    });
                self.received(py, res);
                true
            }
            Err(e)
                if e.is_instance_of::<PyBlockingIOError>(py)
                    || e.is_instance_of::<PyInterruptedError>(py) =>
            {
                false
            }
            Err(e) if e.is_instance_of::<PyOSError>(py) => {
                self.error_received(py, e);
                true
            }
            Err(e) => {
                self.fatal(py, e, "Fatal read error on datagram transport");
                false
            }
        }
    }

    fn poll(&self, cx: &mut Context<'_>) -> Poll<()> {
        if !self.core.enter(cx) {
            return Poll::Ready(());
        }
        crate::sys::in_loop_callback(|py| {
            self.core.in_context(py, || {
                if !crate::tcore::poll_write_side(self, py, cx) {
                    return Poll::Ready(());
                }
                // Read side.
                let mut reads = 0;
                while !self.closing.get() {
                    if reads == READS_PER_STEP {
                        cx.waker().wake_by_ref();
                        break;
                    }
                    let ready = match self.afd.borrow().as_ref() {
                        Some(fd) => fd.poll_read_ready(cx),
                        None => return Poll::Ready(()),
                    };
                    let Poll::Ready(Ok(r)) = ready else { break };
                    reads += 1;
                    if !self.read_once(py) {
                        if let Some(fd) = self.afd.borrow().as_ref() {
                            fd.clear_read_blocked(r);
                        }
                    }
                }
                Poll::Pending
            })
        })
    }
}

impl crate::tcore::WriteSide for State {
    const FORGET_ERROR: bool = true;

    fn watch(&self) -> &RefCell<Option<simul::net::AsyncFd>> {
        &self.afd
    }

    fn wants_write(&self) -> bool {
        !self.queue.borrow().is_empty() && !self.lost_scheduled.get()
    }

    fn flush(&self, py: Python<'_>) -> crate::tcore::Flushed {
        if self.send_queued(py) {
            crate::tcore::Flushed::All
        } else {
            crate::tcore::Flushed::Blocked
        }
    }

    fn flushed(&self, py: Python<'_>) {
        self.after_flush(py);
    }

    fn core(&self) -> &TransportCore {
        &self.core
    }

    fn queued(&self) -> usize {
        self.queued.get()
    }
}

fn check_bytes_like(data: &Bound<'_, PyAny>) -> PyResult<()> {
    if data.is_instance_of::<PyBytes>()
        || data.is_instance_of::<PyByteArray>()
        || data.is_instance_of::<PyMemoryView>()
    {
        return Ok(());
    }
    // asyncio's wording: the type's name as `repr` shows it.
    Err(PyTypeError::new_err(format!(
        "data argument must be a bytes-like object, not {}",
        data.get_type().name()?.repr()?
    )))
}

#[pymethods]
impl DatagramTransport {
    #[new]
    #[pyo3(signature = (loop_, sock, protocol, address, extra))]
    fn new(
        py: Python<'_>,
        loop_: Py<PyAny>,
        sock: Py<PyAny>,
        protocol: Py<PyAny>,
        address: Py<PyAny>,
        extra: Py<PyDict>,
    ) -> PyResult<DatagramTransport> {
        let s = sock.bind(py);
        let fd: RawFd = s.call_method0("fileno")?.extract()?;
        let afd = crate::fdwatch::register_transport(py, loop_.bind(py), fd, None)?;
        let connected = match extra.bind(py).get_item("peername")? {
            Some(p) => p.is_truthy()?,
            None => false,
        };
        Ok(DatagramTransport {
            st: Rc::new(State {
                core: TransportCore::new(loop_, protocol, extra),
                inet4: s.getattr("family")?.extract::<i32>()? == libc::AF_INET,
                rbuf: RefCell::new(Vec::new()),
                recvfrom: s.getattr("recvfrom")?.unbind(),
                send: s.getattr("send")?.unbind(),
                sendto: s.getattr("sendto")?.unbind(),
                sock: RefCell::new(Some(sock)),
                fd,
                afd: RefCell::new(Some(afd)),
                address,
                connected,
                queue: RefCell::new(VecDeque::new()),
                queued: Cell::new(0),
                closing: Cell::new(false),
                started: Cell::new(false),
                lost_sends: Cell::new(0),
                lost_scheduled: Cell::new(false),
                lost_deferred: RefCell::new(None),
            }),
        })
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
        if st.core.lost_done.get() || st.started.replace(true) {
            return;
        }
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
        let res = proto.bind(py).call_method1("connection_lost", (exc,));
        drop(st.afd.borrow_mut().take());
        if let Some(sock) = st.sock.borrow_mut().take() {
            let _ = sock.bind(py).call_method0("close");
        }
        st.core.release();
        res.map(drop)
    }

    /// Sends `data` to `addr` (the connected remote when `addr` is `None`); queues it when
    /// the socket is full.
    #[pyo3(signature = (data, addr = None))]
    fn sendto(
        &self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        addr: Option<Py<PyAny>>,
    ) -> PyResult<()> {
        let st = &self.st;
        check_bytes_like(data)?;
        if !data.is_truthy()? {
            return Ok(());
        }
        let mut addr = addr.unwrap_or_else(|| py.None());
        let has_address = st.address.bind(py).is_truthy()?;
        if has_address {
            if !addr.is_none(py) && !addr.bind(py).eq(st.address.bind(py))? {
                return Err(PyValueError::new_err(format!(
                    "Invalid address: must be None or {}",
                    st.address.bind(py).str()?
                )));
            }
            addr = st.address.clone_ref(py);
        }
        if st.lost_scheduled.get() || st.afd.borrow().is_none() {
            if has_address {
                let n = st.lost_sends.get();
                if n >= LOG_THRESHOLD_FOR_CONNLOST_WRITES {
                    py.import("asyncio.log")?
                        .getattr("logger")?
                        .call_method1("warning", ("socket.send() raised exception.",))?;
                }
                st.lost_sends.set(n + 1);
            }
            return Ok(());
        }
        if st.queue.borrow().is_empty() {
            match st.send_one(py, data, &addr) {
                Sent::Done | Sent::Failed => return Ok(()),
                Sent::WouldBlock => st.wake(),
            }
        }
        // Keep an immutable copy: the caller may reuse a bytearray or a memoryview.
        let copy = py
            .get_type::<PyBytes>()
            .call1((data,))?
            .cast_into::<PyBytes>()?;
        let len = copy.as_bytes().len();
        st.queue.borrow_mut().push_back((copy.unbind(), addr));
        st.queued.set(st.queued.get() + len);
        st.maybe_pause(py);
        Ok(())
    }

    /// Stops receiving; `connection_lost(None)` follows once the queue is flushed.
    fn close(&self, py: Python<'_>) {
        self.st.close(py);
    }

    /// Closes at once, dropping queued datagrams.
    fn abort(&self, py: Python<'_>) {
        self.st.force_close(py, py.None());
    }

    fn is_closing(&self) -> bool {
        self.st.closing.get()
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

    /// The payload bytes queued for sending.
    fn get_write_buffer_size(&self) -> usize {
        self.st.queued.get()
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
        self.st.core.set_limits(py, high, low, self.st.queued.get())
    }

    /// The references the cycle collector sees: none while the I/O task holds the state
    /// (the loop owns the transport then); all of them once it is gone (the loop closed
    /// with the transport open), so a dropped transport and its loop are collectable.
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        let st = &self.st;
        if Rc::strong_count(st) > 1 {
            return Ok(());
        }
        st.core.traverse(&visit)?;
        if let Ok(s) = st.sock.try_borrow() {
            visit.call(s.as_ref())?;
        }
        visit.call(&st.address)?;
        visit.call(&st.recvfrom)?;
        visit.call(&st.send)?;
        visit.call(&st.sendto)?;
        if let Ok(q) = st.queue.try_borrow() {
            for (data, addr) in q.iter() {
                visit.call(data)?;
                visit.call(addr)?;
            }
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
        let state = match self.st.core.state_word(self.st.closing.get()) {
            Some(w) => format!(" {w}"),
            None => String::new(),
        };
        format!("<DatagramTransport fd={}{}>", self.st.fd, state)
    }
}
