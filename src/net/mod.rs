//! Non-blocking sockets on the loop's selector: TCP, UDP and Unix-domain sockets, and name
//! resolution on the blocking pool.
//!
//! asyncio's transports and `loop.sock_*` functions are built on the same pieces: a socket
//! in non-blocking mode, registered with the selector, and a task that suspends whenever
//! the kernel says `EAGAIN`. Here every socket type owns its descriptor and its
//! registration; dropping it deregisters and closes the descriptor.
//!
//! | type | asyncio |
//! |---|---|
//! | [`TcpListener`] | `loop.create_server` / `sock_accept` |
//! | [`TcpStream`] | `loop.create_connection` / `sock_connect`, `sock_recv`, `sock_sendall` |
//! | [`UdpSocket`] | `loop.create_datagram_endpoint` / `sock_sendto`, `sock_recvfrom` |
//! | [`UnixListener`], [`UnixStream`], [`UnixDatagram`] | `create_unix_server`, `create_unix_connection` |
//! | [`lookup_host`] | `loop.getaddrinfo` |
//! | [`AsyncFd`] | `loop.add_reader` / `add_writer` on a descriptor the caller owns |
//!
//! Streams implement [`futures_io::AsyncRead`] and [`futures_io::AsyncWrite`] and also
//! offer inherent `read`, `write` and `write_all`, plus `try_read`/`try_write` and
//! `poll_read_ready`/`poll_write_ready` for layers that manage their own buffers.
//!
//! # Readiness
//! Sockets are registered edge-triggered. A read shorter than its buffer is taken to mean
//! the socket is drained, so the next read waits for an event instead of paying a syscall
//! that would say `EAGAIN`; every completed operation spends one unit of the task's
//! cooperative budget, so a connection that is always ready cannot starve the loop.
//!
//! # Addresses
//! Functions that take an address accept anything implementing [`ToSocketAddrs`]: a
//! [`SocketAddr`], an `(ip, port)` pair, `"host:port"`, or `(host, port)`. Literal addresses
//! are used directly; host names are resolved on the blocking pool with the system
//! resolver (asyncio does the same with `getaddrinfo` in its default executor).

mod evented;
mod fd;
mod stream;
mod sys;
pub mod tcp;
pub mod udp;
pub mod unix;

pub use fd::{AsyncFd, Readiness};
pub use tcp::{TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixDatagram, UnixListener, UnixStream};

pub use std::net::Shutdown;

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// Resolves `host` to socket addresses with `port`, on the blocking pool.
///
/// A literal IP address is returned without touching the pool. A name the resolver cannot
/// resolve (unknown host, no address, resolver failure) gives `ErrorKind::NotFound` with a
/// message naming the host and the resolver's reason (asyncio's `socket.gaierror`); an OS
/// error during the lookup keeps its kind.
///
/// # Examples
/// ```
/// simul::run(async {
///     let addrs = simul::net::lookup_host("localhost", 8080).await.unwrap();
///     assert!(addrs.iter().all(|a| a.port() == 8080 && a.ip().is_loopback()));
///     let lit = simul::net::lookup_host("127.0.0.1", 1).await.unwrap();
///     assert_eq!(lit, vec!["127.0.0.1:1".parse().unwrap()]);
/// });
/// ```
#[doc(alias = "getaddrinfo")]
pub async fn lookup_host(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    if let Some(ip) = parse_ip(host) {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let name = host.to_owned();
    let addrs = crate::blocking::to_thread(move || {
        std::net::ToSocketAddrs::to_socket_addrs(&(name.as_str(), port))
            .map(|it| it.collect())
            .map_err(|e| {
                // std reports getaddrinfo's own failures (EAI_*) without an OS error code
                // and with an unnameable kind; OS errors (EAI_SYSTEM) carry their errno.
                let kind = match e.raw_os_error() {
                    Some(_) => e.kind(),
                    None => io::ErrorKind::NotFound,
                };
                io::Error::new(kind, format!("cannot resolve host {name:?}: {e}"))
            })
    })
    .await?;
    no_empty(addrs, host)
}

fn no_empty(addrs: Vec<SocketAddr>, host: &str) -> io::Result<Vec<SocketAddr>> {
    if addrs.is_empty() {
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no address found for host {host:?}"),
        ))
    } else {
        Ok(addrs)
    }
}

/// Parses an IP literal, also in the bracketed IPv6 form `[::1]`.
fn parse_ip(host: &str) -> Option<IpAddr> {
    let h = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    h.parse().ok()
}

/// Something that names one or more socket addresses: the argument of
/// [`TcpStream::connect`], [`TcpListener::bind`], [`UdpSocket::bind`] and friends.
///
/// Implemented for [`SocketAddr`] (and its V4/V6 forms), `(IpAddr, u16)`,
/// `(Ipv4Addr, u16)`, `(Ipv6Addr, u16)`, `(&str, u16)`, `(String, u16)`, `"host:port"`
/// as `&str` or `String`, and slices or vectors of [`SocketAddr`]. Host names are
/// resolved with [`lookup_host`]. The trait is sealed.
///
/// # Examples
/// ```
/// use simul::net::TcpListener;
/// simul::run(async {
///     let a = TcpListener::bind("127.0.0.1:0").await.unwrap();
///     let b = TcpListener::bind(("localhost", 0)).await.unwrap();
///     assert!(a.local_addr().unwrap().ip().is_loopback());
///     assert!(b.local_addr().unwrap().ip().is_loopback());
/// });
/// ```
pub trait ToSocketAddrs: sealed::Sealed {}

mod sealed {
    use super::*;

    /// Either addresses at hand or a name to resolve.
    pub enum Target {
        Ready(io::Result<Vec<SocketAddr>>),
        Lookup(String, u16),
    }

    pub trait Sealed {
        fn target(&self) -> Target;
    }
}

use sealed::Target;

/// Resolves `a` (on the blocking pool only for a host name).
pub(crate) async fn resolve(a: &impl ToSocketAddrs) -> io::Result<Vec<SocketAddr>> {
    match a.target() {
        Target::Ready(Ok(v)) if v.is_empty() => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "no socket address given",
        )),
        Target::Ready(r) => r,
        Target::Lookup(host, port) => lookup_host(&host, port).await,
    }
}

macro_rules! ready_addr {
    ($($t:ty),*) => {$(
        impl ToSocketAddrs for $t {}
        impl sealed::Sealed for $t {
            fn target(&self) -> Target {
                Target::Ready(Ok(vec![SocketAddr::from(*self)]))
            }
        }
    )*};
}
ready_addr!(
    SocketAddr,
    SocketAddrV4,
    SocketAddrV6,
    (IpAddr, u16),
    (Ipv4Addr, u16),
    (Ipv6Addr, u16)
);

impl ToSocketAddrs for (&str, u16) {}
impl sealed::Sealed for (&str, u16) {
    fn target(&self) -> Target {
        match parse_ip(self.0) {
            Some(ip) => Target::Ready(Ok(vec![SocketAddr::new(ip, self.1)])),
            None => Target::Lookup(self.0.to_owned(), self.1),
        }
    }
}

impl ToSocketAddrs for (String, u16) {}
impl sealed::Sealed for (String, u16) {
    fn target(&self) -> Target {
        (self.0.as_str(), self.1).target()
    }
}

impl ToSocketAddrs for str {}
impl sealed::Sealed for str {
    fn target(&self) -> Target {
        if let Ok(a) = self.parse::<SocketAddr>() {
            return Target::Ready(Ok(vec![a]));
        }
        let Some((host, port)) = self.rsplit_once(':') else {
            return Target::Ready(Err(invalid(self, "expected \"host:port\"")));
        };
        let Ok(port) = port.parse::<u16>() else {
            return Target::Ready(Err(invalid(self, "invalid port number")));
        };
        (host, port).target()
    }
}

impl ToSocketAddrs for String {}
impl sealed::Sealed for String {
    fn target(&self) -> Target {
        self.as_str().target()
    }
}

impl ToSocketAddrs for [SocketAddr] {}
impl sealed::Sealed for [SocketAddr] {
    fn target(&self) -> Target {
        Target::Ready(Ok(self.to_vec()))
    }
}

impl ToSocketAddrs for Vec<SocketAddr> {}
impl sealed::Sealed for Vec<SocketAddr> {
    fn target(&self) -> Target {
        Target::Ready(Ok(self.clone()))
    }
}

impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {}
impl<T: ToSocketAddrs + ?Sized> sealed::Sealed for &T {
    fn target(&self) -> Target {
        (**self).target()
    }
}

fn invalid(addr: &str, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("invalid socket address {addr:?}: {why}"),
    )
}

/// Options applied to a socket before it is bound ([`TcpListener::bind_with`],
/// [`UdpSocket::bind_with`]).
///
/// Defaults follow asyncio's `create_server`: `SO_REUSEADDR` on (so a restarted server can
/// bind while old connections sit in TIME_WAIT), `SO_REUSEPORT` off, a listen backlog of
/// 1024.
///
/// # Examples
/// ```
/// use simul::net::{BindOptions, TcpListener};
/// simul::run(async {
///     let opts = BindOptions::new().reuse_port(true).backlog(128);
///     let a = TcpListener::bind_with("127.0.0.1:0", opts).await.unwrap();
///     // A second listener may share the port when both set SO_REUSEPORT.
///     let b = TcpListener::bind_with(a.local_addr().unwrap(), opts).await.unwrap();
///     assert_eq!(a.local_addr().unwrap(), b.local_addr().unwrap());
/// });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BindOptions {
    reuse_address: bool,
    reuse_port: bool,
    backlog: u32,
}

impl Default for BindOptions {
    fn default() -> Self {
        BindOptions {
            reuse_address: true,
            reuse_port: false,
            backlog: 1024,
        }
    }
}

impl BindOptions {
    /// The defaults: reuse_address on, reuse_port off, backlog 1024.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(simul::net::BindOptions::new(), Default::default());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// `SO_REUSEADDR` (asyncio's `reuse_address`).
    ///
    /// # Examples
    /// ```
    /// let o = simul::net::BindOptions::new().reuse_address(false);
    /// # let _ = o;
    /// ```
    pub fn reuse_address(mut self, on: bool) -> Self {
        self.reuse_address = on;
        self
    }

    /// `SO_REUSEPORT` (asyncio's `reuse_port`): several sockets may bind the same address
    /// and the kernel balances connections or datagrams between them.
    ///
    /// # Examples
    /// ```
    /// let o = simul::net::BindOptions::new().reuse_port(true);
    /// # let _ = o;
    /// ```
    pub fn reuse_port(mut self, on: bool) -> Self {
        self.reuse_port = on;
        self
    }

    /// The listen backlog of a TCP listener (asyncio's `backlog`; ignored for UDP).
    ///
    /// # Examples
    /// ```
    /// let o = simul::net::BindOptions::new().backlog(100);
    /// # let _ = o;
    /// ```
    pub fn backlog(mut self, n: u32) -> Self {
        self.backlog = n;
        self
    }

    /// Creates a socket of type `ty` for `addr`, applies the options and binds it.
    fn bind_socket(&self, addr: &SocketAddr, ty: libc::c_int) -> io::Result<std::os::fd::OwnedFd> {
        let fd = sys::socket(sys::domain_of(addr), ty)?;
        if self.reuse_address {
            sys::set_flag(&fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, true)?;
        }
        if self.reuse_port {
            sys::set_flag(&fd, libc::SOL_SOCKET, libc::SO_REUSEPORT, true)?;
        }
        sys::bind(&fd, addr)?;
        Ok(fd)
    }
}

/// Tries `f` on each address in turn; returns the first success or the last error.
async fn try_each<T, F, Fut>(addrs: Vec<SocketAddr>, mut f: F) -> io::Result<T>
where
    F: FnMut(SocketAddr) -> Fut,
    Fut: std::future::Future<Output = io::Result<T>>,
{
    let mut last = None;
    for a in addrs {
        match f(a).await {
            Ok(v) => return Ok(v),
            Err(e) => last = Some(e),
        }
    }
    Err(last
        .unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no socket address given")))
}
