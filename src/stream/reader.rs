//! [`StreamReader`]: a buffer in front of a byte stream, and asyncio's framing on top.
//!
//! # Buffer
//!
//! `buf[start..end]` holds bytes read from the socket and not yet returned; `buf` is
//! fully initialised and reused (its length is its capacity in use), so a read goes
//! straight into `buf[end..]` with no zeroing or copying. The buffer starts empty and is
//! 8 KiB after the first read. It doubles when it is full and the operation in progress
//! needs more, and also when a read filled all the room it had (the sender is fast: larger
//! reads mean fewer syscalls), up to 2 × limit (at most 256 KiB, asyncio's largest read).
//! A buffer that an operation grew beyond that is released once it is drained.
//!
//! # Operations
//!
//! Each operation first claims the reader (`reading`), then loops: *try to answer from the
//! buffer; if it cannot, read once from the socket* (`fill`). The claim is released when
//! the operation finishes or its future is dropped. Everything an operation has read stays
//! in the buffer until the operation returns, so cancelling one loses nothing.
//!
//! `read_to_end` is the exception to the buffer's growth rule: it reads straight into the
//! vector it returns (the buffered bytes moved to its front), at most 256 KiB per read and
//! one unit of the cooperative budget per read, doubling the vector's capacity as it fills,
//! without zero-filling it (socket streams read into the spare capacity). If it stops
//! before EOF, the bytes go back into the buffer.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::io;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures_io::AsyncRead;

use super::conn::Conn;
use super::error::{StoredError, StreamError};
use super::transport::{FuturesIo, ReadOnly};

/// Default limit of a reader's buffer (asyncio's `_DEFAULT_LIMIT`, 64 KiB).
pub(crate) const DEFAULT_LIMIT: usize = 64 * 1024;
const FIRST_CHUNK: usize = 8 * 1024;
/// The most a buffer grows to on its own (for a fast sender); operations that need more
/// (`readexactly(n)`, `read_to_end`) grow it further, and it is released once they drain it.
const MAX_CHUNK: usize = 64 * 1024;

/// One separator or several, for [`StreamReader::readuntil`].
///
/// Implemented for a single separator (`&[u8]`, `&[u8; N]`, `&str`, `Vec<u8>`, `&Vec<u8>`)
/// and for lists of them (`[&[u8]; N]`, `&[&[u8]]`, `[&str; N]`, `&[&str]`, `Vec<Vec<u8>>`,
/// `&[Vec<u8>]`).
///
/// # Examples
/// ```
/// use simul::Separators;
/// assert_eq!(b"\r\n".count(), 1);
/// assert_eq!(["\r\n", "\n"].count(), 2);
/// assert_eq!(["\r\n", "\n"].get(1), b"\n");
/// ```
pub trait Separators {
    /// How many separators there are.
    fn count(&self) -> usize;
    /// The `i`-th separator (`i < count()`).
    fn get(&self, i: usize) -> &[u8];
}

macro_rules! one_separator {
    ($($t:ty),*) => {$(
        impl Separators for $t {
            fn count(&self) -> usize { 1 }
            fn get(&self, _: usize) -> &[u8] { self.as_ref() }
        }
    )*};
}
one_separator!(&[u8], &str, Vec<u8>, &Vec<u8>);

impl<const N: usize> Separators for &[u8; N] {
    fn count(&self) -> usize {
        1
    }
    fn get(&self, _: usize) -> &[u8] {
        &self[..]
    }
}

macro_rules! many_separators {
    ($($t:ty),*) => {$(
        impl Separators for $t {
            fn count(&self) -> usize { self.len() }
            fn get(&self, i: usize) -> &[u8] { self[i].as_ref() }
        }
    )*};
}
many_separators!(&[&[u8]], &[&str], Vec<Vec<u8>>, &[Vec<u8>], Vec<&[u8]>);

impl<const N: usize> Separators for [&[u8]; N] {
    fn count(&self) -> usize {
        N
    }
    fn get(&self, i: usize) -> &[u8] {
        self[i]
    }
}

impl<const N: usize> Separators for [&str; N] {
    fn count(&self) -> usize {
        N
    }
    fn get(&self, i: usize) -> &[u8] {
        self[i].as_bytes()
    }
}

struct ReadState {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    error: Option<StoredError>,
    /// The last read filled all the room there was: the sender is faster than that.
    hungry: bool,
    /// How far `hungry` may grow the buffer: 2 × limit, within [8 KiB, 256 KiB].
    cap: usize,
}

impl ReadState {
    fn data(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    fn len(&self) -> usize {
        self.end - self.start
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            if self.buf.len() > self.cap {
                self.buf = Vec::new();
            }
        }
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        let v = self.buf[self.start..self.start + n].to_vec();
        self.consume(n);
        v
    }

    fn take_all(&mut self) -> Vec<u8> {
        self.take(self.len())
    }

    /// Room to read into: compacts, then grows only when the buffer is full.
    fn spare(&mut self) -> &mut [u8] {
        if self.start > 0 && (self.end == self.buf.len() || self.start >= self.buf.len() / 2) {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() || (self.hungry && self.buf.len() < self.cap) {
            let new_len = (self.buf.len() * 2).max(FIRST_CHUNK);
            self.buf.resize(new_len, 0);
        }
        self.hungry = false;
        &mut self.buf[self.end..]
    }
}

/// The most `read_to_end` asks for in one read (asyncio's largest read): bounds how long
/// one poll of it can take, with the budget.
const TO_END_CHUNK: usize = 256 * 1024;

/// The bytes `read_to_end` has read so far; put back in front of the buffer if it stops
/// before EOF (cancelled, or failed), so nothing is lost.
struct Pending<'a> {
    st: &'a RefCell<ReadState>,
    out: Vec<u8>,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if self.out.is_empty() {
            return;
        }
        let mut st = self.st.borrow_mut();
        // The buffer was emptied into `out` when the operation began, and nothing else
        // reads while it holds the claim, so it is still empty.
        debug_assert_eq!(st.len(), 0);
        st.buf = std::mem::take(&mut self.out);
        st.start = 0;
        st.end = st.buf.len();
    }
}

fn adapt_cap(limit: usize) -> usize {
    limit.saturating_mul(2).clamp(FIRST_CHUNK, MAX_CHUNK)
}

/// The earliest-ending occurrence of any separator in `hay[offset..]`: `(start, end)`.
/// Ties (same end) go to the shorter separator, as in asyncio 3.13.
fn earliest_match<S: Separators + ?Sized>(
    hay: &[u8],
    offset: usize,
    seps: &S,
) -> Option<(usize, usize)> {
    let mut best: Option<(usize, usize)> = None;
    for i in 0..seps.count() {
        let sep = seps.get(i);
        if let Some(pos) = find(&hay[offset..], sep) {
            let start = offset + pos;
            let end = start + sep.len();
            match best {
                Some((bs, be)) if end > be || (end == be && sep.len() >= be - bs) => {}
                _ => best = Some((start, end)),
            }
        }
    }
    best
}

/// The first occurrence of `needle` (not empty) in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let n = needle.len();
    if n == 1 {
        return hay.iter().position(|&b| b == needle[0]);
    }
    if hay.len() < n {
        return None;
    }
    let first = needle[0];
    let last_start = hay.len() - n;
    let mut i = 0;
    while i <= last_start {
        let p = hay[i..=last_start].iter().position(|&b| b == first)?;
        let j = i + p;
        if &hay[j..j + n] == needle {
            return Some(j);
        }
        i = j + 1;
    }
    None
}

/// Releases a reader's claim when the operation ends or is dropped.
struct Claim<'a>(&'a Cell<bool>);

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

/// The reading half of a stream (asyncio's `StreamReader`).
///
/// Created by [`open_connection`](super::open_connection) and
/// [`start_server`](super::start_server), by [`split`](super::split) for any duplex byte
/// stream, or by [`StreamReader::new`] over any `futures_io::AsyncRead`.
///
/// Methods take `&self`: share a reader between tasks with an `Rc` if you must, but only
/// one operation can be in progress at a time — another one fails at once with
/// [`StreamError::ConcurrentRead`].
///
/// # Examples
/// ```
/// simul::run(async {
///     let r = simul::StreamReader::new(&b"GET / HTTP/1.0\r\nHost: x\r\n\r\nbody"[..]);
///     assert_eq!(r.readuntil(b"\r\n").await.unwrap(), b"GET / HTTP/1.0\r\n");
///     assert_eq!(r.readline().await.unwrap(), b"Host: x\r\n");
///     assert_eq!(r.readexactly(2).await.unwrap(), b"\r\n");
///     assert_eq!(r.read_to_end().await.unwrap(), b"body");
///     assert!(r.at_eof());
/// });
/// ```
pub struct StreamReader {
    conn: Rc<Conn>,
    st: RefCell<ReadState>,
    limit: Cell<usize>,
    reading: Cell<bool>,
}

impl std::fmt::Debug for StreamReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.st.borrow();
        f.debug_struct("StreamReader")
            .field("buffered", &st.len())
            .field("eof", &st.eof)
            .field("limit", &self.limit.get())
            .finish()
    }
}

impl StreamReader {
    /// A reader over any `futures_io::AsyncRead` (a pipe, a file, a byte slice, ...).
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let r = simul::StreamReader::new(&b"a,b"[..]);
    ///     assert_eq!(r.readuntil(b",").await.unwrap(), b"a,");
    /// });
    /// ```
    pub fn new<R: AsyncRead + Unpin + 'static>(io: R) -> StreamReader {
        StreamReader::from_conn(Conn::new(Box::new(FuturesIo::new(ReadOnly(io)))))
    }

    /// The bytes read from the socket but not yet by the user, taken out (`start_tls`: they
    /// are the first bytes of the TLS layer).
    #[cfg(feature = "tls")]
    pub(crate) fn take_buffered(self) -> Vec<u8> {
        let mut st = self.st.borrow_mut();
        let (start, end) = (st.start, st.end);
        let mut buf = std::mem::take(&mut st.buf);
        buf.truncate(end);
        buf.drain(..start);
        buf
    }

    pub(crate) fn from_conn(conn: Rc<Conn>) -> StreamReader {
        StreamReader {
            conn,
            st: RefCell::new(ReadState {
                buf: Vec::new(),
                start: 0,
                end: 0,
                eof: false,
                error: None,
                hungry: false,
                cap: adapt_cap(DEFAULT_LIMIT),
            }),
            limit: Cell::new(DEFAULT_LIMIT),
            reading: Cell::new(false),
        }
    }

    /// Sets the buffer limit (asyncio's `limit=`; default 64 KiB, 0 is taken as 1):
    /// `readline` and `readuntil` fail with [`StreamError::LimitOverrun`] rather than
    /// buffer more than this without finding their separator.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let r = simul::StreamReader::new(&b"0123456789\n"[..]).with_limit(4);
    ///     assert_eq!(r.limit(), 4);
    ///     assert!(matches!(r.readline().await, Err(simul::StreamError::LimitOverrun { .. })));
    /// });
    /// ```
    pub fn with_limit(self, limit: usize) -> StreamReader {
        self.limit.set(limit.max(1));
        self.st.borrow_mut().cap = adapt_cap(limit);
        self
    }

    /// The buffer limit.
    ///
    /// # Examples
    /// ```
    /// simul::run(async { assert_eq!(simul::StreamReader::new(&b""[..]).limit(), 64 * 1024) });
    /// ```
    pub fn limit(&self) -> usize {
        self.limit.get()
    }

    /// Bytes read from the socket and not yet returned.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let r = simul::StreamReader::new(&b"ab\ncd\n"[..]);
    ///     r.readline().await.unwrap();
    ///     assert_eq!(r.buffered(), 3);
    /// });
    /// ```
    pub fn buffered(&self) -> usize {
        self.st.borrow().len()
    }

    /// `true` when the peer has sent EOF and the buffer is empty: every later read
    /// returns nothing.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let r = simul::StreamReader::new(&b"x"[..]);
    ///     assert!(!r.at_eof());
    ///     assert_eq!(r.read(10).await.unwrap(), b"x");
    ///     assert_eq!(r.read(10).await.unwrap(), b""); // sees EOF
    ///     assert!(r.at_eof());
    /// });
    /// ```
    pub fn at_eof(&self) -> bool {
        let st = self.st.borrow();
        st.eof && st.len() == 0
    }

    fn claim(&self) -> Result<Claim<'_>, StreamError> {
        if self.reading.replace(true) {
            Err(StreamError::ConcurrentRead)
        } else {
            Ok(Claim(&self.reading))
        }
    }

    /// Spends one unit of the task's cooperative budget (yielding when it is spent), so a
    /// loop that keeps finding whole lines in the buffer — and so never waits on the
    /// socket — still lets the other tasks run.
    async fn coop(&self) {
        poll_fn(|cx| {
            if crate::io::coop_exhausted(cx) {
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        })
        .await
    }

    /// Reads once from the socket into the buffer. `Ok(0)` means EOF.
    fn poll_fill(&self, cx: &mut Context<'_>) -> Poll<Result<usize, StreamError>> {
        let mut guard = self.st.borrow_mut();
        let st = &mut *guard;
        if st.eof {
            return Poll::Ready(Ok(0));
        }
        if let Some(e) = &st.error {
            return Poll::Ready(Err(StreamError::Io(e.to_io())));
        }
        loop {
            let spare = st.spare();
            let room = spare.len();
            match self.conn.io.poll_read(cx, spare) {
                Poll::Ready(Ok(0)) => {
                    st.eof = true;
                    return Poll::Ready(Ok(0));
                }
                Poll::Ready(Ok(n)) => {
                    st.end += n;
                    st.hungry = n == room;
                    return Poll::Ready(Ok(n));
                }
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Poll::Ready(Err(e)) => {
                    st.error = Some(StoredError::new(&e));
                    return Poll::Ready(Err(StreamError::Io(e)));
                }
                Poll::Pending => {
                    self.conn.set_read_waker(cx);
                    return Poll::Pending;
                }
            }
        }
    }

    async fn fill(&self) -> Result<usize, StreamError> {
        poll_fn(|cx| self.poll_fill(cx)).await
    }

    /// Reads up to `n` bytes: what is buffered, or else what the next read from the socket
    /// brings. Returns an empty vector at EOF (and for `n == 0`).
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let r = simul::StreamReader::new(&b"hello"[..]);
    ///     assert_eq!(r.read(3).await.unwrap(), b"hel");
    ///     assert_eq!(r.read(100).await.unwrap(), b"lo");
    ///     assert_eq!(r.read(100).await.unwrap(), b"");
    /// });
    /// ```
    pub async fn read(&self, n: usize) -> Result<Vec<u8>, StreamError> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let _claim = self.claim()?;
        self.coop().await;
        while self.st.borrow().len() == 0 {
            if self.fill().await? == 0 {
                return Ok(Vec::new());
            }
        }
        let mut st = self.st.borrow_mut();
        let k = n.min(st.len());
        Ok(st.take(k))
    }

    /// Reads until EOF and returns everything (asyncio's `read(-1)`).
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let r = simul::StreamReader::new(&b"all of it"[..]);
    ///     assert_eq!(r.read_to_end().await.unwrap(), b"all of it");
    /// });
    /// ```
    #[doc(alias = "read(-1)")]
    pub async fn read_to_end(&self) -> Result<Vec<u8>, StreamError> {
        let _claim = self.claim()?;
        self.coop().await;
        // Everything goes straight into the vector returned (no copy out of the buffer at
        // the end); the buffered bytes become its start. If the future is dropped or an
        // error ends it, the bytes read so far go back into the buffer (`Pending` below).
        let mut pending = Pending {
            st: &self.st,
            out: {
                let mut st = self.st.borrow_mut();
                if st.start == 0 {
                    let end = st.end;
                    st.end = 0;
                    let mut v = std::mem::take(&mut st.buf);
                    v.truncate(end);
                    v
                } else {
                    st.take_all()
                }
            },
        };
        poll_fn(|cx| self.poll_append_to_end(cx, &mut pending.out)).await?;
        self.st.borrow_mut().eof = true;
        Ok(std::mem::take(&mut pending.out))
    }

    /// `read_to_end`'s loop: reads onto the end of `out` until EOF, one unit of the
    /// cooperative budget per read, the vector doubling (never zero-filled) as it fills.
    fn poll_append_to_end(
        &self,
        cx: &mut Context<'_>,
        out: &mut Vec<u8>,
    ) -> Poll<Result<(), StreamError>> {
        {
            let st = self.st.borrow();
            if st.eof {
                return Poll::Ready(Ok(()));
            }
            if let Some(e) = &st.error {
                return Poll::Ready(Err(StreamError::Io(e.to_io())));
            }
        }
        loop {
            if crate::io::coop_exhausted(cx) {
                return Poll::Pending;
            }
            if out.capacity() - out.len() < FIRST_CHUNK {
                out.reserve(out.len().max(TO_END_CHUNK));
            }
            match self.conn.io.poll_read_append(cx, out, TO_END_CHUNK) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Poll::Ready(Err(e)) => {
                    self.st.borrow_mut().error = Some(StoredError::new(&e));
                    return Poll::Ready(Err(StreamError::Io(e)));
                }
                Poll::Pending => {
                    self.conn.set_read_waker(cx);
                    return Poll::Pending;
                }
            }
        }
    }

    /// Reads exactly `n` bytes.
    ///
    /// At EOF before `n` bytes, fails with [`StreamError::IncompleteRead`] holding what was
    /// read (`expected: Some(n)`); the buffer is then empty.
    ///
    /// # Examples
    /// ```
    /// use simul::StreamError;
    /// simul::run(async {
    ///     let r = simul::StreamReader::new(&b"abcde"[..]);
    ///     assert_eq!(r.readexactly(2).await.unwrap(), b"ab");
    ///     match r.readexactly(9).await {
    ///         Err(StreamError::IncompleteRead { partial, expected }) => {
    ///             assert_eq!((partial, expected), (b"cde".to_vec(), Some(9)));
    ///         }
    ///         other => panic!("{other:?}"),
    ///     }
    /// });
    /// ```
    pub async fn readexactly(&self, n: usize) -> Result<Vec<u8>, StreamError> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let _claim = self.claim()?;
        self.coop().await;
        loop {
            {
                let mut st = self.st.borrow_mut();
                if st.len() >= n {
                    return Ok(st.take(n));
                }
                if st.eof {
                    return Err(StreamError::IncompleteRead {
                        partial: st.take_all(),
                        expected: Some(n),
                    });
                }
            }
            self.fill().await?;
        }
    }

    /// Reads one line, through its `\n`.
    ///
    /// At EOF returns what is left without a newline (empty when nothing is). A line
    /// longer than the limit is discarded (through its newline, or the whole buffer when
    /// the newline has not arrived) and [`StreamError::LimitOverrun`] is returned.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let r = simul::StreamReader::new(&b"one\ntwo"[..]);
    ///     assert_eq!(r.readline().await.unwrap(), b"one\n");
    ///     assert_eq!(r.readline().await.unwrap(), b"two");
    ///     assert_eq!(r.readline().await.unwrap(), b"");
    /// });
    /// ```
    pub async fn readline(&self) -> Result<Vec<u8>, StreamError> {
        let _claim = self.claim()?;
        self.coop().await;
        match self.until(&b"\n").await {
            Ok(line) => Ok(line),
            Err(StreamError::IncompleteRead { partial, .. }) => Ok(partial),
            Err(StreamError::LimitOverrun {
                consumed,
                limit,
                found,
            }) => {
                let mut st = self.st.borrow_mut();
                if st.data().get(consumed) == Some(&b'\n') {
                    st.consume(consumed + 1);
                } else {
                    let n = st.len();
                    st.consume(n);
                }
                Err(StreamError::LimitOverrun {
                    consumed,
                    limit,
                    found,
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Reads through the first separator found, which is included in the result.
    ///
    /// `sep` is one separator or several (asyncio 3.13): the match that *ends* first wins,
    /// and between matches ending at the same byte, the shorter one.
    ///
    /// Errors, as in asyncio:
    /// - [`StreamError::IncompleteRead`] at EOF before a separator (`expected: None`;
    ///   `partial` holds the buffer, which is now empty);
    /// - [`StreamError::LimitOverrun`] when the limit is reached without a separator, or the
    ///   separator starts beyond the limit; the data stays buffered;
    /// - [`StreamError::InvalidArgument`] for an empty separator or an empty list.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let r = simul::StreamReader::new(&b"a\r\nb\nc"[..]);
    ///     assert_eq!(r.readuntil(["\r\n", "\n"]).await.unwrap(), b"a\r\n");
    ///     assert_eq!(r.readuntil(["\r\n", "\n"]).await.unwrap(), b"b\n");
    ///     assert!(r.readuntil(b"\n").await.is_err()); // EOF: IncompleteRead
    /// });
    /// ```
    pub async fn readuntil<S: Separators>(&self, sep: S) -> Result<Vec<u8>, StreamError> {
        if sep.count() == 0 {
            return Err(StreamError::InvalidArgument(
                "readuntil: the separator list is empty",
            ));
        }
        if (0..sep.count()).any(|i| sep.get(i).is_empty()) {
            return Err(StreamError::InvalidArgument(
                "readuntil: a separator must be at least one byte",
            ));
        }
        let _claim = self.claim()?;
        self.coop().await;
        self.until(&sep).await
    }

    /// `readuntil` without validation or claim.
    async fn until<S: Separators + ?Sized>(&self, seps: &S) -> Result<Vec<u8>, StreamError> {
        let (mut min, mut max) = (usize::MAX, 0);
        for i in 0..seps.count() {
            min = min.min(seps.get(i).len());
            max = max.max(seps.get(i).len());
        }
        let limit = self.limit.get();
        let mut offset = 0;
        let (start, end) = loop {
            {
                let mut st = self.st.borrow_mut();
                let len = st.len();
                if len - offset >= min {
                    if let Some(m) = earliest_match(st.data(), offset, seps) {
                        break m;
                    }
                    // A separator may still begin in the last `max - 1` bytes.
                    offset = (len + 1).saturating_sub(max);
                    if offset > limit {
                        return Err(StreamError::LimitOverrun {
                            consumed: offset,
                            limit,
                            found: false,
                        });
                    }
                }
                if st.eof {
                    return Err(StreamError::IncompleteRead {
                        partial: st.take_all(),
                        expected: None,
                    });
                }
            }
            self.fill().await?;
        };
        if start > limit {
            return Err(StreamError::LimitOverrun {
                consumed: start,
                limit,
                found: true,
            });
        }
        Ok(self.st.borrow_mut().take(end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_handles_multibyte_and_overlaps() {
        assert_eq!(find(b"aab", b"ab"), Some(1));
        assert_eq!(find(b"ab", b"abc"), None);
        assert_eq!(find(b"xxabab", b"abab"), Some(2));
        assert_eq!(find(b"\r\r\n", b"\r\n"), Some(1));
    }

    #[test]
    fn earliest_end_wins_then_shorter() {
        let hay = b"xx\r\nyy";
        assert_eq!(earliest_match(hay, 0, &["\n", "\r\n"]), Some((3, 4)));
        assert_eq!(earliest_match(hay, 0, &["yy", "\n"]), Some((3, 4)));
        assert_eq!(earliest_match(b"abc", 0, &["bc", "c"]), Some((2, 3)));
    }
}
