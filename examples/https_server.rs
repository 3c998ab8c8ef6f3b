//! The `http_server` app over TLS: HTTPS with HTTP/1.1 and HTTP/2 chosen by ALPN, with a
//! certificate made at start by a throw-away CA (rcgen); the CA is written to a file so
//! clients can trust it.
//!
//! ```text
//! cargo run --release --features hyper,tls --example https_server [PORT] [--ca-out FILE]
//!     # default port 8443, binds 127.0.0.1; CA to $TMPDIR/simul-https-ca.pem
//! curl --cacert /tmp/simul-https-ca.pem https://localhost:8443/          # HTTP/2 via ALPN
//! curl --http1.1 --cacert /tmp/simul-https-ca.pem https://localhost:8443/json
//! openssl s_client -connect 127.0.0.1:8443 -alpn h2 -CAfile /tmp/simul-https-ca.pem
//! ```

#[path = "common/app.rs"]
mod app;
#[path = "common/certs.rs"]
mod certs;

use std::time::Duration;

fn usage(msg: &str) -> ! {
    eprintln!(
        "https_server: {msg}\nusage: https_server [PORT] [--ca-out FILE]   (default port 8443)"
    );
    std::process::exit(2)
}

fn main() {
    let mut port: u16 = 8443;
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
    simul::run(async move {
        let listener = match simul::net::TcpListener::bind(("127.0.0.1", port)).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("https_server: cannot listen on 127.0.0.1:{port}: {e}");
                std::process::exit(1)
            }
        };
        let addr = listener.local_addr().unwrap();
        println!(
            "serving HTTPS (HTTP/2 and HTTP/1.1 by ALPN) on https://localhost:{}",
            addr.port()
        );
        println!("CA certificate: {}", ca_out.display());
        let result = simul::http::serve(listener, simul::http::TowerToHyper::new(app::router()))
            .tls(pki.acceptor().handshake_timeout(Duration::from_secs(10)))
            .shutdown_deadline(Duration::from_secs(5))
            .with_graceful_shutdown(async {
                let _ = simul::signal::ctrl_c().await;
                println!("shutting down");
            })
            .await;
        if let Err(e) = result {
            eprintln!("https_server: {e}");
        }
    });
}
