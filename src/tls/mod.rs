//! TLS (cargo feature `tls`): rustls sessions over simul's streams, in asyncio's shapes.
//!
//! | asyncio | simul |
//! |---|---|
//! | `ssl.SSLContext` (client / server) | [`TlsConnector`] / [`TlsAcceptor`] (a rustls config plus timeouts) |
//! | `open_connection(..., ssl=ctx, server_hostname=..)` | [`open_tls_connection`] |
//! | `start_server(..., ssl=ctx)` | [`start_tls_server`] |
//! | `StreamWriter.start_tls(ctx)` | [`StreamWriter::start_tls`](crate::StreamWriter::start_tls), [`start_tls_server`](crate::StreamWriter::start_tls_server) |
//! | `ssl_handshake_timeout=60`, `ssl_shutdown_timeout=30` | [`TlsConnector::handshake_timeout`], [`TlsStream::shutdown`] |
//! | `set_alpn_protocols`, `selected_alpn_protocol()` | [`TlsConnector::alpn`] / [`TlsAcceptor::alpn`], [`TlsStream::alpn_protocol`] |
//! | `ssl.SSLError`, `SSLCertVerificationError` | [`TlsError`] (`UnknownIssuer`, `BadName`, `AlertReceived`, `Protocol`, ...) |
//!
//! At the socket level, [`TlsStream`] is a session over any `futures_io` duplex stream
//! ([`TcpStream`](crate::net::TcpStream), [`UnixStream`](crate::net::UnixStream), an
//! in-memory pipe, ...).
//!
//! # Design
//! - **rustls through futures-rustls**, whose `AsyncRead`/`AsyncWrite` traits are the ones
//!   simul's sockets implement. [`TlsStream`] wraps futures-rustls' client and server
//!   streams in one type. Between the session and the socket sits only a read-ahead
//!   (`read_ahead.rs`): in bulk, one vectored read takes rustls' request plus up to
//!   64 KiB more, where rustls alone reads one record per `recv`.
//! - **The crypto provider is *ring***: it builds on a fresh machine with only the Rust
//!   toolchain and a C compiler (its assembly is pre-generated), where rustls' default,
//!   aws-lc-rs, needs cmake (and NASM on some targets) to build aws-lc. Every
//!   configuration made here names the provider explicitly
//!   (`builder_with_provider`), so nothing depends on a process-wide default being
//!   installed.
//! - **Timeouts are asyncio's**: a handshake that has not finished after 60 s fails with
//!   [`TlsError::HandshakeTimeout`] (so a client that connects and says nothing costs its
//!   connection only until then); [`TlsStream::shutdown`] gives up after 30 s.
//! - **A failed handshake is a value**, classified by cause in [`TlsError`]; a server
//!   ([`start_tls_server`], [`crate::http::serve`]) drops that one connection and goes on.
//!
//! # Examples
//! A minimal HTTPS-less TLS echo, with a certificate made at run time by rcgen:
//! ```
//! use simul::tls::{rustls, TlsAcceptor, TlsConnector};
//!
//! let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
//! let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.key_pair.serialize_der().into());
//! let acceptor = TlsAcceptor::from_der(vec![cert.cert.der().clone()], key).unwrap();
//! let mut roots = rustls::RootCertStore::empty();
//! roots.add(cert.cert.der().clone()).unwrap();
//! let connector = TlsConnector::with_roots(roots);
//!
//! simul::run(async move {
//!     let server = simul::tls::start_tls_server(
//!         |r: simul::StreamReader, w: simul::StreamWriter| async move {
//!             w.write(&r.readline().await?);
//!             w.drain().await
//!         },
//!         "127.0.0.1",
//!         0,
//!         acceptor,
//!     )
//!     .await
//!     .unwrap();
//!     let port = server.local_addrs()[0].port().unwrap();
//!     let (r, w) = simul::tls::open_tls_connection("127.0.0.1", port, &connector, Some("localhost"))
//!         .await
//!         .unwrap();
//!     w.write(b"hello\n");
//!     assert_eq!(r.readline().await.unwrap(), b"hello\n");
//!
//!     // The wrong name is a typed error, and the server carries on.
//!     let err = simul::tls::open_tls_connection("127.0.0.1", port, &connector, Some("example.com"))
//!         .await
//!         .unwrap_err();
//!     assert!(matches!(err, simul::tls::TlsError::BadName { .. }), "{err}");
//! });
//! ```

mod config;
mod error;
mod read_ahead;
mod stream;
mod streams;

pub use config::{
    client_config, server_config, TlsAcceptor, TlsConnector, DEFAULT_HANDSHAKE_TIMEOUT,
    DEFAULT_SHUTDOWN_TIMEOUT,
};
pub use error::TlsError;
/// The rustls crate simul's TLS is built on (configurations, certificates, keys).
pub use futures_rustls::rustls;
pub use stream::TlsStream;
pub use streams::{open_tls_connection, start_tls_server};
