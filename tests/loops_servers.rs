//! Servers on every core: a `SO_REUSEPORT` server on each loop of a set, one port, every
//! loop accepting; the server builder's options; a socket moved between loops.

use std::io::Read;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Connects `n` times to `port`, returning what each connection's server wrote first.
fn ask(port: u16, n: usize) -> Vec<u8> {
    (0..n)
        .map(|_| {
            let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            let mut b = [0u8; 1];
            c.read_exact(&mut b).unwrap();
            b[0]
        })
        .collect()
}

#[test]
fn every_reuse_port_loop_accepts_connections() {
    let loops = simul::Loops::builder().count(2).build().unwrap();
    let port = Arc::new(AtomicU16::new(0));
    let stops = Arc::new(Mutex::new(Vec::new()));
    let mut stop_rx = Vec::new();
    for _ in 0..2 {
        let (tx, rx) = simul::sync::oneshot::channel::<()>();
        stops.lock().unwrap().push(tx);
        stop_rx.push(Some(rx));
    }
    let stop_rx = Mutex::new(stop_rx);
    let p = port.clone();
    let st = stops.clone();
    let client = std::thread::spawn(move || {
        while p.load(Ordering::SeqCst) == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(50)); // loop 1 binds after loop 0
        let answers = ask(p.load(Ordering::SeqCst), 200);
        for s in st.lock().unwrap().drain(..) {
            s.send(()).unwrap();
        }
        answers
    });
    let accepted = loops.run(move |index| {
        let port = port.clone();
        let stop = stop_rx.lock().unwrap()[index].take().unwrap();
        async move {
            let want = if index == 0 {
                0
            } else {
                loop {
                    let p = port.load(Ordering::SeqCst);
                    if p != 0 {
                        break p;
                    }
                    simul::sleep(Duration::from_millis(1)).await;
                }
            };
            let count = std::rc::Rc::new(std::cell::Cell::new(0usize));
            let c = count.clone();
            let server = simul::Server::builder()
                .bind("127.0.0.1", want)
                .reuse_port(true)
                .backlog(256)
                .start(move |_r, w: simul::StreamWriter| {
                    c.set(c.get() + 1);
                    async move {
                        w.write(&[index as u8]);
                        w.drain().await
                    }
                })
                .await
                .unwrap();
            if index == 0 {
                port.store(server.local_addrs()[0].port().unwrap(), Ordering::SeqCst);
            }
            stop.await.unwrap();
            server.close();
            server.wait_closed().await;
            count.get()
        }
    });
    let answers = client.join().unwrap();
    assert_eq!(accepted.iter().sum::<usize>(), 200);
    for (i, &n) in accepted.iter().enumerate() {
        assert!(n > 0, "loop {i} accepted nothing: {accepted:?}");
        assert_eq!(answers.iter().filter(|&&a| a as usize == i).count(), n);
    }
}

#[test]
fn without_reuse_port_a_second_server_on_the_port_is_refused() {
    simul::run(async {
        let a = simul::Server::builder()
            .bind("127.0.0.1", 0)
            .start(|_r, _w| async {})
            .await
            .unwrap();
        let port = a.local_addrs()[0].port().unwrap();
        let e = simul::Server::builder()
            .bind("127.0.0.1", port)
            .start(|_r, _w| async {})
            .await
            .unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse);
    });
}

#[test]
fn bind_and_sock_together_or_neither_are_clear_errors() {
    simul::run(async {
        let l = simul::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let e = simul::Server::builder()
            .bind("127.0.0.1", 0)
            .sock(l)
            .start(|_r, _w| async {})
            .await
            .unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
        assert!(e.to_string().contains("sock"), "{e}");
        let e = simul::Server::builder()
            .start(|_r, _w| async {})
            .await
            .unwrap_err();
        assert!(e.to_string().contains("neither"), "{e}");
    });
}

/// Starts a server with `backlog` on a loop of `loops`, then blocks that loop for `hold`
/// (so nothing is accepted) while `tries` connects are made; returns how many connected.
fn connects_while_not_accepting(loops: &simul::Loops, backlog: u32, tries: usize) -> usize {
    let (tx, rx) = std::sync::mpsc::channel();
    let held = loops.handle(0).spawn_with(move || async move {
        let server = simul::Server::builder()
            .bind("127.0.0.1", 0)
            .backlog(backlog)
            .start(|_r, _w| async {})
            .await
            .unwrap();
        tx.send(server.local_addrs()[0].port().unwrap()).unwrap();
        std::thread::sleep(Duration::from_millis(1500)); // the loop accepts nothing
        drop(server);
    });
    let port = rx.recv().unwrap();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let ok = (0..tries)
        .filter(|_| std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok())
        .count();
    simul::run(held).unwrap();
    ok
}

#[test]
fn the_backlog_option_reaches_the_listening_socket() {
    let loops = simul::Loops::builder().count(1).build().unwrap();
    // The kernel completes at most backlog + 1 connections nobody accepts.
    let small = connects_while_not_accepting(&loops, 2, 8);
    assert!(small <= 4, "backlog 2 let {small} of 8 connect");
    let large = connects_while_not_accepting(&loops, 64, 8);
    assert_eq!(large, 8, "backlog 64 let only {large} of 8 connect");
}

#[test]
fn a_listener_moves_between_loops() {
    let loops = simul::Loops::builder().count(2).build().unwrap();
    let std_listener = simul::run(async {
        simul::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .into_std()
            .unwrap()
    });
    let port = std_listener.local_addr().unwrap().port();
    let served = loops.handle(1).spawn_with(move || async move {
        let l = simul::net::TcpListener::from_std(std_listener).unwrap();
        let server = simul::Server::builder()
            .sock(l)
            .start(|_r, w: simul::StreamWriter| async move {
                w.write(&[simul::loops::current_index().unwrap() as u8]);
            })
            .await
            .unwrap();
        simul::sleep(Duration::from_secs(60)).await;
        drop(server);
    });
    let answers = ask(port, 3);
    assert_eq!(answers, [1, 1, 1]);
    served.cancel();
    assert!(simul::run(served).unwrap_err().is_cancelled());
    // cancelled on loop 1, the server closed the moved listener there
    let e = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);
}

#[test]
fn hand_off_mode_spreads_a_thousand_connections_across_loops() {
    const CONNS: usize = 1000;
    const LOOPS: usize = 3;
    let loops = simul::Loops::builder().count(LOOPS).build().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let acceptor = loops.handle(0).spawn_with(move || async move {
        let listener = simul::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        tx.send(listener.local_addr().unwrap()).unwrap();
        simul::loops::serve_handoff(listener, |stream| async move {
            let (reader, writer) = simul::split(stream);
            writer.write(&[simul::loops::current_index().unwrap() as u8]);
            let _ = writer.drain().await;
            let _ = reader.read_to_end().await; // a long-lived connection
        })
        .await
    });
    let addr = rx.recv().unwrap();
    let mut conns = Vec::with_capacity(CONNS);
    let mut per_loop = [0usize; LOOPS];
    for _ in 0..CONNS {
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut b = [0u8];
        c.read_exact(&mut b).unwrap();
        per_loop[b[0] as usize] += 1;
        conns.push(c);
    }
    // Least-loaded placement of long-lived connections: close to even on every loop.
    for (i, &n) in per_loop.iter().enumerate() {
        assert!(
            (CONNS / LOOPS - 50..=CONNS / LOOPS + 50).contains(&n),
            "loop {i} got {n} of {CONNS}: {per_loop:?}"
        );
    }
    drop(conns);
    acceptor.cancel();
    assert!(simul::run(acceptor).unwrap_err().is_cancelled());
}

#[test]
fn hand_off_outside_a_set_is_a_clear_panic() {
    let msg = simul::run(async {
        let l = simul::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let t = simul::spawn(simul::loops::serve_handoff(l, |_s| async {}));
        match t.await {
            Err(simul::TaskError::Panicked(p)) => p.message().to_string(),
            other => panic!("expected a panic, got {:?}", other.map(|_| ())),
        }
    });
    assert!(msg.contains("outside a loop of a simul::Loops"), "{msg}");
}

#[test]
fn a_handed_off_connection_reads_bytes_already_queued_without_waiting_for_the_selector() {
    if simul::faults_enabled() {
        return; // an injected "not ready" makes the first poll pending by design
    }
    let loops = simul::Loops::builder().count(2).build().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let acceptor = loops.handle(0).spawn_with(move || async move {
        let listener = simul::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        tx.send(listener.local_addr().unwrap()).unwrap();
        // Blocks this loop (it has nothing else to do) until the request is queued.
        go_rx.recv().unwrap();
        simul::loops::serve_handoff(listener, |mut stream| async move {
            let mut buf = [0u8; 8];
            let mut read = Box::pin(stream.read(&mut buf));
            // One poll: ready at once, since the request was queued before the accept.
            let first = std::future::poll_fn(|cx| {
                std::task::Poll::Ready(std::future::Future::poll(read.as_mut(), cx))
            })
            .await;
            drop(read);
            let answer = match first {
                std::task::Poll::Ready(Ok(n)) if buf[..n] == *b"ping" => b'y',
                _ => b'n',
            };
            let _ = stream.write_all(&[answer]).await;
        })
        .await
    });
    let addr = rx.recv().unwrap();
    // The request is queued before the accepting loop looks at the listener.
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    std::io::Write::write_all(&mut c, b"ping").unwrap();
    go_tx.send(()).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut b = [0u8; 1];
    c.read_exact(&mut b).unwrap();
    assert_eq!(
        b[0], b'y',
        "the handed-off stream's first read waited for an event"
    );
    acceptor.cancel();
    assert!(simul::run(acceptor).unwrap_err().is_cancelled());
}
