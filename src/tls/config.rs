//! [`TlsConnector`] and [`TlsAcceptor`]: a rustls configuration plus the handshake and
//! shutdown timeouts (asyncio's `ssl_handshake_timeout`, 60 s, and
//! `ssl_shutdown_timeout`, 30 s), the two objects that start a TLS session on a stream.

use std::sync::Arc;
use std::time::Duration;

use futures_io::{AsyncRead, AsyncWrite};
use futures_rustls::rustls::{self, pki_types};

use super::read_ahead::ReadAhead;
use super::{TlsError, TlsStream};

/// asyncio's default `ssl_handshake_timeout`.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);
/// asyncio's default `ssl_shutdown_timeout`.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// The crypto provider every configuration made here uses: *ring*, which builds with a C
/// compiler alone (see the [module docs](super)).
pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Starts the client side of TLS sessions (asyncio's client `ssl.SSLContext`).
///
/// # Examples
/// ```
/// use simul::tls::TlsConnector;
/// let roots = simul::tls::rustls::RootCertStore::empty();
/// let c = TlsConnector::with_roots(roots).alpn(&[b"h2", b"http/1.1"]);
/// assert_eq!(c.handshake_timeout_value(), std::time::Duration::from_secs(60));
/// ```
#[derive(Clone)]
#[doc(alias = "SSLContext")]
pub struct TlsConnector {
    config: Arc<rustls::ClientConfig>,
    handshake_timeout: Duration,
    shutdown_timeout: Duration,
}

impl TlsConnector {
    /// A connector with this rustls configuration and asyncio's default timeouts.
    ///
    /// # Examples
    /// ```
    /// let config = simul::tls::client_config(simul::tls::rustls::RootCertStore::empty());
    /// let c = simul::tls::TlsConnector::new(std::sync::Arc::new(config));
    /// # drop(c);
    /// ```
    pub fn new(config: Arc<rustls::ClientConfig>) -> TlsConnector {
        TlsConnector {
            config,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
        }
    }

    /// A connector that trusts the certificates in `roots` (see [`client_config`]).
    ///
    /// # Examples
    /// See [`TlsConnector`].
    pub fn with_roots(roots: rustls::RootCertStore) -> TlsConnector {
        TlsConnector::new(Arc::new(client_config(roots)))
    }

    /// Offers these application protocols by ALPN, most preferred first (asyncio's
    /// `set_alpn_protocols`).
    ///
    /// # Examples
    /// See [`TlsConnector`].
    #[doc(alias = "set_alpn_protocols")]
    pub fn alpn(mut self, protocols: &[&[u8]]) -> TlsConnector {
        Arc::make_mut(&mut self.config).alpn_protocols =
            protocols.iter().map(|p| p.to_vec()).collect();
        self
    }

    /// Sets how long a handshake may take before it fails with
    /// [`TlsError::HandshakeTimeout`] (default 60 s).
    ///
    /// # Examples
    /// ```
    /// # let c = simul::tls::TlsConnector::with_roots(simul::tls::rustls::RootCertStore::empty());
    /// let c = c.handshake_timeout(std::time::Duration::from_secs(5));
    /// assert_eq!(c.handshake_timeout_value().as_secs(), 5);
    /// ```
    #[doc(alias = "ssl_handshake_timeout")]
    pub fn handshake_timeout(mut self, d: Duration) -> TlsConnector {
        self.handshake_timeout = d;
        self
    }

    /// The handshake timeout.
    ///
    /// # Examples
    /// See [`TlsConnector::handshake_timeout`].
    pub fn handshake_timeout_value(&self) -> Duration {
        self.handshake_timeout
    }

    /// Sets how long [`TlsStream::shutdown`] waits for `close_notify` (default 30 s).
    ///
    /// # Examples
    /// ```
    /// # let c = simul::tls::TlsConnector::with_roots(simul::tls::rustls::RootCertStore::empty());
    /// let c = c.shutdown_timeout(std::time::Duration::from_secs(1));
    /// # drop(c);
    /// ```
    #[doc(alias = "ssl_shutdown_timeout")]
    pub fn shutdown_timeout(mut self, d: Duration) -> TlsConnector {
        self.shutdown_timeout = d;
        self
    }

    /// The rustls configuration.
    ///
    /// # Examples
    /// ```
    /// # let c = simul::tls::TlsConnector::with_roots(simul::tls::rustls::RootCertStore::empty());
    /// assert!(c.config().alpn_protocols.is_empty());
    /// ```
    pub fn config(&self) -> &Arc<rustls::ClientConfig> {
        &self.config
    }

    /// Runs the client handshake over `io`, checking the server's certificate against
    /// `server_name` (a DNS name or an IP literal).
    ///
    /// # Errors
    /// [`TlsError::InvalidServerName`], [`TlsError::HandshakeTimeout`], and the
    /// handshake's own failures ([`TlsError::UnknownIssuer`], [`TlsError::BadName`], ...).
    ///
    /// # Examples
    /// See [`TlsStream`].
    pub async fn connect<IO>(&self, server_name: &str, io: IO) -> Result<TlsStream<IO>, TlsError>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let name = pki_types::ServerName::try_from(server_name.to_string())
            .map_err(|_| TlsError::InvalidServerName(server_name.to_string()))?;
        let connect = futures_rustls::TlsConnector::from(self.config.clone())
            .connect(name, ReadAhead::new(io));
        match crate::wait_for(self.handshake_timeout, connect).await {
            Ok(Ok(s)) => Ok(TlsStream::client(s, self.shutdown_timeout)),
            Ok(Err(e)) => Err(TlsError::from_io(e, Some(server_name))),
            Err(_) => Err(TlsError::HandshakeTimeout(self.handshake_timeout)),
        }
    }
}

impl std::fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConnector")
            .field("handshake_timeout", &self.handshake_timeout)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .finish_non_exhaustive()
    }
}

/// Starts the server side of TLS sessions (asyncio's server `ssl.SSLContext`).
///
/// # Examples
/// ```
/// let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
/// let chain = vec![cert.cert.der().clone()];
/// let key = simul::tls::rustls::pki_types::PrivateKeyDer::Pkcs8(
///     cert.key_pair.serialize_der().into(),
/// );
/// let acceptor = simul::tls::TlsAcceptor::from_der(chain, key)
///     .unwrap()
///     .alpn(&[b"h2", b"http/1.1"]);
/// assert_eq!(acceptor.config().alpn_protocols.len(), 2);
/// ```
#[derive(Clone)]
#[doc(alias = "SSLContext")]
pub struct TlsAcceptor {
    config: Arc<rustls::ServerConfig>,
    handshake_timeout: Duration,
    shutdown_timeout: Duration,
}

impl TlsAcceptor {
    /// An acceptor with this rustls configuration and asyncio's default timeouts.
    ///
    /// # Examples
    /// See [`TlsAcceptor::from_der`].
    pub fn new(config: Arc<rustls::ServerConfig>) -> TlsAcceptor {
        TlsAcceptor {
            config,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
        }
    }

    /// An acceptor presenting this certificate chain (leaf first) and private key (see
    /// [`server_config`]).
    ///
    /// # Errors
    /// [`TlsError::Protocol`] if the key does not fit the certificate or is unsupported.
    ///
    /// # Examples
    /// See [`TlsAcceptor`].
    pub fn from_der(
        chain: Vec<pki_types::CertificateDer<'static>>,
        key: pki_types::PrivateKeyDer<'static>,
    ) -> Result<TlsAcceptor, TlsError> {
        Ok(TlsAcceptor::new(Arc::new(server_config(chain, key)?)))
    }

    /// Accepts these application protocols by ALPN, most preferred first.
    ///
    /// # Examples
    /// ```
    /// use futures_util::AsyncWriteExt;
    /// # use simul::tls::{rustls, TlsAcceptor, TlsConnector};
    /// # let (acceptor, connector) = {
    /// #     let c = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    /// #     let key = rustls::pki_types::PrivateKeyDer::Pkcs8(c.key_pair.serialize_der().into());
    /// #     let mut roots = rustls::RootCertStore::empty();
    /// #     roots.add(c.cert.der().clone()).unwrap();
    /// #     (TlsAcceptor::from_der(vec![c.cert.der().clone()], key).unwrap(), TlsConnector::with_roots(roots))
    /// # };
    /// let (acceptor, connector) = (acceptor.alpn(&[b"h2"]), connector.alpn(&[b"h2", b"http/1.1"]));
    /// simul::run(async move {
    ///     let (a, b) = simul::net::UnixStream::pair().unwrap();
    ///     let server = simul::spawn(async move { acceptor.accept(a).await.unwrap() });
    ///     let client = connector.connect("localhost", b).await.unwrap();
    ///     assert_eq!(client.alpn_protocol(), Some(&b"h2"[..]));
    ///     assert_eq!(server.await.unwrap().alpn_protocol(), Some(&b"h2"[..]));
    /// });
    /// ```
    #[doc(alias = "set_alpn_protocols")]
    pub fn alpn(mut self, protocols: &[&[u8]]) -> TlsAcceptor {
        Arc::make_mut(&mut self.config).alpn_protocols =
            protocols.iter().map(|p| p.to_vec()).collect();
        self
    }

    /// Sets how long a client may take to finish its handshake (default 60 s); a client
    /// that says nothing is dropped after it with [`TlsError::HandshakeTimeout`].
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
    /// let a = acceptor.handshake_timeout(std::time::Duration::from_secs(10));
    /// assert_eq!(a.handshake_timeout_value().as_secs(), 10);
    /// ```
    #[doc(alias = "ssl_handshake_timeout")]
    pub fn handshake_timeout(mut self, d: Duration) -> TlsAcceptor {
        self.handshake_timeout = d;
        self
    }

    /// The handshake timeout.
    ///
    /// # Examples
    /// See [`TlsAcceptor::handshake_timeout`].
    pub fn handshake_timeout_value(&self) -> Duration {
        self.handshake_timeout
    }

    /// Sets how long [`TlsStream::shutdown`] waits for `close_notify` (default 30 s).
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
    /// let a = acceptor.shutdown_timeout(std::time::Duration::from_secs(1));
    /// # drop(a);
    /// ```
    #[doc(alias = "ssl_shutdown_timeout")]
    pub fn shutdown_timeout(mut self, d: Duration) -> TlsAcceptor {
        self.shutdown_timeout = d;
        self
    }

    /// The rustls configuration.
    ///
    /// # Examples
    /// See [`TlsAcceptor`].
    pub fn config(&self) -> &Arc<rustls::ServerConfig> {
        &self.config
    }

    /// Runs the server handshake over `io`.
    ///
    /// # Errors
    /// [`TlsError::HandshakeTimeout`], or the handshake's failure (a client that is not
    /// speaking TLS is [`TlsError::Protocol`]; one that rejects our certificate,
    /// [`TlsError::AlertReceived`]).
    ///
    /// # Examples
    /// See [`TlsStream`].
    pub async fn accept<IO>(&self, io: IO) -> Result<TlsStream<IO>, TlsError>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let accept =
            futures_rustls::TlsAcceptor::from(self.config.clone()).accept(ReadAhead::new(io));
        match crate::wait_for(self.handshake_timeout, accept).await {
            Ok(Ok(s)) => Ok(TlsStream::server(s, self.shutdown_timeout)),
            Ok(Err(e)) => Err(TlsError::from_io(e, None)),
            Err(_) => Err(TlsError::HandshakeTimeout(self.handshake_timeout)),
        }
    }
}

impl std::fmt::Debug for TlsAcceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsAcceptor")
            .field("handshake_timeout", &self.handshake_timeout)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .finish_non_exhaustive()
    }
}

/// A client configuration with the *ring* provider, TLS 1.2 and 1.3, trusting `roots`
/// and sending no client certificate.
///
/// # Examples
/// ```
/// let c = simul::tls::client_config(simul::tls::rustls::RootCertStore::empty());
/// assert!(c.alpn_protocols.is_empty());
/// ```
pub fn client_config(roots: rustls::RootCertStore) -> rustls::ClientConfig {
    rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// A server configuration with the *ring* provider, TLS 1.2 and 1.3, presenting `chain`
/// (leaf first) with `key`, asking for no client certificate.
///
/// # Errors
/// [`TlsError::Protocol`] if the key is unsupported or does not match the certificate.
///
/// # Examples
/// ```
/// let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
/// let key = simul::tls::rustls::pki_types::PrivateKeyDer::Pkcs8(cert.key_pair.serialize_der().into());
/// let config = simul::tls::server_config(vec![cert.cert.der().clone()], key).unwrap();
/// assert!(config.alpn_protocols.is_empty());
/// ```
pub fn server_config(
    chain: Vec<pki_types::CertificateDer<'static>>,
    key: pki_types::PrivateKeyDer<'static>,
) -> Result<rustls::ServerConfig, TlsError> {
    rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(TlsError::Protocol)
}
