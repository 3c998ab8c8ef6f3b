//! The service both HTTP benchmark servers run (included by `http_simul` and
//! `http_tokio`).

use std::convert::Infallible;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};

/// `GET /` → plaintext, `GET /json` → JSON, anything else → 404.
pub async fn handle(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (body, ty): (&'static [u8], &'static str) = match req.uri().path() {
        "/" => (b"Hello, World!", "text/plain"),
        "/json" => (br#"{"message":"Hello, World!"}"#, "application/json"),
        _ => {
            let mut r = Response::new(Full::new(Bytes::new()));
            *r.status_mut() = StatusCode::NOT_FOUND;
            return Ok(r);
        }
    };
    let mut r = Response::new(Full::new(Bytes::from_static(body)));
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(ty));
    Ok(r)
}

/// The arguments `[PORT] [LOOPS] [tls]`: the port (or `default`), the number of loops (or
/// runtimes), each on its own thread with its own `SO_REUSEPORT` listener (default 1), and
/// whether to serve HTTPS (HTTP/2 and HTTP/1.1 by ALPN) with a certificate made at start.
pub fn args(name: &str, default: u16) -> (u16, usize, bool) {
    let bad = |what: &str| -> ! {
        eprintln!("{name}: bad {what}\nusage: {name} [PORT] [LOOPS] [tls]");
        std::process::exit(2);
    };
    let mut args = std::env::args().skip(1);
    let port = match args.next().map(|p| p.parse::<u16>()) {
        None => default,
        Some(Ok(p)) => p,
        Some(Err(_)) => bad("port"),
    };
    let loops = match args.next().map(|n| n.parse::<usize>()) {
        None => 1,
        Some(Ok(n)) if n >= 1 => n,
        Some(_) => bad("loop count"),
    };
    let tls = match args.next().as_deref() {
        None => false,
        Some("tls") => true,
        Some(_) => bad("third argument (only `tls`)"),
    };
    (port, loops, tls)
}

/// A self-signed certificate for `localhost` and its key, made at start (rcgen); both
/// servers present it with rustls' *ring* provider and offer `h2`, `http/1.1` by ALPN.
pub fn server_tls_config() -> simul::tls::rustls::ServerConfig {
    use simul::tls::rustls::{self, pki_types};
    let c = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let key = pki_types::PrivateKeyDer::Pkcs8(c.key_pair.serialize_der().into());
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![c.cert.der().clone()], key)
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config
}
