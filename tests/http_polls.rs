//! How much work an HTTP/1.1 keep-alive request costs the connection task: the number of
//! times it is polled per request. hyper reads the request, calls the service and writes
//! the response in one poll when the service is ready at once, so one wake (the socket
//! turning readable) per request is the mechanism's floor; a spurious wake per request
//! (say, a waker fired through the injection path, or a write that needs a second poll)
//! would double it. Measured: 1.00 polls per request; the test allows 1.5.
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use simul::http::{HyperIo, HyperTimer};

/// Counts the polls of the future it wraps.
struct Counted<F> {
    inner: Pin<Box<F>>,
    polls: Rc<Cell<u64>>,
}

impl<F: Future> Future for Counted<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.polls.set(self.polls.get() + 1);
        self.inner.as_mut().poll(cx)
    }
}

#[test]
fn a_keep_alive_request_costs_the_connection_task_one_poll() {
    const REQUESTS: u64 = 200;
    simul::run(async {
        let listener = simul::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let polls = Rc::new(Cell::new(0));
        let server = simul::spawn({
            let polls = polls.clone();
            async move {
                let (tcp, _) = listener.accept().await.unwrap();
                tcp.set_nodelay(true).unwrap();
                let svc = hyper::service::service_fn(|_req: hyper::Request<Incoming>| async {
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                        Bytes::from_static(b"Hello, World!"),
                    )))
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(HyperTimer)
                    .header_read_timeout(std::time::Duration::from_secs(30))
                    .serve_connection(HyperIo::new(tcp), svc);
                let _ = Counted {
                    inner: Box::pin(conn),
                    polls,
                }
                .await;
            }
        });
        let mut client = simul::net::TcpStream::connect(addr).await.unwrap();
        client.set_nodelay(true).unwrap();
        let mut buf = vec![0u8; 4096];
        // The first request includes the connection's setup; count from the second.
        let mut start = 0;
        for i in 0..=REQUESTS {
            if i == 1 {
                start = polls.get();
            }
            client
                .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
                .await
                .unwrap();
            let mut got = Vec::new();
            while !got.ends_with(b"Hello, World!") {
                let n = client.read(&mut buf).await.unwrap();
                assert!(n > 0, "the server closed the connection");
                got.extend_from_slice(&buf[..n]);
            }
            assert!(got.starts_with(b"HTTP/1.1 200 OK\r\n"), "{got:?}");
        }
        let per_request = (polls.get() - start) as f64 / REQUESTS as f64;
        assert!(
            per_request <= 1.5,
            "the connection task was polled {per_request:.2} times per request"
        );
        drop(client);
        server.await.unwrap();
    });
}
