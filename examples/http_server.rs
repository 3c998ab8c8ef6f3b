//! An axum app on simul over HTTP/1.1 and HTTP/2 (h2c), no tokio runtime anywhere.
//!
//! ```text
//! cargo run --release --features hyper --example http_server [PORT] [--loops N]
//!     # default port 8080, binds 127.0.0.1; one loop unless --loops N
//! curl http://127.0.0.1:8080/                       # Hello, World!  (text/plain)
//! curl http://127.0.0.1:8080/json                   # {"message":"Hello, World!"}
//! curl --http2-prior-knowledge http://127.0.0.1:8080/hello/simul
//! curl -d '{"name":"Ada","times":2}' -H 'content-type: application/json' http://127.0.0.1:8080/greet
//! curl -N http://127.0.0.1:8080/stream/5            # five lines, 10 ms apart
//! curl http://127.0.0.1:8080/loop                   # which loop served it: "loop 0"
//! ```
//!
//! `--loops N` serves on N event loops (one thread each, `simul::Loops`), each with its
//! own `SO_REUSEPORT` listener on the port. Ctrl-C shuts down gracefully on every loop: no
//! new connections, in-flight requests finish (5 s at most).

#[path = "common/app.rs"]
mod app;
#[path = "common/serve_loops.rs"]
mod serve_loops;

fn usage(msg: &str) -> ! {
    eprintln!(
        "http_server: {msg}\nusage: http_server [PORT] [--loops N]   (PORT: 0-65535, default 8080; N ≥ 1, default 1)"
    );
    std::process::exit(2)
}

fn main() {
    let mut port: u16 = 8080;
    let mut loops = 1;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--loops" => loops = serve_loops::parse_loops(args.next(), usage),
            p => {
                port = p
                    .parse()
                    .unwrap_or_else(|_| usage(&format!("bad port {p:?}")))
            }
        }
    }
    let listeners = serve_loops::bind(loops, port).unwrap_or_else(|e| {
        eprintln!("http_server: cannot listen on 127.0.0.1:{port}: {e}");
        std::process::exit(1)
    });
    println!(
        "serving HTTP/1.1 and HTTP/2 on http://{} with {loops} loop(s) (Ctrl-C to stop)",
        listeners[0].local_addr().unwrap()
    );
    for result in serve_loops::serve_app(listeners, app::router(), |s| s) {
        if let Err(e) = result {
            eprintln!("http_server: {e}");
        }
    }
}
