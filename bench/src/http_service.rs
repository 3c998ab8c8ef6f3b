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

/// The first argument as a port, or `default`.
pub fn port_arg(name: &str, default: u16) -> u16 {
    match std::env::args().nth(1).map(|p| p.parse::<u16>()) {
        None => default,
        Some(Ok(p)) => p,
        Some(Err(e)) => {
            eprintln!("{name}: bad port: {e}\nusage: {name} [PORT]");
            std::process::exit(2);
        }
    }
}
