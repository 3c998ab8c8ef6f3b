//! The HTTP benchmark's peer: the same hyper service on tokio's current_thread runtime
//! (hyper-util's `TokioIo`, `TokioExecutor`, `TokioTimer`, auto-detected HTTP/1.1 and h2c).
//!
//! usage: `http_tokio [PORT]` (default 8082), binds 127.0.0.1.

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;

fn main() {
    let port = simul_bench_http::port_arg("http_tokio", 8082);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        println!(
            "http_tokio: listening on {}",
            listener.local_addr().unwrap()
        );
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(std::time::Duration::from_secs(30));
        builder.http2().timer(TokioTimer::new());
        let builder = std::sync::Arc::new(builder);
        loop {
            let (tcp, _) = match listener.accept().await {
                Ok(c) => c,
                Err(_) => continue,
            };
            let _ = tcp.set_nodelay(true);
            let builder = builder.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(simul_bench_http::handle);
                let _ = builder.serve_connection(TokioIo::new(tcp), svc).await;
            });
        }
    });
}

#[path = "../http_service.rs"]
mod simul_bench_http;
