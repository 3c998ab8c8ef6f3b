//! The HTTP benchmark's peer: the same hyper service on tokio's current_thread runtime
//! (hyper-util's `TokioIo`, `TokioExecutor`, `TokioTimer`, auto-detected HTTP/1.1 and h2c).
//!
//! usage: `http_tokio [PORT] [RUNTIMES] [tls]` (default 8082, 1 runtime), binds 127.0.0.1. With
//! RUNTIMES > 1, one current_thread runtime per thread, each with its own `SO_REUSEPORT`
//! listener: the thread-per-core shape `http_simul LOOPS` is compared with. With `tls`,
//! HTTPS through tokio-rustls, the HTTP version chosen by ALPN as `simul::http::serve` does.

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;

fn main() {
    let (port, runtimes, tls) = simul_bench_http::args("http_tokio", 8082);
    let acceptor = tls.then(|| {
        tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(simul_bench_http::server_tls_config()))
    });
    let threads: Vec<_> = (0..runtimes)
        .map(|_| {
            let acceptor = acceptor.clone();
            std::thread::spawn(move || serve(port, runtimes > 1, acceptor))
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

fn serve(port: u16, reuse_port: bool, tls: Option<tokio_rustls::TlsAcceptor>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async move {
        let s = tokio::net::TcpSocket::new_v4().unwrap();
        s.set_reuseaddr(true).unwrap();
        s.set_reuseport(reuse_port).unwrap();
        s.bind(([127, 0, 0, 1], port).into()).unwrap();
        let listener = s.listen(1024).unwrap();
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
        let builder = std::sync::Arc::new((
            builder.clone().http1_only(),
            builder.clone().http2_only(),
            builder,
        ));
        loop {
            let (tcp, _) = match listener.accept().await {
                Ok(c) => c,
                Err(_) => continue,
            };
            let _ = tcp.set_nodelay(true);
            let builder = builder.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(simul_bench_http::handle);
                let (h1, h2, auto) = &*builder;
                let Some(acceptor) = tls else {
                    let _ = auto.serve_connection(TokioIo::new(tcp), svc).await;
                    return;
                };
                let Ok(stream) = acceptor.accept(tcp).await else {
                    return;
                };
                let b = match stream.get_ref().1.alpn_protocol() {
                    Some(b"h2") => h2,
                    Some(b"http/1.1") => h1,
                    _ => auto,
                };
                let _ = b.serve_connection(TokioIo::new(stream), svc).await;
            });
        }
    });
}

#[path = "../http_service.rs"]
mod simul_bench_http;
