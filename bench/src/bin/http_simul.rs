//! The HTTP benchmark's server on simul: hyper with simul's I/O, executor and timer.
//!
//! usage: `http_simul [PORT]` (default 8081), binds 127.0.0.1. `GET /` answers
//! `Hello, World!` (text/plain), `GET /json` `{"message":"Hello, World!"}`: TechEmpower's
//! plaintext and JSON shapes. HTTP/1.1 and HTTP/2 (h2c) are auto-detected. The service is
//! the same `service_fn` as `http_tokio`'s, so the rows compare the runtimes only.

use std::future::IntoFuture;

fn main() {
    let port = simul_bench_http::port_arg("http_simul", 8081);
    simul::run(async move {
        let listener = simul::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        println!(
            "http_simul: listening on {}",
            listener.local_addr().unwrap()
        );
        let svc = hyper::service::service_fn(simul_bench_http::handle);
        simul::http::serve(listener, svc)
            .into_future()
            .await
            .unwrap();
    });
}

#[path = "../http_service.rs"]
mod simul_bench_http;
