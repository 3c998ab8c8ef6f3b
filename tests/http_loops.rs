//! `serve` on every loop of a `simul::Loops` set, each loop with its own `SO_REUSEPORT`
//! listener on one port: every loop answers (hyper clients, curl), and a graceful shutdown
//! lets the in-flight requests of every loop finish. The examples' `--loops N` code
//! (`examples/common/serve_loops.rs`) runs in a child process (this test binary
//! re-executed with `SIMUL_HTTP_LOOPS_CASE` set), which the parent stops with SIGINT.

mod http_common;
#[path = "../examples/common/serve_loops.rs"]
mod serve_loops;

use std::convert::Infallible;
use std::future::IntoFuture;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Bytes, Incoming};
use simul::http::HyperIo;

const LOOPS: usize = 2;

/// One GET on a fresh connection; returns the body.
async fn get(port: u16, path: &str) -> String {
    let tcp = simul::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(HyperIo::new(tcp))
        .await
        .unwrap();
    let conn = simul::spawn(conn);
    let req = hyper::Request::get(path)
        .body(Empty::<Bytes>::new())
        .unwrap();
    let resp = send.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    drop(send);
    let _ = conn.await;
    String::from_utf8(body.to_vec()).unwrap()
}

#[test]
fn serve_answers_hyper_clients_on_every_loop_of_a_set() {
    const CONNS: usize = 200;
    let listeners = serve_loops::bind(LOOPS, 0).unwrap();
    let port = listeners[0].local_addr().unwrap().port();
    let served: Arc<Vec<AtomicUsize>> = Arc::new((0..LOOPS).map(|_| AtomicUsize::new(0)).collect());
    let stops = Mutex::new(Vec::new());
    let mut stop_tx = Vec::new();
    for _ in 0..LOOPS {
        let (tx, rx) = simul::sync::oneshot::channel::<()>();
        stop_tx.push(tx);
        stops.lock().unwrap().push(Some(rx));
    }
    let slots = Mutex::new(listeners.into_iter().map(Some).collect::<Vec<_>>());
    let counts = served.clone();
    let server = std::thread::spawn(move || {
        let loops = simul::Loops::builder().count(LOOPS).build().unwrap();
        loops.run(move |index| {
            let listener = slots.lock().unwrap()[index].take().unwrap();
            let stop = stops.lock().unwrap()[index].take().unwrap();
            let counts = counts.clone();
            async move {
                let listener = simul::net::TcpListener::from_std(listener).unwrap();
                let svc = hyper::service::service_fn(move |_req: hyper::Request<Incoming>| {
                    counts[index].fetch_add(1, Ordering::SeqCst);
                    let body = simul::loops::current_index().unwrap().to_string();
                    async move {
                        Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from(body))))
                    }
                });
                simul::http::serve(listener, svc)
                    .with_graceful_shutdown(async move {
                        let _ = stop.await;
                    })
                    .into_future()
                    .await
            }
        })
    });
    let answers = simul::run(async move {
        let mut answers = vec![0usize; LOOPS];
        for _ in 0..CONNS {
            let index: usize = get(port, "/").await.parse().unwrap();
            answers[index] += 1;
        }
        answers
    });
    for tx in stop_tx {
        tx.send(()).unwrap();
    }
    for r in server.join().unwrap() {
        r.unwrap();
    }
    let counted: Vec<usize> = served.iter().map(|c| c.load(Ordering::SeqCst)).collect();
    assert_eq!(
        answers, counted,
        "each answer names the loop that counted it"
    );
    assert_eq!(counted.iter().sum::<usize>(), CONNS);
    // SO_REUSEPORT picks a listener by a hash of each connection's addresses: over 200
    // connections from distinct ports, every loop gets some (all on one: p = 2^-199).
    assert!(counted.iter().all(|&n| n > 0), "{counted:?}");
}

#[test]
fn graceful_shutdown_finishes_in_flight_requests_on_every_loop() {
    const CONNS: usize = 32;
    let listeners = serve_loops::bind(LOOPS, 0).unwrap();
    let port = listeners[0].local_addr().unwrap().port();
    let started: Arc<Vec<AtomicUsize>> =
        Arc::new((0..LOOPS).map(|_| AtomicUsize::new(0)).collect());
    let release = Arc::new(AtomicBool::new(false));
    let stops = Mutex::new(Vec::new());
    let mut stop_tx = Vec::new();
    for _ in 0..LOOPS {
        let (tx, rx) = simul::sync::oneshot::channel::<()>();
        stop_tx.push(tx);
        stops.lock().unwrap().push(Some(rx));
    }
    let slots = Mutex::new(listeners.into_iter().map(Some).collect::<Vec<_>>());
    let (st, rel) = (started.clone(), release.clone());
    let server = std::thread::spawn(move || {
        let loops = simul::Loops::builder().count(LOOPS).build().unwrap();
        loops.run(move |index| {
            let listener = slots.lock().unwrap()[index].take().unwrap();
            let stop = stops.lock().unwrap()[index].take().unwrap();
            let (started, release) = (st.clone(), rel.clone());
            async move {
                let listener = simul::net::TcpListener::from_std(listener).unwrap();
                let svc = hyper::service::service_fn(move |_req: hyper::Request<Incoming>| {
                    started[index].fetch_add(1, Ordering::SeqCst);
                    let release = release.clone();
                    async move {
                        while !release.load(Ordering::SeqCst) {
                            simul::sleep(Duration::from_millis(2)).await;
                        }
                        let body = format!("done on loop {index}");
                        Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from(body))))
                    }
                });
                simul::http::serve(listener, svc)
                    .with_graceful_shutdown(async move {
                        let _ = stop.await;
                    })
                    .into_future()
                    .await
            }
        })
    });
    let (started2, release2) = (started.clone(), release.clone());
    let bodies = simul::run(async move {
        let requests: Vec<_> = (0..CONNS).map(|_| simul::spawn(get(port, "/"))).collect();
        // Every request is in flight (its handler runs), on both loops.
        let t0 = Instant::now();
        loop {
            let n: Vec<usize> = started2.iter().map(|c| c.load(Ordering::SeqCst)).collect();
            if n.iter().sum::<usize>() == CONNS {
                assert!(
                    n.iter().all(|&k| k > 0),
                    "all on one loop (p = 2^-31): {n:?}"
                );
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "requests never started: {n:?}"
            );
            simul::sleep(Duration::from_millis(2)).await;
        }
        for tx in stop_tx {
            tx.send(()).unwrap();
        }
        // Every loop stops accepting: the port refuses connections once both listeners
        // are closed, while the requests are still held.
        let t0 = Instant::now();
        while simul::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "the listeners stayed open"
            );
            simul::sleep(Duration::from_millis(2)).await;
        }
        assert!(!release2.load(Ordering::SeqCst));
        release2.store(true, Ordering::SeqCst);
        let mut bodies = Vec::new();
        for r in requests {
            bodies.push(r.await.unwrap());
        }
        bodies
    });
    for r in server.join().unwrap() {
        r.unwrap(); // each loop's serve returned after its in-flight requests
    }
    assert_eq!(bodies.len(), CONNS);
    for index in 0..LOOPS {
        let want = format!("done on loop {index}");
        let n = bodies.iter().filter(|b| **b == want).count();
        assert_eq!(n, started[index].load(Ordering::SeqCst), "{bodies:?}");
    }
}

const CASE_ENV: &str = "SIMUL_HTTP_LOOPS_CASE";

/// Runs in the child process only: the examples' `--loops 2` server on port 0.
#[test]
fn loops_example_helper() {
    if std::env::var(CASE_ENV).is_err() {
        return; // the parent's run: nothing to do
    }
    let listeners = serve_loops::bind(LOOPS, 0).unwrap();
    println!("port {}", listeners[0].local_addr().unwrap().port());
    for r in serve_loops::serve_app(listeners, http_common::app::router(), |s| s) {
        r.unwrap();
    }
    println!("all loops done");
}

#[test]
fn the_example_app_on_two_loops_answers_curl_on_each_and_stops_gracefully_on_ctrl_c() {
    if !http_common::have("curl") {
        return;
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "loops_example_helper",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CASE_ENV, "serve")
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let port = loop {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "the child ended early"
        );
        // The harness may print "test loops_example_helper ... " on the same line.
        if let Some(at) = line.find("port ") {
            break line[at + 5..].trim().parse::<u16>().unwrap();
        }
    };
    // One curl, 100 URLs, `Connection: close`: 100 connections, spread by the kernel.
    let url = format!("http://127.0.0.1:{port}/loop");
    let mut args = vec!["-H", "Connection: close"];
    args.extend(std::iter::repeat_n(url.as_str(), 100));
    let (body, err, ok) = http_common::curl(&args);
    assert!(ok, "{err}");
    let per_loop: Vec<usize> = (0..LOOPS)
        .map(|i| body.matches(&format!("loop {i}\n")).count())
        .collect();
    assert_eq!(per_loop.iter().sum::<usize>(), 100, "{body}");
    assert!(per_loop.iter().all(|&n| n > 0), "{per_loop:?}");
    let (json, err, ok) = http_common::curl(&[
        "--http2-prior-knowledge",
        &format!("http://127.0.0.1:{port}/json"),
    ]);
    assert!(ok, "{err}");
    assert_eq!(json, r#"{"message":"Hello, World!"}"#);

    // Streams in flight (each has sent its first line), then Ctrl-C.
    let streams: Vec<_> = (0..8)
        .map(|_| {
            let mut c = Command::new("curl")
                .args(["-s", "-S", "-N", "--max-time", "60"])
                .arg(format!("http://127.0.0.1:{port}/stream/40"))
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let mut r = BufReader::new(c.stdout.take().unwrap());
            let mut first = String::new();
            r.read_line(&mut first).unwrap();
            assert_eq!(first, "chunk 1\n");
            (c, r)
        })
        .collect();
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    for (mut c, mut r) in streams {
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut r, &mut rest).unwrap();
        assert!(c.wait().unwrap().success());
        assert_eq!(rest.lines().count(), 39, "the stream was cut: {rest}");
        assert!(rest.ends_with("chunk 40\n"), "{rest}");
    }
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}\n{rest}");
    for i in 0..LOOPS {
        assert!(rest.contains(&format!("loop {i}: shutting down")), "{rest}");
    }
    assert!(rest.contains("all loops done"), "{rest}");
}
