//! [`ReadAhead`]: the byte stream under a TLS session, read from in large pieces.
//!
//! rustls asks its transport for no more than the rest of one record per read (at most
//! 16 KiB), so a bulk transfer costs one `recv` per record. Under the session sits this
//! adapter: a read that would fill rustls' request entirely is also offered a spare
//! buffer of [`AHEAD`] bytes in the same vectored read, and later requests are served from
//! that spare buffer by a copy, with no system call, until it is empty.
//!
//! # Invariants
//! - Bytes are handed out in the order the stream delivered them, each exactly once: the
//!   spare buffer is drained before the stream is read again.
//! - The stream is read only when the spare buffer is empty, so its end of stream, its
//!   errors and its `Pending` (with the waker registered) reach rustls exactly as they
//!   would without the adapter, and no readiness is ever hidden in the buffer.
//! - Writes, flushes and closes go straight to the stream.
//! - The spare buffer is made only once a read fills rustls' whole request (the stream
//!   may hold more): a handshake's flights and small messages seldom fill one, so a
//!   connection that never sees a full record holds none. Once made it stays with the
//!   connection (giving it back whenever the stream would block cost about a fifth more
//!   CPU per byte in `tls_bench`'s bulk row, though no more system calls) and goes to a
//!   small per-thread pool when the stream is dropped, for the next connection.
//! - A stream without a real vectored read (its `poll_read_vectored` fills only the
//!   first buffer) gets no read-ahead, and loses nothing.

use std::cell::RefCell;
use std::io::{self, IoSlice, IoSliceMut};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};

/// The size of the spare buffer.
pub(crate) const AHEAD: usize = 64 * 1024;

/// A duplex stream whose reads take up to [`AHEAD`] bytes more than asked for.
pub(crate) struct ReadAhead<IO> {
    io: IO,
    /// The spare buffer (empty: none); `buf[pos..end]` is read but not yet handed out.
    buf: Box<[u8]>,
    pos: usize,
    end: usize,
}

impl<IO> ReadAhead<IO> {
    pub(crate) fn new(io: IO) -> Self {
        ReadAhead {
            io,
            buf: Box::default(),
            pos: 0,
            end: 0,
        }
    }

    pub(crate) fn get_ref(&self) -> &IO {
        &self.io
    }

    /// How many bytes are read from the stream and not yet handed out.
    #[cfg(test)]
    pub(crate) fn buffered(&self) -> usize {
        self.end - self.pos
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for ReadAhead<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        dst: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.pos < this.end {
            let n = dst.len().min(this.end - this.pos);
            dst[..n].copy_from_slice(&this.buf[this.pos..this.pos + n]);
            this.pos += n;
            return Poll::Ready(Ok(n));
        }
        if dst.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if this.buf.is_empty() {
            let r = Pin::new(&mut this.io).poll_read(cx, dst);
            if matches!(r, Poll::Ready(Ok(n)) if n == dst.len()) {
                // The stream may hold more: read ahead from now on.
                this.buf = take_spare();
            }
            return r;
        }
        let want = dst.len();
        let mut bufs = [IoSliceMut::new(dst), IoSliceMut::new(&mut this.buf)];
        let r = Pin::new(&mut this.io).poll_read_vectored(cx, &mut bufs);
        match r {
            Poll::Ready(Ok(n)) if n > want => {
                this.pos = 0;
                this.end = n - want;
                Poll::Ready(Ok(want))
            }
            // A full request and nothing beyond: the stream may hold more.
            Poll::Ready(Ok(n)) if n == want => r,
            // Drained (a short read, `Pending`), ended or failed: an idle connection holds
            // no spare buffer.
            r => r,
        }
    }
}

impl<IO> Drop for ReadAhead<IO> {
    fn drop(&mut self) {
        give_back(std::mem::take(&mut self.buf));
    }
}

/// How many spare buffers of dropped streams a thread keeps for its next connections.
const POOL: usize = 4;

thread_local! {
    static SPARE: RefCell<Vec<Box<[u8]>>> = const { RefCell::new(Vec::new()) };
}

/// A spare buffer of [`AHEAD`] bytes, from the thread's pool if it has one.
fn take_spare() -> Box<[u8]> {
    SPARE
        .try_with(|p| p.borrow_mut().pop())
        .ok()
        .flatten()
        .unwrap_or_else(|| vec![0; AHEAD].into_boxed_slice())
}

/// Returns a spare buffer (none if `buf` is empty) to the thread's pool, or frees it when
/// the pool is full.
fn give_back(buf: Box<[u8]>) {
    if buf.is_empty() {
        return;
    }
    let _ = SPARE.try_with(|p| {
        let mut p = p.borrow_mut();
        if p.len() < POOL {
            p.push(buf);
        }
    });
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for ReadAhead<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// What a scripted stream's next read gives: bytes (as many as fit, the rest stays
    /// for the next read), `Pending`, an error, or the end of stream.
    enum Step {
        Data(Vec<u8>),
        Pending,
        Fail,
        End,
    }

    /// A stream that plays `steps` in order; `vectored`: its `poll_read_vectored` fills
    /// every buffer (else the default, the first non-empty one only).
    struct Script {
        steps: VecDeque<Step>,
        vectored: bool,
        reads: usize,
    }

    impl Script {
        fn read_into(&mut self, bufs: &mut [IoSliceMut<'_>]) -> Poll<io::Result<usize>> {
            self.reads += 1;
            match self.steps.front_mut() {
                Some(Step::Data(d)) => {
                    let mut n = 0;
                    for b in bufs.iter_mut() {
                        let k = b.len().min(d.len() - n);
                        b[..k].copy_from_slice(&d[n..n + k]);
                        n += k;
                    }
                    d.drain(..n);
                    if d.is_empty() {
                        self.steps.pop_front();
                    }
                    Poll::Ready(Ok(n))
                }
                Some(Step::Pending) => {
                    self.steps.pop_front();
                    Poll::Pending
                }
                Some(Step::Fail) => {
                    self.steps.pop_front();
                    Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()))
                }
                Some(Step::End) | None => Poll::Ready(Ok(0)),
            }
        }
    }

    impl AsyncRead for Script {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            self.read_into(&mut [IoSliceMut::new(buf)])
        }
        fn poll_read_vectored(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            bufs: &mut [IoSliceMut<'_>],
        ) -> Poll<io::Result<usize>> {
            if self.vectored {
                self.read_into(bufs)
            } else {
                let first = bufs.iter_mut().find(|b| !b.is_empty());
                match first {
                    Some(b) => self.poll_read(cx, b),
                    None => Poll::Ready(Ok(0)),
                }
            }
        }
    }

    fn pattern(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    /// Reads `size` bytes at a time until something other than data comes back.
    fn drain(
        ra: &mut ReadAhead<Script>,
        size: usize,
        got: &mut Vec<u8>,
    ) -> Poll<io::Result<usize>> {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let mut buf = vec![0; size];
        loop {
            match Pin::new(&mut *ra).poll_read(&mut cx, &mut buf) {
                Poll::Ready(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
                other => return other,
            }
        }
    }

    fn script(steps: Vec<Step>, vectored: bool) -> ReadAhead<Script> {
        ReadAhead::new(Script {
            steps: steps.into(),
            vectored,
            reads: 0,
        })
    }

    #[test]
    fn bytes_read_ahead_come_out_in_order_before_the_end_of_stream() {
        let data = pattern(300_000);
        let mut ra = script(vec![Step::Data(data.clone()), Step::End], true);
        let mut got = Vec::new();
        assert!(matches!(drain(&mut ra, 4096, &mut got), Poll::Ready(Ok(0))));
        assert!(got == data, "the bytes came out altered or out of order");
        // 4096 bytes direct, then 4096 + AHEAD per read of the stream, then the end (74
        // reads without the read-ahead).
        assert!(ra.io.reads <= 3 + 300_000 / AHEAD, "{} reads", ra.io.reads);
    }

    #[test]
    fn pending_and_errors_reach_the_reader_only_after_the_bytes_before_them() {
        let data = pattern(100_000);
        let (a, b) = data.split_at(70_000);
        let steps = vec![
            Step::Data(a.to_vec()),
            Step::Pending,
            Step::Data(b.to_vec()),
            Step::Fail,
        ];
        let mut ra = script(steps, true);
        let mut got = Vec::new();
        assert!(drain(&mut ra, 4096, &mut got).is_pending());
        assert_eq!(
            got.len(),
            70_000,
            "Pending came before the bytes read ahead"
        );
        assert_eq!(ra.buffered(), 0);
        let r = drain(&mut ra, 4096, &mut got);
        assert!(matches!(r, Poll::Ready(Err(ref e)) if e.kind() == io::ErrorKind::ConnectionReset));
        assert!(got == data, "bytes lost or altered around Pending");
    }

    #[test]
    fn small_messages_never_make_a_spare_buffer() {
        let steps = (0..50)
            .flat_map(|i| [Step::Data(vec![i; 300]), Step::Pending])
            .collect();
        let mut ra = script(steps, true);
        let mut got = Vec::new();
        for _ in 0..50 {
            assert!(drain(&mut ra, 4096, &mut got).is_pending());
            assert!(ra.buf.is_empty(), "a spare buffer for a 300-byte message");
        }
        assert_eq!(got.len(), 50 * 300);
    }

    #[test]
    fn a_stream_without_vectored_reads_loses_nothing() {
        let data = pattern(200_000);
        let mut ra = script(vec![Step::Data(data.clone()), Step::End], false);
        let mut got = Vec::new();
        assert!(matches!(
            drain(&mut ra, 16_406, &mut got),
            Poll::Ready(Ok(0))
        ));
        assert!(got == data);
    }
}
