//! The loop never spins while it waits: for each socket kind and error condition, a 500 ms
//! idle wait costs the loop's thread less than 5% of a core (thread CPU time, not wall time,
//! so a loaded machine cannot make it flaky). Each scenario runs on its own thread, watched
//! from outside: a loop that spins inside one poll never returns to report.

// Each scenario's setup is async and yields the (not yet started) wait to measure.
#![allow(clippy::async_yields_async)]

use std::future::Future;
use std::io::ErrorKind;
use std::sync::mpsc;
use std::time::Duration;

use simul::net::{TcpListener, TcpStream, UdpSocket, UnixDatagram, UnixListener, UnixStream};

const IDLE: Duration = Duration::from_millis(500);

/// CPU time consumed by the calling thread.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0);
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Runs `setup` on a fresh loop in its own thread, then waits `IDLE` on the future it
/// returns (which must stay pending), and asserts the loop's thread CPU over that wait.
fn assert_idle<S, F, W>(what: &'static str, setup: S)
where
    S: FnOnce() -> F + Send + 'static,
    F: Future<Output = W> + 'static,
    W: Future + 'static,
{
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        simul::run(async move {
            let wait = setup().await;
            let before = thread_cpu();
            let r = simul::wait_for(IDLE, wait).await;
            let used = thread_cpu() - before;
            tx.send((r.is_err(), used)).unwrap();
        })
    });
    let (timed_out, used) = rx
        .recv_timeout(Duration::from_secs(15))
        .unwrap_or_else(|_| panic!("{what}: the loop never came back from the idle wait"));
    assert!(
        timed_out,
        "{what}: the idle wait completed instead of waiting"
    );
    assert!(
        used < IDLE / 20,
        "{what}: the loop used {used:?} of CPU over a {IDLE:?} idle wait"
    );
}

/// A UDP socket connected to a closed loopback port, whose first `recv` has reported the
/// ICMP port-unreachable as `ECONNREFUSED`. (Tests run in parallel: another test may bind
/// the port just freed, and then no ICMP comes; such a port is abandoned for a fresh one.)
async fn refused_udp() -> UdpSocket {
    for _ in 0..20 {
        let closed = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap();
        drop(closed);
        let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        s.connect(port).await.unwrap();
        s.send(b"anyone?").await.unwrap();
        let mut buf = [0u8; 16];
        match simul::wait_for(Duration::from_secs(2), s.recv(&mut buf)).await {
            Ok(Err(e)) => {
                assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
                return s;
            }
            Ok(Ok(_)) | Err(_) => continue,
        }
    }
    panic!("no ICMP port-unreachable in 20 tries");
}

#[test]
fn connected_udp_recv_after_icmp_error_waits_without_spinning() {
    assert_idle("udp recv after ECONNREFUSED", || async {
        let s = refused_udp().await;
        async move {
            let mut buf = [0u8; 16];
            s.recv(&mut buf).await
        }
    });
}

#[test]
fn connected_udp_recv_from_after_icmp_error_waits_without_spinning() {
    assert_idle("udp recv_from after ECONNREFUSED", || async {
        let s = refused_udp().await;
        async move {
            let mut buf = [0u8; 16];
            s.recv_from(&mut buf).await
        }
    });
}

#[test]
fn connected_udp_after_two_icmp_errors_waits_without_spinning() {
    assert_idle("udp recv after two refusals", || async {
        let s = refused_udp().await;
        let mut buf = [0u8; 16];
        s.send(b"again").await.unwrap();
        // Refused again (or, rarely, the port was taken meanwhile and nothing comes back).
        if let Ok(r) = simul::wait_for(Duration::from_secs(2), s.recv(&mut buf)).await {
            assert_eq!(r.unwrap_err().kind(), ErrorKind::ConnectionRefused);
        }
        async move {
            let mut buf = [0u8; 16];
            s.recv(&mut buf).await
        }
    });
}

#[test]
fn idle_udp_recv_waits_without_spinning() {
    assert_idle("udp recv_from, nothing sent", || async {
        let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        async move {
            let mut buf = [0u8; 16];
            s.recv_from(&mut buf).await
        }
    });
}

#[test]
fn idle_tcp_read_and_accept_wait_without_spinning() {
    assert_idle("tcp read on a silent connection", || async {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (mut s, _) = l.accept().await.unwrap();
        async move {
            let _keep = (c, l);
            let mut buf = [0u8; 16];
            s.read(&mut buf).await
        }
    });
    assert_idle("tcp accept with no client", || async {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        async move { l.accept().await.map(drop) }
    });
}

#[test]
fn tcp_read_after_own_write_shutdown_waits_without_spinning() {
    assert_idle("tcp read after shutdown(Write)", || async {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (mut s, _) = l.accept().await.unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        async move {
            let _keep = (c, l);
            let mut buf = [0u8; 16];
            s.read(&mut buf).await
        }
    });
}

#[test]
fn tcp_write_to_full_peer_waits_without_spinning() {
    assert_idle("tcp write with the peer's window full", || async {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (mut s, _) = l.accept().await.unwrap();
        let chunk = vec![7u8; 1 << 16];
        // Fill both socket buffers: the peer never reads. (Under fault injection a
        // WouldBlock may be spurious: full means several in a row.)
        let mut refusals = 0;
        while refusals < 50 {
            match s.try_write(&chunk) {
                Ok(n) => {
                    assert!(n > 0);
                    refusals = 0;
                }
                Err(_) => refusals += 1,
            }
        }
        async move {
            let _keep = (c, l);
            s.write_all(&chunk).await
        }
    });
}

#[test]
fn unix_stream_idle_read_waits_without_spinning() {
    assert_idle("unix stream read on a silent pair", || async {
        let (mut a, b) = UnixStream::pair().unwrap();
        async move {
            let _keep = b;
            let mut buf = [0u8; 16];
            a.read(&mut buf).await
        }
    });
    assert_idle("unix accept with no client", || async {
        let dir = std::env::temp_dir().join(format!("simul-idle-{}", std::process::id()));
        let _ = std::fs::remove_file(&dir);
        let l = UnixListener::bind(&dir).unwrap();
        async move {
            let r = l.accept().await.map(drop);
            let _ = std::fs::remove_file(&dir);
            r
        }
    });
}

#[test]
fn unix_datagram_after_peer_closed_waits_without_spinning() {
    assert_idle("unix datagram recv after its peer closed", || async {
        let (a, b) = UnixDatagram::pair().unwrap();
        drop(b);
        let mut buf = [0u8; 16];
        // Whatever the kernel reports first (an error or end of stream), report it once ...
        let first = simul::wait_for(Duration::from_millis(50), a.recv(&mut buf)).await;
        let _ = first;
        let e = a.send(b"x").await.unwrap_err();
        assert!(
            matches!(
                e.kind(),
                ErrorKind::ConnectionRefused | ErrorKind::BrokenPipe | ErrorKind::NotConnected
            ),
            "{e:?}"
        );
        // ... and then wait without spinning.
        async move {
            let mut buf = [0u8; 16];
            loop {
                // An end-of-stream `Ok(0)` is a valid report too; only a busy loop is wrong.
                match a.recv(&mut buf).await {
                    Ok(0) | Err(_) => simul::sleep(Duration::from_secs(10)).await,
                    Ok(_) => unreachable!("no one sends"),
                }
            }
        }
    });
    assert_idle("unix datagram pair, nothing sent", || async {
        let (a, b) = UnixDatagram::pair().unwrap();
        async move {
            let _keep = b;
            let mut buf = [0u8; 16];
            a.recv(&mut buf).await
        }
    });
}

#[test]
fn child_pipes_wait_without_spinning() {
    use simul::process::{Command, Stdio};
    assert_idle("child stdout pipe while the child sleeps", || async {
        let mut child = Command::new("sleep")
            .arg("5")
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut out = child.stdout.take().unwrap();
        async move {
            let _keep = child;
            let mut buf = [0u8; 16];
            out.read(&mut buf).await
        }
    });
    assert_idle("child stdin pipe full while the child sleeps", || async {
        let mut child = Command::new("sleep")
            .arg("5")
            .stdin(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        async move {
            let _keep = child;
            let chunk = vec![1u8; 1 << 20];
            input.write_all(&chunk).await
        }
    });
    assert_idle("child exit wait", || async {
        let mut child = Command::new("sleep")
            .arg("5")
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        async move { child.wait().await }
    });
}
