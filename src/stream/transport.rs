//! What a stream runs over: the crate-private `Transport` trait and its adapters.
//!
//! A transport is shared by a reader and a writer (and the writer's flusher task), so its
//! methods take `&self`; the adapter keeps the byte stream in a `RefCell` that is borrowed
//! only for the duration of one poll (never across an `.await`). `close` drops the byte
//! stream (closing the socket); afterwards reads see EOF and writes `BrokenPipe`.

use std::cell::RefCell;
use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};

use crate::net::{TcpStream, UnixStream};

/// An address of either end of a stream: an IP socket address or a Unix socket address.
///
/// # Examples
/// ```
/// let a = simul::SockAddr::Inet("127.0.0.1:8080".parse().unwrap());
/// assert_eq!(a.port(), Some(8080));
/// assert_eq!(a.to_string(), "127.0.0.1:8080");
/// ```
#[derive(Clone, Debug)]
#[doc(alias = "peername")]
#[doc(alias = "sockname")]
pub enum SockAddr {
    /// An IPv4 or IPv6 address.
    Inet(std::net::SocketAddr),
    /// A Unix domain socket address.
    Unix(std::os::unix::net::SocketAddr),
}

impl SockAddr {
    /// The port of an IP address (`None` for Unix sockets).
    ///
    /// # Examples
    /// ```
    /// assert_eq!(simul::SockAddr::Inet("[::1]:7".parse().unwrap()).port(), Some(7));
    /// ```
    pub fn port(&self) -> Option<u16> {
        match self {
            SockAddr::Inet(a) => Some(a.port()),
            SockAddr::Unix(_) => None,
        }
    }

    /// The IP address, if this is one.
    ///
    /// # Examples
    /// ```
    /// let a: std::net::SocketAddr = "127.0.0.1:1".parse().unwrap();
    /// assert_eq!(simul::SockAddr::Inet(a).as_inet(), Some(a));
    /// ```
    pub fn as_inet(&self) -> Option<std::net::SocketAddr> {
        match self {
            SockAddr::Inet(a) => Some(*a),
            SockAddr::Unix(_) => None,
        }
    }

    /// The filesystem path of a Unix socket address (`None` for IP addresses and unnamed
    /// or abstract Unix addresses).
    ///
    /// # Examples
    /// ```
    /// let a = simul::SockAddr::Inet("127.0.0.1:1".parse().unwrap());
    /// assert!(a.as_pathname().is_none());
    /// ```
    pub fn as_pathname(&self) -> Option<&std::path::Path> {
        match self {
            SockAddr::Inet(_) => None,
            SockAddr::Unix(a) => a.as_pathname(),
        }
    }
}

impl fmt::Display for SockAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SockAddr::Inet(a) => write!(f, "{a}"),
            SockAddr::Unix(a) => match a.as_pathname() {
                Some(p) => write!(f, "{}", p.display()),
                None => f.write_str("(unnamed)"),
            },
        }
    }
}

fn unsupported(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!("this stream's transport has no {what}"),
    )
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the stream is closed")
}

/// The byte stream under a [`Conn`](super::conn::Conn).
pub(crate) trait Transport {
    fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>>;
    /// Reads at most `max` bytes onto the end of `out` (whose spare capacity is not empty).
    fn poll_read_append(
        &self,
        cx: &mut Context<'_>,
        out: &mut Vec<u8>,
        max: usize,
    ) -> Poll<io::Result<usize>>;
    fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>>;
    /// Writes what the socket takes right now, without registering a waker (`Pending`:
    /// it takes nothing now). The write fast path.
    fn write_now(&self, buf: &[u8]) -> Poll<io::Result<usize>>;
    /// Whether bytes a write accepted can wait in a layer's own buffer until
    /// [`poll_flush`](Self::poll_flush) (a TLS session's ciphertext the socket did not
    /// take). `false` for simul's sockets, whose writes are on their way once accepted.
    fn buffers_writes(&self) -> bool;
    /// Pushes out what the byte stream still holds of accepted bytes (`Pending`: waiting
    /// on the socket, the waker in `cx` registered).
    fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    /// Shuts the write direction down (TCP FIN).
    fn poll_shutdown(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    /// Closes the byte stream now (drops the socket).
    fn close(&self);
    /// Whether a graceful `close` must shut the byte stream down first (a TLS session's
    /// `close_notify`).
    fn close_notify(&self) -> bool;
    fn local_addr(&self) -> io::Result<SockAddr>;
    fn peer_addr(&self) -> io::Result<SockAddr>;
}

/// Socket details a byte stream may know about itself.
pub(crate) trait SocketInfo {
    fn local_addr(&self) -> io::Result<SockAddr> {
        Err(unsupported("local address"))
    }
    fn peer_addr(&self) -> io::Result<SockAddr> {
        Err(unsupported("peer address"))
    }
    /// Whether closing gracefully must shut down first (see `Transport::close_notify`).
    fn close_notify(&self) -> bool {
        false
    }
    /// See `Transport::buffers_writes`: any byte stream may, unless it says otherwise.
    fn buffers_writes(&self) -> bool {
        true
    }
    /// A non-registering write (`WouldBlock` when full), if the byte stream has one.
    fn try_write_now(&self, _buf: &[u8]) -> Option<io::Result<usize>> {
        None
    }
    /// A read onto the end of `out` without zero-filling, if the stream can do one.
    fn poll_read_append(
        &self,
        _cx: &mut Context<'_>,
        _out: &mut Vec<u8>,
        _max: usize,
    ) -> Option<Poll<io::Result<usize>>> {
        None
    }
}

/// The transport for a byte stream handed to [`split`](super::split): simul's own sockets
/// keep their addresses and write fast path; anything else is [`Plain`].
///
/// `split` takes any `AsyncRead + AsyncWrite`, and stable Rust cannot pick a different impl
/// for the socket types among those, so the choice is made here, once per connection, by
/// looking at the concrete type (`Any`); the check compiles to a constant.
pub(crate) fn for_stream<T>(io: T) -> Box<dyn Transport>
where
    T: AsyncRead + AsyncWrite + Unpin + 'static,
{
    use std::any::Any;
    let mut slot = Some(io);
    let any: &mut dyn Any = &mut slot;
    if let Some(tcp) = any
        .downcast_mut::<Option<TcpStream>>()
        .and_then(Option::take)
    {
        return Box::new(FuturesIo::new(tcp));
    }
    if let Some(unix) = any
        .downcast_mut::<Option<UnixStream>>()
        .and_then(Option::take)
    {
        return Box::new(FuturesIo::new(unix));
    }
    match slot {
        Some(io) => Box::new(FuturesIo::new(Plain(io))),
        None => unreachable!("only a socket type is taken out of the slot"),
    }
}

/// A user-supplied byte stream: no socket details.
pub(crate) struct Plain<T>(pub(crate) T);

impl<T> SocketInfo for Plain<T> {}

impl<T: AsyncRead + Unpin> AsyncRead for Plain<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Plain<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_close(cx)
    }
}

/// A read-only byte stream: writes fail with `Unsupported`.
pub(crate) struct ReadOnly<T>(pub(crate) T);

impl<T> SocketInfo for ReadOnly<T> {}

impl<T: AsyncRead + Unpin> AsyncRead for ReadOnly<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<T> AsyncWrite for ReadOnly<T> {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, _: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Err(unsupported("write direction")))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A write-only byte stream: reads see EOF at once.
pub(crate) struct WriteOnly<T>(pub(crate) T);

impl<T> SocketInfo for WriteOnly<T> {}

impl<T> AsyncRead for WriteOnly<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        _: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(0))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WriteOnly<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_close(cx)
    }
}

/// Any `futures_io` duplex byte stream as a [`Transport`].
/// The most a read onto the end of a vector asks of a stream that can only read into
/// initialised memory (see `Transport::poll_read_append`).
const FALLBACK_READ: usize = 16 * 1024;

pub(crate) struct FuturesIo<T> {
    io: RefCell<Option<T>>,
}

impl<T> FuturesIo<T> {
    pub(crate) fn new(io: T) -> FuturesIo<T> {
        FuturesIo {
            io: RefCell::new(Some(io)),
        }
    }
}

impl<T: AsyncRead + AsyncWrite + SocketInfo + Unpin> Transport for FuturesIo<T> {
    fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        match self.io.borrow_mut().as_mut() {
            Some(io) => Pin::new(io).poll_read(cx, buf),
            None => Poll::Ready(Ok(0)),
        }
    }
    fn poll_read_append(
        &self,
        cx: &mut Context<'_>,
        out: &mut Vec<u8>,
        max: usize,
    ) -> Poll<io::Result<usize>> {
        let mut io = self.io.borrow_mut();
        let Some(io) = io.as_mut() else {
            return Poll::Ready(Ok(0));
        };
        if let Some(p) = io.poll_read_append(cx, out, max) {
            return p;
        }
        // A stream that only offers `AsyncRead`: read into zeroed room, a little at a time
        // (zeroing all of `max` for every read would cost more than the read itself when
        // the stream delivers small pieces).
        let len = out.len();
        let room = (out.capacity() - len).min(max).min(FALLBACK_READ);
        out.resize(len + room, 0);
        let r = Pin::new(io).poll_read(cx, &mut out[len..]);
        let n = match &r {
            Poll::Ready(Ok(n)) => *n,
            _ => 0,
        };
        out.truncate(len + n);
        r
    }
    fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.io.borrow_mut().as_mut() {
            Some(io) => Pin::new(io).poll_write(cx, buf),
            None => Poll::Ready(Err(closed())),
        }
    }
    fn write_now(&self, buf: &[u8]) -> Poll<io::Result<usize>> {
        let mut io = self.io.borrow_mut();
        let Some(io) = io.as_mut() else {
            return Poll::Ready(Err(closed()));
        };
        match io.try_write_now(buf) {
            Some(Err(e)) if e.kind() == io::ErrorKind::WouldBlock => Poll::Pending,
            Some(r) => Poll::Ready(r),
            None => {
                let mut cx = Context::from_waker(std::task::Waker::noop());
                Pin::new(io).poll_write(&mut cx, buf)
            }
        }
    }
    fn buffers_writes(&self) -> bool {
        self.io
            .borrow()
            .as_ref()
            .is_some_and(|io| io.buffers_writes())
    }
    fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.io.borrow_mut().as_mut() {
            Some(io) => Pin::new(io).poll_flush(cx),
            None => Poll::Ready(Ok(())),
        }
    }
    fn poll_shutdown(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.io.borrow_mut().as_mut() {
            Some(io) => Pin::new(io).poll_close(cx),
            None => Poll::Ready(Ok(())),
        }
    }
    fn close(&self) {
        let io = self.io.borrow_mut().take();
        drop(io);
    }
    fn close_notify(&self) -> bool {
        self.io
            .borrow()
            .as_ref()
            .is_some_and(|io| io.close_notify())
    }
    fn local_addr(&self) -> io::Result<SockAddr> {
        match self.io.borrow().as_ref() {
            Some(io) => io.local_addr(),
            None => Err(closed()),
        }
    }
    fn peer_addr(&self) -> io::Result<SockAddr> {
        match self.io.borrow().as_ref() {
            Some(io) => io.peer_addr(),
            None => Err(closed()),
        }
    }
}
