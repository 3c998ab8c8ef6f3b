//! TLS in asyncio's stream shape: [`open_tls_connection`] (`open_connection(ssl=...)`),
//! [`start_tls_server`] (`start_server(ssl=...)`) and [`StreamWriter::start_tls`]
//! (`StreamWriter.start_tls`), all giving back a plain [`StreamReader`]/[`StreamWriter`]
//! pair whose bytes are the decrypted ones.
//!
//! # Upgrading in place
//! asyncio's `start_tls` swaps the transport under the writer and the reader follows. In
//! Rust the two halves are consumed and a new pair is returned, so no stale half can be
//! used by mistake. The old connection is not closed: its write buffer is flushed to the
//! last byte, the reader's unread bytes (the start of the peer's handshake, if it was
//! quick) are kept as the first input of the TLS layer, and the socket carries on under
//! TLS; closing the new writer closes it.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};

use super::{TlsAcceptor, TlsConnector, TlsError};
use crate::stream::conn::Conn;
use crate::stream::transport::{FuturesIo, SocketInfo};
use crate::stream::HandlerOutput;
use crate::{Server, SockAddr, StreamReader, StreamWriter};

/// Connects to `host:port` and runs a TLS handshake checking the server against
/// `server_name` (`None`: `host`), returning the reader and writer of the session
/// (asyncio's `open_connection(host, port, ssl=ctx, server_hostname=...)`).
///
/// # Errors
/// [`TlsError::Io`] if the TCP connection fails, else the handshake's [`TlsError`].
///
/// # Examples
/// ```
/// # use simul::tls::{rustls, TlsAcceptor, TlsConnector};
/// # let (acceptor, connector) = {
/// #     let c = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
/// #     let key = rustls::pki_types::PrivateKeyDer::Pkcs8(c.key_pair.serialize_der().into());
/// #     let mut roots = rustls::RootCertStore::empty();
/// #     roots.add(c.cert.der().clone()).unwrap();
/// #     (TlsAcceptor::from_der(vec![c.cert.der().clone()], key).unwrap(), TlsConnector::with_roots(roots))
/// # };
/// simul::run(async move {
///     let server = simul::tls::start_tls_server(
///         |r: simul::StreamReader, w: simul::StreamWriter| async move {
///             let line = r.readline().await?;
///             w.write(&line);
///             w.close();
///             w.wait_closed().await
///         },
///         "127.0.0.1",
///         0,
///         acceptor,
///     )
///     .await
///     .unwrap();
///     let port = server.local_addrs()[0].port().unwrap();
///     let (r, w) = simul::tls::open_tls_connection("127.0.0.1", port, &connector, Some("localhost"))
///         .await
///         .unwrap();
///     w.write(b"over TLS\n");
///     assert_eq!(r.readline().await.unwrap(), b"over TLS\n");
/// });
/// ```
#[doc(alias = "open_connection")]
pub async fn open_tls_connection(
    host: &str,
    port: u16,
    connector: &TlsConnector,
    server_name: Option<&str>,
) -> Result<(StreamReader, StreamWriter), TlsError> {
    let tcp = crate::net::TcpStream::connect((host, port))
        .await
        .map_err(TlsError::Io)?;
    let _ = tcp.set_nodelay(true);
    let tls = connector.connect(server_name.unwrap_or(host), tcp).await?;
    Ok(crate::stream::halves(Box::new(FuturesIo::new(tls))))
}

/// Starts a TCP server on `host:port` whose connections are TLS sessions (asyncio's
/// `start_server(..., ssl=ctx)`): each connection's handshake runs in its own task, and
/// `handler(reader, writer)` is called with the session's halves once it succeeds. A
/// failed or timed-out handshake closes only that connection.
///
/// # Examples
/// See [`open_tls_connection`].
#[doc(alias = "start_server")]
pub async fn start_tls_server<F, Fut>(
    handler: F,
    host: &str,
    port: u16,
    acceptor: TlsAcceptor,
) -> io::Result<Server>
where
    F: Fn(StreamReader, StreamWriter) -> Fut + 'static,
    Fut: Future + 'static,
    Fut::Output: HandlerOutput,
{
    let handler = Rc::new(handler);
    crate::start_server(
        move |r: StreamReader, w: StreamWriter| {
            let handler = handler.clone();
            let acceptor = acceptor.clone();
            async move {
                match w.start_tls_server(r, &acceptor).await {
                    Ok((r, w)) => match handler(r, w).await.failure() {
                        Some(msg) => Err(msg),
                        None => Ok(()),
                    },
                    // asyncio logs failed handshakes only in debug mode; the client that
                    // failed is gone and the server carries on.
                    Err(_) => Ok(()),
                }
            }
        },
        host,
        port,
    )
    .await
}

impl StreamWriter {
    /// Upgrades this connection to TLS as its client (asyncio's `StreamWriter.start_tls`):
    /// flushes what is buffered, runs the handshake against `server_name` over the same
    /// socket, and returns the new reader and writer. Both old halves are consumed (so no
    /// stale half can be used); bytes the reader had already buffered become the TLS
    /// layer's first input, and closing the new writer closes the socket.
    ///
    /// # Errors
    /// The handshake's [`TlsError`]; the connection is then closed.
    ///
    /// # Examples
    /// ```
    /// # use simul::tls::{rustls, TlsAcceptor, TlsConnector};
    /// # let (acceptor, connector) = {
    /// #     let c = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    /// #     let key = rustls::pki_types::PrivateKeyDer::Pkcs8(c.key_pair.serialize_der().into());
    /// #     let mut roots = rustls::RootCertStore::empty();
    /// #     roots.add(c.cert.der().clone()).unwrap();
    /// #     (TlsAcceptor::from_der(vec![c.cert.der().clone()], key).unwrap(), TlsConnector::with_roots(roots))
    /// # };
    /// simul::run(async move {
    ///     // A STARTTLS-style protocol: one plain line, then TLS on the same socket.
    ///     let server = simul::start_server(
    ///         move |r: simul::StreamReader, w: simul::StreamWriter| {
    ///             let acceptor = acceptor.clone();
    ///             async move {
    ///                 assert_eq!(r.readline().await.unwrap(), b"STARTTLS\n");
    ///                 w.write(b"OK\n");
    ///                 let (r, w) = w.start_tls_server(r, &acceptor).await.unwrap();
    ///                 let secret = r.readline().await.unwrap();
    ///                 w.write(&secret);
    ///                 w.close();
    ///             }
    ///         },
    ///         "127.0.0.1",
    ///         0,
    ///     )
    ///     .await
    ///     .unwrap();
    ///     let port = server.local_addrs()[0].port().unwrap();
    ///     let (r, w) = simul::open_connection("127.0.0.1", port).await.unwrap();
    ///     w.write(b"STARTTLS\n");
    ///     assert_eq!(r.readline().await.unwrap(), b"OK\n");
    ///     let (r, w) = w.start_tls(r, &connector, "localhost").await.unwrap();
    ///     w.write(b"secret\n");
    ///     assert_eq!(r.readline().await.unwrap(), b"secret\n");
    /// });
    /// ```
    pub async fn start_tls(
        self,
        reader: StreamReader,
        connector: &TlsConnector,
        server_name: &str,
    ) -> Result<(StreamReader, StreamWriter), TlsError> {
        let io = self.hand_over(reader).await?;
        let tls = connector.connect(server_name, io).await?;
        Ok(crate::stream::halves(Box::new(FuturesIo::new(tls))))
    }

    /// Upgrades this connection to TLS as its server (the server side of
    /// [`start_tls`](Self::start_tls)).
    ///
    /// # Errors
    /// The handshake's [`TlsError`]; the connection is then closed.
    ///
    /// # Examples
    /// See [`start_tls`](Self::start_tls).
    pub async fn start_tls_server(
        self,
        reader: StreamReader,
        acceptor: &TlsAcceptor,
    ) -> Result<(StreamReader, StreamWriter), TlsError> {
        let io = self.hand_over(reader).await?;
        let tls = acceptor.accept(io).await?;
        Ok(crate::stream::halves(Box::new(FuturesIo::new(tls))))
    }

    /// Flushes every buffered byte, then turns both halves into the byte stream a TLS
    /// layer runs over.
    async fn hand_over(self, reader: StreamReader) -> Result<Layered, TlsError> {
        if self.write_buffer_size() > 0 {
            // Low-water mark 0: `drain` returns once the buffer is empty.
            self.set_write_buffer_limits(0, 0).map_err(TlsError::Io)?;
        }
        self.drain().await.map_err(TlsError::Io)?;
        let prefix = reader.take_buffered();
        let conn = self.detach();
        Ok(Layered {
            conn,
            prefix,
            pos: 0,
        })
    }
}

/// An existing connection's socket as a byte stream, after the bytes its reader had
/// already taken in.
struct Layered {
    conn: Rc<Conn>,
    prefix: Vec<u8>,
    pos: usize,
}

impl AsyncRead for Layered {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if self.pos < self.prefix.len() {
            let n = buf.len().min(self.prefix.len() - self.pos);
            buf[..n].copy_from_slice(&self.prefix[self.pos..self.pos + n]);
            self.pos += n;
            if self.pos == self.prefix.len() {
                self.prefix = Vec::new();
                self.pos = 0;
            }
            return Poll::Ready(Ok(n));
        }
        self.conn.io.poll_read(cx, buf)
    }
}

impl AsyncWrite for Layered {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.conn.io.poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.conn.io.poll_flush(cx)
    }
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.conn.io.poll_shutdown(cx)
    }
}

impl SocketInfo for Layered {
    fn local_addr(&self) -> io::Result<SockAddr> {
        self.conn.io.local_addr()
    }
    fn peer_addr(&self) -> io::Result<SockAddr> {
        self.conn.io.peer_addr()
    }
}
