//! TCP: connect/accept/read/write round trips, half-close, peer reset, options.

use std::io::ErrorKind;
use std::net::Shutdown;
use std::time::Duration;

use futures_util::{AsyncReadExt, AsyncWriteExt};
use simul::net::{TcpListener, TcpStream};

mod net_common;

#[test]
fn round_trip_through_inherent_methods() {
    net_common::check_fds(|| {
        simul::run(async {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = l.local_addr().unwrap();
            let server = simul::spawn(async move {
                let (mut s, peer) = l.accept().await.unwrap();
                assert!(peer.ip().is_loopback());
                let mut buf = [0u8; 1024];
                loop {
                    let n = s.read(&mut buf).await.unwrap();
                    if n == 0 {
                        break;
                    }
                    s.write_all(&buf[..n]).await.unwrap();
                }
            });
            let mut c = TcpStream::connect(addr).await.unwrap();
            let msg: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
            let (mut r, mut w) = TcpStream::split(&mut c);
            let writer = async {
                w.write_all(&msg).await.unwrap();
                w.shutdown().unwrap();
            };
            let reader = async {
                let mut got = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    let n = r.read(&mut buf).await.unwrap();
                    if n == 0 {
                        break;
                    }
                    got.extend_from_slice(&buf[..n]);
                }
                got
            };
            let ((), got) = futures_util::future::join(writer, reader).await;
            assert_eq!(got, msg);
            server.await.unwrap();
        })
    });
}

#[test]
fn round_trip_through_futures_io_traits() {
    net_common::check_fds(|| {
        simul::run(async {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let mut c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
            let (mut s, _) = l.accept().await.unwrap();
            AsyncWriteExt::write_all(&mut c, b"hello").await.unwrap();
            AsyncWriteExt::close(&mut c).await.unwrap(); // shuts the write side
            let mut got = Vec::new();
            AsyncReadExt::read_to_end(&mut s, &mut got).await.unwrap();
            assert_eq!(got, b"hello");
        })
    });
}

#[test]
fn half_close_still_lets_the_other_side_write() {
    net_common::check_fds(|| {
        simul::run(async {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let mut c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
            let (mut s, _) = l.accept().await.unwrap();
            c.write_all(b"request").await.unwrap();
            c.shutdown(Shutdown::Write).unwrap();
            let mut req = Vec::new();
            let mut buf = [0u8; 64];
            loop {
                let n = s.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                req.extend_from_slice(&buf[..n]);
            }
            assert_eq!(req, b"request");
            // EOF is sticky.
            assert_eq!(s.read(&mut buf).await.unwrap(), 0);
            s.write_all(b"reply").await.unwrap();
            drop(s);
            let mut reply = Vec::new();
            loop {
                let n = c.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                reply.extend_from_slice(&buf[..n]);
            }
            assert_eq!(reply, b"reply");
        })
    });
}

#[test]
fn peer_reset_is_reported_as_connection_reset() {
    net_common::check_fds(|| {
        simul::run(async {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let mut c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
            let (s, _) = l.accept().await.unwrap();
            s.set_linger(Some(Duration::ZERO)).unwrap();
            drop(s); // sends RST
            let mut buf = [0u8; 16];
            let err = c.read(&mut buf).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::ConnectionReset);
        })
    });
}

#[test]
fn connect_refused_is_an_error() {
    net_common::check_fds(|| {
        simul::run(async {
            // Bind then drop, so the port is very likely free.
            let port = {
                let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                l.local_addr().unwrap().port()
            };
            let err = TcpStream::connect(("127.0.0.1", port)).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
        })
    });
}

#[test]
fn connect_by_host_name_tries_each_address() {
    net_common::check_fds(|| {
        simul::run(async {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = l.local_addr().unwrap().port();
            // "localhost" may resolve to ::1 first, where nothing listens: the IPv4 attempt
            // must still win.
            let c = TcpStream::connect(("localhost", port)).await.unwrap();
            assert_eq!(c.peer_addr().unwrap().port(), port);
            // An explicit list whose first address is refused.
            let dead = {
                let d = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                d.local_addr().unwrap()
            };
            let list = vec![dead, l.local_addr().unwrap()];
            let c2 = TcpStream::connect(list).await.unwrap();
            assert_eq!(c2.peer_addr().unwrap(), l.local_addr().unwrap());
        })
    });
}

#[test]
fn bad_addresses_give_typed_errors() {
    net_common::check_fds(|| {
        simul::run(async {
            let e = TcpStream::connect("no-port-here").await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput);
            let e = TcpStream::connect("127.0.0.1:99999").await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput);
            let e = TcpStream::connect(Vec::new()).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput);
        });
    });
}

#[test]
fn socket_options_round_trip() {
    net_common::check_fds(|| {
        simul::run(async {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
            c.set_nodelay(true).unwrap();
            assert!(c.nodelay().unwrap());
            c.set_nodelay(false).unwrap();
            assert!(!c.nodelay().unwrap());
            c.set_keepalive(true).unwrap();
            assert!(c.keepalive().unwrap());
        });
    });
}

#[test]
fn reuse_port_lets_two_listeners_share_a_port() {
    net_common::check_fds(|| {
        use simul::net::BindOptions;
        simul::run(async {
            let opts = BindOptions::new().reuse_port(true);
            let a = TcpListener::bind_with("127.0.0.1:0", opts).await.unwrap();
            let b = TcpListener::bind_with(a.local_addr().unwrap(), opts)
                .await
                .unwrap();
            assert_eq!(a.local_addr().unwrap(), b.local_addr().unwrap());
            // Without reuse_port the same bind fails with AddrInUse.
            let e = TcpListener::bind(a.local_addr().unwrap())
                .await
                .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::AddrInUse);
        });
    });
}

#[test]
fn try_read_and_try_write_follow_readiness() {
    if simul::faults_enabled() {
        return; // injected short counts and spurious WouldBlock change try_* by design
    }
    net_common::check_fds(|| {
        simul::run(async {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
            let (s, _) = l.accept().await.unwrap();
            let mut buf = [0u8; 8];
            assert_eq!(
                s.try_read(&mut buf).unwrap_err().kind(),
                ErrorKind::WouldBlock
            );
            assert_eq!(c.try_write(b"abc").unwrap(), 3);
            s.readable().await.unwrap();
            assert_eq!(s.try_read(&mut buf).unwrap(), 3);
            assert_eq!(&buf[..3], b"abc");
            // Fill the send buffer until it refuses more, then wait for room.
            let chunk = [1u8; 65536];
            let mut sent = 0usize;
            loop {
                match c.try_write(&chunk) {
                    Ok(n) => sent += n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => panic!("{e}"),
                }
            }
            assert!(sent > 0);
            let mut s = s;
            let mut drained = 0usize;
            let mut big = vec![0u8; 65536];
            while drained < sent {
                drained += s.read(&mut big).await.unwrap();
            }
            c.writable().await.unwrap();
            assert!(c.try_write(b"more").unwrap() > 0);
        });
    });
}

#[test]
fn dropping_a_pending_accept_loses_no_connection() {
    net_common::check_fds(|| {
        simul::run(async {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let r = simul::wait_for(Duration::from_millis(10), l.accept()).await;
            assert!(r.is_err());
            let c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
            let (s, _) = l.accept().await.unwrap();
            assert_eq!(s.peer_addr().unwrap(), c.local_addr().unwrap());
        });
    });
}

#[test]
fn closing_the_loop_closes_sockets_owned_by_pending_tasks() {
    net_common::check_fds(|| {
        simul::run(async {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
            let (s, _) = l.accept().await.unwrap();
            // Tasks still waiting on their sockets when run() returns are cancelled, and
            // dropping their futures closes the sockets.
            drop(simul::spawn(async move {
                let mut s = s;
                let mut buf = [0u8; 8];
                let _ = s.read(&mut buf).await;
            }));
            drop(simul::spawn(async move {
                let _ = l.accept().await;
            }));
            drop(simul::spawn(async move {
                let mut c = c;
                let mut buf = [0u8; 8];
                let _ = c.read(&mut buf).await;
            }));
            simul::yield_now().await;
        })
    });
}

#[test]
fn a_cancelled_read_leaves_the_stream_usable() {
    net_common::check_fds(|| {
        simul::run(async {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let mut c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = [0u8; 8];
            let r = simul::wait_for(Duration::from_millis(5), s.read(&mut buf)).await;
            assert!(r.is_err(), "nothing was sent yet");
            c.write_all(b"late").await.unwrap();
            let n = s.read(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"late");
        })
    });
}

#[test]
fn a_stalled_attempt_is_overtaken_by_the_next_address_after_the_stagger() {
    use simul::net::BindOptions;
    net_common::check_fds(|| {
        simul::run(async {
            // A listener whose accept queue is full drops new SYNs, so connecting to it
            // stalls (the client retransmits after a second or more).
            let full = TcpListener::bind_with("127.0.0.1:0", BindOptions::new().backlog(0))
                .await
                .unwrap();
            let full_addr = full.local_addr().unwrap();
            let mut fillers = Vec::new();
            loop {
                match simul::wait_for(Duration::from_millis(100), TcpStream::connect(full_addr))
                    .await
                {
                    Ok(Ok(s)) => fillers.push(s),
                    Ok(Err(e)) => panic!("filler connect failed: {e}"),
                    Err(_) => break, // this one stalled: the queue is full
                }
                assert!(fillers.len() < 64, "the accept queue never filled up");
            }
            let good = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let good_addr = good.local_addr().unwrap();
            let t0 = std::time::Instant::now();
            let c = TcpStream::connect(vec![full_addr, good_addr])
                .await
                .unwrap();
            assert_eq!(c.peer_addr().unwrap(), good_addr);
            // It waited for the stagger, not for the stalled attempt's SYN retransmission.
            assert!(t0.elapsed() >= simul::net::tcp::CONNECT_STAGGER - Duration::from_millis(5));
        })
    });
}

#[test]
fn accept_reports_the_peer_address_for_ipv4_and_ipv6() {
    net_common::check_fds(|| {
        simul::run(async {
            for host in ["127.0.0.1", "::1"] {
                let l = match TcpListener::bind((host, 0)).await {
                    Ok(l) => l,
                    Err(_) if host == "::1" => return, // no IPv6 loopback on this machine
                    Err(e) => panic!("bind {host}: {e}"),
                };
                let c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
                let (s, peer) = l.accept().await.unwrap();
                assert_eq!(peer, c.local_addr().unwrap(), "{host}");
                assert_eq!(s.peer_addr().unwrap(), peer, "{host}");
                assert_eq!(s.local_addr().unwrap(), c.peer_addr().unwrap(), "{host}");
            }
        });
    });
}

#[test]
fn every_ip_socket_is_close_on_exec() {
    net_common::exclusive(|| {
        let before = net_common::open_fds();
        simul::run(async {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
            let (s, _) = l.accept().await.unwrap();
            let u = simul::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
            net_common::assert_new_fds_cloexec(&before, 4);
            drop((l, c, s, u));
        });
    });
}

#[test]
fn a_failed_bind_or_connect_closes_its_socket() {
    net_common::check_fds(|| {
        simul::run(async {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = l.local_addr().unwrap();
            let e = TcpListener::bind(addr).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::AddrInUse);
            let e = simul::net::UdpSocket::bind("192.0.2.1:0")
                .await
                .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::AddrNotAvailable);
            drop(l);
            let e = TcpStream::connect(addr).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
            assert!(e.to_string().contains(&addr.to_string()), "names it: {e}");
        })
    });
}

/// Polls `fut` once and returns what that one poll gave (no wait in the selector between).
async fn poll_once<F: std::future::Future + Unpin>(fut: &mut F) -> std::task::Poll<F::Output> {
    std::future::poll_fn(|cx| std::task::Poll::Ready(std::pin::Pin::new(&mut *fut).poll(cx))).await
}

#[test]
fn an_accepted_stream_reads_bytes_already_queued_without_waiting_for_the_selector() {
    if simul::faults_enabled() {
        return; // an injected "not ready" makes the first poll pending by design
    }
    net_common::check_fds(|| {
        simul::run(async {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            // The peer's first bytes are queued before the accept (loopback delivers a
            // write before it returns), as a client's request usually is.
            let mut c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
            std::io::Write::write_all(&mut c, b"hello").unwrap();
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = [0u8; 16];
            let first = poll_once(&mut Box::pin(s.read(&mut buf))).await;
            assert!(
                matches!(first, std::task::Poll::Ready(Ok(5))),
                "the first read waited for an event: {first:?}"
            );
            assert_eq!(&buf[..5], b"hello");
            // Nothing more is queued: the next read waits (readiness was a guess, and
            // the EAGAIN it met cleared it), and still gets the bytes sent later.
            let mut later = Box::pin(s.read(&mut buf));
            assert!(poll_once(&mut later).await.is_pending());
            std::io::Write::write_all(&mut c, b"more").unwrap();
            assert_eq!(later.await.unwrap(), 4);
            assert_eq!(&buf[..4], b"more");
        })
    });
}
