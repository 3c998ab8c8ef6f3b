//! [`ServerBuilder`]: `start_server` with asyncio's keyword arguments — `backlog`,
//! `reuse_address`, `reuse_port` and `sock`.
//!
//! [`start_server(handler, host, port)`](super::start_server) stays the short form; the
//! builder adds what a server on every core needs: `reuse_port(true)` lets each loop of a
//! [`Loops`](crate::Loops) bind its own listener on one port (the kernel spreads incoming
//! connections over them), and `sock(listener)` serves a listener made elsewhere — e.g.
//! one created on another loop and moved here as a `std` socket
//! ([`TcpListener::into_std`](crate::net::TcpListener::into_std)).
//!
//! Validation follows asyncio: an address *and* a socket is an error
//! (`InvalidInput`), as is neither.

use std::future::Future;
use std::io;
use std::panic::Location;

use super::server::{spawner, start_tcp, HandlerOutput, Listen, Server};
use super::transport::SockAddr;
use super::{StreamReader, StreamWriter};
use crate::net::{BindOptions, TcpListener};

/// Options for a TCP stream server (asyncio's `start_server` keyword arguments); made by
/// [`Server::builder`].
///
/// # Examples
/// ```
/// simul::run(async {
///     let server = simul::Server::builder()
///         .bind("127.0.0.1", 0)
///         .backlog(4096)
///         .reuse_port(true)
///         .start(|_r, w: simul::StreamWriter| async move { w.write(b"hi\n") })
///         .await
///         .unwrap();
///     let port = server.local_addrs()[0].port().unwrap();
///     let (r, _w) = simul::open_connection("127.0.0.1", port).await.unwrap();
///     assert_eq!(r.readline().await.unwrap(), b"hi\n");
/// });
/// ```
#[must_use = "a ServerBuilder does nothing until .start(handler) is awaited"]
#[derive(Debug, Default)]
pub struct ServerBuilder {
    addr: Option<(String, u16)>,
    sock: Option<TcpListener>,
    opts: BindOptions,
}

impl Server {
    /// A [`ServerBuilder`]: `bind` or `sock`, `backlog`, `reuse_address`, `reuse_port`.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let s = simul::Server::builder().bind("127.0.0.1", 0).start(|_r, _w| async {}).await.unwrap();
    ///     assert!(s.is_serving());
    /// });
    /// ```
    #[doc(alias = "start_server")]
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }
}

impl ServerBuilder {
    /// Listens on every address `host` resolves to, at `port` (0 picks a free port).
    ///
    /// # Examples
    /// ```
    /// let b = simul::Server::builder().bind("localhost", 8080);
    /// # drop(b);
    /// ```
    pub fn bind(mut self, host: &str, port: u16) -> Self {
        self.addr = Some((host.to_string(), port));
        self
    }

    /// Serves an existing listening socket instead of binding one (asyncio's `sock=`).
    /// The bind options do not apply to it.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let l = simul::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///     let addr = l.local_addr().unwrap();
    ///     let s = simul::Server::builder().sock(l).start(|_r, _w| async {}).await.unwrap();
    ///     assert_eq!(s.local_addrs()[0].port(), Some(addr.port()));
    /// });
    /// ```
    pub fn sock(mut self, listener: TcpListener) -> Self {
        self.sock = Some(listener);
        self
    }

    /// The listen backlog: how many connections the kernel queues before `accept`
    /// (asyncio's `backlog`; default 1024, raise it for bursts of thousands of connects).
    ///
    /// # Examples
    /// ```
    /// let b = simul::Server::builder().bind("127.0.0.1", 0).backlog(8192);
    /// # drop(b);
    /// ```
    pub fn backlog(mut self, n: u32) -> Self {
        self.opts = self.opts.backlog(n);
        self
    }

    /// `SO_REUSEADDR` (asyncio's `reuse_address`; default on).
    ///
    /// # Examples
    /// ```
    /// let b = simul::Server::builder().bind("127.0.0.1", 0).reuse_address(false);
    /// # drop(b);
    /// ```
    pub fn reuse_address(mut self, on: bool) -> Self {
        self.opts = self.opts.reuse_address(on);
        self
    }

    /// `SO_REUSEPORT` (asyncio's `reuse_port`; default off): several servers — typically
    /// one on each loop of a [`Loops`](crate::Loops) — listen on the same port and the
    /// kernel spreads the connections over them.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let a = simul::Server::builder().bind("127.0.0.1", 0).reuse_port(true)
    ///         .start(|_r, _w| async {}).await.unwrap();
    ///     let port = a.local_addrs()[0].port().unwrap();
    ///     let b = simul::Server::builder().bind("127.0.0.1", port).reuse_port(true)
    ///         .start(|_r, _w| async {}).await.unwrap();
    ///     assert_eq!(b.local_addrs()[0].port(), Some(port));
    /// });
    /// ```
    pub fn reuse_port(mut self, on: bool) -> Self {
        self.opts = self.opts.reuse_port(on);
        self
    }

    /// Starts the server: each accepted connection runs `handler(reader, writer)` as its
    /// own task, as with [`start_server`](super::start_server).
    ///
    /// # Errors
    /// `InvalidInput` when both [`bind`](Self::bind) and [`sock`](Self::sock) were given,
    /// or neither; otherwise what resolving or binding returns.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let e = simul::Server::builder().start(|_r, _w| async {}).await.unwrap_err();
    ///     assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    /// });
    /// ```
    #[track_caller]
    pub fn start<F, Fut>(self, handler: F) -> impl Future<Output = io::Result<Server>>
    where
        F: Fn(StreamReader, StreamWriter) -> Fut + 'static,
        Fut: Future + 'static,
        Fut::Output: HandlerOutput,
    {
        // Not an `async fn`, so that `#[track_caller]` sees the caller's line.
        let location = Location::caller();
        async move {
            let spawner = spawner(handler, location);
            match (self.addr, self.sock) {
                (Some(_), Some(_)) => Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "start_server: host/port and sock can not be specified at the same time",
                )),
                (None, None) => Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "start_server: neither host/port nor sock was specified \
                     (call .bind(host, port) or .sock(listener))",
                )),
                (Some((host, port)), None) => start_tcp(spawner, &host, port, self.opts).await,
                (None, Some(l)) => {
                    let addr = SockAddr::Inet(l.local_addr()?);
                    let listeners: Vec<Box<dyn Listen>> = vec![Box::new(l)];
                    Ok(Server::start(listeners, vec![addr], spawner, None))
                }
            }
        }
    }
}
