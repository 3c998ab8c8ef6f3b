//! A throw-away certificate authority and a server certificate signed by it, made at run
//! time with rcgen (no key is ever committed). Shared by the TLS examples and tests.

#![allow(dead_code)]

use simul::tls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A test CA and one server certificate (for `localhost` and `127.0.0.1`) it signed.
pub struct TestPki {
    /// The CA certificate, PEM (for `curl --cacert`, Python's `cafile`).
    pub ca_pem: String,
    /// The CA certificate, DER (for a rustls `RootCertStore`).
    pub ca_der: CertificateDer<'static>,
    /// The server's chain (leaf, then the CA), DER.
    pub chain: Vec<CertificateDer<'static>>,
    /// The server's chain, PEM.
    pub chain_pem: String,
    /// The server's private key, DER (PKCS#8).
    pub key: PrivateKeyDer<'static>,
    /// The server's private key, PEM.
    pub key_pem: String,
}

impl TestPki {
    /// Makes a new CA and a server certificate for `localhost` and `127.0.0.1`.
    pub fn new() -> TestPki {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "simul test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = ca_params.self_signed(&ca_key).expect("CA certificate");

        let key = KeyPair::generate().expect("server key");
        let mut params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                .expect("server params");
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        let leaf = params
            .signed_by(&key, &ca, &ca_key)
            .expect("server certificate");

        TestPki {
            ca_pem: ca.pem(),
            ca_der: ca.der().clone(),
            chain: vec![leaf.der().clone(), ca.der().clone()],
            chain_pem: format!("{}{}", leaf.pem(), ca.pem()),
            key: PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            key_pem: key.serialize_pem(),
        }
    }

    /// An acceptor presenting the server certificate, offering `h2` and `http/1.1`.
    pub fn acceptor(&self) -> simul::tls::TlsAcceptor {
        simul::tls::TlsAcceptor::from_der(self.chain.clone(), self.key.clone_key())
            .expect("server config")
            .alpn(&[b"h2", b"http/1.1"])
    }

    /// A connector trusting the CA.
    pub fn connector(&self) -> simul::tls::TlsConnector {
        let mut roots = simul::tls::rustls::RootCertStore::empty();
        roots
            .add(self.ca_der.clone())
            .expect("CA into the root store");
        simul::tls::TlsConnector::with_roots(roots)
    }
}
