//! Server lifecycle: close, wait_closed, serve_forever, close_clients, abort_clients,
//! failing handlers, Unix sockets.

use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;
use std::time::Duration;

use simul::{
    open_connection, open_unix_connection, start_server, start_unix_server, EventLoop,
    ExceptionKind, Server, StreamError, StreamReader, StreamWriter,
};

fn port(s: &Server) -> u16 {
    s.local_addrs()[0].port().unwrap()
}

async fn echo(r: StreamReader, w: StreamWriter) -> Result<(), StreamError> {
    loop {
        let line = r.readline().await?;
        if line.is_empty() {
            return Ok(());
        }
        w.write(&line);
        w.drain().await?;
    }
}

async fn ping(r: &StreamReader, w: &StreamWriter, msg: &[u8]) -> Vec<u8> {
    w.write(msg);
    r.readline().await.unwrap()
}

#[test]
fn close_stops_listening_but_keeps_connections() {
    simul::run(async {
        let server = start_server(echo, "127.0.0.1", 0).await.unwrap();
        let p = port(&server);
        let (r, w) = open_connection("127.0.0.1", p).await.unwrap();
        assert_eq!(ping(&r, &w, b"before\n").await, b"before\n");
        server.close();
        assert!(!server.is_serving());
        let refused = open_connection("127.0.0.1", p).await.unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
        assert_eq!(ping(&r, &w, b"after\n").await, b"after\n");
    });
}

#[test]
fn wait_closed_waits_for_every_handler() {
    simul::run(async {
        let server = start_server(echo, "127.0.0.1", 0).await.unwrap();
        let (r, w) = open_connection("127.0.0.1", port(&server)).await.unwrap();
        assert_eq!(ping(&r, &w, b"x\n").await, b"x\n");
        server.close();
        let waited = simul::wait_for(Duration::from_millis(50), server.wait_closed()).await;
        assert!(waited.is_err(), "the handler is still running");
        w.close(); // the handler sees EOF and returns
        simul::wait_for(Duration::from_secs(5), server.wait_closed())
            .await
            .unwrap();
    });
}

#[test]
fn a_panicking_handler_ends_only_its_own_connection() {
    let lp = EventLoop::new().unwrap();
    let reports = Rc::new(RefCell::new(Vec::new()));
    let r2 = reports.clone();
    lp.set_exception_handler(move |ctx| r2.borrow_mut().push(ctx.kind()));
    lp.run_until_complete(async {
        let server = start_server(
            |r: StreamReader, w: StreamWriter| async move {
                let line = r.readline().await.unwrap();
                if line == b"panic\n" {
                    panic!("handler panicked on purpose");
                }
                w.write(&line);
                echo(r, w).await
            },
            "127.0.0.1",
            0,
        )
        .await
        .unwrap();
        let p = port(&server);
        let (good_r, good_w) = open_connection("127.0.0.1", p).await.unwrap();
        assert_eq!(ping(&good_r, &good_w, b"hello\n").await, b"hello\n");
        let (bad_r, bad_w) = open_connection("127.0.0.1", p).await.unwrap();
        bad_w.write(b"panic\n");
        assert_eq!(
            bad_r.read(10).await.unwrap(),
            b"",
            "its connection is closed"
        );
        assert_eq!(ping(&good_r, &good_w, b"still\n").await, b"still\n");
        let (r3, w3) = open_connection("127.0.0.1", p).await.unwrap();
        assert_eq!(ping(&r3, &w3, b"new\n").await, b"new\n");
    });
    assert_eq!(*reports.borrow(), vec![ExceptionKind::UnretrievedPanic]);
}

#[test]
fn a_handler_that_panics_before_returning_its_future_costs_only_its_connection() {
    let lp = EventLoop::new().unwrap();
    lp.set_exception_handler(|_| {});
    lp.run_until_complete(async {
        let calls = Rc::new(Cell::new(0));
        let c2 = calls.clone();
        let server = start_server(
            move |r: StreamReader, w: StreamWriter| {
                c2.set(c2.get() + 1);
                if c2.get() == 1 {
                    panic!("the handler function itself panicked");
                }
                echo(r, w)
            },
            "127.0.0.1",
            0,
        )
        .await
        .unwrap();
        let (r1, _w1) = open_connection("127.0.0.1", port(&server)).await.unwrap();
        assert_eq!(
            r1.read(1).await.unwrap(),
            b"",
            "the first connection is closed"
        );
        let (r2, w2) = open_connection("127.0.0.1", port(&server)).await.unwrap();
        assert_eq!(ping(&r2, &w2, b"fine\n").await, b"fine\n");
        assert_eq!(calls.get(), 2);
    });
}

#[test]
fn a_handler_error_is_reported_and_closes_its_connection() {
    let lp = EventLoop::new().unwrap();
    let reports = Rc::new(RefCell::new(Vec::new()));
    let r2 = reports.clone();
    lp.set_exception_handler(move |ctx| {
        r2.borrow_mut()
            .push((ctx.kind(), ctx.message().to_string()))
    });
    lp.run_until_complete(async {
        let server = start_server(
            |r: StreamReader, w: StreamWriter| async move {
                let line = r.readline().await?;
                w.write(b"bye\n");
                Err::<(), io::Error>(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("bad request {:?}", String::from_utf8_lossy(&line)),
                ))
            },
            "127.0.0.1",
            0,
        )
        .await
        .unwrap();
        let (r, w) = open_connection("127.0.0.1", port(&server)).await.unwrap();
        w.write(b"nonsense\n");
        assert_eq!(
            r.read_to_end().await.unwrap(),
            b"bye\n",
            "flushed, then closed"
        );
        server.close();
        server.wait_closed().await;
    });
    let reports = reports.borrow();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].0, ExceptionKind::HandlerFailed);
    assert!(reports[0].1.contains("bad request"), "{}", reports[0].1);
}

#[test]
fn close_clients_flushes_and_closes_every_connection() {
    simul::run(async {
        let server = start_server(
            |r: StreamReader, w: StreamWriter| async move {
                w.write(b"welcome\n");
                // waits until the server closes the connection under it
                let rest = r.read_to_end().await.unwrap();
                assert!(rest.is_empty());
            },
            "127.0.0.1",
            0,
        )
        .await
        .unwrap();
        let mut clients = Vec::new();
        for _ in 0..5 {
            clients.push(open_connection("127.0.0.1", port(&server)).await.unwrap());
        }
        for (r, _) in &clients {
            assert_eq!(r.readline().await.unwrap(), b"welcome\n");
        }
        server.close();
        server.close_clients();
        simul::wait_for(Duration::from_secs(5), server.wait_closed())
            .await
            .unwrap();
        for (r, _) in &clients {
            assert_eq!(r.read(1).await.unwrap(), b"");
        }
    });
}

#[test]
fn abort_clients_drops_buffered_data_and_closes_at_once() {
    simul::run(async {
        let writers: Rc<RefCell<Vec<Rc<StreamWriter>>>> = Rc::default();
        let w2 = writers.clone();
        let server = start_server(
            move |_r: StreamReader, w: StreamWriter| {
                let w = Rc::new(w);
                w2.borrow_mut().push(w.clone());
                async move {
                    // far more than the socket buffers hold, to a client that never reads
                    w.write(&vec![0u8; 8 << 20]);
                    let _ = w.drain().await;
                }
            },
            "127.0.0.1",
            0,
        )
        .await
        .unwrap();
        let (r, _w) = open_connection("127.0.0.1", port(&server)).await.unwrap();
        while writers.borrow().is_empty() {
            simul::sleep(Duration::from_millis(1)).await;
        }
        simul::sleep(Duration::from_millis(20)).await;
        let sw = writers.borrow()[0].clone();
        assert!(sw.write_buffer_size() > 0);
        server.abort_clients();
        assert_eq!(sw.write_buffer_size(), 0);
        assert!(sw.is_closing());
        sw.wait_closed().await.unwrap();
        let got = simul::wait_for(Duration::from_secs(5), r.read_to_end())
            .await
            .unwrap();
        // the client sees the end of the stream (or a reset) well before 8 MiB
        match got {
            Ok(data) => assert!(data.len() < 8 << 20),
            Err(e) => assert!(matches!(e, StreamError::Io(_))),
        }
        server.close();
        server.wait_closed().await;
        drop(sw);
        simul::sleep(Duration::from_millis(5)).await;
        let left: Vec<_> = simul::all_tasks()
            .into_iter()
            .filter(|i| i.name() != "main")
            .collect();
        assert!(
            left.is_empty(),
            "tasks left behind (a stuck flusher?): {left:?}"
        );
    });
}

#[test]
fn serve_forever_returns_when_closed_and_closes_when_cancelled() {
    simul::run(async {
        let server = Rc::new(start_server(echo, "127.0.0.1", 0).await.unwrap());
        let s2 = server.clone();
        let closer = simul::spawn(async move {
            simul::sleep(Duration::from_millis(5)).await;
            s2.close();
        });
        server.serve_forever().await;
        assert!(!server.is_serving());
        closer.await.unwrap();

        let server = Rc::new(start_server(echo, "127.0.0.1", 0).await.unwrap());
        let s2 = server.clone();
        let serving = simul::spawn(async move { s2.serve_forever().await });
        simul::sleep(Duration::from_millis(5)).await;
        assert!(server.is_serving());
        serving.cancel();
        let _ = serving.await;
        assert!(
            !server.is_serving(),
            "cancelling serve_forever closes the server"
        );
    });
}

#[test]
fn dropping_the_server_stops_listening() {
    simul::run(async {
        let server = start_server(echo, "127.0.0.1", 0).await.unwrap();
        let p = port(&server);
        drop(server);
        assert!(open_connection("127.0.0.1", p).await.is_err());
    });
}

#[test]
fn a_host_name_is_resolved_and_served_on_each_address() {
    simul::run(async {
        let server = start_server(echo, "localhost", 0).await.unwrap();
        let addrs = server.local_addrs();
        assert!(!addrs.is_empty());
        let a = addrs[0].as_inet().unwrap();
        let (r, w) = open_connection(&a.ip().to_string(), a.port())
            .await
            .unwrap();
        assert_eq!(ping(&r, &w, b"hi\n").await, b"hi\n");
    });
}

#[test]
fn handlers_run_concurrently_one_task_each() {
    simul::run(async {
        let active = Rc::new(Cell::new(0));
        let peak = Rc::new(Cell::new(0));
        let (a2, p2) = (active.clone(), peak.clone());
        let server = start_server(
            move |r: StreamReader, w: StreamWriter| {
                let (a, p) = (a2.clone(), p2.clone());
                async move {
                    a.set(a.get() + 1);
                    p.set(p.get().max(a.get()));
                    let res = echo(r, w).await;
                    a.set(a.get() - 1);
                    res
                }
            },
            "127.0.0.1",
            0,
        )
        .await
        .unwrap();
        let mut conns = Vec::new();
        for i in 0..20 {
            let (r, w) = open_connection("127.0.0.1", port(&server)).await.unwrap();
            let msg = format!("{i}\n");
            assert_eq!(ping(&r, &w, msg.as_bytes()).await, msg.as_bytes());
            conns.push((r, w));
        }
        assert_eq!(peak.get(), 20);
        drop(conns);
        server.close();
        simul::wait_for(Duration::from_secs(5), server.wait_closed())
            .await
            .unwrap();
        assert_eq!(active.get(), 0);
    });
}

fn sock_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("simul-test-{name}-{}", std::process::id()))
}

#[test]
fn unix_server_echoes_and_removes_its_socket_file() {
    simul::run(async {
        let path = sock_path("unix-echo");
        let server = start_unix_server(echo, &path).await.unwrap();
        assert!(path.exists());
        let (r, w) = open_unix_connection(&path).await.unwrap();
        assert_eq!(ping(&r, &w, b"over unix\n").await, b"over unix\n");
        assert!(w.peer_addr().unwrap().port().is_none());
        server.close();
        assert!(!path.exists());
        assert_eq!(ping(&r, &w, b"still\n").await, b"still\n");
        drop((r, w));
        simul::wait_for(Duration::from_secs(5), server.wait_closed())
            .await
            .unwrap();
    });
}

#[test]
fn unix_server_replaces_a_stale_socket_but_not_a_regular_file() {
    simul::run(async {
        let path = sock_path("unix-stale");
        let _ = std::fs::remove_file(&path);
        let stale = std::os::unix::net::UnixListener::bind(&path).unwrap();
        drop(stale); // leaves the socket file behind
        let server = start_unix_server(echo, &path).await.unwrap();
        let (r, w) = open_unix_connection(&path).await.unwrap();
        assert_eq!(ping(&r, &w, b"ok\n").await, b"ok\n");
        server.close();

        let file = sock_path("unix-regular");
        std::fs::write(&file, b"precious").unwrap();
        assert!(start_unix_server(echo, &file).await.is_err());
        assert_eq!(std::fs::read(&file).unwrap(), b"precious");
        std::fs::remove_file(&file).unwrap();
    });
}
