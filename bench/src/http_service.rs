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

/// The arguments `[PORT] [LOOPS]`: the port (or `default`) and the number of loops (or
/// runtimes), each on its own thread with its own `SO_REUSEPORT` listener (default 1).
pub fn args(name: &str, default: u16) -> (u16, usize) {
    let bad = |what: &str| -> ! {
        eprintln!("{name}: bad {what}\nusage: {name} [PORT] [LOOPS]");
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
    (port, loops)
}
