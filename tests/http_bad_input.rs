//! Bad input costs only its own connection: malformed requests, oversized headers,
//! slowloris clients, clients that vanish mid-response and handlers that panic; and a
//! graceful shutdown lets the request in flight finish while refusing new ones.

mod http_common;

use std::future::IntoFuture;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty, Full};
use http_common::{Options, TestServer};
use hyper::body::{Bytes, Incoming};

/// Sends `raw` on a fresh connection and returns everything the server sends back
/// before it closes (or 30 s pass).
fn exchange(port: u16, raw: &[u8]) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(raw).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn get_ok(port: u16) {
    let resp = exchange(
        port,
        b"GET /json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(resp.starts_with("HTTP/1.1 200 OK"), "{resp}");
    assert!(resp.ends_with(r#"{"message":"Hello, World!"}"#), "{resp}");
}

#[test]
fn a_malformed_request_gets_400_and_the_server_serves_on() {
    let s = TestServer::start(Options::default());
    let resp = exchange(s.port, b"THIS IS NOT HTTP\r\n\r\n");
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp:?}");
    let resp = exchange(
        s.port,
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n",
    );
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp:?}");
    // Garbage after a valid HTTP/2 preface: the h2 connection fails, only it.
    let resp = exchange(
        s.port,
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\xff\xff\xff\xff\xff\xff\xff\xff\xff",
    );
    assert!(!resp.contains("200 OK"));
    get_ok(s.port);
}

#[test]
fn oversized_headers_get_431_and_the_server_serves_on() {
    let s = TestServer::start(Options::default()); // max_buf_size 64 KiB
    let big = "a".repeat(200 * 1024);
    let req = format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n");
    let resp = exchange(s.port, req.as_bytes());
    assert!(
        resp.starts_with("HTTP/1.1 431"),
        "{:?}",
        &resp[..resp.len().min(200)]
    );
    get_ok(s.port);
}

#[test]
fn a_slowloris_client_is_cut_off_after_the_header_read_timeout() {
    let s = TestServer::start(Options {
        header_read_timeout: Some(Duration::from_millis(300)),
        ..Options::default()
    });
    let started = Instant::now();
    let mut slow = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap(); // ... and never the end
                                                               // While it dawdles, others are served.
    get_ok(s.port);
    let mut out = Vec::new();
    let _ = slow.read_to_end(&mut out); // returns once the server hangs up
    assert!(
        !String::from_utf8_lossy(&out).contains("200 OK"),
        "the slow request was not served"
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the server did hang up"
    );
    get_ok(s.port);
}

#[test]
fn a_slowloris_second_request_is_cut_off_a_full_timeout_after_the_first_response() {
    // The connection's header-read timer, armed at connect for the first request, is taken
    // over by the second request's and moved later in place: the second head still gets
    // the whole timeout from when the server started reading it, not what the first one's
    // deadline left (which would hang up ~400 ms after the response here). The first
    // head's dawdle leaves 400 ms of slack, so a loaded machine's late wake-up of this
    // thread does not make it miss its own deadline (250 ms of 300 once did).
    let s = TestServer::start(Options {
        header_read_timeout: Some(Duration::from_millis(1000)),
        ..Options::default()
    });
    let mut c = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    // The first head comes slowly, but in time: its timer starts with its first line.
    c.write_all(b"GET /json HTTP/1.1\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(600));
    c.write_all(b"Host: x\r\n\r\n").unwrap();
    let mut first = Vec::new();
    while !String::from_utf8_lossy(&first).ends_with(r#"{"message":"Hello, World!"}"#) {
        let mut buf = [0u8; 512];
        let n = c.read(&mut buf).unwrap();
        assert!(n > 0, "closed before the first response");
        first.extend_from_slice(&buf[..n]);
    }
    let answered = Instant::now();
    c.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap(); // ... and never the end
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out); // returns once the server hangs up
    let waited = answered.elapsed();
    assert!(!String::from_utf8_lossy(&out).contains("200 OK"));
    assert!(
        waited >= Duration::from_millis(900),
        "cut off {waited:?} after the first response"
    );
    assert!(waited < Duration::from_secs(30), "the server did hang up");
    get_ok(s.port);
}

#[test]
fn clients_vanishing_mid_response_cost_only_their_connection() {
    let s = TestServer::start(Options::default());
    for _ in 0..20 {
        let mut c = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
        c.write_all(b"GET /stream/1000 HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut first = [0u8; 64];
        let n = c.read(&mut first).unwrap();
        assert!(String::from_utf8_lossy(&first[..n]).starts_with("HTTP/1.1 200"));
        drop(c); // gone, with 990 chunks still to come
    }
    get_ok(s.port);
}

#[test]
fn a_failed_tls_handshake_costs_only_its_connection() {
    let s = TestServer::start(Options {
        tls: true,
        // Long enough that the real handshake below never runs into it on a loaded
        // machine (300 ms once cut it short: the client saw its first read end without
        // close_notify), short enough that the truncated ClientHello ends soon.
        handshake_timeout: Some(Duration::from_secs(3)),
        ..Options::default()
    });
    // Plain HTTP to the HTTPS port, a silent client, and a truncated ClientHello (left
    // waiting for the handshake timeout while the real client is served).
    let _ = exchange(s.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let silent = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    let port = s.port;
    let truncated =
        std::thread::spawn(move || exchange(port, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"));
    // The server still completes real handshakes, with two bad ones pending.
    let pki = s.pki.as_ref().unwrap();
    let connector = pki.connector();
    simul::run(async move {
        let (r, w) =
            simul::tls::open_tls_connection("127.0.0.1", port, &connector, Some("localhost"))
                .await
                .unwrap();
        w.write(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        let resp = r.read_to_end().await.unwrap();
        assert!(String::from_utf8_lossy(&resp).ends_with("Hello, World!"));
    });
    // The truncated ClientHello's connection ends (at its handshake timeout) unanswered.
    assert_eq!(truncated.join().unwrap(), "");
    drop(silent);
}

async fn client(port: u16) -> hyper::client::conn::http1::SendRequest<Empty<Bytes>> {
    client_and_connection(port).await.0
}

/// [`client`], with the task driving its connection (it ends when the server closes it).
async fn client_and_connection(
    port: u16,
) -> (
    hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
    simul::Task<hyper::Result<()>>,
) {
    let tcp = simul::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let (send, conn) = hyper::client::conn::http1::handshake(simul::http::HyperIo::new(tcp))
        .await
        .unwrap();
    (send, simul::spawn(conn))
}

/// Serves `svc` on `listener` in a task until the returned event is set, then shuts down
/// gracefully, giving open connections `deadline`; the task ends with `serve`'s result.
fn serve_until_set<S>(
    listener: simul::net::TcpListener,
    svc: S,
    deadline: Duration,
) -> (std::rc::Rc<simul::Event>, simul::Task<std::io::Result<()>>)
where
    simul::http::Serve<S>: IntoFuture<Output = std::io::Result<()>>,
    <simul::http::Serve<S> as IntoFuture>::IntoFuture: 'static,
{
    let stop = std::rc::Rc::new(simul::Event::new());
    let signal = stop.clone();
    let server = simul::spawn(
        simul::http::serve(listener, svc)
            .with_graceful_shutdown(async move { signal.wait().await })
            .shutdown_deadline(deadline)
            .into_future(),
    );
    (stop, server)
}

fn get(path: &str) -> hyper::Request<Empty<Bytes>> {
    hyper::Request::get(path).body(Empty::new()).unwrap()
}

#[test]
fn a_panicking_handler_ends_only_its_connection() {
    simul::run(async {
        let listener = simul::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let svc = hyper::service::service_fn(|req: hyper::Request<Incoming>| async move {
            if req.uri().path() == "/panic" {
                panic!("handler bug");
            }
            Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::from("fine"))))
        });
        drop(simul::spawn(
            simul::http::serve(listener, svc).into_future(),
        ));
        let mut bad = client(port).await;
        assert!(bad.send_request(get("/panic")).await.is_err());
        let mut good = client(port).await;
        let resp = good.send_request(get("/")).await.unwrap();
        assert_eq!(resp.into_body().collect().await.unwrap().to_bytes(), "fine");
    });
}

#[test]
fn graceful_shutdown_finishes_the_request_in_flight_and_refuses_new_ones() {
    simul::run(async {
        let listener = simul::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let svc = hyper::service::service_fn(|_req: hyper::Request<Incoming>| async {
            simul::sleep(Duration::from_millis(300)).await;
            Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::from("done"))))
        });
        let (stop, server) = serve_until_set(listener, svc, Duration::from_secs(30));
        let mut c = client(port).await;
        let in_flight = simul::spawn(async move {
            let resp = c.send_request(get("/slow")).await.unwrap();
            resp.into_body().collect().await.unwrap().to_bytes()
        });
        simul::sleep(Duration::from_millis(50)).await; // the request is being handled
        stop.set();
        simul::wait_for(Duration::from_secs(30), server)
            .await
            .expect("the server stops once the request is done")
            .unwrap()
            .unwrap();
        assert_eq!(in_flight.await.unwrap(), "done");
        assert!(
            simul::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_err(),
            "the listener is closed"
        );
    });
}

#[test]
fn graceful_shutdown_closes_a_keep_alive_connection_idle_after_many_requests() {
    // The connection task is polled once per request; a shutdown signalled while it waits
    // between requests must still reach it (at once, not at the 30 s deadline).
    simul::run(async {
        let listener = simul::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let svc = hyper::service::service_fn(|_req: hyper::Request<Incoming>| async {
            Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::from("ok"))))
        });
        let (stop, server) = serve_until_set(listener, svc, Duration::from_secs(30));
        let (mut send, conn) = client_and_connection(port).await;
        for _ in 0..20 {
            let resp = send.send_request(get("/")).await.unwrap();
            assert_eq!(resp.into_body().collect().await.unwrap().to_bytes(), "ok");
        }
        simul::sleep(Duration::from_millis(20)).await; // idle, between requests
        let t0 = Instant::now();
        stop.set();
        simul::wait_for(Duration::from_secs(5), server)
            .await
            .expect("the idle connection is closed at once, not at the deadline")
            .unwrap()
            .unwrap();
        assert!(t0.elapsed() < Duration::from_secs(5));
        simul::wait_for(Duration::from_secs(5), conn)
            .await
            .expect("the client sees its connection closed")
            .unwrap()
            .unwrap();
    });
}

#[test]
fn the_shutdown_deadline_cancels_requests_that_take_too_long() {
    simul::run(async {
        let listener = simul::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let svc = hyper::service::service_fn(|_req: hyper::Request<Incoming>| async {
            simul::sleep(Duration::from_secs(3600)).await;
            Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::new())))
        });
        let (stop, server) = serve_until_set(listener, svc, Duration::from_millis(200));
        let mut c = client(port).await;
        let in_flight = simul::spawn(async move { c.send_request(get("/forever")).await.is_err() });
        simul::sleep(Duration::from_millis(50)).await;
        stop.set();
        simul::wait_for(Duration::from_secs(30), server)
            .await
            .expect("the deadline ends the shutdown")
            .unwrap()
            .unwrap();
        assert!(
            in_flight.await.unwrap(),
            "the cancelled request failed on the client"
        );
    });
}
