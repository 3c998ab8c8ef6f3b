//! The `http_server` app over TLS: HTTPS with HTTP/1.1 and HTTP/2 chosen by ALPN, with a
//! certificate made at start by a throw-away CA (rcgen); the CA is written to a file so
//! clients can trust it.
//!
//! ```text
//! cargo run --release --features hyper,tls --example https_server [PORT] [--ca-out FILE] [--loops N]
//!     # default port 8443, binds 127.0.0.1; CA to $TMPDIR/simul-https-ca.pem; one loop unless --loops N
//! curl --cacert /tmp/simul-https-ca.pem https://localhost:8443/          # HTTP/2 via ALPN
//! curl --http1.1 --cacert /tmp/simul-https-ca.pem https://localhost:8443/json
//! openssl s_client -connect 127.0.0.1:8443 -alpn h2 -CAfile /tmp/simul-https-ca.pem
//! ```
//!
//! `--loops N` serves on N event loops (one thread each, `simul::Loops`), each with its
//! own `SO_REUSEPORT` listener. Ctrl-C shuts down gracefully on every loop.

#[path = "common/app.rs"]
mod app;
#[path = "common/certs.rs"]
mod certs;
#[path = "common/serve_loops.rs"]
mod serve_loops;

use std::time::Duration;

fn usage(msg: &str) -> ! {
    eprintln!(
        "https_server: {msg}\nusage: https_server [PORT] [--ca-out FILE] [--loops N]   (default port 8443, N ≥ 1, default 1)"
    );
    std::process::exit(2)
}

fn main() {
    let mut port: u16 = 8443;
    let mut loops = 1;
    let mut ca_out = std::env::temp_dir().join("simul-https-ca.pem");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--ca-out" => {
                ca_out = args
                    .next()
                    .unwrap_or_else(|| usage("--ca-out needs a file"))
                    .into()
            }
            "--loops" => loops = serve_loops::parse_loops(args.next(), usage),
            p => {
                port = p
                    .parse()
                    .unwrap_or_else(|_| usage(&format!("bad port {p:?}")))
            }
        }
    }
    let pki = certs::TestPki::new();
    if let Err(e) = std::fs::write(&ca_out, &pki.ca_pem) {
        usage(&format!("cannot write the CA to {}: {e}", ca_out.display()));
    }
    let listeners = serve_loops::bind(loops, port).unwrap_or_else(|e| {
        eprintln!("https_server: cannot listen on 127.0.0.1:{port}: {e}");
        std::process::exit(1)
    });
    println!(
        "serving HTTPS (HTTP/2 and HTTP/1.1 by ALPN) on https://localhost:{} with {loops} loop(s)",
        listeners[0].local_addr().unwrap().port()
    );
    println!("CA certificate: {}", ca_out.display());
    let acceptor = pki.acceptor().handshake_timeout(Duration::from_secs(10));
    for result in serve_loops::serve_app(listeners, app::router(), move |s| s.tls(acceptor.clone()))
    {
        if let Err(e) = result {
            eprintln!("https_server: {e}");
        }
    }
}
