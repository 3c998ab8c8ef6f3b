//! `TlsFeed`: the steady-state data path of `simul/_tls.py`'s `_FastSSLProtocol`, in Rust.
//!
//! # Design
//!
//! asyncio's `sslproto.SSLProtocol` drives an `ssl.SSLObject` over two `ssl.MemoryBIO`s;
//! `_FastSSLProtocol` is that class with its hot path shortened, and this object is the
//! shortest form of the same path: no Python frame between the socket and the user's
//! protocol.
//! - **In**: `SocketTransport` sees a `TlsFeed` protocol with `_simul_tls_native` set and hands each chunk
//!   it receives to [`TlsFeed::feed`] instead of `get_buffer`/`buffer_updated`, as a slice
//!   of its read buffer. The chunk goes into the incoming BIO (a large one lent through a
//!   `memoryview`, `sys::BioWriter`, a small one copied into a `bytes`); in the `WRAPPED` state, with application reading on and
//!   a copying (non-buffered) application protocol, the records are decrypted here
//!   (`_ssl._SSLSocket.read` until the BIO and the decrypted bytes are both empty, or the
//!   `SSLWantReadError` of a partial record) and handed to `data_received` in one call:
//!   a chunk of more than one record is decrypted straight into one `bytes` sized to hold
//!   it (`read(0, view)` on a writable view of it, then cut to size: no chunk per record
//!   and no join, `sys::NewBytes`), a smaller one by `read(max_size)`;
//!   the peer's close_notify calls the protocol's `_call_eof_received` and
//!   `_start_shutdown`. In the `DO_HANDSHAKE` state the chunk drives one handshake step
//!   here (`_do_handshake`, below). Any other state goes on as `sslproto`'s
//!   `buffer_updated` after its BIO write does (`_do_read`, `_do_flush`, `_do_shutdown`
//!   or nothing, by state; `_FastSSLProtocol._after_incoming` in Python).
//! - **Handshake and shutdown**: `connection_made`, `_start_handshake` (debug mode goes
//!   to `sslproto`'s), `_do_handshake`, `_on_handshake_complete` (its success
//!   path; a failure, debug mode or an `SSLObject` subclass go to `sslproto`'s),
//!   `_start_shutdown`, `_on_shutdown_complete`, `connection_lost`,
//!   `_call_eof_received`, `_do_flush`, `_do_shutdown`, `_process_outgoing`,
//!   `_set_state` and `_wakeup_waiter` are methods of this class, so they replace
//!   `sslproto`'s (which comes after it in the MRO) wherever `sslproto`'s own code calls
//!   them: the same steps and outcomes (`_on_handshake_complete(None)` or
//!   `(ssl_error)`, likewise `_on_shutdown_complete`, what OpenSSL has to send on
//!   `SSLWantReadError`, any other exception raised, the same allowed state transitions
//!   and `RuntimeError`, the same log and `_fatal_error` messages), without their Python
//!   frames or those of `ssl.SSLObject`'s forwarding methods (`do_handshake`, `unwrap`,
//!   `getpeercert`, `cipher`, `compression`), which are called on its `_ssl` object.
//!   Between themselves these steps call each other by name (so a subclass's override
//!   runs), except on `_FastSSLProtocol` itself, which overrides none of them: there one
//!   calls the next as a Rust function (`DIRECT`).
//!   One step is taken sooner: `_on_shutdown_complete` closes the raw transport at once
//!   (as uvloop's `sslproto` does) where `sslproto` schedules its `close`.
//! - **Out**: the application transport's `write` is [`TlsFeed::write`]: with nothing
//!   queued in the `WRAPPED` state the data is encrypted and the record sent on the raw
//!   transport at once; anything else (a queue, another state, a write OpenSSL refuses
//!   for now, a partial write) goes to the protocol's Python methods, which do what
//!   `sslproto` does.
//! - After either: what OpenSSL has to send goes out unless the raw transport paused
//!   writing, and `_control_app_writing`/`_control_ssl_reading` are called only when a
//!   water mark is crossed (they do the pausing and resuming).
//!
//! Errors are `sslproto`'s: an `Exception` raised on the way goes to the protocol's
//! `_fatal_error(exc, "Fatal error on SSL protocol")`; a `BaseException` propagates.
//!
//! `TlsFeed` is a base class of `_FastSSLProtocol` (`class _FastSSLProtocol(TlsFeed,
//! sslproto.SSLProtocol)`), and the connection's hot state lives in its Rust fields:
//! `_state`, `_app_protocol`, `_transport`, `_write_backlog`, `_write_buffer_size`, the
//! four pause flags and `_app_protocol_is_buffer`, the four water marks, and the fields
//! its steps read and write (`_waiter`, `_app_transport`, `_extra`, `_app_state`,
//! `_conn_lost`, `_eof_received`, `_handshake_start_time`, both timeout handles and
//! `_FastSSLProtocol`'s `_raw`) are data
//! descriptors of the class, so `sslproto`'s own Python code reads and writes them by
//! name as before (and takes turns with this path on the same connection), while this
//! path reads a field where it would look a name up in the instance dict. The fields
//! keep the objects Python stores (a water mark that is not an `int` is compared as
//! Python compares it); the flags are stored as their truth value, the write buffer
//! size as an `int`.

use std::cell::{Cell, OnceCell, RefCell};

use pyo3::exceptions::{PyException, PyTypeError};
use pyo3::intern;
use pyo3::prelude::*;

use crate::sys::CallMethod0;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyList, PyMemoryView, PyTuple};
use pyo3::{PyTraverseError, PyVisit};

use crate::sys::{call, call_method, NewBytes};

/// `sslproto.SSLProtocolState`'s five states, `sslproto.SSLAgainErrors`, `ssl.SSLError`
/// and `ssl.SSLObject`.
struct Consts {
    unwrapped: Py<PyAny>,
    do_handshake: Py<PyAny>,
    wrapped: Py<PyAny>,
    flushing: Py<PyAny>,
    shutdown: Py<PyAny>,
    again: Py<PyAny>,
    ssl_error: Py<PyAny>,
    ssl_object: Py<PyAny>,
    certificate_error: Py<PyAny>,
    /// `sslproto.AppProtocolState.STATE_INIT` and `.STATE_CON_MADE`.
    app_init: Py<PyAny>,
    app_con_made: Py<PyAny>,
    app_eof: Py<PyAny>,
    app_con_lost: Py<PyAny>,
    /// `asyncio.log.logger`.
    logger: Py<PyAny>,
    /// `sslproto.SSLProtocol._on_handshake_complete` and `._do_read`, for the cases this
    /// path hands on.
    on_handshake_complete: Py<PyAny>,
    do_read: Py<PyAny>,
    /// `sslproto.SSLProtocol._start_handshake`, for debug mode.
    start_handshake: Py<PyAny>,
    /// `collections.deque`, and `sslproto`'s default read and write water marks
    /// (`constants.FLOW_CONTROL_HIGH_WATER_SSL_READ`/`_WRITE` KiB, low a quarter of high).
    deque: Py<PyAny>,
    read_high: i64,
    write_high: i64,
}

static CONSTS: PyOnceLock<Consts> = PyOnceLock::new();

/// `_FastSSLProtocol` (registered by `simul/_tls.py` through
/// `TlsFeed._simul_direct_type`): a class that overrides none of this class's methods,
/// so on its instances one step of this path calls the next one (`_do_read`,
/// `_on_handshake_complete`, `_call_eof_received`, `_start_shutdown`,
/// `_on_shutdown_complete`) as a Rust call, without the attribute lookup, bound method
/// and Python call that the lookup by name costs; on any other class (a subclass) by
/// name, so an override there is called.
static DIRECT: PyOnceLock<Py<pyo3::types::PyType>> = PyOnceLock::new();

/// `p` as a `TlsFeed` of the [`DIRECT`] class, or `None`.
fn direct<'a, 'py>(p: &'a Bound<'py, PyAny>) -> Option<&'a Bound<'py, TlsFeed>> {
    let t = DIRECT.get(p.py())?;
    if p.get_type().is(t.bind(p.py())) {
        p.cast::<TlsFeed>().ok()
    } else {
        None
    }
}

/// `p.name()`: [`TlsFeed`]'s method `f` itself on the [`DIRECT`] class.
fn step0(
    p: &Bound<'_, PyAny>,
    name: &Bound<'_, pyo3::types::PyString>,
    f: fn(&Bound<'_, TlsFeed>) -> PyResult<()>,
) -> PyResult<()> {
    match direct(p) {
        Some(feed) => f(feed),
        None => p.vcall_method0(name).map(drop),
    }
}

/// `p.name(arg)`, likewise.
fn step1(
    p: &Bound<'_, PyAny>,
    name: &Bound<'_, pyo3::types::PyString>,
    arg: &Bound<'_, PyAny>,
    f: fn(&Bound<'_, TlsFeed>, &Bound<'_, PyAny>) -> PyResult<()>,
) -> PyResult<()> {
    match direct(p) {
        Some(feed) => f(feed, arg),
        None => call_method(p, name, &[arg]).map(drop),
    }
}

/// The most application data one TLS record carries (2^14 bytes, RFC 8446 5.1).
const MAX_RECORD: usize = 16 * 1024;
/// One full TLS 1.3 record on the wire: its header and 2^14 + 256 bytes (RFC 8446 5.2).
/// More ciphertext than this waiting means several records (`TlsFeed::read_records`
/// picks its way by it; both ways are exact, whatever the records' sizes).
const MAX_RECORD_CIPHERTEXT: usize = 5 + MAX_RECORD + 256;

fn consts(py: Python<'_>) -> PyResult<&Consts> {
    CONSTS.get_or_try_init(py, || {
        let m = py.import("asyncio.sslproto")?;
        let ssl = py.import("ssl")?;
        let states = m.getattr("SSLProtocolState")?;
        let constants = py.import("asyncio.constants")?;
        Ok(Consts {
            unwrapped: states.getattr("UNWRAPPED")?.unbind(),
            do_handshake: states.getattr("DO_HANDSHAKE")?.unbind(),
            wrapped: states.getattr("WRAPPED")?.unbind(),
            flushing: states.getattr("FLUSHING")?.unbind(),
            shutdown: states.getattr("SHUTDOWN")?.unbind(),
            again: m.getattr("SSLAgainErrors")?.unbind(),
            ssl_error: ssl.getattr("SSLError")?.unbind(),
            ssl_object: ssl.getattr("SSLObject")?.unbind(),
            certificate_error: ssl.getattr("CertificateError")?.unbind(),
            app_init: m
                .getattr("AppProtocolState")?
                .getattr("STATE_INIT")?
                .unbind(),
            app_con_made: m
                .getattr("AppProtocolState")?
                .getattr("STATE_CON_MADE")?
                .unbind(),
            app_eof: m
                .getattr("AppProtocolState")?
                .getattr("STATE_EOF")?
                .unbind(),
            app_con_lost: m
                .getattr("AppProtocolState")?
                .getattr("STATE_CON_LOST")?
                .unbind(),
            logger: py.import("asyncio.log")?.getattr("logger")?.unbind(),
            on_handshake_complete: m
                .getattr("SSLProtocol")?
                .getattr("_on_handshake_complete")?
                .unbind(),
            do_read: m.getattr("SSLProtocol")?.getattr("_do_read")?.unbind(),
            start_handshake: m
                .getattr("SSLProtocol")?
                .getattr("_start_handshake")?
                .unbind(),
            deque: py.import("collections")?.getattr("deque")?.unbind(),
            read_high: constants
                .getattr("FLOW_CONTROL_HIGH_WATER_SSL_READ")?
                .extract::<i64>()?
                * 1024,
            write_high: constants
                .getattr("FLOW_CONTROL_HIGH_WATER_SSL_WRITE")?
                .extract::<i64>()?
                * 1024,
        })
    })
}

/// A water mark: the object Python stored, and its value when it is an `int` that fits.
struct Mark {
    obj: RefCell<Py<PyAny>>,
    int: Cell<Option<i64>>,
}

impl Mark {
    fn new(py: Python<'_>, value: i64) -> Self {
        Mark {
            obj: RefCell::new(value.into_pyobject(py).expect("int").into_any().unbind()),
            int: Cell::new(Some(value)),
        }
    }

    fn get(&self, py: Python<'_>) -> Py<PyAny> {
        self.obj.borrow().clone_ref(py)
    }

    fn set(&self, value: &Bound<'_, PyAny>) {
        let int = value
            .is_exact_instance_of::<pyo3::types::PyInt>()
            .then(|| value.extract::<i64>().ok())
            .flatten();
        self.int.set(int);
        drop(self.obj.replace(value.clone().unbind()));
    }

    /// `size <= self` (`le`) or `size >= self`.
    fn cmp(&self, py: Python<'_>, size: i64, le: bool) -> PyResult<bool> {
        if let Some(m) = self.int.get() {
            return Ok(if le { size <= m } else { size >= m });
        }
        let mark = self.get(py);
        let size = size.into_pyobject(py)?;
        if le {
            size.le(mark.bind(py))
        } else {
            size.ge(mark.bind(py))
        }
    }
}

/// The fast path of one `_FastSSLProtocol`, and a base class of it (see the module doc).
#[pyclass(subclass, unsendable, module = "simul._simul")]
pub struct TlsFeed {
    /// Whether simul's socket transport hands its chunks to [`TlsFeed::feed`]
    /// (`_simul_tls_native`: on from the start, turned off by `_FastSSLProtocol.__init__`
    /// under `SIMUL_TLS_FASTPATH=python`).
    native: Cell<bool>,
    state: RefCell<Py<PyAny>>,
    /// `_state is SSLProtocolState.WRAPPED`.
    wrapped: Cell<bool>,
    /// `_state is SSLProtocolState.DO_HANDSHAKE`.
    handshaking: Cell<bool>,
    /// `_state is SSLProtocolState.FLUSHING`.
    flushing: Cell<bool>,
    app_protocol: RefCell<Py<PyAny>>,
    transport: RefCell<Py<PyAny>>,
    write_backlog: RefCell<Py<PyAny>>,
    write_buffer_size: Cell<i64>,
    app_reading_paused: Cell<bool>,
    app_protocol_is_buffer: Cell<bool>,
    ssl_reading_paused: Cell<bool>,
    ssl_writing_paused: Cell<bool>,
    app_writing_paused: Cell<bool>,
    incoming_high_water: Mark,
    incoming_low_water: Mark,
    outgoing_high_water: Mark,
    outgoing_low_water: Mark,
    /// `sslproto`'s fields that its steps here read and write, kept here rather than in
    /// the instance dict (see the module doc): `_waiter`, `_app_transport`, `_extra`,
    /// `_app_state`, `_conn_lost`, `_handshake_start_time`, the two timeout handles, and
    /// `_FastSSLProtocol`'s `_raw`; `_eof_received` as a flag.
    waiter: RefCell<Py<PyAny>>,
    app_transport: RefCell<Py<PyAny>>,
    extra: RefCell<Py<PyAny>>,
    app_state: RefCell<Py<PyAny>>,
    conn_lost: RefCell<Py<PyAny>>,
    handshake_start_time: RefCell<Py<PyAny>>,
    handshake_timeout_handle: RefCell<Py<PyAny>>,
    shutdown_timeout_handle: RefCell<Py<PyAny>>,
    raw_obj: RefCell<Py<PyAny>>,
    eof_received: Cell<bool>,
    /// What never changes once the protocol is made, fetched on first use.
    fixed: OnceCell<Fixed>,
    /// The `_ssl` object's methods once the handshake is done.
    raw: OnceCell<Raw>,
}

/// The protocol's two BIOs (with the one bound method of each this path calls),
/// `max_size`, its `_sslobj` (with the `_ssl` object under it when it is a plain
/// `ssl.SSLObject`) and its `_loop`: `sslproto` sets them in `__init__` only.
struct Fixed {
    sslobj: Py<PyAny>,
    raw_sslobj: Option<Py<PyAny>>,
    loop_: Py<PyAny>,
    incoming: Py<PyAny>,
    incoming_write: crate::sys::BioWriter,
    incoming_pending: crate::sys::BioPending,
    outgoing: Py<PyAny>,
    outgoing_pending: crate::sys::BioPending,
    outgoing_read: Py<PyAny>,
    max_size: Py<PyAny>,
}

/// The bound methods of the `_ssl._SSLSocket` this path calls (a C type: its methods
/// cannot be replaced, and the object is the connection's for its life).
struct Raw {
    read: Py<PyAny>,
    write: Py<PyAny>,
    pending: Py<PyAny>,
}

/// Whether `size` has crossed the water mark a control call is due at: `size <= low`
/// while `paused`, `size >= high` otherwise (`sslproto`'s tests before
/// `_control_ssl_reading` and `_control_app_writing`).
fn mark_crossed(
    py: Python<'_>,
    size: i64,
    paused: bool,
    low: &Mark,
    high: &Mark,
) -> PyResult<bool> {
    if paused {
        low.cmp(py, size, true)
    } else {
        high.cmp(py, size, false)
    }
}

impl TlsFeed {
    fn fixed(&self, p: &Bound<'_, PyAny>) -> PyResult<&Fixed> {
        if let Some(f) = self.fixed.get() {
            return Ok(f);
        }
        let py = p.py();
        let incoming = p.getattr(intern!(py, "_incoming"))?;
        let outgoing = p.getattr(intern!(py, "_outgoing"))?;
        let sslobj = p.getattr(intern!(py, "_sslobj"))?;
        let raw_sslobj = if sslobj.get_type().is(consts(py)?.ssl_object.bind(py)) {
            Some(sslobj.getattr(intern!(py, "_sslobj"))?.unbind())
        } else {
            None
        };
        let f = Fixed {
            sslobj: sslobj.unbind(),
            raw_sslobj,
            loop_: p.getattr(intern!(py, "_loop"))?.unbind(),
            incoming_write: crate::sys::BioWriter::new(&incoming)?,
            incoming_pending: crate::sys::BioPending::new(&incoming)?,
            outgoing_pending: crate::sys::BioPending::new(&outgoing)?,
            incoming: incoming.unbind(),
            outgoing_read: outgoing.getattr(intern!(py, "read"))?.unbind(),
            outgoing: outgoing.unbind(),
            max_size: p.getattr(intern!(py, "max_size"))?.unbind(),
        };
        Ok(self.fixed.get_or_init(|| f))
    }

    /// The `_ssl` object's methods when the fast path applies: handshake done, `WRAPPED`.
    fn raw(&self, p: &Bound<'_, PyAny>) -> PyResult<Option<&Raw>> {
        if !self.wrapped.get() {
            return Ok(None);
        }
        self.raw_methods(p)
    }

    /// The `_ssl` object's methods once the handshake is done, whatever the state.
    fn raw_methods(&self, p: &Bound<'_, PyAny>) -> PyResult<Option<&Raw>> {
        let py = p.py();
        let raw = match self.raw.get() {
            Some(raw) => raw,
            None => {
                let raw = self.raw_obj.borrow().clone_ref(py).into_bound(py);
                if raw.is_none() {
                    return Ok(None);
                }
                let r = Raw {
                    read: raw.getattr(intern!(py, "read"))?.unbind(),
                    write: raw.getattr(intern!(py, "write"))?.unbind(),
                    pending: raw.getattr(intern!(py, "pending"))?.unbind(),
                };
                self.raw.get_or_init(|| r)
            }
        };
        Ok(Some(raw))
    }

    fn write_backlog_nonempty(&self, py: Python<'_>) -> PyResult<bool> {
        let backlog = self.write_backlog.borrow().clone_ref(py);
        backlog.bind(py).is_truthy()
    }

    /// A chunk from the socket (see the module doc, "In"); `data` is only read during the
    /// BIO write, the call's first step.
    pub(crate) fn feed(slf: &Bound<'_, TlsFeed>, data: &[u8]) -> PyResult<()> {
        let py = slf.py();
        let this = slf.borrow();
        let p = slf.as_any();
        let fixed = this.fixed(p)?;
        fixed.incoming_write.write(py, data)?;
        let raw = match this.raw(p)? {
            Some(raw) if !this.app_reading_paused.get() && !this.app_protocol_is_buffer.get() => {
                raw
            }
            None if this.handshaking.get() => return this.do_handshake(p, fixed),
            _ => {
                // `_FastSSLProtocol._after_incoming` (`sslproto`'s `buffer_updated` after
                // its BIO write): on by state.
                let c = consts(py)?;
                let step = if this.wrapped.get() {
                    Some(intern!(py, "_do_read"))
                } else if this.flushing.get() {
                    Some(intern!(py, "_do_flush"))
                } else if this.state.borrow().bind(py).is(c.shutdown.bind(py)) {
                    Some(intern!(py, "_do_shutdown"))
                } else {
                    None
                };
                drop(this);
                if let Some(step) = step {
                    p.vcall_method0(step)?;
                }
                return Ok(());
            }
        };
        let res = this.read_records(p, fixed, raw, Some(data.len()));
        this.fatal_on_exception(p, res)
    }

    /// The records in the incoming BIO to the application protocol, then what OpenSSL
    /// has to send, then the read marks; `fed`: the size of the chunk just written into
    /// the BIO, if that is what this follows.
    fn read_records(
        &self,
        p: &Bound<'_, PyAny>,
        fixed: &Fixed,
        raw: &Raw,
        fed: Option<usize>,
    ) -> PyResult<()> {
        let py = p.py();
        let incoming = fixed.incoming.bind(py);
        // The BIO is drained after each chunk but in rare cases (an error, a change of
        // state), so the chunk's size tells how much waits without asking the BIO; a
        // wrong guess would only pick the slower way.
        let waiting = match fed {
            Some(n) => n,
            None => usize::try_from(fixed.incoming_pending.read(incoming)?).unwrap_or(0),
        };
        let (data, close_notify) = if waiting > MAX_RECORD_CIPHERTEXT {
            let waiting = match fed {
                Some(_) => usize::try_from(fixed.incoming_pending.read(incoming)?).unwrap_or(0),
                None => waiting,
            };
            self.read_into_one(incoming, fixed, raw, waiting)?
        } else {
            self.read_chunks(incoming, fixed, raw)?
        };
        if let Some(data) = data {
            let app = self.app_protocol.borrow().clone_ref(py);
            call_method(app.bind(py), intern!(py, "data_received"), &[&data])?;
        }
        if close_notify {
            step0(
                p,
                intern!(py, "_call_eof_received"),
                TlsFeed::_call_eof_received,
            )?;
            step0(p, intern!(py, "_start_shutdown"), TlsFeed::_start_shutdown)?;
        }
        if self.write_backlog_nonempty(py)? {
            p.vcall_method0(intern!(py, "_do_write"))?;
        } else {
            self.send_outgoing(p, fixed)?;
        }
        let size = fixed.incoming_pending.read(incoming)?;
        if mark_crossed(
            py,
            size,
            self.ssl_reading_paused.get(),
            &self.incoming_low_water,
            &self.incoming_high_water,
        )? {
            p.vcall_method0(intern!(py, "_control_ssl_reading"))?;
        }
        Ok(())
    }

    /// The records in the incoming BIO, decrypted (`_ssl._SSLSocket.read` until the BIO
    /// and the decrypted bytes are both empty, or `SSLWantReadError`) into one chunk per
    /// record, joined when there are several; and whether the peer's close_notify came.
    fn read_chunks<'py>(
        &self,
        incoming: &Bound<'py, PyAny>,
        fixed: &Fixed,
        raw: &Raw,
    ) -> PyResult<(Option<Bound<'py, PyAny>>, bool)> {
        let py = incoming.py();
        let max_size = fixed.max_size.bind(py);
        let read = raw.read.bind(py);
        let again = consts(py)?.again.bind(py);
        let mut chunks: Vec<Bound<'py, PyAny>> = Vec::new();
        let mut close_notify = false;
        loop {
            let chunk = match call(read, &[max_size]) {
                Ok(c) => c,
                Err(e) if e.is_instance(py, again) => break,
                Err(e) => return Err(e),
            };
            if !chunk.is_truthy()? {
                close_notify = true;
                break;
            }
            chunks.push(chunk);
            if fixed.incoming_pending.read(incoming)? == 0
                && !raw.pending.bind(py).call0()?.is_truthy()?
            {
                break;
            }
        }
        let data = match chunks.len() {
            0 => None,
            1 => chunks.pop(),
            _ => Some(
                PyBytes::new(py, b"")
                    .call_method1(intern!(py, "join"), (PyList::new(py, chunks)?,))?,
            ),
        };
        Ok((data, close_notify))
    }

    /// As [`TlsFeed::read_chunks`], for `waiting` bytes of ciphertext (more than one
    /// record): the records are decrypted straight into one `bytes` (`read(0, view)`:
    /// no chunk per record, no join), sized to hold all there is (no more than the
    /// ciphertext, plus the rest of one record OpenSSL may have begun to read or hold
    /// decrypted already) and cut to its size.
    fn read_into_one<'py>(
        &self,
        incoming: &Bound<'py, PyAny>,
        fixed: &Fixed,
        raw: &Raw,
        waiting: usize,
    ) -> PyResult<(Option<Bound<'py, PyAny>>, bool)> {
        let py = incoming.py();
        let read = raw.read.bind(py);
        let again = consts(py)?.again.bind(py);
        let cap = waiting + MAX_RECORD;
        let mut out = NewBytes::with_capacity(py, cap)?;
        // Full ones, should that size ever be too small.
        let mut full: Vec<Bound<'py, PyBytes>> = Vec::new();
        let mut close_notify = false;
        let zero = 0i32.into_pyobject(py)?;
        loop {
            if out.spare() == 0 {
                let next = NewBytes::with_capacity(py, cap)?;
                full.extend(std::mem::replace(&mut out, next).finish()?);
            }
            let n = match out.fill_with(|view| read.call1((&zero, view))?.extract::<usize>()) {
                Ok(n) => n,
                Err(e) if e.is_instance(py, again) => break,
                Err(e) => return Err(e),
            };
            if n == 0 {
                close_notify = true;
                break;
            }
            if fixed.incoming_pending.read(incoming)? == 0
                && !raw.pending.bind(py).call0()?.is_truthy()?
            {
                break;
            }
        }
        full.extend(out.finish()?);
        let data = match full.len() {
            0 => None,
            1 => full.pop().map(Bound::into_any),
            _ => Some(
                PyBytes::new(py, b"")
                    .call_method1(intern!(py, "join"), (PyList::new(py, full)?,))?,
            ),
        };
        Ok((data, close_notify))
    }

    /// `sslproto`'s `_process_outgoing`, with `_control_app_writing` only when a mark is
    /// crossed (the only case where it does anything).
    fn send_outgoing(&self, p: &Bound<'_, PyAny>, fixed: &Fixed) -> PyResult<()> {
        let py = p.py();
        let outgoing = fixed.outgoing.bind(py);
        if !self.ssl_writing_paused.get() && fixed.outgoing_pending.read(outgoing)? != 0 {
            let data = fixed.outgoing_read.bind(py).call0()?;
            let transport = self.transport.borrow().clone_ref(py);
            call_method(transport.bind(py), intern!(py, "write"), &[&data])?;
        }
        let size = fixed.outgoing_pending.read(outgoing)? + self.write_buffer_size.get();
        if mark_crossed(
            py,
            size,
            self.app_writing_paused.get(),
            &self.outgoing_low_water,
            &self.outgoing_high_water,
        )? {
            p.vcall_method0(intern!(py, "_control_app_writing"))?;
        }
        Ok(())
    }

    /// `sslproto`'s `_do_handshake`: one handshake step; on `SSLWantReadError` (or
    /// `SSLWantWriteError`) what OpenSSL has to send goes out, and its outcome otherwise
    /// (`None` or the `ssl.SSLError`) goes to `_on_handshake_complete`. Any other exception
    /// propagates, as from `sslproto`'s. A plain `ssl.SSLObject`'s `do_handshake` only
    /// forwards to its `_ssl` object's, which is called directly.
    fn do_handshake(&self, p: &Bound<'_, PyAny>, fixed: &Fixed) -> PyResult<()> {
        let py = p.py();
        let c = consts(py)?;
        let name = intern!(py, "do_handshake");
        match Self::sslobj_call(fixed, name, name) {
            Ok(_) => {
                step1(
                    p,
                    intern!(py, "_on_handshake_complete"),
                    &py.None().into_bound(py),
                    TlsFeed::_on_handshake_complete,
                )?;
            }
            Err(e) if e.is_instance(py, c.again.bind(py)) => self.send_outgoing(p, fixed)?,
            Err(e) if e.is_instance(py, c.ssl_error.bind(py)) => {
                step1(
                    p,
                    intern!(py, "_on_handshake_complete"),
                    e.value(py).as_any(),
                    TlsFeed::_on_handshake_complete,
                )?;
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// The object whose method `name` to call for `self._sslobj.name()`: a plain
    /// `ssl.SSLObject`'s `do_handshake` and `unwrap` only forward to its `_ssl` object's
    /// `do_handshake` and `shutdown`, which are called directly.
    fn sslobj_call<'py>(
        fixed: &Fixed,
        name: &Bound<'py, pyo3::types::PyString>,
        raw_name: &Bound<'py, pyo3::types::PyString>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = name.py();
        match &fixed.raw_sslobj {
            Some(raw) => raw.bind(py).vcall_method0(raw_name),
            None => fixed.sslobj.bind(py).vcall_method0(name),
        }
    }

    /// `sslproto`'s `except Exception as ex: self._fatal_error(ex, ...)`.
    fn fatal_on_exception(&self, p: &Bound<'_, PyAny>, res: PyResult<()>) -> PyResult<()> {
        let py = p.py();
        match res {
            Err(e) if e.is_instance_of::<PyException>(py) => {
                p.call_method1(
                    intern!(py, "_fatal_error"),
                    (e.value(py), "Fatal error on SSL protocol"),
                )?;
                Ok(())
            }
            other => other,
        }
    }
}

/// The methods of `TlsFeed`, with a getter and a setter for each field: objects kept
/// as Python stored them, flags stored as their truth value, water marks (see [`Mark`]).
macro_rules! tls_methods {
    (
        objects { $($o:ident: $oget:ident, $oset:ident, $oname:literal;)* }
        flags { $($f:ident: $fget:ident, $fset:ident, $fname:literal;)* }
        marks { $($m:ident: $mget:ident, $mset:ident, $mname:literal;)* }
        $($rest:tt)*
    ) => {
        #[pymethods]
        impl TlsFeed {
            $(
                #[getter($oname)]
                fn $oget(&self, py: Python<'_>) -> Py<PyAny> {
                    self.$o.borrow().clone_ref(py)
                }

                #[setter($oname)]
                fn $oset(&self, value: Py<PyAny>) {
                    drop(self.$o.replace(value));
                }
            )*
            $(
                #[getter($fname)]
                fn $fget(&self) -> bool {
                    self.$f.get()
                }

                #[setter($fname)]
                fn $fset(&self, value: &Bound<'_, PyAny>) -> PyResult<()> {
                    self.$f.set(value.is_truthy()?);
                    Ok(())
                }
            )*
            $(
                #[getter($mname)]
                fn $mget(&self, py: Python<'_>) -> Py<PyAny> {
                    self.$m.get(py)
                }

                #[setter($mname)]
                fn $mset(&self, value: &Bound<'_, PyAny>) {
                    self.$m.set(value);
                }
            )*
            $($rest)*
        }
    };
}

tls_methods! {
    objects {
        app_protocol: get_app_protocol, set_app_protocol, "_app_protocol";
        transport: get_transport, set_transport, "_transport";
        write_backlog: get_write_backlog, set_write_backlog, "_write_backlog";
        waiter: get_waiter, set_waiter, "_waiter";
        app_transport: get_app_transport, set_app_transport, "_app_transport";
        extra: get_extra, set_extra, "_extra";
        app_state: get_app_state, set_app_state, "_app_state";
        conn_lost: get_conn_lost, set_conn_lost, "_conn_lost";
        handshake_start_time: get_handshake_start_time, set_handshake_start_time, "_handshake_start_time";
        handshake_timeout_handle: get_handshake_timeout_handle, set_handshake_timeout_handle, "_handshake_timeout_handle";
        shutdown_timeout_handle: get_shutdown_timeout_handle, set_shutdown_timeout_handle, "_shutdown_timeout_handle";
        raw_obj: get_raw_obj, set_raw_obj, "_raw";
    }
    flags {
        native: get_native, set_native, "_simul_tls_native";
        app_reading_paused: get_app_reading_paused, set_app_reading_paused, "_app_reading_paused";
        app_protocol_is_buffer: get_app_protocol_is_buffer, set_app_protocol_is_buffer, "_app_protocol_is_buffer";
        ssl_reading_paused: get_ssl_reading_paused, set_ssl_reading_paused, "_ssl_reading_paused";
        ssl_writing_paused: get_ssl_writing_paused, set_ssl_writing_paused, "_ssl_writing_paused";
        app_writing_paused: get_app_writing_paused, set_app_writing_paused, "_app_writing_paused";
        eof_received: get_eof_received, set_eof_received, "_eof_received";
    }
    marks {
        incoming_high_water: get_incoming_high_water, set_incoming_high_water, "_incoming_high_water";
        incoming_low_water: get_incoming_low_water, set_incoming_low_water, "_incoming_low_water";
        outgoing_high_water: get_outgoing_high_water, set_outgoing_high_water, "_outgoing_high_water";
        outgoing_low_water: get_outgoing_low_water, set_outgoing_low_water, "_outgoing_low_water";
    }
    /// The fields at the values `sslproto.SSLProtocol.__init__` gives them whatever its
    /// arguments (`_FastSSLProtocol.__init__` leaves them so): state `UNWRAPPED`, an
    /// empty `deque` as the write backlog, the default water marks, the flags off; and
    /// `_simul_tls_native` on.
    #[new]
    #[pyo3(signature = (*_args, **_kwargs))]
    fn new(
        py: Python<'_>,
        _args: &Bound<'_, PyTuple>,
        _kwargs: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let c = consts(py)?;
        Ok(TlsFeed {
            native: Cell::new(true),
            state: RefCell::new(c.unwrapped.clone_ref(py)),
            wrapped: Cell::new(false),
            handshaking: Cell::new(false),
            flushing: Cell::new(false),
            app_protocol: RefCell::new(py.None()),
            transport: RefCell::new(py.None()),
            write_backlog: RefCell::new(c.deque.bind(py).call0()?.unbind()),
            write_buffer_size: Cell::new(0),
            app_reading_paused: Cell::new(false),
            app_protocol_is_buffer: Cell::new(false),
            ssl_reading_paused: Cell::new(false),
            ssl_writing_paused: Cell::new(false),
            app_writing_paused: Cell::new(false),
            incoming_high_water: Mark::new(py, c.read_high),
            incoming_low_water: Mark::new(py, c.read_high / 4),
            outgoing_high_water: Mark::new(py, c.write_high),
            outgoing_low_water: Mark::new(py, c.write_high / 4),
            waiter: RefCell::new(py.None()),
            app_transport: RefCell::new(py.None()),
            extra: RefCell::new(py.None()),
            app_state: RefCell::new(c.app_init.clone_ref(py)),
            conn_lost: RefCell::new(0i32.into_pyobject(py)?.into_any().unbind()),
            handshake_start_time: RefCell::new(py.None()),
            handshake_timeout_handle: RefCell::new(py.None()),
            shutdown_timeout_handle: RefCell::new(py.None()),
            raw_obj: RefCell::new(py.None()),
            eof_received: Cell::new(false),
            fixed: OnceCell::new(),
            raw: OnceCell::new(),
        })
    }

    /// Registers `cls` as the class whose instances' steps call each other directly
    /// (see [`DIRECT`]); the first registration stays.
    #[staticmethod]
    fn _simul_direct_type(cls: Bound<'_, pyo3::types::PyType>) {
        let py = cls.py();
        let _ = DIRECT.get_or_init(py, || cls.unbind());
    }

    #[getter(_state)]
    fn get_state(&self, py: Python<'_>) -> Py<PyAny> {
        self.state.borrow().clone_ref(py)
    }

    #[setter(_state)]
    fn set_state(&self, value: Bound<'_, PyAny>) -> PyResult<()> {
        let c = consts(value.py())?;
        self.wrapped.set(value.is(c.wrapped.bind(value.py())));
        self.handshaking.set(value.is(c.do_handshake.bind(value.py())));
        self.flushing.set(value.is(c.flushing.bind(value.py())));
        drop(self.state.replace(value.unbind()));
        Ok(())
    }

    #[getter(_write_buffer_size)]
    fn get_write_buffer_size(&self) -> i64 {
        self.write_buffer_size.get()
    }

    #[setter(_write_buffer_size)]
    fn set_write_buffer_size(&self, value: i64) {
        self.write_buffer_size.set(value);
    }

    /// `sslproto.SSLProtocol._do_handshake`, in Rust (see [`TlsFeed::do_handshake`]).
    fn _do_handshake(slf: &Bound<'_, Self>) -> PyResult<()> {
        let this = slf.borrow();
        let p = slf.as_any();
        let fixed = this.fixed(p)?;
        this.do_handshake(p, fixed)
    }

    /// `sslproto.SSLProtocol._set_state`: the transitions it allows (to `UNWRAPPED` from
    /// any state, and `UNWRAPPED` → `DO_HANDSHAKE` → `WRAPPED` → `FLUSHING` →
    /// `SHUTDOWN`), its `RuntimeError` for any other.
    fn _set_state(&self, new_state: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = new_state.py();
        let c = consts(py)?;
        let old = self.state.borrow().clone_ref(py);
        let old = old.bind(py);
        let is = |a: &Bound<'_, PyAny>, b: &Py<PyAny>| a.is(b.bind(py));
        let allowed = is(new_state, &c.unwrapped)
            || (is(old, &c.unwrapped) && is(new_state, &c.do_handshake))
            || (is(old, &c.do_handshake) && is(new_state, &c.wrapped))
            || (is(old, &c.wrapped) && is(new_state, &c.flushing))
            || (is(old, &c.flushing) && is(new_state, &c.shutdown));
        if !allowed {
            return Err(pyo3::exceptions::PyRuntimeError::new_err(format!(
                "cannot switch state from {} to {}",
                old.str()?,
                new_state.str()?
            )));
        }
        self.set_state(new_state.clone())
    }

    /// `sslproto.SSLProtocol._wakeup_waiter`: the waiter (if any, and not cancelled) gets
    /// `exc` or `None`, and is forgotten.
    #[pyo3(signature = (exc=None))]
    fn _wakeup_waiter(slf: &Bound<'_, Self>, exc: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        let py = slf.py();
        let waiter = slf.borrow().waiter.borrow().clone_ref(py).into_bound(py);
        if waiter.is_none() {
            return Ok(());
        }
        if !waiter.vcall_method0(intern!(py, "cancelled"))?.is_truthy()? {
            match exc {
                Some(exc) if !exc.is_none() => {
                    call_method(&waiter, intern!(py, "set_exception"), &[exc])?;
                }
                _ => {
                    call_method(&waiter, intern!(py, "set_result"), &[&py.None().into_bound(py)])?;
                }
            }
        }
        drop(slf.borrow().waiter.replace(py.None()));
        Ok(())
    }

    /// `sslproto.SSLProtocol._do_shutdown`: one step of the TLS shutdown (none when the
    /// peer's close_notify came first), then what OpenSSL has to send; when it is done,
    /// `_call_eof_received` and `_on_shutdown_complete(None)`; an `ssl.SSLError` goes to
    /// `_on_shutdown_complete(exc)`; any other exception propagates.
    fn _do_shutdown(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.borrow();
        let p = slf.as_any();
        let c = consts(py)?;
        let res = if this.eof_received.get() {
            Ok(py.None().into_bound(py))
        } else {
            Self::sslobj_call(this.fixed(p)?, intern!(py, "unwrap"), intern!(py, "shutdown"))
        };
        match res {
            Ok(_) => {
                let fixed = this.fixed(p)?;
                this.send_outgoing(p, fixed)?;
                step0(p, intern!(py, "_call_eof_received"), TlsFeed::_call_eof_received)?;
                step1(
                    p,
                    intern!(py, "_on_shutdown_complete"),
                    &py.None().into_bound(py),
                    TlsFeed::_on_shutdown_complete,
                )?;
            }
            Err(e) if e.is_instance(py, c.again.bind(py)) => {
                let fixed = this.fixed(p)?;
                this.send_outgoing(p, fixed)?;
            }
            Err(e) if e.is_instance(py, c.ssl_error.bind(py)) => {
                step1(
                    p,
                    intern!(py, "_on_shutdown_complete"),
                    e.value(py).as_any(),
                    TlsFeed::_on_shutdown_complete,
                )?;
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// `sslproto.SSLProtocol._on_handshake_complete`, and `_raw` (the `_ssl` object under
    /// a plain `ssl.SSLObject`) kept once the handshake is done. A handshake that failed,
    /// debug mode (which logs the handshake's time) or an `SSLObject` subclass go to
    /// `sslproto`'s method; the rest is its success path: the timeout cancelled, the
    /// state `WRAPPED`, the peer's certificate, cipher and compression (a failure there
    /// is `sslproto`'s "SSL handshake failed": state `UNWRAPPED`, `_fatal_error`, the
    /// waiter woken with it), the extra info, `connection_made` once, the waiter woken,
    /// then the first read.
    fn _on_handshake_complete(slf: &Bound<'_, Self>, handshake_exc: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = slf.py();
        let p = slf.as_any();
        let c = consts(py)?;
        let (sslobj, raw, loop_) = {
            let this = slf.borrow();
            let f = this.fixed(p)?;
            (
                f.sslobj.bind(py).clone(),
                f.raw_sslobj.as_ref().map(|r| r.bind(py).clone()),
                f.loop_.bind(py).clone(),
            )
        };
        let debug = loop_.vcall_method0(intern!(py, "get_debug"))?.is_truthy()?;
        let raw = match raw {
            Some(raw) if handshake_exc.is_none() && !debug => raw,
            raw => {
                if let (Some(raw), true) = (raw, handshake_exc.is_none()) {
                    drop(slf.borrow().raw_obj.replace(raw.unbind()));
                }
                c.on_handshake_complete.bind(py).call1((p, handshake_exc))?;
                return Ok(());
            }
        };
        let this = slf.borrow();
        drop(this.raw_obj.replace(raw.clone().unbind()));
        let handle = this.handshake_timeout_handle.borrow().clone_ref(py).into_bound(py);
        if !handle.is_none() {
            handle.vcall_method0(intern!(py, "cancel"))?;
            drop(this.handshake_timeout_handle.replace(py.None()));
        }
        let peercert = this
            ._set_state(c.wrapped.bind(py))
            .and_then(|()| {
                call_method(
                    &raw,
                    intern!(py, "getpeercert"),
                    &[pyo3::types::PyBool::new(py, false).as_any()],
                )
            });
        let peercert = match peercert {
            Ok(cert) => cert,
            Err(e) if e.is_instance_of::<PyException>(py) => {
                this._set_state(c.unwrapped.bind(py))?;
                let exc = e.value(py);
                let msg = if exc.is_instance(c.certificate_error.bind(py))? {
                    "SSL handshake failed on verifying the certificate"
                } else {
                    "SSL handshake failed"
                };
                p.call_method1(intern!(py, "_fatal_error"), (exc, msg))?;
                drop(this);
                return Self::_wakeup_waiter(slf, Some(exc));
            }
            Err(e) => return Err(e),
        };
        let extra = this.extra.borrow().clone_ref(py).into_bound(py);
        let cipher = raw.vcall_method0(intern!(py, "cipher"))?;
        let compression = raw.vcall_method0(intern!(py, "compression"))?;
        let kw = PyDict::new(py);
        kw.set_item(intern!(py, "peercert"), peercert)?;
        kw.set_item(intern!(py, "cipher"), cipher)?;
        kw.set_item(intern!(py, "compression"), compression)?;
        kw.set_item(intern!(py, "ssl_object"), &sslobj)?;
        extra.call_method(intern!(py, "update"), (), Some(&kw))?;
        if this.app_state.borrow().is(c.app_init.bind(py)) {
            drop(this.app_state.replace(c.app_con_made.clone_ref(py)));
            // `_get_app_transport()`: the one `__init__` made, unless it is gone.
            let mut transport = this.app_transport.borrow().clone_ref(py).into_bound(py);
            if transport.is_none() {
                transport = p.vcall_method0(intern!(py, "_get_app_transport"))?;
            }
            let app = this.app_protocol.borrow().clone_ref(py);
            drop(this);
            call_method(app.bind(py), intern!(py, "connection_made"), &[&transport])?;
        } else {
            drop(this);
        }
        Self::_wakeup_waiter(slf, None)?;
        step0(p, intern!(py, "_do_read"), TlsFeed::_do_read)?;
        Ok(())
    }

    /// `sslproto.SSLProtocol._call_eof_received`: the application protocol's
    /// `eof_received` once, after `connection_made` (a true return is logged as having no
    /// effect); what it raises, but `KeyboardInterrupt` and `SystemExit`, goes to
    /// `_fatal_error`.
    fn _call_eof_received(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let p = slf.as_any();
        let c = consts(py)?;
        let res = (|| -> PyResult<()> {
            let this = slf.borrow();
            if this.app_state.borrow().is(c.app_con_made.bind(py)) {
                drop(this.app_state.replace(c.app_eof.clone_ref(py)));
                let app = this.app_protocol.borrow().clone_ref(py);
                drop(this);
                let keep_open = app.bind(py).vcall_method0(intern!(py, "eof_received"))?;
                if keep_open.is_truthy()? {
                    c.logger.bind(py).call_method1(
                        intern!(py, "warning"),
                        ("returning true from eof_received() has no effect when using ssl",),
                    )?;
                }
            }
            Ok(())
        })();
        match res {
            Err(e)
                if !e.is_instance_of::<pyo3::exceptions::PyKeyboardInterrupt>(py)
                    && !e.is_instance_of::<pyo3::exceptions::PySystemExit>(py) =>
            {
                p.call_method1(
                    intern!(py, "_fatal_error"),
                    (e.value(py), "Error calling eof_received()"),
                )?;
                Ok(())
            }
            other => other,
        }
    }

    /// `sslproto.SSLProtocol._do_read` (with `_do_read__copied`): in the `WRAPPED` and
    /// `FLUSHING` states, application reading on, a copying application protocol and
    /// the handshake done on a plain `ssl.SSLObject`, every decrypted record to
    /// `data_received` in one call, then what OpenSSL has to send, then the read marks
    /// (`read_records`, as for a chunk from the socket); any other case is `sslproto`'s.
    fn _do_read(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let this = slf.borrow();
        let p = slf.as_any();
        if (this.wrapped.get() || this.flushing.get())
            && !this.app_reading_paused.get()
            && !this.app_protocol_is_buffer.get()
        {
            if let Some(raw) = this.raw_methods(p)? {
                let fixed = this.fixed(p)?;
                let res = this.read_records(p, fixed, raw, None);
                return this.fatal_on_exception(p, res);
            }
        }
        drop(this);
        consts(py)?.do_read.bind(py).call1((p,))?;
        Ok(())
    }

    /// `sslproto.SSLProtocol._do_flush`: what is left to read, state `SHUTDOWN`, then the
    /// shutdown's first step.
    fn _do_flush(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let p = slf.as_any();
        step0(p, intern!(py, "_do_read"), TlsFeed::_do_read)?;
        slf.borrow()._set_state(consts(py)?.shutdown.bind(py))?;
        Self::_do_shutdown(slf)
    }

    /// `sslproto.SSLProtocol._process_outgoing`, in Rust (see [`TlsFeed::send_outgoing`]).
    fn _process_outgoing(slf: &Bound<'_, Self>) -> PyResult<()> {
        let this = slf.borrow();
        let p = slf.as_any();
        let fixed = this.fixed(p)?;
        this.send_outgoing(p, fixed)
    }

    /// `sslproto.SSLProtocol.connection_made`: the raw transport kept, then
    /// `_start_handshake`.
    fn connection_made(slf: &Bound<'_, Self>, transport: Py<PyAny>) -> PyResult<()> {
        drop(slf.borrow().transport.replace(transport));
        Self::_start_handshake(slf)
    }

    /// `sslproto.SSLProtocol._start_handshake`: state `DO_HANDSHAKE`, the handshake
    /// timeout armed, the first handshake step. Debug mode (which logs the start and
    /// keeps its time) is `sslproto`'s method. The timer calls the bound
    /// `_check_handshake_timeout` where `sslproto` wraps the same call in a lambda.
    fn _start_handshake(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let p = slf.as_any();
        let c = consts(py)?;
        let loop_ = slf.borrow().fixed(p)?.loop_.bind(py).clone();
        if loop_.vcall_method0(intern!(py, "get_debug"))?.is_truthy()? {
            c.start_handshake.bind(py).call1((p,))?;
            return Ok(());
        }
        let this = slf.borrow();
        drop(this.handshake_start_time.replace(py.None()));
        this._set_state(c.do_handshake.bind(py))?;
        let handle = call_method(
            &loop_,
            intern!(py, "call_later"),
            &[
                &p.getattr(intern!(py, "_ssl_handshake_timeout"))?,
                &p.getattr(intern!(py, "_check_handshake_timeout"))?,
            ],
        )?;
        drop(this.handshake_timeout_handle.replace(handle.unbind()));
        let fixed = this.fixed(p)?;
        this.do_handshake(p, fixed)
    }

    /// `sslproto.SSLProtocol._start_shutdown`: nothing once flushing, shut down or
    /// unwrapped; the application transport marked closed; during the handshake
    /// `_abort()`, otherwise state `FLUSHING`, the shutdown timeout armed (the bound
    /// `_check_shutdown_timeout`, as for the handshake's) and `_do_flush`.
    fn _start_shutdown(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let p = slf.as_any();
        let c = consts(py)?;
        let this = slf.borrow();
        {
            let state = this.state.borrow();
            let state = state.bind(py);
            if state.is(c.flushing.bind(py))
                || state.is(c.shutdown.bind(py))
                || state.is(c.unwrapped.bind(py))
            {
                return Ok(());
            }
        }
        let app_transport = this.app_transport.borrow().clone_ref(py).into_bound(py);
        if !app_transport.is_none() {
            app_transport.setattr(intern!(py, "_closed"), true)?;
        }
        if this.handshaking.get() {
            drop(this);
            p.vcall_method0(intern!(py, "_abort"))?;
            return Ok(());
        }
        this._set_state(c.flushing.bind(py))?;
        let handle = call_method(
            this.fixed(p)?.loop_.bind(py),
            intern!(py, "call_later"),
            &[
                &p.getattr(intern!(py, "_ssl_shutdown_timeout"))?,
                &p.getattr(intern!(py, "_check_shutdown_timeout"))?,
            ],
        )?;
        drop(this.shutdown_timeout_handle.replace(handle.unbind()));
        drop(this);
        Self::_do_flush(slf)
    }

    /// `sslproto.SSLProtocol._on_shutdown_complete`: the shutdown timeout cancelled; an
    /// error to `_fatal_error`, otherwise the raw transport closed, at once, as uvloop's
    /// `sslproto` does (where `sslproto` schedules its `close`: one iteration sooner,
    /// the protocols' callbacks in the same order, and `connection_lost` still comes in
    /// an iteration of its own; the transport's `close` is made to be called from its
    /// protocol's read step).
    fn _on_shutdown_complete(slf: &Bound<'_, Self>, shutdown_exc: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = slf.py();
        let p = slf.as_any();
        let handle = slf.borrow().shutdown_timeout_handle.borrow().clone_ref(py).into_bound(py);
        if !handle.is_none() {
            handle.vcall_method0(intern!(py, "cancel"))?;
            drop(slf.borrow().shutdown_timeout_handle.replace(py.None()));
        }
        if shutdown_exc.is_truthy()? {
            p.call_method1(intern!(py, "_fatal_error"), (shutdown_exc,))?;
        } else {
            let transport = slf.borrow().transport.borrow().clone_ref(py);
            transport.bind(py).vcall_method0(intern!(py, "close"))?;
        }
        Ok(())
    }

    /// `sslproto.SSLProtocol.connection_lost`: the write backlog and what OpenSSL had to
    /// send dropped, `_conn_lost` counted, the application transport marked closed; once
    /// past the handshake, a started application protocol's `connection_lost(exc)`
    /// scheduled; state `UNWRAPPED`, the transports and the application protocol
    /// forgotten, the waiter woken with `exc`, both timeouts cancelled.
    fn connection_lost(slf: &Bound<'_, Self>, exc: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = slf.py();
        let p = slf.as_any();
        let c = consts(py)?;
        let this = slf.borrow();
        let backlog = this.write_backlog.borrow().clone_ref(py);
        backlog.bind(py).vcall_method0(intern!(py, "clear"))?;
        this.fixed(p)?.outgoing_read.bind(py).call0()?;
        let lost = this.conn_lost.borrow().bind(py).add(1)?;
        drop(this.conn_lost.replace(lost.unbind()));
        let app_transport = this.app_transport.borrow().clone_ref(py).into_bound(py);
        if !app_transport.is_none() {
            app_transport.setattr(intern!(py, "_closed"), true)?;
        }
        if !this.handshaking.get() {
            let app_state = this.app_state.borrow().clone_ref(py).into_bound(py);
            if app_state.is(c.app_con_made.bind(py)) || app_state.is(c.app_eof.bind(py)) {
                drop(this.app_state.replace(c.app_con_lost.clone_ref(py)));
                let app = this.app_protocol.borrow().clone_ref(py);
                let cb = app.bind(py).getattr(intern!(py, "connection_lost"))?;
                call_method(this.fixed(p)?.loop_.bind(py), intern!(py, "call_soon"), &[&cb, exc])?;
            }
        }
        this._set_state(c.unwrapped.bind(py))?;
        drop(this.transport.replace(py.None()));
        drop(this.app_transport.replace(py.None()));
        drop(this.app_protocol.replace(py.None()));
        drop(this);
        Self::_wakeup_waiter(slf, Some(exc))?;
        let this = slf.borrow();
        for cell in [&this.shutdown_timeout_handle, &this.handshake_timeout_handle] {
            let handle = cell.borrow().clone_ref(py).into_bound(py);
            if handle.is_truthy()? {
                handle.vcall_method0(intern!(py, "cancel"))?;
                drop(cell.replace(py.None()));
            }
        }
        Ok(())
    }

    /// The application transport's `write(data)` (see the module doc, "Out").
    fn _simul_write(slf: &Bound<'_, Self>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        if !(data.is_instance_of::<PyBytes>()
            || data.is_instance_of::<PyByteArray>()
            || data.is_instance_of::<PyMemoryView>())
        {
            return Err(PyTypeError::new_err(format!(
                "data: expecting a bytes-like instance, got {}",
                data.get_type().name()?
            )));
        }
        if !data.is_truthy()? {
            return Ok(());
        }
        let py = slf.py();
        let this = slf.borrow();
        let p = slf.as_any();
        let fixed = this.fixed(p)?;
        let raw = match this.raw(p)? {
            Some(raw) if !this.write_backlog_nonempty(py)? => raw,
            _ => {
                p.call_method1(intern!(py, "_write_one"), (data,))?;
                return Ok(());
            }
        };
        let count = match call(raw.write.bind(py), &[data]) {
            Ok(c) => c,
            Err(e) => {
                p.call_method1(intern!(py, "_write_refused"), (data, e.value(py)))?;
                return Ok(());
            }
        };
        if count.lt(data.len()?)? {
            p.call_method1(intern!(py, "_write_partial"), (data, count))?;
            return Ok(());
        }
        let res = this.send_outgoing(p, fixed);
        this.fatal_on_exception(p, res)
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        for cell in [
            &self.state,
            &self.app_protocol,
            &self.transport,
            &self.write_backlog,
            &self.incoming_high_water.obj,
            &self.incoming_low_water.obj,
            &self.outgoing_high_water.obj,
            &self.outgoing_low_water.obj,
            &self.waiter,
            &self.app_transport,
            &self.extra,
            &self.app_state,
            &self.conn_lost,
            &self.handshake_start_time,
            &self.handshake_timeout_handle,
            &self.shutdown_timeout_handle,
            &self.raw_obj,
        ] {
            if let Ok(obj) = cell.try_borrow() {
                visit.call(&*obj)?;
            }
        }
        if let Some(f) = self.fixed.get() {
            visit.call(&f.sslobj)?;
            if let Some(raw) = &f.raw_sslobj {
                visit.call(raw)?;
            }
            visit.call(&f.loop_)?;
            visit.call(&f.incoming)?;
            visit.call(f.incoming_write.method())?;
            visit.call(&f.outgoing)?;
            visit.call(&f.outgoing_read)?;
            visit.call(&f.max_size)?;
        }
        if let Some(r) = self.raw.get() {
            visit.call(&r.read)?;
            visit.call(&r.write)?;
            visit.call(&r.pending)?;
        }
        Ok(())
    }

    fn __clear__(&mut self) {
        Python::attach(|py| {
            for cell in [
                &self.app_protocol,
                &self.transport,
                &self.write_backlog,
                &self.waiter,
                &self.app_transport,
                &self.extra,
                &self.handshake_timeout_handle,
                &self.shutdown_timeout_handle,
                &self.raw_obj,
            ] {
                drop(cell.replace(py.None()));
            }
        });
        self.fixed = OnceCell::new();
        self.raw = OnceCell::new();
    }
}

/// The protocol itself when it is a `TlsFeed` whose chunks simul's socket transport
/// hands to [`TlsFeed::feed`] (`_simul_tls_native`).
pub(crate) fn feed_of(protocol: &Bound<'_, PyAny>) -> Option<Py<TlsFeed>> {
    let feed = protocol.cast::<TlsFeed>().ok()?;
    let native = feed.try_borrow().ok()?.native.get();
    native.then(|| feed.clone().unbind())
}
