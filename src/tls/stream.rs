//! [`TlsStream`]: a TLS session over any simul byte stream, either side.
//!
//! A thin layer over futures-rustls' client and server streams (one enum, so code that
//! serves or connects handles one type), each over the byte stream wrapped in a
//! `ReadAhead` (see `read_ahead.rs`; [`TlsStream::get_ref`] gives the stream itself).
//! Reads and writes go through rustls' buffers; [`TlsStream::read_uninit`] hands
//! decrypted bytes to a reader that offers uninitialised memory (hyper's read cursor) by
//! copying out of rustls' own plaintext buffer (`BufRead::fill_buf`), so no zero-filling
//! is needed on that path either.

use std::io::{self, BufRead};
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_io::{AsyncRead, AsyncWrite};
use futures_rustls::rustls;

use super::read_ahead::ReadAhead;
use super::TlsError;
use crate::stream::transport::SocketInfo;

enum Side<IO> {
    Client(futures_rustls::client::TlsStream<ReadAhead<IO>>),
    Server(futures_rustls::server::TlsStream<ReadAhead<IO>>),
}

/// A TLS connection over `IO` (a [`TcpStream`](crate::net::TcpStream),
/// [`UnixStream`](crate::net::UnixStream), or any `futures_io` duplex stream), made by
/// [`TlsConnector::connect`](super::TlsConnector::connect) or
/// [`TlsAcceptor::accept`](super::TlsAcceptor::accept). It implements `futures_io`'s
/// `AsyncRead` and `AsyncWrite`; `poll_close` sends `close_notify` and then shuts the
/// socket's write direction.
///
/// # Examples
/// ```
/// use futures_util::{AsyncReadExt, AsyncWriteExt};
/// use simul::net::{TcpListener, TcpStream};
///
/// # use simul::tls::{rustls, TlsAcceptor, TlsConnector};
/// # let (acceptor, connector) = {
/// #     let c = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
/// #     let key = rustls::pki_types::PrivateKeyDer::Pkcs8(c.key_pair.serialize_der().into());
/// #     let mut roots = rustls::RootCertStore::empty();
/// #     roots.add(c.cert.der().clone()).unwrap();
/// #     (TlsAcceptor::from_der(vec![c.cert.der().clone()], key).unwrap(), TlsConnector::with_roots(roots))
/// # };
/// simul::run(async move {
///     let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
///     let addr = listener.local_addr().unwrap();
///     let server = simul::spawn(async move {
///         let (tcp, _) = listener.accept().await.unwrap();
///         let mut tls = acceptor.accept(tcp).await.unwrap();
///         let mut buf = [0u8; 4];
///         tls.read_exact(&mut buf).await.unwrap();
///         tls.write_all(&buf).await.unwrap();
///         tls.close().await.unwrap();
///     });
///     let tcp = TcpStream::connect(addr).await.unwrap();
///     let mut tls = connector.connect("localhost", tcp).await.unwrap();
///     tls.write_all(b"ping").await.unwrap();
///     let mut back = Vec::new();
///     tls.read_to_end(&mut back).await.unwrap();
///     assert_eq!(back, b"ping");
///     server.await.unwrap();
/// });
/// ```
#[doc(alias = "SSLSocket")]
#[doc(alias = "SSLObject")]
pub struct TlsStream<IO> {
    side: Side<IO>,
    shutdown_timeout: Duration,
}

impl<IO> TlsStream<IO> {
    pub(crate) fn client(
        s: futures_rustls::client::TlsStream<ReadAhead<IO>>,
        shutdown_timeout: Duration,
    ) -> Self {
        TlsStream {
            side: Side::Client(s),
            shutdown_timeout,
        }
    }

    pub(crate) fn server(
        s: futures_rustls::server::TlsStream<ReadAhead<IO>>,
        shutdown_timeout: Duration,
    ) -> Self {
        TlsStream {
            side: Side::Server(s),
            shutdown_timeout,
        }
    }

    fn common(&self) -> &rustls::CommonState {
        match &self.side {
            Side::Client(s) => s.get_ref().1,
            Side::Server(s) => s.get_ref().1,
        }
    }

    /// The application protocol agreed by ALPN (`b"h2"`, `b"http/1.1"`, ...), if any
    /// (asyncio's `selected_alpn_protocol()`).
    ///
    /// # Examples
    /// See [`TlsAcceptor::alpn`](super::TlsAcceptor::alpn).
    #[doc(alias = "selected_alpn_protocol")]
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        self.common().alpn_protocol()
    }

    /// The TLS version in use (asyncio's `version()`).
    ///
    /// # Examples
    /// See [`TlsStream`]; after the handshake this is `Some(TLSv1_3)` between two simul
    /// ends.
    #[doc(alias = "version")]
    pub fn protocol_version(&self) -> Option<rustls::ProtocolVersion> {
        self.common().protocol_version()
    }

    /// On the server side, the name the client asked for (SNI).
    ///
    /// # Examples
    /// See [`TlsStream`].
    pub fn server_name(&self) -> Option<&str> {
        match &self.side {
            Side::Client(_) => None,
            Side::Server(s) => s.get_ref().1.server_name(),
        }
    }

    /// The byte stream underneath.
    ///
    /// # Examples
    /// See [`TlsStream`].
    pub fn get_ref(&self) -> &IO {
        match &self.side {
            Side::Client(s) => s.get_ref().0.get_ref(),
            Side::Server(s) => s.get_ref().0.get_ref(),
        }
    }

    /// How long [`shutdown`](Self::shutdown) waits for the `close_notify` exchange.
    ///
    /// # Examples
    /// See [`TlsConnector::shutdown_timeout`](super::TlsConnector::shutdown_timeout).
    pub fn shutdown_timeout(&self) -> Duration {
        self.shutdown_timeout
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> TlsStream<IO> {
    /// Sends `close_notify` and shuts the write direction down, giving up after the
    /// shutdown timeout (asyncio's `ssl_shutdown_timeout`, 30 s by default).
    ///
    /// # Examples
    /// See [`TlsStream`] (`close()` is the same without the timeout).
    pub async fn shutdown(&mut self) -> Result<(), TlsError> {
        let limit = self.shutdown_timeout;
        match crate::wait_for(limit, std::future::poll_fn(|cx| self.poll_close_inner(cx))).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(TlsError::from_io(e, None)),
            Err(_) => Err(TlsError::ShutdownTimeout(limit)),
        }
    }

    fn poll_close_inner(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.side {
            Side::Client(s) => Pin::new(s).poll_close(cx),
            Side::Server(s) => Pin::new(s).poll_close(cx),
        }
    }

    #[cfg_attr(not(feature = "hyper"), allow(dead_code))]
    /// Reads decrypted bytes into possibly uninitialised memory; `Ok(n)`: the first `n`
    /// bytes of `buf` are initialised, `Ok(0)` the peer closed the session.
    pub(crate) fn poll_read_uninit(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [MaybeUninit<u8>],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        match &mut self.side {
            Side::Client(s) => {
                let (io, c) = s.get_mut();
                poll_read_session(io, &mut **c, cx, buf)
            }
            Side::Server(s) => {
                let (io, c) = s.get_mut();
                poll_read_session(io, &mut **c, cx, buf)
            }
        }
    }
}

/// The uninitialised read of one session: plaintext rustls already holds is copied out;
/// when it holds none, records are pulled from the socket (as futures-rustls does) until
/// some plaintext appears, the socket would block, or the stream ends.
fn poll_read_session<IO, D>(
    io: &mut IO,
    conn: &mut rustls::ConnectionCommon<D>,
    cx: &mut Context<'_>,
    buf: &mut [MaybeUninit<u8>],
) -> Poll<io::Result<usize>>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    loop {
        let mut reader = conn.reader();
        match reader.fill_buf() {
            Ok(chunk) => {
                let n = chunk.len().min(buf.len());
                for (dst, src) in buf[..n].iter_mut().zip(chunk) {
                    dst.write(*src);
                }
                reader.consume(n);
                return Poll::Ready(Ok(n)); // 0: the peer sent close_notify
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Poll::Ready(Err(e)),
        }
        let mut sock = SyncIo { io: &mut *io, cx };
        match conn.read_tls(&mut sock) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Poll::Pending,
            Err(e) => return Poll::Ready(Err(e)),
        }
        let processed = conn.process_new_packets();
        // Send what rustls has to say (an alert on failure, a key update): best effort,
        // as futures-rustls does; a full socket leaves it for the next write.
        while conn.wants_write() {
            match conn.write_tls(&mut SyncIo { io: &mut *io, cx }) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        if let Err(e) = processed {
            return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, e)));
        }
    }
}

/// A `futures_io` stream as `std::io::{Read, Write}` for rustls, `Pending` as `WouldBlock`
/// (the waker in `cx` is registered with the socket).
struct SyncIo<'a, 'b, IO> {
    io: &'a mut IO,
    cx: &'a mut Context<'b>,
}

impl<IO: AsyncRead + Unpin> io::Read for SyncIo<'_, '_, IO> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match Pin::new(&mut *self.io).poll_read(self.cx, buf) {
            Poll::Ready(r) => r,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

impl<IO: AsyncWrite + Unpin> io::Write for SyncIo<'_, '_, IO> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match Pin::new(&mut *self.io).poll_write(self.cx, buf) {
            Poll::Ready(r) => r,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match Pin::new(&mut *self.io).poll_flush(self.cx) {
            Poll::Ready(r) => r,
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncRead for TlsStream<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().side {
            Side::Client(s) => Pin::new(s).poll_read(cx, buf),
            Side::Server(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TlsStream<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().side {
            Side::Client(s) => Pin::new(s).poll_write(cx, buf),
            Side::Server(s) => Pin::new(s).poll_write(cx, buf),
        }
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().side {
            Side::Client(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Side::Server(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().side {
            Side::Client(s) => Pin::new(s).poll_flush(cx),
            Side::Server(s) => Pin::new(s).poll_flush(cx),
        }
    }
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_close_inner(cx)
    }
}

impl<IO> std::fmt::Debug for TlsStream<IO> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsStream")
            .field(
                "side",
                &match self.side {
                    Side::Client(_) => "client",
                    Side::Server(_) => "server",
                },
            )
            .field("version", &self.protocol_version())
            .field("alpn", &self.alpn_protocol().map(String::from_utf8_lossy))
            .finish()
    }
}

impl<IO: SocketInfo> SocketInfo for TlsStream<IO> {
    fn local_addr(&self) -> io::Result<crate::SockAddr> {
        self.get_ref().local_addr()
    }
    fn peer_addr(&self) -> io::Result<crate::SockAddr> {
        self.get_ref().peer_addr()
    }
    fn close_notify(&self) -> bool {
        true
    }
}
