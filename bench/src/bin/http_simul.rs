//! The HTTP benchmark's server on simul: hyper with simul's I/O, executor and timer.
//!
//! usage: `http_simul [PORT] [LOOPS] [tls]` (default 8081, 1 loop), binds 127.0.0.1. `GET /`
//! answers `Hello, World!` (text/plain), `GET /json` `{"message":"Hello, World!"}`:
//! TechEmpower's plaintext and JSON shapes. HTTP/1.1 and HTTP/2 (h2c) are auto-detected.
//! The service is the same `service_fn` as `http_tokio`'s, so the rows compare the
//! runtimes only. With LOOPS > 1 a `simul::Loops` set runs one `serve` per loop, each on
//! its own `SO_REUSEPORT` listener (as `http_tokio` runs one current_thread runtime per
//! thread). With `tls`, it serves HTTPS (HTTP/2 or HTTP/1.1 by ALPN) with a certificate
//! made at start.

use std::future::IntoFuture;
use std::sync::Mutex;

use simul::net::{BindOptions, TcpListener};

fn main() {
    let (port, loops, tls) = simul_bench_http::args("http_simul", 8081);
    let acceptor = tls.then(|| {
        simul::tls::TlsAcceptor::new(std::sync::Arc::new(simul_bench_http::server_tls_config()))
    });
    let listeners: Vec<std::net::TcpListener> = simul::run(async move {
        let opts = BindOptions::new().reuse_port(loops > 1);
        let mut all = Vec::new();
        for _ in 0..loops {
            let l = TcpListener::bind_with(("127.0.0.1", port), opts).await;
            all.push(l.unwrap().into_std().unwrap());
        }
        all
    });
    println!(
        "http_simul: listening on {} with {loops} loop(s)",
        listeners[0].local_addr().unwrap()
    );
    let serve = move |listener: std::net::TcpListener| {
        let acceptor = acceptor.clone();
        async move {
            let listener = TcpListener::from_std(listener).unwrap();
            let svc = hyper::service::service_fn(simul_bench_http::handle);
            let mut server = simul::http::serve(listener, svc);
            if let Some(a) = acceptor {
                server = server.tls(a);
            }
            server.into_future().await.unwrap();
        }
    };
    if loops == 1 {
        let listener = listeners.into_iter().next().unwrap();
        simul::run(serve(listener));
        return;
    }
    let set = simul::Loops::builder().count(loops).build().unwrap();
    let slots = Mutex::new(listeners.into_iter().map(Some).collect::<Vec<_>>());
    set.run(move |index| serve(slots.lock().unwrap()[index].take().unwrap()));
}

#[path = "../http_service.rs"]
mod simul_bench_http;
