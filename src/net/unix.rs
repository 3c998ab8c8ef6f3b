//! Unix-domain sockets: [`UnixListener`], [`UnixStream`] and [`UnixDatagram`].
//!
//! They behave like their TCP and UDP counterparts, with paths for addresses. Binding a
//! path creates the socket file; simul does not remove it afterwards (asyncio's servers
//! do that, and so does `simul::stream`'s Unix server).

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::os::unix::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::task::{Context, Poll};

use crate::io::driver::Interest;

use super::evented::{Evented, Kind};
use super::stream::stream_api;
use super::sys;
use crate::io::driver::{Direction, Waiter};

/// A Unix-domain socket listening for connections.
///
/// # Examples
/// ```
/// use simul::net::{UnixListener, UnixStream};
/// let dir = std::env::temp_dir().join(format!("simul-doc-ul-{}", std::process::id()));
/// let _ = std::fs::remove_file(&dir);
/// simul::run(async {
///     let l = UnixListener::bind(&dir).unwrap();
///     let mut c = UnixStream::connect(&dir).await.unwrap();
///     let (mut s, _) = l.accept().await.unwrap();
///     c.write_all(b"hi").await.unwrap();
///     let mut buf = [0u8; 2];
///     s.read(&mut buf).await.unwrap();
///     assert_eq!(&buf, b"hi");
/// });
/// std::fs::remove_file(&dir).unwrap();
/// ```
pub struct UnixListener {
    io: Evented<std::os::unix::net::UnixListener>,
    warned: AtomicBool,
}

impl UnixListener {
    /// Creates the socket file at `path` and listens on it.
    ///
    /// # Panics
    /// Outside a running loop.
    ///
    /// # Examples
    /// ```
    /// let p = std::env::temp_dir().join(format!("simul-doc-ulb-{}", std::process::id()));
    /// let _ = std::fs::remove_file(&p);
    /// simul::run(async {
    ///     let l = simul::net::UnixListener::bind(&p).unwrap();
    ///     assert_eq!(l.local_addr().unwrap().as_pathname(), Some(p.as_path()));
    /// });
    /// std::fs::remove_file(&p).unwrap();
    /// ```
    #[doc(alias = "create_unix_server")]
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        let path = path.as_ref();
        let fd = sys::socket(libc::AF_UNIX, libc::SOCK_STREAM)?;
        sys::bind_unix(&fd, path).map_err(|e| PathError::wrap("bind to", path, e))?;
        // The kernel clamps this to its maximum (`somaxconn`): the backlog std and mio ask
        // for on Linux (`listen(fd, -1)`).
        sys::listen(&fd, u32::MAX)?;
        Self::from_socket(std::os::unix::net::UnixListener::from(fd))
    }

    /// Wraps a listener made by `std` (it is switched to non-blocking mode).
    ///
    /// # Examples
    /// ```
    /// let p = std::env::temp_dir().join(format!("simul-doc-ulf-{}", std::process::id()));
    /// let _ = std::fs::remove_file(&p);
    /// simul::run(async {
    ///     let std = std::os::unix::net::UnixListener::bind(&p).unwrap();
    ///     assert!(simul::net::UnixListener::from_std(std).is_ok());
    /// });
    /// std::fs::remove_file(&p).unwrap();
    /// ```
    pub fn from_std(listener: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
        crate::sys::set_nonblocking(&listener, true)?;
        Self::from_socket(listener)
    }

    /// Registers `l` (already non-blocking) with the current loop.
    fn from_socket(l: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
        Ok(UnixListener {
            io: Evented::new(l, Interest::READABLE)?,
            warned: AtomicBool::new(false),
        })
    }

    /// Waits for a connection (backing off under descriptor exhaustion, as
    /// [`TcpListener::accept`](super::TcpListener::accept) does).
    ///
    /// # Examples
    /// ```
    /// # let p = std::env::temp_dir().join(format!("simul-doc-ula-{}", std::process::id()));
    /// # let _ = std::fs::remove_file(&p);
    /// simul::run(async {
    ///     let l = simul::net::UnixListener::bind(&p).unwrap();
    ///     let _c = simul::net::UnixStream::connect(&p).await.unwrap();
    ///     let (s, _addr) = l.accept().await.unwrap();
    ///     assert!(s.peer_addr().is_ok());
    /// });
    /// # std::fs::remove_file(&p).unwrap();
    /// ```
    pub async fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let mut w = self.io.waiter(Direction::Read);
        super::tcp::accept_with_backoff(
            &self.warned,
            || format!("Unix listener {:?}", self.local_addr().ok()),
            |cx| self.poll_accept_in(cx, Some(&mut w)),
        )
        .await
    }

    /// Polls for one connection, returning every error (no back-off).
    ///
    /// # Examples
    /// ```
    /// # let p = std::env::temp_dir().join(format!("simul-doc-ulp-{}", std::process::id()));
    /// # let _ = std::fs::remove_file(&p);
    /// simul::run(async {
    ///     let l = simul::net::UnixListener::bind(&p).unwrap();
    ///     let _c = simul::net::UnixStream::connect(&p).await.unwrap();
    ///     assert!(std::future::poll_fn(|cx| l.poll_accept(cx)).await.is_ok());
    /// });
    /// # std::fs::remove_file(&p).unwrap();
    /// ```
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(UnixStream, SocketAddr)>> {
        self.poll_accept_in(cx, None)
    }

    /// `poll_accept`, waiting in `waiter`'s own entry if given.
    fn poll_accept_in(
        &self,
        cx: &mut Context<'_>,
        waiter: Option<&mut Waiter<'_>>,
    ) -> Poll<io::Result<(UnixStream, SocketAddr)>> {
        match self
            .io
            .poll_op(cx, waiter, Direction::Read, Kind::Message, 0, |l| {
                sys::accept_unix(l).map(|sa| (0usize, sa))
            }) {
            Poll::Ready(Ok((_, (s, a)))) => {
                let io = Evented::new_accepted(std::os::unix::net::UnixStream::from(s));
                Poll::Ready(io.map(|io| (UnixStream { io }, a)))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    /// The address the listener is bound to.
    ///
    /// # Examples
    /// ```
    /// # let p = std::env::temp_dir().join(format!("simul-doc-ull-{}", std::process::id()));
    /// # let _ = std::fs::remove_file(&p);
    /// simul::run(async {
    ///     let l = simul::net::UnixListener::bind(&p).unwrap();
    ///     assert!(l.local_addr().unwrap().as_pathname().is_some());
    /// });
    /// # std::fs::remove_file(&p).unwrap();
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get().local_addr()
    }
}

impl fmt::Debug for UnixListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixListener")
            .field("fd", &sys::raw(self.io.get()))
            .field("local_addr", &self.local_addr().ok())
            .finish()
    }
}

/// A Unix-domain stream connection.
///
/// # Examples
/// ```
/// simul::run(async {
///     let (mut a, mut b) = simul::net::UnixStream::pair().unwrap();
///     a.write_all(b"ping").await.unwrap();
///     let mut buf = [0u8; 4];
///     b.read(&mut buf).await.unwrap();
///     assert_eq!(&buf, b"ping");
/// });
/// ```
pub struct UnixStream {
    io: Evented<std::os::unix::net::UnixStream>,
}

impl UnixStream {
    /// Connects to the socket at `path`.
    ///
    /// # Panics
    /// Outside a running loop.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let e = simul::net::UnixStream::connect("/nonexistent/simul.sock").await.unwrap_err();
    ///     assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
    /// });
    /// ```
    #[doc(alias = "open_unix_connection")]
    #[doc(alias = "create_unix_connection")]
    pub async fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        let path = path.as_ref();
        let named = |e| PathError::wrap("connect to", path, e);
        let fd = sys::socket(libc::AF_UNIX, libc::SOCK_STREAM)?;
        sys::connect_unix(&fd, path).map_err(named)?;
        let s = UnixStream::from_socket(std::os::unix::net::UnixStream::from(fd))?;
        poll_fn(|cx| s.io.poll_connected(cx)).await.map_err(named)?;
        Ok(s)
    }

    /// A connected pair (`socketpair`).
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let (a, b) = simul::net::UnixStream::pair().unwrap();
    ///     assert!(a.local_addr().is_ok() && b.peer_addr().is_ok());
    /// });
    /// ```
    #[doc(alias = "socketpair")]
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = sys::socketpair(libc::SOCK_STREAM)?;
        Ok((
            UnixStream::from_socket(a.into())?,
            UnixStream::from_socket(b.into())?,
        ))
    }

    /// Wraps a stream made by `std` (it is switched to non-blocking mode).
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    ///     assert!(simul::net::UnixStream::from_std(a).is_ok());
    /// });
    /// ```
    pub fn from_std(stream: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        crate::sys::set_nonblocking(&stream, true)?;
        Self::from_socket(stream)
    }

    /// Registers `s` (already non-blocking) with the current loop.
    fn from_socket(s: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        Ok(UnixStream {
            io: Evented::new(s, Interest::READABLE | Interest::WRITABLE)?,
        })
    }

    /// The local address.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let (a, _b) = simul::net::UnixStream::pair().unwrap();
    ///     assert!(a.local_addr().unwrap().is_unnamed());
    /// });
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get().local_addr()
    }

    /// The peer's address.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let (a, _b) = simul::net::UnixStream::pair().unwrap();
    ///     assert!(a.peer_addr().unwrap().is_unnamed());
    /// });
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get().peer_addr()
    }
}

stream_api!(
    UnixStream,
    "    let (mut a, mut b) = simul::net::UnixStream::pair().unwrap();"
);

impl fmt::Debug for UnixStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixStream")
            .field("fd", &sys::raw(self.io.get()))
            .field("local_addr", &self.local_addr().ok())
            .field("peer_addr", &self.peer_addr().ok())
            .finish()
    }
}

/// A Unix-domain datagram socket.
///
/// # Examples
/// ```
/// simul::run(async {
///     let (a, b) = simul::net::UnixDatagram::pair().unwrap();
///     a.send(b"one").await.unwrap();
///     let mut buf = [0u8; 8];
///     assert_eq!(b.recv(&mut buf).await.unwrap(), 3);
/// });
/// ```
pub struct UnixDatagram {
    io: Evented<std::os::unix::net::UnixDatagram>,
}

impl UnixDatagram {
    /// Creates a datagram socket bound to `path`.
    ///
    /// # Examples
    /// ```
    /// # let p = std::env::temp_dir().join(format!("simul-doc-udb-{}", std::process::id()));
    /// # let _ = std::fs::remove_file(&p);
    /// simul::run(async {
    ///     let s = simul::net::UnixDatagram::bind(&p).unwrap();
    ///     assert!(s.local_addr().unwrap().as_pathname().is_some());
    /// });
    /// # std::fs::remove_file(&p).unwrap();
    /// ```
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixDatagram> {
        let path = path.as_ref();
        let fd = sys::socket(libc::AF_UNIX, libc::SOCK_DGRAM)?;
        sys::bind_unix(&fd, path).map_err(|e| PathError::wrap("bind to", path, e))?;
        Self::from_socket(fd.into())
    }

    /// Creates an unbound datagram socket (it can send, and receive replies once connected).
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let s = simul::net::UnixDatagram::unbound().unwrap();
    ///     assert!(s.local_addr().unwrap().is_unnamed());
    /// });
    /// ```
    pub fn unbound() -> io::Result<UnixDatagram> {
        Self::from_socket(sys::socket(libc::AF_UNIX, libc::SOCK_DGRAM)?.into())
    }

    /// A connected pair.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let (a, b) = simul::net::UnixDatagram::pair().unwrap();
    ///     assert!(a.peer_addr().is_ok() && b.peer_addr().is_ok());
    /// });
    /// ```
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = sys::socketpair(libc::SOCK_DGRAM)?;
        Ok((
            UnixDatagram::from_socket(a.into())?,
            UnixDatagram::from_socket(b.into())?,
        ))
    }

    /// Wraps a socket made by `std` (it is switched to non-blocking mode).
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let s = std::os::unix::net::UnixDatagram::unbound().unwrap();
    ///     assert!(simul::net::UnixDatagram::from_std(s).is_ok());
    /// });
    /// ```
    pub fn from_std(socket: std::os::unix::net::UnixDatagram) -> io::Result<UnixDatagram> {
        crate::sys::set_nonblocking(&socket, true)?;
        Self::from_socket(socket)
    }

    /// Registers `s` (already non-blocking) with the current loop.
    fn from_socket(s: std::os::unix::net::UnixDatagram) -> io::Result<UnixDatagram> {
        Ok(UnixDatagram {
            io: Evented::new(s, Interest::READABLE | Interest::WRITABLE)?,
        })
    }

    /// Sets the default peer.
    ///
    /// # Examples
    /// ```
    /// # let p = std::env::temp_dir().join(format!("simul-doc-udc-{}", std::process::id()));
    /// # let _ = std::fs::remove_file(&p);
    /// simul::run(async {
    ///     let server = simul::net::UnixDatagram::bind(&p).unwrap();
    ///     let c = simul::net::UnixDatagram::unbound().unwrap();
    ///     c.connect(&p).unwrap();
    ///     c.send(b"x").await.unwrap();
    ///     let mut buf = [0u8; 1];
    ///     assert_eq!(server.recv(&mut buf).await.unwrap(), 1);
    /// });
    /// # std::fs::remove_file(&p).unwrap();
    /// ```
    pub fn connect(&self, path: impl AsRef<Path>) -> io::Result<()> {
        self.io.get().connect(path)
    }

    /// Sends one datagram to the connected peer.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let (a, _b) = simul::net::UnixDatagram::pair().unwrap();
    ///     assert_eq!(a.send(b"hey").await.unwrap(), 3);
    /// });
    /// ```
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.message_op(Direction::Write, |s| s.send(buf)).await
    }

    /// Receives one datagram from the connected peer.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let (a, b) = simul::net::UnixDatagram::pair().unwrap();
    ///     a.send(b"hey").await.unwrap();
    ///     let mut buf = [0u8; 8];
    ///     assert_eq!(b.recv(&mut buf).await.unwrap(), 3);
    /// });
    /// ```
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.message_op(Direction::Read, |s| s.recv(buf)).await
    }

    /// Sends one datagram to the socket at `path`.
    ///
    /// # Examples
    /// ```
    /// # let p = std::env::temp_dir().join(format!("simul-doc-uds-{}", std::process::id()));
    /// # let _ = std::fs::remove_file(&p);
    /// simul::run(async {
    ///     let server = simul::net::UnixDatagram::bind(&p).unwrap();
    ///     let c = simul::net::UnixDatagram::unbound().unwrap();
    ///     assert_eq!(c.send_to(b"x", &p).await.unwrap(), 1);
    ///     let mut buf = [0u8; 1];
    ///     server.recv_from(&mut buf).await.unwrap();
    /// });
    /// # std::fs::remove_file(&p).unwrap();
    /// ```
    pub async fn send_to(&self, buf: &[u8], path: impl AsRef<Path>) -> io::Result<usize> {
        let path = path.as_ref();
        self.io
            .message_op(Direction::Write, |s| s.send_to(buf, path))
            .await
    }

    /// Receives one datagram and the sender's address.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let (a, b) = simul::net::UnixDatagram::pair().unwrap();
    ///     a.send(b"hey").await.unwrap();
    ///     let mut buf = [0u8; 8];
    ///     let (n, _from) = b.recv_from(&mut buf).await.unwrap();
    ///     assert_eq!(n, 3);
    /// });
    /// ```
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io
            .message_op(Direction::Read, |s| s.recv_from(buf))
            .await
    }

    /// The local address.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let (a, _b) = simul::net::UnixDatagram::pair().unwrap();
    ///     assert!(a.local_addr().is_ok());
    /// });
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get().local_addr()
    }

    /// The connected peer's address.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let (a, _b) = simul::net::UnixDatagram::pair().unwrap();
    ///     assert!(a.peer_addr().is_ok());
    /// });
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get().peer_addr()
    }

    /// Shuts down reading, writing or both.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let (a, _b) = simul::net::UnixDatagram::pair().unwrap();
    ///     a.shutdown(std::net::Shutdown::Both).unwrap();
    /// });
    /// ```
    pub fn shutdown(&self, how: std::net::Shutdown) -> io::Result<()> {
        self.io.get().shutdown(how)
    }
}

impl fmt::Debug for UnixDatagram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixDatagram")
            .field("fd", &sys::raw(self.io.get()))
            .field("local_addr", &self.local_addr().ok())
            .finish()
    }
}

/// An OS error of a `bind` or `connect`, naming the path (as asyncio's `OSError` carries
/// its filename); the kind stays the OS error's. Errors simul makes itself (a path too
/// long, a NUL byte) already name the path and pass through unchanged.
#[derive(Debug)]
struct PathError {
    op: &'static str,
    path: std::path::PathBuf,
    source: io::Error,
}

impl PathError {
    fn wrap(op: &'static str, path: &Path, source: io::Error) -> io::Error {
        if source.raw_os_error().is_none() {
            return source;
        }
        let kind = source.kind();
        io::Error::new(
            kind,
            PathError {
                op,
                path: path.to_owned(),
                source,
            },
        )
    }
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?} failed: {}", self.op, self.path, self.source)
    }
}

impl std::error::Error for PathError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}
