//! [`serve`]: a listener plus a service, the common case of an HTTP server.
//!
//! # Design
//! One *accept loop* (the future [`Serve`] runs) accepts connections and spawns one task
//! per connection on the current loop. A connection task optionally runs the TLS handshake
//! (bounded by the acceptor's handshake timeout), then serves the connection with
//! hyper-util's auto builder: the HTTP version is read from the first bytes (the HTTP/2
//! preface means h2c, anything else HTTP/1.1), or taken from ALPN over TLS (`h2` →
//! HTTP/2 only, `http/1.1` → HTTP/1 only). HTTP/1 keeps connections alive between
//! requests and drops a client that has not sent a full request head within the
//! header-read timeout (the slowloris defence); malformed or oversized requests are
//! answered with 400/431 by hyper and cost only their connection.
//!
//! **Graceful shutdown** ([`Serve::with_graceful_shutdown`]): when the signal completes,
//! the accept loop stops and closes the listener, every connection is told to finish
//! (HTTP/1: close after the in-flight response; HTTP/2: `GOAWAY`, letting open streams
//! complete), and the future waits for the connection tasks — at most the shutdown
//! deadline, after which the remaining connections are cancelled (their sockets close).
//!
//! **Isolation**: every connection is its own task, so a panicking handler, a client
//! that vanishes mid-response or a failed handshake ends only that task; the accept loop
//! never sees their errors. Accept errors that concern one queued connection (reset,
//! aborted) are skipped; descriptor exhaustion is handled by the listener's back-off.

use std::cell::{Cell, RefCell};
use std::future::{poll_fn, Future, IntoFuture};
use std::io;
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use hyper::body::{Body, Incoming};
use hyper::service::Service;
use hyper::{Request, Response};
use hyper_util::server::conn::auto;

use super::{HyperIo, HyperTimer, LocalExecutor, ReadUninit};
use crate::net::TcpListener;
use crate::{Event, Task};

/// hyper's own default, set explicitly: a request head must arrive within 30 s.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a graceful shutdown waits for in-flight requests before cancelling them.
pub const DEFAULT_SHUTDOWN_DEADLINE: Duration = Duration::from_secs(30);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Serves HTTP/1.1 and HTTP/2 on `listener` with `service`, one task per connection on
/// the current loop. Configure with the builder methods, then `.await` it (it runs until
/// the graceful-shutdown signal, or forever).
///
/// The service is any hyper `Service` (e.g. `hyper::service::service_fn`), cloned per
/// connection; an axum `Router` goes through [`TowerToHyper`](super::TowerToHyper).
///
/// # Examples
/// ```
/// use http_body_util::{BodyExt, Empty, Full};
/// use hyper::body::{Bytes, Incoming};
/// use simul::http::HyperIo;
/// use std::future::IntoFuture;
///
/// simul::run(async {
///     let listener = simul::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
///     let addr = listener.local_addr().unwrap();
///     let stop = std::rc::Rc::new(simul::Event::new());
///     let svc = hyper::service::service_fn(|_req: hyper::Request<Incoming>| async {
///         Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::from("Hello, World!"))))
///     });
///     let server = simul::spawn({
///         let stop = stop.clone();
///         simul::http::serve(listener, svc)
///             .with_graceful_shutdown(async move { stop.wait().await })
///             .into_future()
///     });
///
///     let tcp = simul::net::TcpStream::connect(addr).await.unwrap();
///     let (mut send, conn) = hyper::client::conn::http1::handshake(HyperIo::new(tcp)).await.unwrap();
///     simul::spawn(conn);
///     let resp = send.send_request(hyper::Request::get("/").body(Empty::<Bytes>::new()).unwrap()).await.unwrap();
///     assert_eq!(resp.into_body().collect().await.unwrap().to_bytes(), "Hello, World!");
///
///     stop.set();
///     server.await.unwrap().unwrap();
/// });
/// ```
pub fn serve<S>(listener: TcpListener, service: S) -> Serve<S> {
    Serve {
        listener,
        service,
        #[cfg(feature = "tls")]
        tls: None,
        header_read_timeout: Some(DEFAULT_HEADER_READ_TIMEOUT),
        keep_alive: true,
        max_buf_size: None,
        signal: None,
        deadline: DEFAULT_SHUTDOWN_DEADLINE,
    }
}

/// The server [`serve`] builds; `.await` it to run it.
#[must_use = "a server does nothing until awaited"]
pub struct Serve<S> {
    listener: TcpListener,
    service: S,
    #[cfg(feature = "tls")]
    tls: Option<crate::tls::TlsAcceptor>,
    header_read_timeout: Option<Duration>,
    keep_alive: bool,
    max_buf_size: Option<usize>,
    signal: Option<Pin<Box<dyn Future<Output = ()>>>>,
    deadline: Duration,
}

impl<S> Serve<S> {
    /// Serves HTTPS: every connection's first act is a TLS handshake with `acceptor`.
    /// Offer `h2` and `http/1.1` by ALPN (see
    /// [`TlsAcceptor::alpn`](crate::tls::TlsAcceptor::alpn)) to let clients pick HTTP/2.
    ///
    /// # Examples
    /// A minimal HTTPS server (certificate made at run time by rcgen), and a hyper client
    /// that speaks HTTP/2 to it, chosen by ALPN:
    /// ```
    /// use http_body_util::{BodyExt, Empty, Full};
    /// use hyper::body::{Bytes, Incoming};
    /// use simul::tls::{rustls, TlsAcceptor, TlsConnector};
    /// use std::future::IntoFuture;
    ///
    /// let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    /// let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.key_pair.serialize_der().into());
    /// let tls = TlsAcceptor::from_der(vec![cert.cert.der().clone()], key)
    ///     .unwrap()
    ///     .alpn(&[b"h2", b"http/1.1"]);
    /// let mut roots = rustls::RootCertStore::empty();
    /// roots.add(cert.cert.der().clone()).unwrap();
    /// let connector = TlsConnector::with_roots(roots).alpn(&[b"h2"]);
    ///
    /// simul::run(async move {
    ///     let listener = simul::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    ///     let addr = listener.local_addr().unwrap();
    ///     let svc = hyper::service::service_fn(|_req: hyper::Request<Incoming>| async {
    ///         Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::from("Hello, World!"))))
    ///     });
    ///     drop(simul::spawn(simul::http::serve(listener, svc).tls(tls).into_future()));
    ///
    ///     let tcp = simul::net::TcpStream::connect(addr).await.unwrap();
    ///     let stream = connector.connect("localhost", tcp).await.unwrap();
    ///     assert_eq!(stream.alpn_protocol(), Some(&b"h2"[..]));
    ///     let (mut send, conn) = hyper::client::conn::http2::Builder::new(simul::http::LocalExecutor)
    ///         .handshake(simul::http::HyperIo::new(stream))
    ///         .await
    ///         .unwrap();
    ///     drop(simul::spawn(conn));
    ///     let req = hyper::Request::get("https://localhost/").body(Empty::<Bytes>::new()).unwrap();
    ///     let resp = send.send_request(req).await.unwrap();
    ///     assert_eq!(resp.version(), hyper::Version::HTTP_2);
    ///     assert_eq!(resp.into_body().collect().await.unwrap().to_bytes(), "Hello, World!");
    /// });
    /// ```
    #[cfg(feature = "tls")]
    pub fn tls(mut self, acceptor: crate::tls::TlsAcceptor) -> Self {
        self.tls = Some(acceptor);
        self
    }

    /// How long an HTTP/1 client may take to send a request head (default 30 s; `None`:
    /// forever). A client that dawdles (slowloris) is disconnected after it.
    ///
    /// # Examples
    /// ```
    /// # simul::run(async {
    /// # let l = simul::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    /// # let svc = hyper::service::service_fn(|_r: hyper::Request<hyper::body::Incoming>| async {
    /// #     Ok::<_, std::convert::Infallible>(hyper::Response::new(String::new())) });
    /// let s = simul::http::serve(l, svc).header_read_timeout(Some(std::time::Duration::from_secs(5)));
    /// # drop(s); });
    /// ```
    pub fn header_read_timeout(mut self, d: Option<Duration>) -> Self {
        self.header_read_timeout = d;
        self
    }

    /// Whether HTTP/1 connections stay open between requests (default `true`).
    ///
    /// # Examples
    /// ```
    /// # simul::run(async {
    /// # let l = simul::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    /// # let svc = hyper::service::service_fn(|_r: hyper::Request<hyper::body::Incoming>| async {
    /// #     Ok::<_, std::convert::Infallible>(hyper::Response::new(String::new())) });
    /// let s = simul::http::serve(l, svc).keep_alive(false);
    /// # drop(s); });
    /// ```
    pub fn keep_alive(mut self, on: bool) -> Self {
        self.keep_alive = on;
        self
    }

    /// The largest HTTP/1 read buffer, which bounds a request head (hyper's default is
    /// about 400 KiB); a longer head is answered with `431` and the connection closed.
    ///
    /// # Examples
    /// ```
    /// # simul::run(async {
    /// # let l = simul::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    /// # let svc = hyper::service::service_fn(|_r: hyper::Request<hyper::body::Incoming>| async {
    /// #     Ok::<_, std::convert::Infallible>(hyper::Response::new(String::new())) });
    /// let s = simul::http::serve(l, svc).max_buf_size(64 * 1024);
    /// # drop(s); });
    /// ```
    pub fn max_buf_size(mut self, bytes: usize) -> Self {
        self.max_buf_size = Some(bytes);
        self
    }

    /// Shuts down gracefully once `signal` completes (e.g. `simul::signal::ctrl_c()`):
    /// stop accepting, let in-flight requests finish within the
    /// [`shutdown_deadline`](Self::shutdown_deadline), then return `Ok(())`.
    ///
    /// # Examples
    /// See [`serve`].
    pub fn with_graceful_shutdown(mut self, signal: impl Future<Output = ()> + 'static) -> Self {
        self.signal = Some(Box::pin(signal));
        self
    }

    /// How long a graceful shutdown waits for open connections (default 30 s) before
    /// cancelling them.
    ///
    /// # Examples
    /// ```
    /// # simul::run(async {
    /// # let l = simul::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    /// # let svc = hyper::service::service_fn(|_r: hyper::Request<hyper::body::Incoming>| async {
    /// #     Ok::<_, std::convert::Infallible>(hyper::Response::new(String::new())) });
    /// let s = simul::http::serve(l, svc).shutdown_deadline(std::time::Duration::from_secs(5));
    /// # drop(s); });
    /// ```
    pub fn shutdown_deadline(mut self, d: Duration) -> Self {
        self.deadline = d;
        self
    }

    fn builder(&self) -> auto::Builder<LocalExecutor> {
        let mut b = auto::Builder::new(LocalExecutor);
        {
            let mut h1 = b.http1();
            h1.timer(HyperTimer)
                .keep_alive(self.keep_alive)
                .header_read_timeout(self.header_read_timeout);
            if let Some(max) = self.max_buf_size {
                h1.max_buf_size(max);
            }
        }
        b.http2().timer(HyperTimer);
        b
    }
}

/// The three ways a connection may be served: auto-detected, or fixed by ALPN.
struct Builders {
    auto: auto::Builder<LocalExecutor>,
    #[cfg(feature = "tls")]
    h1: auto::Builder<LocalExecutor>,
    #[cfg(feature = "tls")]
    h2: auto::Builder<LocalExecutor>,
}

impl<S, B> IntoFuture for Serve<S>
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + 'static,
    S::Future: 'static,
    S::Error: Into<BoxError>,
    B: Body + 'static,
    B::Error: Into<BoxError>,
{
    type Output = io::Result<()>;
    type IntoFuture = Pin<Box<dyn Future<Output = io::Result<()>>>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

impl<S> Serve<S> {
    async fn run<B>(mut self) -> io::Result<()>
    where
        S: Service<Request<Incoming>, Response = Response<B>> + Clone + 'static,
        S::Future: 'static,
        S::Error: Into<BoxError>,
        B: Body + 'static,
        B::Error: Into<BoxError>,
    {
        let auto = self.builder();
        let builders = Rc::new(Builders {
            #[cfg(feature = "tls")]
            h1: auto.clone().http1_only(),
            #[cfg(feature = "tls")]
            h2: auto.clone().http2_only(),
            auto,
        });
        let stop = Rc::new(Event::new());
        let conns: Rc<RefCell<Vec<Task<()>>>> = Rc::new(RefCell::new(Vec::new()));
        let prune_at = Cell::new(64usize);
        let mut signal = self.signal.take();
        loop {
            let accepted = poll_fn(|cx| {
                if let Some(s) = signal.as_mut() {
                    if s.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(None);
                    }
                }
                self.listener.poll_accept(cx).map(Some)
            })
            .await;
            let (tcp, _peer) = match accepted {
                None => break, // shutdown
                Some(Ok(c)) => c,
                // One queued connection went away before we took it.
                Some(Err(e))
                    if matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionAborted
                            | io::ErrorKind::ConnectionReset
                            | io::ErrorKind::Interrupted
                    ) =>
                {
                    continue
                }
                Some(Err(e)) => return Err(e),
            };
            let _ = tcp.set_nodelay(true);
            let task = crate::spawn(connection(
                tcp,
                self.service.clone(),
                builders.clone(),
                #[cfg(feature = "tls")]
                self.tls.clone(),
                stop.clone(),
            ));
            let mut list = conns.borrow_mut();
            list.push(task);
            if list.len() >= prune_at.get() {
                list.retain(|t| !t.is_done());
                prune_at.set((list.len() * 2).max(64));
            }
        }
        // Graceful shutdown: close the listener, tell every connection, wait (bounded).
        drop(self.listener);
        stop.set();
        let mut list = std::mem::take(&mut *conns.borrow_mut());
        let all_done = async {
            for t in list.iter_mut() {
                let _ = t.await;
            }
        };
        if crate::wait_for(self.deadline, all_done).await.is_err() {
            for t in &list {
                t.cancel();
            }
        }
        Ok(())
    }
}

/// One connection: TLS (if configured), then HTTP until the client or the shutdown ends it.
async fn connection<S, B>(
    tcp: crate::net::TcpStream,
    service: S,
    builders: Rc<Builders>,
    #[cfg(feature = "tls")] tls: Option<crate::tls::TlsAcceptor>,
    stop: Rc<Event>,
) where
    S: Service<Request<Incoming>, Response = Response<B>> + 'static,
    S::Future: 'static,
    S::Error: Into<BoxError>,
    B: Body + 'static,
    B::Error: Into<BoxError>,
{
    #[cfg(feature = "tls")]
    if let Some(acceptor) = tls {
        let Ok(stream) = acceptor.accept(tcp).await else {
            return; // a failed handshake costs only this connection
        };
        let builder = match stream.alpn_protocol() {
            Some(b"h2") => &builders.h2,
            Some(b"http/1.1") => &builders.h1,
            _ => &builders.auto,
        };
        drive(builder, stream, service, &stop).await;
        return;
    }
    drive(&builders.auto, tcp, service, &stop).await;
}

/// Serves one connection, starting hyper's graceful shutdown when `stop` is set.
async fn drive<I, S, B>(builder: &auto::Builder<LocalExecutor>, io: I, service: S, stop: &Event)
where
    I: ReadUninit + futures_io::AsyncWrite + Unpin + 'static,
    S: Service<Request<Incoming>, Response = Response<B>> + 'static,
    S::Future: 'static,
    S::Error: Into<BoxError>,
    B: Body + 'static,
    B::Error: Into<BoxError>,
{
    let mut conn = pin!(builder.serve_connection(HyperIo::new(io), service));
    let mut stopping = pin!(stop.wait());
    let mut told = false;
    // Whether `stopping` has been polled (and so holds this task's waker). Polling it again
    // would touch this connection's node in the event's wait list, a cache line of its own
    // that is cold by the next request; the event's flag (one line shared by every
    // connection) says the same, because `run` only ever sets `stop`, never clears it,
    // and the node keeps the waker it was first polled with, which stays right: this
    // future is only ever polled by its connection task (`run` spawns `connection` as a
    // task of its own), whose waker is the same at every poll.
    let mut registered = false;
    // Errors (a malformed request, a client gone mid-response, a header-read timeout) end
    // this connection only; hyper has already answered what could be answered.
    let _ = poll_fn(|cx| {
        if !told {
            let set = if registered {
                stop.is_set()
            } else {
                registered = true;
                stopping.as_mut().poll(cx).is_ready()
            };
            if set {
                told = true;
                conn.as_mut().graceful_shutdown();
            }
        }
        conn.as_mut().poll(cx)
    })
    .await;
}
