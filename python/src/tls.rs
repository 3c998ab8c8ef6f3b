//! `TlsFeed`: the steady-state data path of `simul/_tls.py`'s `_FastSSLProtocol`, in Rust.
//!
//! # Design
//!
//! asyncio's `sslproto.SSLProtocol` drives an `ssl.SSLObject` over two `ssl.MemoryBIO`s;
//! `_FastSSLProtocol` is that class with its hot path shortened, and this object is the
//! shortest form of the same path: no Python frame between the socket and the user's
//! protocol.
//! - **In**: `SocketTransport` sees the protocol's `_simul_tls_feed` and hands each chunk
//!   it receives to [`TlsFeed::feed`] instead of `get_buffer`/`buffer_updated`. The chunk
//!   goes into the incoming BIO; in the `WRAPPED` state, with application reading on and
//!   a copying (non-buffered) application protocol, the records are decrypted here
//!   (`_ssl._SSLSocket.read` until the BIO and the decrypted bytes are both empty, or the
//!   `SSLWantReadError` of a partial record) and handed to `data_received` in one call;
//!   the peer's close_notify calls the protocol's `_call_eof_received` and
//!   `_start_shutdown`. Any other state goes to the protocol's `_after_incoming` (which
//!   is `sslproto`'s `buffer_updated` after its BIO write).
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
//! The state of the connection (`_state`, the queues, the flags and marks) stays in the
//! Python object, read on each call, so `sslproto`'s own code and this path can take
//! turns on the same connection.

use std::cell::OnceCell;

use pyo3::exceptions::{PyException, PyTypeError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyList, PyMemoryView, PyString};
use pyo3::{PyTraverseError, PyVisit};

/// The fast path of one `_FastSSLProtocol` (see the module doc).
///
/// ```python
/// feed = _simul.TlsFeed(protocol, sslproto.SSLProtocolState.WRAPPED, sslproto.SSLAgainErrors)
/// ```
#[pyclass(unsendable, module = "simul._simul")]
pub struct TlsFeed {
    proto: Option<Py<PyAny>>,
    wrapped: Py<PyAny>,
    again: Py<PyAny>,
    /// What never changes once the protocol is made, fetched on first use.
    fixed: OnceCell<Fixed>,
    /// The `_ssl` object's methods once the handshake is done.
    raw: OnceCell<Raw>,
}

/// The protocol's instance `__dict__`, its two BIOs (with the one bound method of each
/// this path calls) and `max_size`.
///
/// The connection's state is read from the `__dict__` (one dict lookup) instead of by
/// `getattr` (a lookup along the class's MRO first, then the dict): the names read are
/// plain instance attributes that no class of the protocol's MRO makes a data
/// descriptor, and a name not in the dict falls back to `getattr`, so the value is the
/// same. Fetching `__dict__` makes CPython keep the instance's attributes in that dict
/// from then on (where Python code reads and writes them as before).
struct Fixed {
    dict: Py<PyDict>,
    incoming: Py<PyAny>,
    incoming_write: Py<PyAny>,
    outgoing: Py<PyAny>,
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

/// `p.<name>`: from the instance dict when the name is there, else by `getattr` (see
/// [`Fixed`]).
fn attr<'py>(
    p: &Bound<'py, PyAny>,
    dict: &Bound<'py, PyDict>,
    name: &Bound<'py, PyString>,
) -> PyResult<Bound<'py, PyAny>> {
    match dict.get_item(name)? {
        Some(value) => Ok(value),
        None => p.getattr(name),
    }
}

/// `bool(p.<name>)`.
fn flag(
    p: &Bound<'_, PyAny>,
    dict: &Bound<'_, PyDict>,
    name: &Bound<'_, PyString>,
) -> PyResult<bool> {
    attr(p, dict, name)?.is_truthy()
}

/// Whether `size` has crossed the water mark a control call is due at: `size <= low`
/// while `paused`, `size >= high` otherwise (`sslproto`'s tests before
/// `_control_ssl_reading` and `_control_app_writing`).
fn mark_crossed(
    p: &Bound<'_, PyAny>,
    dict: &Bound<'_, PyDict>,
    size: &Bound<'_, PyAny>,
    paused: &Bound<'_, PyString>,
    low: &Bound<'_, PyString>,
    high: &Bound<'_, PyString>,
) -> PyResult<bool> {
    if flag(p, dict, paused)? {
        size.le(attr(p, dict, low)?)
    } else {
        size.ge(attr(p, dict, high)?)
    }
}

impl TlsFeed {
    fn proto<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyAny>> {
        self.proto.as_ref().map(|p| p.bind(py).clone())
    }

    fn fixed(&self, p: &Bound<'_, PyAny>) -> PyResult<&Fixed> {
        if let Some(f) = self.fixed.get() {
            return Ok(f);
        }
        let py = p.py();
        let incoming = p.getattr(intern!(py, "_incoming"))?;
        let outgoing = p.getattr(intern!(py, "_outgoing"))?;
        let f = Fixed {
            dict: p
                .getattr(intern!(py, "__dict__"))?
                .cast_into::<PyDict>()?
                .unbind(),
            incoming_write: incoming.getattr(intern!(py, "write"))?.unbind(),
            incoming: incoming.unbind(),
            outgoing_read: outgoing.getattr(intern!(py, "read"))?.unbind(),
            outgoing: outgoing.unbind(),
            max_size: p.getattr(intern!(py, "max_size"))?.unbind(),
        };
        Ok(self.fixed.get_or_init(|| f))
    }

    /// The `_ssl` object's methods when the fast path applies: handshake done, `WRAPPED`.
    fn raw(&self, p: &Bound<'_, PyAny>, fixed: &Fixed) -> PyResult<Option<&Raw>> {
        let py = p.py();
        let dict = fixed.dict.bind(py);
        let raw = match self.raw.get() {
            Some(raw) => raw,
            None => {
                let raw = attr(p, dict, intern!(py, "_raw"))?;
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
        if !attr(p, dict, intern!(py, "_state"))?.is(self.wrapped.bind(py)) {
            return Ok(None);
        }
        Ok(Some(raw))
    }

    /// A chunk from the socket (see the module doc, "In").
    pub(crate) fn feed(&self, py: Python<'_>, data: Bound<'_, PyBytes>) -> PyResult<()> {
        let Some(p) = self.proto(py) else {
            return Ok(());
        };
        let fixed = self.fixed(&p)?;
        let dict = fixed.dict.bind(py);
        fixed.incoming_write.bind(py).call1((data,))?;
        let raw = match self.raw(&p, fixed)? {
            Some(raw)
                if !flag(&p, dict, intern!(py, "_app_reading_paused"))?
                    && !flag(&p, dict, intern!(py, "_app_protocol_is_buffer"))? =>
            {
                raw
            }
            _ => {
                p.call_method0(intern!(py, "_after_incoming"))?;
                return Ok(());
            }
        };
        let res = self.read_records(&p, fixed, raw);
        self.fatal_on_exception(&p, res)
    }

    fn read_records(&self, p: &Bound<'_, PyAny>, fixed: &Fixed, raw: &Raw) -> PyResult<()> {
        let py = p.py();
        let dict = fixed.dict.bind(py);
        let incoming = fixed.incoming.bind(py);
        let max_size = fixed.max_size.bind(py);
        let read = raw.read.bind(py);
        let mut chunks: Vec<Bound<'_, PyAny>> = Vec::new();
        let mut close_notify = false;
        loop {
            let chunk = match read.call1((max_size,)) {
                Ok(c) => c,
                Err(e) if e.is_instance(py, self.again.bind(py)) => break,
                Err(e) => return Err(e),
            };
            if !chunk.is_truthy()? {
                close_notify = true;
                break;
            }
            chunks.push(chunk);
            if !incoming.getattr(intern!(py, "pending"))?.is_truthy()?
                && !raw.pending.bind(py).call0()?.is_truthy()?
            {
                break;
            }
        }
        if !chunks.is_empty() {
            let data = if chunks.len() == 1 {
                chunks.pop().expect("one chunk")
            } else {
                PyBytes::new(py, b"")
                    .call_method1(intern!(py, "join"), (PyList::new(py, chunks)?,))?
            };
            attr(p, dict, intern!(py, "_app_protocol"))?
                .call_method1(intern!(py, "data_received"), (data,))?;
        }
        if close_notify {
            p.call_method0(intern!(py, "_call_eof_received"))?;
            p.call_method0(intern!(py, "_start_shutdown"))?;
        }
        if flag(p, dict, intern!(py, "_write_backlog"))? {
            p.call_method0(intern!(py, "_do_write"))?;
        } else {
            self.send_outgoing(p, fixed)?;
        }
        let size = incoming.getattr(intern!(py, "pending"))?;
        if mark_crossed(
            p,
            dict,
            &size,
            intern!(py, "_ssl_reading_paused"),
            intern!(py, "_incoming_low_water"),
            intern!(py, "_incoming_high_water"),
        )? {
            p.call_method0(intern!(py, "_control_ssl_reading"))?;
        }
        Ok(())
    }

    /// `sslproto`'s `_process_outgoing`, with `_control_app_writing` only when a mark is
    /// crossed.
    fn send_outgoing(&self, p: &Bound<'_, PyAny>, fixed: &Fixed) -> PyResult<()> {
        let py = p.py();
        let dict = fixed.dict.bind(py);
        let outgoing = fixed.outgoing.bind(py);
        if !flag(p, dict, intern!(py, "_ssl_writing_paused"))?
            && outgoing.getattr(intern!(py, "pending"))?.is_truthy()?
        {
            let data = fixed.outgoing_read.bind(py).call0()?;
            attr(p, dict, intern!(py, "_transport"))?
                .call_method1(intern!(py, "write"), (data,))?;
        }
        let size = outgoing.getattr(intern!(py, "pending"))?.add(attr(
            p,
            dict,
            intern!(py, "_write_buffer_size"),
        )?)?;
        if mark_crossed(
            p,
            dict,
            &size,
            intern!(py, "_app_writing_paused"),
            intern!(py, "_outgoing_low_water"),
            intern!(py, "_outgoing_high_water"),
        )? {
            p.call_method0(intern!(py, "_control_app_writing"))?;
        }
        Ok(())
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

#[pymethods]
impl TlsFeed {
    /// The fast path for `protocol` (a `_FastSSLProtocol`); `wrapped` is
    /// `sslproto.SSLProtocolState.WRAPPED`, `again` is `sslproto.SSLAgainErrors`.
    #[new]
    fn new(protocol: Py<PyAny>, wrapped: Py<PyAny>, again: Py<PyAny>) -> Self {
        TlsFeed {
            proto: Some(protocol),
            wrapped,
            again,
            fixed: OnceCell::new(),
            raw: OnceCell::new(),
        }
    }

    /// The application transport's `write(data)` (see the module doc, "Out").
    fn write(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
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
        let Some(p) = self.proto(py) else {
            return Ok(());
        };
        let fixed = self.fixed(&p)?;
        let dict = fixed.dict.bind(py);
        let raw = match self.raw(&p, fixed)? {
            Some(raw) if !flag(&p, dict, intern!(py, "_write_backlog"))? => raw,
            _ => {
                p.call_method1(intern!(py, "_write_one"), (data,))?;
                return Ok(());
            }
        };
        let count = match raw.write.bind(py).call1((data,)) {
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
        let res = self.send_outgoing(&p, fixed);
        self.fatal_on_exception(&p, res)
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.proto)?;
        visit.call(&self.wrapped)?;
        visit.call(&self.again)?;
        if let Some(f) = self.fixed.get() {
            visit.call(&f.dict)?;
            visit.call(&f.incoming)?;
            visit.call(&f.incoming_write)?;
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
        self.proto = None;
        self.fixed = OnceCell::new();
        self.raw = OnceCell::new();
    }
}

/// The `TlsFeed` of a protocol that has one (`protocol._simul_tls_feed`).
pub(crate) fn feed_of(protocol: &Bound<'_, PyAny>) -> Option<Py<TlsFeed>> {
    let feed = protocol
        .getattr(intern!(protocol.py(), "_simul_tls_feed"))
        .ok()?;
    feed.cast_into::<TlsFeed>().ok().map(Bound::unbind)
}
