//! asyncio streams: [`open_connection`], [`start_server`], [`StreamReader`], [`StreamWriter`].
//!
//! The high-level, buffered API most asyncio network code is written with. A connection is
//! a pair of halves: a [`StreamReader`] that frames incoming bytes (`readline`, `readuntil`,
//! `readexactly`, ...) and a [`StreamWriter`] that buffers outgoing bytes (`write` never
//! blocks; `drain().await` applies back-pressure).
//!
//! # Design
//!
//! Both halves share one `Conn` (behind an `Rc`): the transport (a socket, or any
//! `futures_io::AsyncRead + AsyncWrite` object) and the writer's state. The reader's
//! buffer lives in the reader itself.
//!
//! **Reading is pulled, not pushed.** asyncio's transport reads whenever the socket is
//! readable and pushes the bytes into the reader, pausing when the buffer holds more than
//! 2 × `limit`. Here the socket is read only while a read operation is waiting for more
//! bytes than the buffer holds, so the buffer never grows past what the pending operation
//! needs plus one read's worth (one read is at most 2 × `limit`, and at most 64 KiB):
//! `readline`/`readuntil` give up with [`StreamError::LimitOverrun`] once more than `limit`
//! bytes are buffered without a separator. Only `readexactly(n)` and `read_to_end` grow it
//! to what they were asked for, exactly as in asyncio (whose `_wait_for_data` resumes a
//! paused transport). The effect is asyncio's flow control (stop reading above 2 × `limit`,
//! resume when a reader drains the buffer) with no pause/resume bookkeeping: while nobody
//! reads, nothing is read, the kernel's buffers fill and TCP's window closes on the peer.
//!
//! Because the buffer belongs to the reader and not to the operation, a cancelled read
//! (e.g. under [`wait_for`](crate::wait_for)) loses nothing: the bytes it had read stay
//! buffered for the next call. Read methods take `&self` so a reader can be shared (`Rc`)
//! the way asyncio code shares one; a second operation started while another is still in
//! progress fails with [`StreamError::ConcurrentRead`] instead of interleaving.
//!
//! **Writing is direct when it can be.** [`StreamWriter::write`] with an empty buffer
//! hands the bytes straight to the socket; only what the socket does not accept is copied
//! into the buffer. A buffer that is not empty is flushed by a small task spawned for that
//! purpose (the *flusher*), which lives only while there is something to flush: a
//! connection whose writes all go straight out never spawns one, and a connection that
//! streams more than the socket takes costs one task allocation per backlog episode, not
//! per write. `drain()` waits (with any number of other tasks) while the buffer holds more
//! than the high-water mark, until the flusher brings it down to the low-water mark. The
//! flusher also performs a deferred `write_eof()`/`close()` once the buffer is empty.
//! A byte stream that may hold accepted bytes in a buffer of its own (TLS: rustls keeps
//! the ciphertext a full socket did not take; any user stream) is flushed (`poll_flush`)
//! after every write it took, inline first and by the flusher if that would block: an
//! empty buffer alone does not mean the bytes left. simul's own sockets hold nothing, so
//! their fast path is unchanged.
//! (Measured: the echo benchmark spawns no flusher at all; a 512 MiB loopback transfer in
//! 64 KiB writes, each followed by `drain()`, spawns about one per 4 MiB. The alternative,
//! a flusher task living as long as its connection, would cost a task per connection even
//! on the fast path and would have to be told when to exit.)
//!
//! **Closing.** [`StreamWriter::close`] flushes then closes the socket; pending and later
//! reads then see EOF. Dropping the writer flushes what is buffered and then shuts down the
//! write direction only (a half-close, like `write_eof`); the socket itself is closed once
//! both halves are gone.
//!
//! ```
//! simul::run(async {
//!     let server = simul::start_server(
//!         |reader: simul::StreamReader, writer: simul::StreamWriter| async move {
//!             while let Ok(line) = reader.readline().await {
//!                 if line.is_empty() {
//!                     break; // EOF
//!                 }
//!                 writer.write(&line);
//!                 writer.drain().await?;
//!             }
//!             Ok::<_, std::io::Error>(())
//!         },
//!         "127.0.0.1",
//!         0,
//!     )
//!     .await
//!     .unwrap();
//!     let port = server.local_addrs()[0].port().unwrap();
//!     let (reader, writer) = simul::open_connection("127.0.0.1", port).await.unwrap();
//!     writer.write(b"hello\n");
//!     assert_eq!(reader.readline().await.unwrap(), b"hello\n");
//!     writer.close();
//!     writer.wait_closed().await.unwrap();
//! });
//! ```

mod builder;
pub(crate) mod conn;
mod error;
mod reader;
mod server;
pub(crate) mod transport;
mod writer;

pub use builder::ServerBuilder;
pub use error::StreamError;
pub use reader::{Separators, StreamReader};
pub use server::{
    open_connection, open_unix_connection, start_server, start_unix_server, HandlerOutput, Server,
};
pub use transport::SockAddr;
pub use writer::StreamWriter;

use futures_io::{AsyncRead, AsyncWrite};

/// Wraps any duplex byte stream (`futures_io::AsyncRead + AsyncWrite`) into a
/// [`StreamReader`] and a [`StreamWriter`] — e.g. an in-memory pipe, or a TLS stream.
///
/// Sockets from [`open_connection`] and [`start_server`] come already wrapped; this is for
/// everything else. A simul [`TcpStream`](crate::net::TcpStream) or
/// [`UnixStream`](crate::net::UnixStream) keeps its socket details: the writer's
/// [`peer_addr`](StreamWriter::peer_addr) and [`local_addr`](StreamWriter::local_addr)
/// report its addresses, as after [`open_connection`]. For any other byte stream they
/// return `Unsupported` errors.
///
/// # Examples
/// ```
/// use futures_io::{AsyncRead, AsyncWrite};
/// use std::{io, pin::Pin, task::{Context, Poll}};
///
/// /// A stream that reads from a fixed slice and swallows writes.
/// struct Canned(&'static [u8]);
/// impl AsyncRead for Canned {
///     fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
///         let n = buf.len().min(self.0.len());
///         buf[..n].copy_from_slice(&self.0[..n]);
///         self.0 = &self.0[n..];
///         Poll::Ready(Ok(n))
///     }
/// }
/// impl AsyncWrite for Canned {
///     fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, b: &[u8]) -> Poll<io::Result<usize>> { Poll::Ready(Ok(b.len())) }
///     fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> { Poll::Ready(Ok(())) }
///     fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> { Poll::Ready(Ok(())) }
/// }
///
/// simul::run(async {
///     let (reader, writer) = simul::stream::split(Canned(b"one\ntwo\n"));
///     writer.write(b"ignored");
///     assert_eq!(reader.readline().await.unwrap(), b"one\n");
///     assert_eq!(reader.readline().await.unwrap(), b"two\n");
///     assert_eq!(reader.readline().await.unwrap(), b""); // EOF
///     assert!(reader.at_eof());
/// });
/// ```
pub fn split<T>(io: T) -> (StreamReader, StreamWriter)
where
    T: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let conn = conn::Conn::new(transport::for_stream(io));
    (
        StreamReader::from_conn(conn.clone()),
        StreamWriter::from_conn(conn),
    )
}

/// A reader and a writer over one crate-made transport (TLS layers use it).
#[cfg(feature = "tls")]
pub(crate) fn halves(io: Box<dyn transport::Transport>) -> (StreamReader, StreamWriter) {
    let conn = conn::Conn::new(io);
    (
        StreamReader::from_conn(conn.clone()),
        StreamWriter::from_conn(conn),
    )
}
