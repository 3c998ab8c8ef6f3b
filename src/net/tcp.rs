//! TCP: [`TcpListener`] and [`TcpStream`], with the halves of a split stream.
//!
//! # Accepting under descriptor exhaustion
//! When `accept` fails with `EMFILE` or `ENFILE` the pending connection stays in the
//! kernel's backlog and the listener stays readable, so retrying at once would spin. The
//! listener instead sleeps — 10 ms, doubling up to 100 ms — and retries, logging the
//! condition once per listener on stderr; it recovers by itself once descriptors are freed.
//!
//! # Connecting by name
//! [`TcpStream::connect`] resolves its argument, orders the addresses alternating between
//! address families (IPv6 first when the resolver put it first), and starts one attempt;
//! if that attempt has not finished after [`CONNECT_STAGGER`], the next one starts beside
//! it ("happy eyeballs", RFC 8305). The first attempt to succeed wins and the others are
//! dropped (closing their sockets); if all fail, the last error is returned.

use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use crate::io::driver::Interest;

use super::evented::{Evented, Kind};
use super::stream::stream_api;
use super::{resolve, sys, try_each, BindOptions, ToSocketAddrs};
use crate::io::driver::{Direction, Waiter};

/// Delay before a connection attempt to the next resolved address starts beside a slow one.
pub const CONNECT_STAGGER: Duration = Duration::from_millis(250);

/// First back-off after `accept` fails for lack of file descriptors.
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
/// Longest back-off between accept retries under descriptor exhaustion.
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_millis(100);

/// A TCP socket listening for connections (asyncio's server socket).
///
/// # Examples
/// ```
/// use simul::net::{TcpListener, TcpStream};
/// simul::run(async {
///     let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
///     let addr = listener.local_addr().unwrap();
///     let server = simul::spawn(async move {
///         let (mut conn, _peer) = listener.accept().await.unwrap();
///         let mut buf = [0u8; 5];
///         let n = conn.read(&mut buf).await.unwrap();
///         conn.write_all(&buf[..n]).await.unwrap();
///     });
///     let mut c = TcpStream::connect(addr).await.unwrap();
///     c.write_all(b"hello").await.unwrap();
///     let mut buf = [0u8; 5];
///     let n = c.read(&mut buf).await.unwrap();
///     assert_eq!(&buf[..n], b"hello");
///     server.await.unwrap();
/// });
/// ```
pub struct TcpListener {
    io: Evented<std::net::TcpListener>,
    warned: AtomicBool,
}

impl TcpListener {
    /// Binds to the first of `addr`'s addresses that works, with the default
    /// [`BindOptions`] (`SO_REUSEADDR` on, backlog 1024), and listens.
    ///
    /// # Panics
    /// Outside a running loop.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let l = simul::net::TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    ///     assert_ne!(l.local_addr().unwrap().port(), 0);
    /// });
    /// ```
    #[doc(alias = "create_server")]
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        Self::bind_with(addr, BindOptions::default()).await
    }

    /// Binds with explicit [`BindOptions`] (`reuse_port`, `reuse_address`, `backlog`).
    ///
    /// # Examples
    /// ```
    /// use simul::net::{BindOptions, TcpListener};
    /// simul::run(async {
    ///     let l = TcpListener::bind_with("127.0.0.1:0", BindOptions::new().backlog(16))
    ///         .await
    ///         .unwrap();
    ///     assert!(l.local_addr().is_ok());
    /// });
    /// ```
    pub async fn bind_with(addr: impl ToSocketAddrs, opts: BindOptions) -> io::Result<TcpListener> {
        let addrs = resolve(&addr).await?;
        try_each(addrs, |a| std::future::ready(Self::bind_addr(a, opts))).await
    }

    fn bind_addr(addr: SocketAddr, opts: BindOptions) -> io::Result<TcpListener> {
        let fd = opts.bind_socket(&addr, libc::SOCK_STREAM)?;
        sys::listen(&fd, opts.backlog)?;
        Self::from_socket(std::net::TcpListener::from(fd))
    }

    /// Wraps a listener made by `std` (it is switched to non-blocking mode).
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let std = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    ///     let l = simul::net::TcpListener::from_std(std).unwrap();
    ///     assert!(l.local_addr().is_ok());
    /// });
    /// ```
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        crate::sys::set_nonblocking(&listener, true)?;
        Self::from_socket(listener)
    }

    /// Detaches the listener from this loop and returns it as a `std` listener (in
    /// non-blocking mode), to move to another loop or thread — where
    /// [`from_std`](Self::from_std) adopts it. Connections waiting in its backlog stay
    /// there.
    ///
    /// # Errors
    /// When the selector refuses to deregister the socket.
    ///
    /// # Examples
    /// ```
    /// let loops = simul::Loops::builder().count(2).build().unwrap();
    /// let std_listener = simul::run(async {
    ///     let l = simul::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///     l.into_std().unwrap()
    /// });
    /// let addr = std_listener.local_addr().unwrap();
    /// let accepted = loops.spawn_on(1, async move {
    ///     let l = simul::net::TcpListener::from_std(std_listener).unwrap(); // now on loop 1
    ///     let (s, _) = l.accept().await.unwrap();
    ///     s.local_addr().unwrap()
    /// });
    /// let _c = std::net::TcpStream::connect(addr).unwrap();
    /// assert_eq!(simul::run(accepted).unwrap(), addr);
    /// ```
    pub fn into_std(self) -> io::Result<std::net::TcpListener> {
        self.io.into_inner()
    }

    /// Registers `l` (already non-blocking) with the current loop.
    fn from_socket(l: std::net::TcpListener) -> io::Result<TcpListener> {
        Ok(TcpListener {
            io: Evented::new(l, Interest::READABLE)?,
            warned: AtomicBool::new(false),
        })
    }

    /// Waits for a connection and returns it with the peer's address.
    ///
    /// Under descriptor exhaustion (`EMFILE`/`ENFILE`) it backs off and retries (see the
    /// module doc) instead of returning the error; other errors are returned.
    /// Cancel-safe: dropping the future loses no connection.
    ///
    /// # Examples
    /// ```
    /// use simul::net::{TcpListener, TcpStream};
    /// simul::run(async {
    ///     let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///     let c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    ///     let (s, peer) = l.accept().await.unwrap();
    ///     assert_eq!(peer, c.local_addr().unwrap());
    ///     assert_eq!(s.peer_addr().unwrap(), peer);
    /// });
    /// ```
    #[doc(alias = "sock_accept")]
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let mut w = self.io.waiter(Direction::Read);
        accept_with_backoff(
            &self.warned,
            || self.describe(),
            |cx| self.poll_accept_in(cx, Some(&mut w)),
        )
        .await
    }

    fn describe(&self) -> String {
        self.local_addr()
            .map_or_else(|_| "a TCP listener".to_string(), |a| a.to_string())
    }

    /// Polls for one connection. Unlike [`accept`](Self::accept) this returns every error,
    /// `EMFILE` included, and leaves back-off to the caller.
    ///
    /// # Examples
    /// ```
    /// use simul::net::{TcpListener, TcpStream};
    /// simul::run(async {
    ///     let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///     let _c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    ///     let (_s, _peer) = std::future::poll_fn(|cx| l.poll_accept(cx)).await.unwrap();
    /// });
    /// ```
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        self.poll_accept_in(cx, None)
    }

    /// `poll_accept`, waiting in `waiter`'s own entry if given.
    fn poll_accept_in(
        &self,
        cx: &mut Context<'_>,
        waiter: Option<&mut Waiter<'_>>,
    ) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        match self
            .io
            .poll_op(cx, waiter, Direction::Read, Kind::Message, 0, |l| {
                sys::accept_ip(l).map(|(s, a)| (0usize, (s, a)))
            }) {
            Poll::Ready(Ok((_, (s, a)))) => {
                let io = Evented::new_accepted(std::net::TcpStream::from(s));
                Poll::Ready(io.map(|io| (TcpStream { io }, a)))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Accepts like [`accept`](Self::accept) (same back-off), returning a `std` stream
    /// that no loop has registered (for handing it to another loop: one registration, on
    /// the loop that uses it).
    pub(crate) async fn accept_std(&self) -> io::Result<(std::net::TcpStream, SocketAddr)> {
        let mut w = self.io.waiter(Direction::Read);
        accept_with_backoff(
            &self.warned,
            || self.describe(),
            |cx| {
                self.io
                    .poll_op(cx, Some(&mut w), Direction::Read, Kind::Message, 0, |l| {
                        sys::accept_ip(l).map(|(s, a)| (0usize, (s, a)))
                    })
                    .map_ok(|(_, (s, a))| (std::net::TcpStream::from(s), a))
            },
        )
        .await
    }

    /// The address the listener is bound to.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let l = simul::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///     assert!(l.local_addr().unwrap().ip().is_loopback());
    /// });
    /// ```
    #[doc(alias = "getsockname")]
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get().local_addr()
    }

    /// A stream of accepted connections (with the same back-off as [`accept`](Self::accept)).
    ///
    /// # Examples
    /// ```
    /// use futures_util::StreamExt;
    /// use simul::net::{TcpListener, TcpStream};
    /// simul::run(async {
    ///     let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///     let _c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    ///     let mut incoming = l.incoming();
    ///     let s = incoming.next().await.unwrap().unwrap();
    ///     assert!(s.peer_addr().is_ok());
    /// });
    /// ```
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming {
            listener: self,
            backoff: ACCEPT_BACKOFF_MIN,
            sleep: None,
        }
    }
}

/// The accept loop of the module doc, shared with [`UnixListener`](super::UnixListener).
pub(crate) async fn accept_with_backoff<T>(
    warned: &AtomicBool,
    describe: impl Fn() -> String,
    mut poll: impl FnMut(&mut Context<'_>) -> Poll<io::Result<T>>,
) -> io::Result<T> {
    let mut backoff = ACCEPT_BACKOFF_MIN;
    loop {
        match poll_fn(&mut poll).await {
            Err(e) if sys::is_fd_exhaustion(&e) => {
                warn_once(warned, &e, &describe());
                crate::time::sleep(backoff).await;
                backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
            }
            Err(e) if transient_accept_error(&e) => {}
            r => return r,
        }
    }
}

/// Logs descriptor exhaustion once per listener.
fn warn_once(warned: &AtomicBool, e: &io::Error, what: &str) {
    if !warned.swap(true, Ordering::Relaxed) {
        eprintln!(
            "simul: accept() on {what} failed: {e}; backing off ({}..{} ms between retries) \
             until file descriptors are freed (logged once per listener)",
            ACCEPT_BACKOFF_MIN.as_millis(),
            ACCEPT_BACKOFF_MAX.as_millis()
        );
    }
}

/// Accept errors that concern one connection only (it was reset while queued).
fn transient_accept_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListener")
            .field("fd", &sys::raw(self.io.get()))
            .field("local_addr", &self.local_addr().ok())
            .finish()
    }
}

/// The stream of [`TcpListener::incoming`]: yields accepted streams, never ends.
///
/// # Examples
/// ```
/// use futures_util::StreamExt;
/// simul::run(async {
///     let l = simul::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
///     let _c = simul::net::TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
///     let mut inc: simul::net::tcp::Incoming<'_> = l.incoming();
///     assert!(inc.next().await.unwrap().is_ok());
/// });
/// ```
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
    backoff: Duration,
    sleep: Option<crate::time::Sleep>,
}

impl futures_core::Stream for Incoming<'_> {
    type Item = io::Result<TcpStream>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if let Some(s) = self.sleep.as_mut() {
                if Pin::new(s).poll(cx).is_pending() {
                    return Poll::Pending;
                }
                self.sleep = None;
            }
            match self.listener.poll_accept(cx) {
                Poll::Ready(Err(e)) if sys::is_fd_exhaustion(&e) => {
                    warn_once(&self.listener.warned, &e, &self.listener.describe());
                    self.sleep = Some(crate::time::sleep(self.backoff));
                    self.backoff = (self.backoff * 2).min(ACCEPT_BACKOFF_MAX);
                }
                Poll::Ready(Err(e)) if transient_accept_error(&e) => {}
                Poll::Ready(r) => {
                    self.backoff = ACCEPT_BACKOFF_MIN;
                    return Poll::Ready(Some(r.map(|(s, _)| s)));
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// A TCP connection: asyncio's socket transport, without the buffering.
///
/// Implements [`futures_io::AsyncRead`] and [`futures_io::AsyncWrite`]; the inherent
/// `read`/`write`/`write_all` need no trait import. Dropping it closes the connection.
///
/// # Examples
/// ```
/// use simul::net::{TcpListener, TcpStream};
/// simul::run(async {
///     let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
///     let mut c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
///     let (mut s, _) = l.accept().await.unwrap();
///     c.set_nodelay(true).unwrap();
///     c.write_all(b"hi").await.unwrap();
///     let mut buf = [0u8; 2];
///     s.read(&mut buf).await.unwrap();
///     assert_eq!(&buf, b"hi");
/// });
/// ```
pub struct TcpStream {
    io: Evented<std::net::TcpStream>,
}

impl TcpStream {
    /// Connects to `addr`, resolving a host name on the blocking pool and trying each
    /// address (staggered attempts, see the module doc).
    ///
    /// # Panics
    /// Outside a running loop.
    ///
    /// # Examples
    /// ```
    /// use simul::net::{TcpListener, TcpStream};
    /// simul::run(async {
    ///     let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///     let port = l.local_addr().unwrap().port();
    ///     let c = TcpStream::connect(("localhost", port)).await.unwrap();
    ///     assert_eq!(c.peer_addr().unwrap().port(), port);
    ///     // Nothing listens on port 1: the connection is refused.
    ///     assert!(TcpStream::connect("127.0.0.1:1").await.is_err());
    /// });
    /// ```
    #[doc(alias = "open_connection")]
    #[doc(alias = "create_connection")]
    #[doc(alias = "sock_connect")]
    pub async fn connect(addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        let addrs = resolve(&addr).await?;
        if addrs.len() == 1 {
            return Self::connect_addr(addrs[0]).await;
        }
        connect_staggered(interleave(addrs)).await
    }

    /// Connects to one address; an error names it (asyncio's "Connect call failed
    /// ('127.0.0.1', 1)") and keeps the OS error's kind.
    async fn connect_addr(addr: SocketAddr) -> io::Result<TcpStream> {
        let named = |e: io::Error| io::Error::new(e.kind(), ConnectError { addr, source: e });
        let fd = sys::socket(sys::domain_of(&addr), libc::SOCK_STREAM).map_err(named)?;
        sys::connect(&fd, &addr).map_err(named)?;
        let s = TcpStream::from_socket(std::net::TcpStream::from(fd))?;
        poll_fn(|cx| s.io.poll_connected(cx)).await.map_err(named)?;
        Ok(s)
    }

    /// Wraps a connected stream made by `std` (it is switched to non-blocking mode).
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    ///     let std = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    ///     let s = simul::net::TcpStream::from_std(std).unwrap();
    ///     assert_eq!(s.peer_addr().unwrap(), l.local_addr().unwrap());
    /// });
    /// ```
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        crate::sys::set_nonblocking(&stream, true)?;
        Self::from_socket(stream)
    }

    /// Adopts a connection accepted on another loop ([`TcpListener::accept_std`], already
    /// non-blocking) as [`TcpListener::accept`] registers its own: assumed ready both
    /// ways, so its first read takes the bytes already queued.
    pub(crate) fn from_accepted_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        Ok(TcpStream {
            io: Evented::new_accepted(stream)?,
        })
    }

    /// Detaches the stream from this loop and returns it as a `std` stream (in
    /// non-blocking mode), to move to another loop or thread, where
    /// [`from_std`](Self::from_std) adopts it — how a connection accepted on one loop is
    /// handed to another. Unread data stays in the socket.
    ///
    /// # Errors
    /// When the selector refuses to deregister the socket.
    ///
    /// # Examples
    /// ```
    /// let loops = simul::Loops::builder().count(2).build().unwrap();
    /// let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let addr = l.local_addr().unwrap();
    /// let moved = simul::run(async move {
    ///     let mut s = simul::net::TcpStream::connect(addr).await.unwrap();
    ///     s.write_all(b"ping").await.unwrap();
    ///     s.into_std().unwrap()
    /// });
    /// let (mut peer, _) = l.accept().unwrap();
    /// let on_loop_1 = loops.spawn_on(1, async move {
    ///     let mut s = simul::net::TcpStream::from_std(moved).unwrap();
    ///     s.write_all(b"pong").await.unwrap();
    /// });
    /// simul::run(on_loop_1).unwrap();
    /// let mut buf = [0; 8];
    /// use std::io::Read;
    /// peer.read_exact(&mut buf).unwrap();
    /// assert_eq!(&buf, b"pingpong");
    /// ```
    pub fn into_std(self) -> io::Result<std::net::TcpStream> {
        self.io.into_inner()
    }

    /// Registers `s` (already non-blocking) with the current loop.
    fn from_socket(s: std::net::TcpStream) -> io::Result<TcpStream> {
        Ok(TcpStream {
            io: Evented::new(s, Interest::READABLE | Interest::WRITABLE)?,
        })
    }

    /// The remote address.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let l = simul::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///     let c = simul::net::TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    ///     assert_eq!(c.peer_addr().unwrap(), l.local_addr().unwrap());
    /// });
    /// ```
    #[doc(alias = "getpeername")]
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get().peer_addr()
    }

    /// The local address.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let l = simul::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///     let c = simul::net::TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    ///     assert!(c.local_addr().unwrap().ip().is_loopback());
    /// });
    /// ```
    #[doc(alias = "getsockname")]
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get().local_addr()
    }

    /// `TCP_NODELAY`: send small writes at once instead of coalescing them (Nagle off).
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let l = simul::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///     let c = simul::net::TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    ///     c.set_nodelay(true).unwrap();
    ///     assert!(c.nodelay().unwrap());
    /// });
    /// ```
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.io.get().set_nodelay(on)
    }

    /// Whether `TCP_NODELAY` is set.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let l = simul::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///     let c = simul::net::TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    ///     assert!(!c.nodelay().unwrap());
    /// });
    /// ```
    pub fn nodelay(&self) -> io::Result<bool> {
        self.io.get().nodelay()
    }

    /// `SO_LINGER`. `Some(Duration::ZERO)` makes dropping the stream send a reset (RST)
    /// instead of a normal close (asyncio's `transport.abort()` on the peer's side looks
    /// like this).
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let l = simul::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///     let c = simul::net::TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    ///     c.set_linger(Some(std::time::Duration::ZERO)).unwrap();
    /// });
    /// ```
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        sys::set_linger(self.io.get(), linger)
    }

    /// `SO_KEEPALIVE`: let the kernel probe an idle connection.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let l = simul::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///     let c = simul::net::TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    ///     c.set_keepalive(true).unwrap();
    ///     assert!(c.keepalive().unwrap());
    /// });
    /// ```
    pub fn set_keepalive(&self, on: bool) -> io::Result<()> {
        sys::set_flag(self.io.get(), libc::SOL_SOCKET, libc::SO_KEEPALIVE, on)
    }

    /// Whether `SO_KEEPALIVE` is set.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let l = simul::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///     let c = simul::net::TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    ///     assert!(!c.keepalive().unwrap());
    /// });
    /// ```
    pub fn keepalive(&self) -> io::Result<bool> {
        sys::get_flag(self.io.get(), libc::SOL_SOCKET, libc::SO_KEEPALIVE)
    }

    /// Reads without consuming: the data stays for the next `read` (`MSG_PEEK`).
    ///
    /// # Examples
    /// ```
    /// use simul::net::{TcpListener, TcpStream};
    /// simul::run(async {
    ///     let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///     let mut c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    ///     let (mut s, _) = l.accept().await.unwrap();
    ///     c.write_all(b"abc").await.unwrap();
    ///     let mut buf = [0u8; 3];
    ///     let n = s.peek(&mut buf).await.unwrap();
    ///     assert_eq!(&buf[..n], &b"abc"[..n]);
    ///     assert_eq!(s.read(&mut buf).await.unwrap(), n);
    /// });
    /// ```
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        // A peek leaves the data in place, so it says nothing about being drained.
        self.io.message_op(Direction::Read, |s| s.peek(buf)).await
    }
}

stream_api!(
    TcpStream,
    "    let l = simul::net::TcpListener::bind(\"127.0.0.1:0\").await.unwrap();\n    \
     let mut a = simul::net::TcpStream::connect(l.local_addr().unwrap()).await.unwrap();\n    \
     let (mut b, _) = l.accept().await.unwrap();"
);

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream")
            .field("fd", &sys::raw(self.io.get()))
            .field("local_addr", &self.local_addr().ok())
            .field("peer_addr", &self.peer_addr().ok())
            .finish()
    }
}

/// Orders addresses alternating between families, starting with the first one's family.
fn interleave(addrs: Vec<SocketAddr>) -> Vec<SocketAddr> {
    let first_v6 = addrs[0].is_ipv6();
    let (mut a, mut b): (Vec<_>, Vec<_>) = addrs.into_iter().partition(|x| x.is_ipv6() == first_v6);
    let mut out = Vec::with_capacity(a.len() + b.len());
    a.reverse();
    b.reverse();
    loop {
        match (a.pop(), b.pop()) {
            (None, None) => return out,
            (x, y) => out.extend(x.into_iter().chain(y)),
        }
    }
}

/// A failed connection attempt to one address.
#[derive(Debug)]
struct ConnectError {
    addr: SocketAddr,
    source: io::Error,
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "connect to {} failed: {}", self.addr, self.source)
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Every attempt of a multi-address connect failed (asyncio's "Multiple exceptions: ...");
/// each error names its address.
#[derive(Debug)]
struct ConnectErrors(Vec<io::Error>);

impl std::fmt::Display for ConnectErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "all {} connection attempts failed", self.0.len())?;
        for (i, e) in self.0.iter().enumerate() {
            f.write_str(if i == 0 { ": " } else { "; " })?;
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConnectErrors {}

/// One error for a connect whose attempts all failed: the only one as it is, several
/// joined, with the kind of the last (the kinds agree in the common case of a port
/// nobody listens on).
fn join_errors(mut errors: Vec<io::Error>) -> io::Error {
    if errors.len() > 1 {
        let kind = errors[errors.len() - 1].kind();
        return io::Error::new(kind, ConnectErrors(errors));
    }
    errors
        .pop()
        .unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address to connect to"))
}

type Attempt = Pin<Box<dyn Future<Output = io::Result<TcpStream>>>>;

/// Happy eyeballs: see the module doc.
async fn connect_staggered(addrs: Vec<SocketAddr>) -> io::Result<TcpStream> {
    let mut next = addrs.into_iter();
    let mut running: Vec<Attempt> = Vec::new();
    let mut stagger: Option<crate::time::Sleep> = None;
    let mut errors: Vec<io::Error> = Vec::new();
    let mut kick = true;
    poll_fn(move |cx| loop {
        let elapsed = stagger
            .as_mut()
            .is_some_and(|s| Pin::new(s).poll(cx).is_ready());
        if kick || elapsed || running.is_empty() {
            kick = false;
            stagger = None;
            match next.next() {
                Some(a) => {
                    running.push(Box::pin(TcpStream::connect_addr(a)));
                    stagger = Some(crate::time::sleep(CONNECT_STAGGER));
                    continue; // poll the new attempt and arm the new timer
                }
                None if running.is_empty() => {
                    return Poll::Ready(Err(join_errors(std::mem::take(&mut errors))));
                }
                None => {}
            }
        }
        let mut i = 0;
        while i < running.len() {
            match running[i].as_mut().poll(cx) {
                Poll::Ready(Ok(s)) => return Poll::Ready(Ok(s)),
                Poll::Ready(Err(e)) => {
                    errors.push(e);
                    drop(running.swap_remove(i));
                    // A failure starts the next attempt at once (RFC 8305 section 5).
                    kick = true;
                }
                Poll::Pending => i += 1,
            }
        }
        if !kick {
            return Poll::Pending;
        }
    })
    .await
}
