//! An axum app on simul over HTTP/1.1 and HTTP/2 (h2c), no tokio runtime anywhere.
//!
//! ```text
//! cargo run --release --features hyper --example http_server [PORT]   # default 8080, binds 127.0.0.1
//! curl http://127.0.0.1:8080/                       # Hello, World!  (text/plain)
//! curl http://127.0.0.1:8080/json                   # {"message":"Hello, World!"}
//! curl --http2-prior-knowledge http://127.0.0.1:8080/hello/simul
//! curl -d '{"name":"Ada","times":2}' -H 'content-type: application/json' http://127.0.0.1:8080/greet
//! curl -N http://127.0.0.1:8080/stream/5            # five lines, 10 ms apart
//! ```
//!
//! Ctrl-C shuts down gracefully: no new connections, in-flight requests finish (5 s at
//! most).

#[path = "common/app.rs"]
mod app;

use std::time::Duration;

fn main() {
    let port: u16 = match std::env::args().nth(1) {
        Some(p) => p.parse().unwrap_or_else(|_| {
            eprintln!("usage: http_server [PORT]   (PORT: 0-65535, default 8080; got {p:?})");
            std::process::exit(2)
        }),
        None => 8080,
    };
    simul::run(async move {
        let listener = match simul::net::TcpListener::bind(("127.0.0.1", port)).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("http_server: cannot listen on 127.0.0.1:{port}: {e}");
                std::process::exit(1)
            }
        };
        println!(
            "serving HTTP/1.1 and HTTP/2 on http://{} (Ctrl-C to stop)",
            listener.local_addr().unwrap()
        );
        let result = simul::http::serve(listener, simul::http::TowerToHyper::new(app::router()))
            .shutdown_deadline(Duration::from_secs(5))
            .with_graceful_shutdown(async {
                let _ = simul::signal::ctrl_c().await;
                println!("shutting down");
            })
            .await;
        if let Err(e) = result {
            eprintln!("http_server: {e}");
        }
    });
}
