//! Several tasks waiting on one socket: every waiter is woken, none is silently replaced.

use std::rc::Rc;

use futures_util::io::AsyncReadExt;
use std::time::Duration;

use simul::net::{TcpListener, TcpStream, UdpSocket, UnixDatagram};

/// A waiter that is woken at all gets its datagram at once; one that is not would only see
/// it when something else polls it (the `wait_for` expiry), far later than this.
const PATIENCE: Duration = Duration::from_secs(3);

/// `fut`, failing with `what` unless it completes within [`PATIENCE`].
async fn promptly<F: std::future::Future>(what: &str, fut: F) -> F::Output {
    let start = std::time::Instant::now();
    let out = simul::wait_for(PATIENCE * 2, fut)
        .await
        .unwrap_or_else(|_| panic!("{what}: never completed"));
    assert!(
        start.elapsed() < PATIENCE,
        "{what}: was not woken (took {:?})",
        start.elapsed()
    );
    out
}

#[test]
fn two_recv_from_on_one_udp_socket_both_get_a_datagram() {
    simul::run(async {
        let rx = Rc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let tx = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let rx = rx.clone();
                simul::spawn(async move {
                    let mut buf = [0u8; 16];
                    let (n, _) = promptly("a waiter was never woken", rx.recv_from(&mut buf))
                        .await
                        .unwrap();
                    buf[..n].to_vec()
                })
            })
            .collect();
        // Let both tasks park on the socket before anything arrives.
        simul::sleep(Duration::from_millis(20)).await;
        let to = rx.local_addr().unwrap();
        tx.send_to(b"one", to).await.unwrap();
        tx.send_to(b"two", to).await.unwrap();
        let mut got = Vec::new();
        for w in waiters {
            got.push(w.await.unwrap());
        }
        got.sort();
        assert_eq!(got, vec![b"one".to_vec(), b"two".to_vec()]);
    });
}

#[test]
fn many_recv_on_one_unix_datagram_socket_all_get_one() {
    simul::run(async {
        let (a, b) = UnixDatagram::pair().unwrap();
        let b = Rc::new(b);
        let waiters: Vec<_> = (0..8)
            .map(|_| {
                let b = b.clone();
                simul::spawn(async move {
                    let mut buf = [0u8; 16];
                    let n = promptly("a waiter was never woken", b.recv(&mut buf))
                        .await
                        .unwrap();
                    assert_eq!(n, 1);
                    buf[0]
                })
            })
            .collect();
        simul::sleep(Duration::from_millis(20)).await;
        for i in 0..8u8 {
            a.send(&[i]).await.unwrap();
        }
        let mut got = Vec::new();
        for w in waiters {
            got.push(w.await.unwrap());
        }
        got.sort();
        assert_eq!(got, (0..8).collect::<Vec<u8>>());
    });
}

#[test]
fn two_accepts_on_one_listener_both_get_a_connection() {
    simul::run(async {
        let l = Rc::new(TcpListener::bind("127.0.0.1:0").await.unwrap());
        let addr = l.local_addr().unwrap();
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let l = l.clone();
                simul::spawn(async move {
                    promptly("an accept was never woken", l.accept())
                        .await
                        .unwrap()
                        .0
                })
            })
            .collect();
        simul::sleep(Duration::from_millis(20)).await;
        let c1 = TcpStream::connect(addr).await.unwrap();
        let c2 = TcpStream::connect(addr).await.unwrap();
        for w in waiters {
            w.await.unwrap();
        }
        drop((c1, c2));
    });
}

#[test]
fn a_cancelled_waiter_does_not_take_the_wake_from_another() {
    simul::run(async {
        let rx = Rc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let tx = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let stays = {
            let rx = rx.clone();
            simul::spawn(async move {
                let mut buf = [0u8; 16];
                promptly(
                    "the remaining waiter was never woken",
                    rx.recv_from(&mut buf),
                )
                .await
                .unwrap()
                .0
            })
        };
        let leaves = {
            let rx = rx.clone();
            simul::spawn(async move {
                let mut buf = [0u8; 16];
                rx.recv_from(&mut buf).await.unwrap().0
            })
        };
        simul::sleep(Duration::from_millis(20)).await;
        leaves.cancel();
        let _ = leaves.await;
        tx.send_to(b"hello", rx.local_addr().unwrap())
            .await
            .unwrap();
        assert_eq!(stays.await.unwrap(), 5);
    });
}

#[test]
fn reader_and_writer_tasks_on_one_stream_both_progress() {
    simul::run(async {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (s, _) = l.accept().await.unwrap();
        let (mut r, mut w) = s.into_split();
        let (mut cr, mut cw) = c.into_split();
        let reader = simul::spawn(async move {
            let mut buf = [0u8; 4];
            simul::wait_for(PATIENCE, r.read_exact(&mut buf))
                .await
                .unwrap()
                .unwrap();
            buf
        });
        let echo = simul::spawn(async move {
            let mut buf = [0u8; 4];
            cr.read_exact(&mut buf).await.unwrap();
            cw.write_all(&buf).await.unwrap();
        });
        simul::sleep(Duration::from_millis(20)).await;
        w.write_all(b"ping").await.unwrap();
        assert_eq!(&reader.await.unwrap(), b"ping");
        echo.await.unwrap();
    });
}
