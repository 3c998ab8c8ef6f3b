//! The `simul._simul` extension module: simul's event loop as an asyncio event loop.
//!
//! | file | job |
//! |---|---|
//! | `core.rs` | `LoopCore`: call_soon/call_at/time/stop/run on simul's loop core, the GIL released while parked |
//! | `handle.rs` | `Handle`, `TimerHandle`, and running a Python callback as asyncio does |
//! | `fdwatch.rs` | `add_reader`/`add_writer`: level-triggered callbacks on the edge-triggered selector; the connect watch's spare registration handed to the transport |
//! | `transport.rs` | `SocketTransport`: TCP and Unix stream transports, flow control, `BufferedProtocol`; `CoreMethod`, the descriptor of its seldom-called methods on the Python transport |
//! | `datagram.rs` | `DatagramTransport`: UDP and Unix datagram transports, queued sends, `error_received` |
//! | `pipe.rs` | `PipeTransport`: read and write pipe transports (`connect_*_pipe`, child pipes) |
//! | `tcore.rs` | `TransportCore`: what the three transports share (protocol, extra, flow control, the write side's flush loop (`poll_write_side`), reporting, `connection_lost` scheduling, the `contextvars` context the protocol callbacks run in) |
//! | `tls.rs` | `TlsFeed`: the base class of `_tls.py`'s `_FastSSLProtocol`: its steady-state TLS data path (records in, records out) and hot state |
//! | `glue.rs` | the Python helpers of `simul/_glue.py` the Rust side calls on cold paths |
//! | `sys.rs` | the unsafe code: GIL release, the raw system calls (`accept4`, a TCP transport's `getsockname`/`getpeername`/`TCP_NODELAY` included), calls by vectorcall (no argument tuple, no bound method), a `MemoryBIO`'s `pending` by its getset slot, `call_soon` as a raw fastcall method and `get_debug`/`create_future` as raw no-argument methods, the socket transport's `write`/`is_closing` as raw methods, a callback run inside `PyContext_Enter`/`Exit`, and `SoonEntry` (a `Handle` queued as a thin engine entry, no Rust allocation) |
//!
//! The Python package (`simul/`) builds `simul.EventLoop` from `LoopCore` and asyncio's
//! `BaseEventLoop`; see `core.rs` for the design.

mod core;
mod datagram;
mod fdwatch;
mod glue;
mod handle;
mod pipe;
mod sys;
mod tcore;
mod tls;
mod transport;

use pyo3::prelude::*;

/// simul's event loop core for asyncio (see the crate doc).
#[pymodule]
fn _simul(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<core::LoopCore>()?;
    sys::install_loop_methods(&m.py().get_type::<core::LoopCore>())?;
    m.add_class::<core::Engine>()?;
    m.add_class::<handle::Handle>()?;
    sys::install_soon_type(m.py())?;
    m.add_class::<handle::TimerHandle>()?;
    m.add_class::<transport::SocketTransport>()?;
    m.add_class::<transport::CoreMethod>()?;
    sys::install_transport_methods(&m.py().get_type::<transport::SocketTransport>())?;
    m.add_class::<pipe::PipeTransport>()?;
    m.add_class::<datagram::DatagramTransport>()?;
    m.add_class::<tls::TlsFeed>()?;
    Ok(())
}
