//! [`StreamWriter`]: buffered writes with asyncio's water-mark back-pressure.
//!
//! See the module docs of [`stream`](super) for the fast path and the flusher task, and
//! `conn.rs` for the write state machine.

use std::future::poll_fn;
use std::io;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures_io::AsyncWrite;

use super::conn::{self, register, Conn};
use super::error::StoredError;
use super::transport::{FuturesIo, SockAddr, WriteOnly};

/// The writing half of a stream (asyncio's `StreamWriter`).
///
/// [`write`](Self::write) never blocks: bytes the socket does not take at once are
/// buffered and sent by a background flusher. Call [`drain`](Self::drain) after writing to
/// wait while the buffer is above its high-water mark — the back-pressure that keeps a
/// writer's memory bounded when the peer reads slowly. Errors (a reset peer) surface in
/// `drain`, `wait_closed` and [`is_closing`](Self::is_closing).
///
/// Dropping the writer flushes what is buffered, then shuts the write direction down;
/// [`close`](Self::close) also closes the socket.
///
/// # Examples
/// ```
/// simul::run(async {
///     let writer = simul::StreamWriter::new(Vec::<u8>::new());
///     writer.write(b"hello ");
///     writer.writelines([&b"wor"[..], b"ld\n"]);
///     writer.drain().await.unwrap();
///     assert_eq!(writer.write_buffer_size(), 0);
///     writer.close();
///     writer.wait_closed().await.unwrap();
/// });
/// ```
pub struct StreamWriter {
    conn: Rc<Conn>,
    /// Handed over to a layer above (TLS): dropping sends no EOF.
    detached: std::cell::Cell<bool>,
}

impl std::fmt::Debug for StreamWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.conn.wr.borrow();
        f.debug_struct("StreamWriter")
            .field("buffered", &st.pending())
            .field("closing", &(st.closing || st.is_done()))
            .finish()
    }
}

impl StreamWriter {
    /// A writer over any `futures_io::AsyncWrite` (a pipe, a file, a `Vec<u8>`, ...).
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let w = simul::StreamWriter::new(Vec::<u8>::new());
    ///     w.write(b"x");
    ///     w.drain().await.unwrap();
    /// });
    /// ```
    pub fn new<W: AsyncWrite + Unpin + 'static>(io: W) -> StreamWriter {
        StreamWriter::from_conn(Conn::new(Box::new(FuturesIo::new(WriteOnly(io)))))
    }

    pub(crate) fn from_conn(conn: Rc<Conn>) -> StreamWriter {
        StreamWriter {
            conn,
            detached: std::cell::Cell::new(false),
        }
    }

    /// Hands the connection to a layer that will run over it (`start_tls`): the writer goes
    /// away without flushing or half-closing. The caller has emptied the buffer first.
    #[cfg(feature = "tls")]
    pub(crate) fn detach(self) -> Rc<Conn> {
        self.detached.set(true);
        self.conn.clone()
    }

    /// Queues `data` for sending; never blocks.
    ///
    /// When nothing is buffered, the bytes go straight to the socket and only what it
    /// does not accept is copied into the buffer. Writing after [`close`](Self::close) or
    /// [`write_eof`](Self::write_eof), or after the connection failed, discards `data`;
    /// the next [`drain`](Self::drain) reports it.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let w = simul::StreamWriter::new(Vec::<u8>::new());
    ///     w.write(b"abc");
    ///     w.drain().await.unwrap();
    /// });
    /// ```
    pub fn write(&self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let mut st = self.conn.wr.borrow_mut();
        if st.error.is_some() {
            return; // the connection failed: drain() reports it
        }
        if st.closed || st.closing || st.eof_requested {
            st.misuse = true;
            return;
        }
        let mut rest = data;
        if st.pending() == 0 && !st.flushing {
            // Fast path: straight to the socket, no copy, no task.
            loop {
                match self.conn.io.write_now(rest) {
                    Poll::Ready(Ok(n)) if n == rest.len() => {
                        if self.conn.buffers_writes {
                            // The transport may hold some of it (TLS ciphertext a full
                            // socket did not take): flush now, else in a flusher.
                            st.unflushed = true;
                            drop(st);
                            self.conn.kick();
                        }
                        return;
                    }
                    Poll::Ready(Ok(0)) | Poll::Pending => break,
                    Poll::Ready(Ok(n)) => rest = &rest[n..],
                    Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                    Poll::Ready(Err(e)) => {
                        st.error = Some(StoredError::new(&e));
                        conn::wake_all(&mut st.close_waiters);
                        return;
                    }
                }
            }
        }
        st.unflushed |= self.conn.buffers_writes;
        st.append(rest);
        drop(st);
        self.conn.spawn_flusher();
    }

    /// Queues every buffer of `data`, in order (asyncio's `writelines`).
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let w = simul::StreamWriter::new(Vec::<u8>::new());
    ///     w.writelines(["a\n", "b\n"].map(str::as_bytes));
    ///     w.drain().await.unwrap();
    /// });
    /// ```
    pub fn writelines<I>(&self, data: I)
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        for d in data {
            self.write(d.as_ref());
        }
    }

    /// Waits until the write buffer is small enough to write more.
    ///
    /// Returns at once while the buffer has not grown above the high-water mark; once it
    /// has, waits until the flusher brings it down to the low-water mark. Any number of
    /// tasks may wait together. Returns the error at once if the connection failed (e.g.
    /// the peer reset it), if a write was discarded because the writer was closing, or if
    /// the writer is closed.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let w = simul::StreamWriter::new(Vec::<u8>::new());
    ///     w.write(&[0; 100_000]);
    ///     w.drain().await.unwrap();
    ///     assert!(w.write_buffer_size() <= 16 * 1024);
    /// });
    /// ```
    pub async fn drain(&self) -> io::Result<()> {
        poll_fn(|cx| self.poll_drain(cx)).await
    }

    fn poll_drain(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut st = self.conn.wr.borrow_mut();
        if let Some(e) = &st.error {
            return Poll::Ready(Err(e.to_io()));
        }
        if st.misuse {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "data written after close() or write_eof() was discarded",
            )));
        }
        if st.closed {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "the stream is closed",
            )));
        }
        if !st.paused {
            return Poll::Ready(Ok(()));
        }
        register(&mut st.drain_waiters, cx);
        Poll::Pending
    }

    /// The buffer's high- and low-water marks, in bytes (64 KiB and 16 KiB by default).
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let w = simul::StreamWriter::new(Vec::<u8>::new());
    ///     assert_eq!(w.write_buffer_limits(), (64 * 1024, 16 * 1024));
    /// });
    /// ```
    #[doc(alias = "get_write_buffer_limits")]
    pub fn write_buffer_limits(&self) -> (usize, usize) {
        let st = self.conn.wr.borrow();
        (st.high, st.low)
    }

    /// Sets the high- and low-water marks (asyncio's `transport.set_write_buffer_limits`).
    /// `drain` waits once the buffer exceeds `high`, until it is down to `low`.
    ///
    /// # Errors
    /// `InvalidInput` when `low > high`.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let w = simul::StreamWriter::new(Vec::<u8>::new());
    ///     w.set_write_buffer_limits(1024, 256).unwrap();
    ///     assert!(w.set_write_buffer_limits(1, 2).is_err());
    ///     assert_eq!(w.write_buffer_limits(), (1024, 256));
    /// });
    /// ```
    pub fn set_write_buffer_limits(&self, high: usize, low: usize) -> io::Result<()> {
        if low > high {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("write buffer limits: low ({low}) must not exceed high ({high})"),
            ));
        }
        let mut st = self.conn.wr.borrow_mut();
        st.high = high;
        st.low = low;
        st.update_pause();
        Ok(())
    }

    /// Bytes buffered and not yet accepted by the socket (asyncio's
    /// `transport.get_write_buffer_size()`).
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     assert_eq!(simul::StreamWriter::new(Vec::<u8>::new()).write_buffer_size(), 0);
    /// });
    /// ```
    #[doc(alias = "get_write_buffer_size")]
    pub fn write_buffer_size(&self) -> usize {
        self.conn.wr.borrow().pending()
    }

    /// Shuts the write direction down once the buffer is flushed (TCP sends FIN); the
    /// peer's reads then see EOF while this side can still read.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let w = simul::StreamWriter::new(Vec::<u8>::new());
    ///     w.write(b"last");
    ///     w.write_eof();
    ///     w.drain().await.unwrap();
    /// });
    /// ```
    pub fn write_eof(&self) {
        let mut st = self.conn.wr.borrow_mut();
        if st.eof_requested || st.closing || st.is_done() {
            return;
        }
        st.eof_requested = true;
        drop(st);
        self.conn.kick();
    }

    /// Flushes the buffer in the background, then closes the socket. Reads in progress on
    /// the reader see EOF. See [`wait_closed`](Self::wait_closed).
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let w = simul::StreamWriter::new(Vec::<u8>::new());
    ///     w.close();
    ///     assert!(w.is_closing());
    ///     w.wait_closed().await.unwrap();
    /// });
    /// ```
    pub fn close(&self) {
        self.conn.close();
    }

    /// Closes the socket now, discarding the buffer (asyncio's `transport.abort()`).
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let w = simul::StreamWriter::new(Vec::<u8>::new());
    ///     w.abort();
    ///     w.wait_closed().await.unwrap();
    /// });
    /// ```
    pub fn abort(&self) {
        self.conn.abort();
    }

    /// `true` once [`close`](Self::close) was called, or the connection was closed or
    /// failed.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let w = simul::StreamWriter::new(Vec::<u8>::new());
    ///     assert!(!w.is_closing());
    ///     w.close();
    ///     assert!(w.is_closing());
    /// });
    /// ```
    pub fn is_closing(&self) -> bool {
        let st = self.conn.wr.borrow();
        st.closing || st.is_done() || self.conn.io_closed.get()
    }

    /// Waits until the socket is closed: after [`close`](Self::close) has flushed the
    /// buffer, or after [`abort`](Self::abort). Returns the error that ended the connection
    /// if it failed instead (e.g. the peer reset it before the buffer was sent).
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let w = simul::StreamWriter::new(Vec::<u8>::new());
    ///     w.write(b"bye");
    ///     w.close();
    ///     w.wait_closed().await.unwrap();
    /// });
    /// ```
    pub async fn wait_closed(&self) -> io::Result<()> {
        poll_fn(|cx| {
            let mut st = self.conn.wr.borrow_mut();
            if let Some(e) = &st.error {
                return Poll::Ready(Err(e.to_io()));
            }
            if st.closed {
                return Poll::Ready(Ok(()));
            }
            register(&mut st.close_waiters, cx);
            Poll::Pending
        })
        .await
    }

    /// The address of the peer (asyncio's `get_extra_info("peername")`).
    ///
    /// # Errors
    /// `Unsupported` for a writer over a byte stream that is not a socket; `BrokenPipe`
    /// once the socket is closed.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let w = simul::StreamWriter::new(Vec::<u8>::new());
    ///     assert_eq!(w.peer_addr().unwrap_err().kind(), std::io::ErrorKind::Unsupported);
    /// });
    /// ```
    #[doc(alias = "get_extra_info")]
    #[doc(alias = "peername")]
    pub fn peer_addr(&self) -> io::Result<SockAddr> {
        self.conn.io.peer_addr()
    }

    /// The address of this end (asyncio's `get_extra_info("sockname")`).
    ///
    /// # Errors
    /// As for [`peer_addr`](Self::peer_addr).
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let w = simul::StreamWriter::new(Vec::<u8>::new());
    ///     assert!(w.local_addr().is_err());
    /// });
    /// ```
    #[doc(alias = "sockname")]
    pub fn local_addr(&self) -> io::Result<SockAddr> {
        self.conn.io.local_addr()
    }
}

impl Drop for StreamWriter {
    fn drop(&mut self) {
        if self.detached.get() {
            return;
        }
        if !self.is_closing() {
            // asyncio's "ResourceWarning: unclosed transport" (reported in debug mode).
            crate::debug::resource_warning("StreamWriter (call close() and wait_closed())");
        }
        // Flush what is buffered, then half-close; the socket closes with the last half.
        self.write_eof();
    }
}
