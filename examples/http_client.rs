//! A hyper client on simul: HTTP/1.1 and HTTP/2, plain and over TLS, printing the status
//! line, the headers and the body (the asyncio docs' "Get HTTP headers" example, grown up).
//!
//! ```text
//! cargo run --release --features hyper,tls --example http_client
//!     # no URL: starts a local HTTP and HTTPS server and fetches from each, four ways
//! cargo run --release --features hyper,tls --example http_client -- http://127.0.0.1:8080/json
//! cargo run --release --features hyper,tls --example http_client -- --http2 --cacert /tmp/simul-https-ca.pem https://localhost:8443/
//! ```

#[path = "common/app.rs"]
mod app;
#[path = "common/certs.rs"]
mod certs;

use std::future::IntoFuture;
use std::time::Instant;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::Uri;
use simul::http::{HyperIo, LocalExecutor, ReadUninit};
use simul::tls::TlsConnector;

#[derive(Clone, Copy, PartialEq)]
enum Version {
    Http1,
    Http2,
}

/// Sends `GET uri` over `io` with the given HTTP version and prints the response.
async fn fetch_over<IO>(
    io: IO,
    uri: &Uri,
    version: Version,
) -> Result<(), Box<dyn std::error::Error>>
where
    IO: ReadUninit + futures_io::AsyncWrite + Unpin + 'static,
{
    let authority = uri.authority().map(|a| a.to_string()).unwrap_or_default();
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let started = Instant::now();
    let response = match version {
        Version::Http1 => {
            let (mut send, conn) = hyper::client::conn::http1::handshake(HyperIo::new(io)).await?;
            drop(simul::spawn(conn)); // drives the connection while we use `send`
            let req = hyper::Request::get(path)
                .header(hyper::header::HOST, authority)
                .body(Empty::<Bytes>::new())?;
            send.send_request(req).await?
        }
        Version::Http2 => {
            let (mut send, conn) = hyper::client::conn::http2::Builder::new(LocalExecutor)
                .timer(simul::http::HyperTimer)
                .handshake(HyperIo::new(io))
                .await?;
            drop(simul::spawn(conn));
            let req = hyper::Request::get(uri.clone()).body(Empty::<Bytes>::new())?;
            send.send_request(req).await?
        }
    };
    println!("{:?} {}", response.version(), response.status());
    for (name, value) in response.headers() {
        println!("{name}: {}", value.to_str().unwrap_or("<binary>"));
    }
    let body = response.into_body().collect().await?.to_bytes();
    println!();
    println!("{}", String::from_utf8_lossy(&body).trim_end());
    println!(
        "({} bytes in {:.1} ms)\n",
        body.len(),
        started.elapsed().as_secs_f64() * 1e3
    );
    Ok(())
}

/// Connects to `uri` (http or https) and fetches it.
async fn fetch(
    uri: &Uri,
    version: Version,
    tls: &TlsConnector,
) -> Result<(), Box<dyn std::error::Error>> {
    let host = uri.host().ok_or("the URL has no host")?;
    let https = uri.scheme_str() == Some("https");
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let tcp = simul::net::TcpStream::connect((host, port)).await?;
    tcp.set_nodelay(true)?;
    println!(
        "== GET {uri} over {}",
        match (version, https) {
            (Version::Http1, false) => "HTTP/1.1",
            (Version::Http2, false) => "HTTP/2 (prior knowledge)",
            (Version::Http1, true) => "TLS, HTTP/1.1 by ALPN",
            (Version::Http2, true) => "TLS, HTTP/2 by ALPN",
        }
    );
    if https {
        let alpn: &[u8] = if version == Version::Http2 {
            b"h2"
        } else {
            b"http/1.1"
        };
        let stream = tls.clone().alpn(&[alpn]).connect(host, tcp).await?;
        println!(
            "(TLS {:?}, ALPN {:?})",
            stream.protocol_version().unwrap(),
            stream.alpn_protocol().map(String::from_utf8_lossy)
        );
        fetch_over(stream, uri, version).await
    } else {
        fetch_over(tcp, uri, version).await
    }
}

fn usage(msg: &str) -> ! {
    eprintln!("http_client: {msg}\nusage: http_client [--http2] [--cacert FILE] [URL]");
    std::process::exit(2)
}

fn main() {
    let (mut url, mut version, mut cacert) = (None, Version::Http1, None);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--http2" => version = Version::Http2,
            "--cacert" => {
                cacert = Some(
                    args.next()
                        .unwrap_or_else(|| usage("--cacert needs a file")),
                )
            }
            u => {
                url = Some(
                    u.parse::<Uri>()
                        .unwrap_or_else(|e| usage(&format!("bad URL {u:?}: {e}"))),
                )
            }
        }
    }
    simul::run(async move {
        let Some(url) = url else {
            return demo().await;
        };
        let mut roots = simul::tls::rustls::RootCertStore::empty();
        if let Some(path) = cacert {
            let pem =
                std::fs::read(&path).unwrap_or_else(|e| usage(&format!("cannot read {path}: {e}")));
            for der in pem_certificates(&pem) {
                roots
                    .add(der)
                    .unwrap_or_else(|e| usage(&format!("bad certificate in {path}: {e}")));
            }
        }
        if let Err(e) = fetch(&url, version, &TlsConnector::with_roots(roots)).await {
            eprintln!("http_client: {e}");
            std::process::exit(1);
        }
    });
}

/// The certificates of a PEM file.
fn pem_certificates(pem: &[u8]) -> Vec<simul::tls::rustls::pki_types::CertificateDer<'static>> {
    use simul::tls::rustls::pki_types::pem::PemObject;
    simul::tls::rustls::pki_types::CertificateDer::pem_slice_iter(pem)
        .filter_map(Result::ok)
        .collect()
}

/// No URL: a local HTTP server and a local HTTPS server (throw-away CA), four fetches.
async fn demo() {
    let pki = certs::TestPki::new();
    let plain = simul::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let secure = simul::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (p1, p2) = (
        plain.local_addr().unwrap().port(),
        secure.local_addr().unwrap().port(),
    );
    let svc = simul::http::TowerToHyper::new(app::router());
    drop(simul::spawn(
        simul::http::serve(plain, svc.clone()).into_future(),
    ));
    drop(simul::spawn(
        simul::http::serve(secure, svc)
            .tls(pki.acceptor())
            .into_future(),
    ));
    let tls = pki.connector();
    let cases = [
        (format!("http://127.0.0.1:{p1}/"), Version::Http1),
        (format!("http://127.0.0.1:{p1}/json"), Version::Http2),
        (format!("https://localhost:{p2}/hello/tls"), Version::Http1),
        (format!("https://localhost:{p2}/stream/3"), Version::Http2),
    ];
    for (url, version) in cases {
        if let Err(e) = fetch(&url.parse().unwrap(), version, &tls).await {
            eprintln!("http_client: {url}: {e}");
            std::process::exit(1);
        }
    }
}
