//! [`TlsError`]: why a TLS handshake or shutdown failed, classified by cause.
//!
//! rustls reports a failed handshake as an `io::Error` wrapping a `rustls::Error`; the
//! classification below digs it out so a caller can match on the cause (the peer's
//! certificate is from an unknown issuer, is not valid for the name asked for, the peer
//! sent an alert, the protocol was violated) instead of parsing a message.

use std::fmt;
use std::io;
use std::time::Duration;

use futures_rustls::rustls;

/// Why a TLS handshake, connection or shutdown failed (asyncio's `ssl.SSLError` and
/// `ssl.SSLCertVerificationError`, and its handshake/shutdown `TimeoutError`s).
///
/// Converts into `io::Error` (kind `TimedOut`, `InvalidData`, or the I/O error's own), so
/// `?` works in functions returning `io::Result`.
///
/// # Examples
/// ```
/// use simul::tls::TlsError;
/// let e = TlsError::HandshakeTimeout(std::time::Duration::from_secs(60));
/// assert_eq!(e.to_string(), "TLS handshake timed out after 60s");
/// assert_eq!(std::io::Error::from(e).kind(), std::io::ErrorKind::TimedOut);
/// ```
#[derive(Debug)]
#[non_exhaustive]
#[doc(alias = "SSLError")]
#[doc(alias = "SSLCertVerificationError")]
pub enum TlsError {
    /// The handshake did not finish within the handshake timeout.
    HandshakeTimeout(Duration),
    /// The closing `close_notify` exchange did not finish within the shutdown timeout.
    ShutdownTimeout(Duration),
    /// The peer's certificate chain does not lead to a trusted root.
    UnknownIssuer,
    /// The peer's certificate is not valid for the server name that was asked for.
    BadName {
        /// The name the client asked for.
        expected: String,
    },
    /// The peer's certificate was rejected for another reason (expired, revoked, ...).
    BadCertificate(rustls::CertificateError),
    /// The peer refused the handshake with this alert (e.g. it does not trust our
    /// certificate: `UnknownCA`, `BadCertificate`).
    AlertReceived(rustls::AlertDescription),
    /// The two sides share no application protocol (ALPN).
    NoApplicationProtocol,
    /// The server name is not a valid DNS name or IP address.
    InvalidServerName(String),
    /// Any other TLS protocol failure (the peer spoke something other than TLS, no common
    /// cipher suite or version, a corrupt record, ...).
    Protocol(rustls::Error),
    /// The connection failed underneath TLS (reset, EOF during the handshake, ...).
    Io(io::Error),
}

impl TlsError {
    /// Classifies an error from a rustls handshake. `name` is the server name a client
    /// asked for (used in [`TlsError::BadName`]).
    pub(crate) fn from_io(e: io::Error, name: Option<&str>) -> TlsError {
        let is_rustls = e
            .get_ref()
            .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some());
        if !is_rustls {
            return TlsError::Io(e);
        }
        let inner = e.into_inner().expect("checked above");
        let err = *inner.downcast::<rustls::Error>().expect("checked above");
        TlsError::from_rustls(err, name)
    }

    fn from_rustls(err: rustls::Error, name: Option<&str>) -> TlsError {
        use rustls::{CertificateError as C, Error as E};
        match err {
            E::InvalidCertificate(C::UnknownIssuer) => TlsError::UnknownIssuer,
            E::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => {
                TlsError::BadName {
                    expected: name.unwrap_or("?").to_string(),
                }
            }
            E::InvalidCertificate(c) => TlsError::BadCertificate(c),
            E::AlertReceived(rustls::AlertDescription::NoApplicationProtocol)
            | E::NoApplicationProtocol => TlsError::NoApplicationProtocol,
            E::AlertReceived(a) => TlsError::AlertReceived(a),
            other => TlsError::Protocol(other),
        }
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::HandshakeTimeout(d) => write!(f, "TLS handshake timed out after {d:?}"),
            TlsError::ShutdownTimeout(d) => write!(f, "TLS shutdown timed out after {d:?}"),
            TlsError::UnknownIssuer => f.write_str(
                "TLS certificate verify failed: the peer's certificate is from an unknown issuer",
            ),
            TlsError::BadName { expected } => write!(
                f,
                "TLS certificate verify failed: the peer's certificate is not valid for {expected:?}"
            ),
            TlsError::BadCertificate(c) => {
                write!(f, "TLS certificate verify failed: {c:?}")
            }
            TlsError::AlertReceived(a) => {
                write!(f, "TLS handshake failed: the peer sent the alert {a:?}")
            }
            TlsError::NoApplicationProtocol => {
                f.write_str("TLS handshake failed: no application protocol (ALPN) in common")
            }
            TlsError::InvalidServerName(n) => write!(f, "invalid TLS server name {n:?}"),
            TlsError::Protocol(e) => write!(f, "TLS protocol error: {e}"),
            TlsError::Io(e) => write!(f, "TLS connection failed: {e}"),
        }
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TlsError::Protocol(e) => Some(e),
            TlsError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<TlsError> for io::Error {
    fn from(e: TlsError) -> io::Error {
        match e {
            TlsError::Io(e) => e,
            e @ (TlsError::HandshakeTimeout(_) | TlsError::ShutdownTimeout(_)) => {
                io::Error::new(io::ErrorKind::TimedOut, e)
            }
            e @ TlsError::InvalidServerName(_) => io::Error::new(io::ErrorKind::InvalidInput, e),
            e => io::Error::new(io::ErrorKind::InvalidData, e),
        }
    }
}
