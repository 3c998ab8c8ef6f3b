//! UDP: [`UdpSocket`].
//!
//! Datagrams are atomic, so every method takes `&self`: one task may wait in `recv_from`
//! while another sends, and several may wait in `recv_from` at once (each is woken when
//! datagrams arrive; each datagram goes to one of them). A datagram larger than the buffer given to `recv` is truncated
//! (the rest is lost), as with the OS call.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::task::{Context, Poll};

use crate::io::driver::Interest;

use super::evented::{Evented, Kind};
use super::{resolve, sys, try_each, BindOptions, ToSocketAddrs};
use crate::io::driver::Direction;

/// A UDP socket (asyncio's datagram endpoint, without the protocol callbacks).
///
/// # Examples
/// ```
/// use simul::net::UdpSocket;
/// simul::run(async {
///     let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
///     let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
///     a.send_to(b"ping", b.local_addr().unwrap()).await.unwrap();
///     let mut buf = [0u8; 16];
///     let (n, from) = b.recv_from(&mut buf).await.unwrap();
///     assert_eq!((&buf[..n], from), (&b"ping"[..], a.local_addr().unwrap()));
/// });
/// ```
pub struct UdpSocket {
    io: Evented<std::net::UdpSocket>,
}

impl UdpSocket {
    /// Binds to the first of `addr`'s addresses that works (no `SO_REUSEADDR`).
    ///
    /// # Panics
    /// Outside a running loop.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let s = simul::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    ///     assert_ne!(s.local_addr().unwrap().port(), 0);
    /// });
    /// ```
    #[doc(alias = "create_datagram_endpoint")]
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        Self::bind_with(addr, BindOptions::new().reuse_address(false)).await
    }

    /// Binds with explicit [`BindOptions`] (`reuse_port` lets several sockets share the
    /// address; the backlog is ignored).
    ///
    /// # Examples
    /// ```
    /// use simul::net::{BindOptions, UdpSocket};
    /// simul::run(async {
    ///     let o = BindOptions::new().reuse_port(true);
    ///     let a = UdpSocket::bind_with("127.0.0.1:0", o).await.unwrap();
    ///     let b = UdpSocket::bind_with(a.local_addr().unwrap(), o).await.unwrap();
    ///     assert_eq!(a.local_addr().unwrap(), b.local_addr().unwrap());
    /// });
    /// ```
    pub async fn bind_with(addr: impl ToSocketAddrs, opts: BindOptions) -> io::Result<UdpSocket> {
        let addrs = resolve(&addr).await?;
        try_each(addrs, |a| {
            std::future::ready(
                opts.bind_socket(&a, libc::SOCK_DGRAM)
                    .and_then(|fd| Self::from_socket(std::net::UdpSocket::from(fd))),
            )
        })
        .await
    }

    /// Wraps a socket made by `std` (it is switched to non-blocking mode).
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let std = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    ///     let s = simul::net::UdpSocket::from_std(std).unwrap();
    ///     assert!(s.local_addr().is_ok());
    /// });
    /// ```
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
        crate::sys::set_nonblocking(&socket, true)?;
        Self::from_socket(socket)
    }

    /// Registers `s` (already non-blocking) with the current loop.
    fn from_socket(s: std::net::UdpSocket) -> io::Result<UdpSocket> {
        Ok(UdpSocket {
            io: Evented::new(s, Interest::READABLE | Interest::WRITABLE)?,
        })
    }

    /// Sets the default peer: [`send`](Self::send) goes there and only its datagrams are
    /// received. Tries each resolved address in turn.
    ///
    /// # Examples
    /// ```
    /// use simul::net::UdpSocket;
    /// simul::run(async {
    ///     let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    ///     let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    ///     a.connect(b.local_addr().unwrap()).await.unwrap();
    ///     assert_eq!(a.peer_addr().unwrap(), b.local_addr().unwrap());
    /// });
    /// ```
    pub async fn connect(&self, addr: impl ToSocketAddrs) -> io::Result<()> {
        let addrs = resolve(&addr).await?;
        try_each(addrs, |a| std::future::ready(self.io.get().connect(a))).await
    }

    /// Sends one datagram to the connected peer; returns the bytes sent.
    ///
    /// # Examples
    /// ```
    /// use simul::net::UdpSocket;
    /// simul::run(async {
    ///     let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    ///     let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    ///     a.connect(b.local_addr().unwrap()).await.unwrap();
    ///     assert_eq!(a.send(b"hi").await.unwrap(), 2);
    /// });
    /// ```
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.message_op(Direction::Write, |s| s.send(buf)).await
    }

    /// Receives one datagram from the connected peer.
    ///
    /// # Examples
    /// ```
    /// use simul::net::UdpSocket;
    /// simul::run(async {
    ///     let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    ///     let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    ///     b.connect(a.local_addr().unwrap()).await.unwrap();
    ///     a.send_to(b"hi", b.local_addr().unwrap()).await.unwrap();
    ///     let mut buf = [0u8; 8];
    ///     assert_eq!(b.recv(&mut buf).await.unwrap(), 2);
    /// });
    /// ```
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.message_op(Direction::Read, |s| s.recv(buf)).await
    }

    /// Sends one datagram to `target` (the first of its resolved addresses).
    ///
    /// # Examples
    /// ```
    /// use simul::net::UdpSocket;
    /// simul::run(async {
    ///     let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    ///     let n = a.send_to(b"x", "127.0.0.1:9").await.unwrap();
    ///     assert_eq!(n, 1);
    /// });
    /// ```
    #[doc(alias = "sendto")]
    #[doc(alias = "sock_sendto")]
    pub async fn send_to(&self, buf: &[u8], target: impl ToSocketAddrs) -> io::Result<usize> {
        let addr = resolve(&target).await?[0];
        self.io
            .message_op(Direction::Write, |s| s.send_to(buf, addr))
            .await
    }

    /// Receives one datagram and the address it came from.
    ///
    /// # Examples
    /// ```
    /// use simul::net::UdpSocket;
    /// simul::run(async {
    ///     let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    ///     a.send_to(b"self", a.local_addr().unwrap()).await.unwrap();
    ///     let mut buf = [0u8; 8];
    ///     let (n, from) = a.recv_from(&mut buf).await.unwrap();
    ///     assert_eq!((n, from), (4, a.local_addr().unwrap()));
    /// });
    /// ```
    #[doc(alias = "recvfrom")]
    #[doc(alias = "sock_recvfrom")]
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io
            .message_op(Direction::Read, |s| s.recv_from(buf))
            .await
    }

    /// Polls sending one datagram to `addr`.
    ///
    /// # Examples
    /// ```
    /// use simul::net::UdpSocket;
    /// simul::run(async {
    ///     let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    ///     let to = a.local_addr().unwrap();
    ///     let n = std::future::poll_fn(|cx| a.poll_send_to(cx, b"x", to)).await.unwrap();
    ///     assert_eq!(n, 1);
    /// });
    /// ```
    pub fn poll_send_to(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        addr: SocketAddr,
    ) -> Poll<io::Result<usize>> {
        self.io
            .poll_op(cx, None, Direction::Write, Kind::Message, 0, |s| {
                s.send_to(buf, addr)
            })
    }

    /// Polls receiving one datagram.
    ///
    /// # Examples
    /// ```
    /// use simul::net::UdpSocket;
    /// simul::run(async {
    ///     let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    ///     a.send_to(b"x", a.local_addr().unwrap()).await.unwrap();
    ///     let mut buf = [0u8; 4];
    ///     let (n, _) = std::future::poll_fn(|cx| a.poll_recv_from(cx, &mut buf)).await.unwrap();
    ///     assert_eq!(n, 1);
    /// });
    /// ```
    pub fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        self.io
            .poll_op(cx, None, Direction::Read, Kind::Message, 0, |s| {
                s.recv_from(buf)
            })
    }

    /// Sends to `addr` without waiting (`Err(WouldBlock)` if the socket buffer is full).
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let a = simul::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    ///     assert_eq!(a.try_send_to(b"x", a.local_addr().unwrap()).unwrap(), 1);
    /// });
    /// ```
    pub fn try_send_to(&self, buf: &[u8], addr: SocketAddr) -> io::Result<usize> {
        self.io.try_op(Direction::Write, |s| s.send_to(buf, addr))
    }

    /// Receives without waiting (`Err(WouldBlock)` if no datagram is queued).
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let a = simul::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    ///     let mut buf = [0u8; 4];
    ///     let e = a.try_recv_from(&mut buf).unwrap_err();
    ///     assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock);
    /// });
    /// ```
    pub fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io.try_op(Direction::Read, |s| s.recv_from(buf))
    }

    /// The local address.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let a = simul::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    ///     assert!(a.local_addr().unwrap().ip().is_loopback());
    /// });
    /// ```
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get().local_addr()
    }

    /// The connected peer's address (`Err(NotConnected)` if none).
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let a = simul::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    ///     assert!(a.peer_addr().is_err());
    /// });
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get().peer_addr()
    }

    /// `SO_BROADCAST`: allow sending to broadcast addresses.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let a = simul::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    ///     a.set_broadcast(true).unwrap();
    ///     assert!(a.broadcast().unwrap());
    /// });
    /// ```
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.io.get().set_broadcast(on)
    }

    /// Whether `SO_BROADCAST` is set.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let a = simul::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    ///     assert!(!a.broadcast().unwrap());
    /// });
    /// ```
    pub fn broadcast(&self) -> io::Result<bool> {
        self.io.get().broadcast()
    }

    /// Whether `SO_REUSEPORT` is set.
    ///
    /// # Examples
    /// ```
    /// use simul::net::{BindOptions, UdpSocket};
    /// simul::run(async {
    ///     let a = UdpSocket::bind_with("127.0.0.1:0", BindOptions::new().reuse_port(true))
    ///         .await
    ///         .unwrap();
    ///     assert!(a.reuse_port().unwrap());
    /// });
    /// ```
    pub fn reuse_port(&self) -> io::Result<bool> {
        sys::get_flag(self.io.get(), libc::SOL_SOCKET, libc::SO_REUSEPORT)
    }
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpSocket")
            .field("fd", &sys::raw(self.io.get()))
            .field("local_addr", &self.local_addr().ok())
            .finish()
    }
}
