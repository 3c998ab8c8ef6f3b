//! Unix-domain sockets: stream and datagram round trips, half-close, errors.

use std::io::ErrorKind;
use std::net::Shutdown;
use std::path::PathBuf;

use simul::net::{UnixDatagram, UnixListener, UnixStream};

mod net_common;

fn sock_path(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("simul-test-{}-{name}.sock", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

#[test]
fn listener_and_stream_round_trip() {
    let path = sock_path("stream");
    net_common::check_fds(|| {
        simul::run(async {
            let l = UnixListener::bind(&path).unwrap();
            let server = simul::spawn(async move {
                let (mut s, _) = l.accept().await.unwrap();
                let mut buf = [0u8; 4096];
                loop {
                    let n = s.read(&mut buf).await.unwrap();
                    if n == 0 {
                        break;
                    }
                    s.write_all(&buf[..n]).await.unwrap();
                }
            });
            let c = UnixStream::connect(&path).await.unwrap();
            let (mut r, mut w) = c.into_split();
            let msg: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 256) as u8).collect();
            let m2 = msg.clone();
            let writer = simul::spawn(async move {
                w.write_all(&m2).await.unwrap();
                w.shutdown().unwrap();
            });
            let mut got = Vec::new();
            let mut buf = [0u8; 8192];
            loop {
                let n = r.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            assert_eq!(got, msg);
            writer.await.unwrap();
            server.await.unwrap();
        })
    });
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn pair_half_close() {
    net_common::check_fds(|| {
        simul::run(async {
            let (mut a, mut b) = UnixStream::pair().unwrap();
            a.write_all(b"last words").await.unwrap();
            a.shutdown(Shutdown::Write).unwrap();
            let mut buf = [0u8; 32];
            let n = b.read(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"last words");
            assert_eq!(b.read(&mut buf).await.unwrap(), 0);
            b.write_all(b"ack").await.unwrap();
            let n = a.read(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"ack");
        })
    });
}

#[test]
fn connecting_to_a_missing_path_fails_cleanly() {
    net_common::check_fds(|| {
        simul::run(async {
            let e = UnixStream::connect(sock_path("missing")).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::NotFound);
        })
    });
}

#[test]
fn datagram_round_trip_by_path_and_pair() {
    let path = sock_path("dgram");
    net_common::check_fds(|| {
        simul::run(async {
            let server = UnixDatagram::bind(&path).unwrap();
            let client = UnixDatagram::unbound().unwrap();
            client.send_to(b"hello", &path).await.unwrap();
            let mut buf = [0u8; 64];
            let (n, from) = server.recv_from(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"hello");
            assert!(from.is_unnamed());

            let (a, b) = UnixDatagram::pair().unwrap();
            a.send(b"x").await.unwrap();
            a.send(b"yz").await.unwrap();
            assert_eq!(b.recv(&mut buf).await.unwrap(), 1);
            assert_eq!(b.recv(&mut buf).await.unwrap(), 2);
        })
    });
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn a_path_too_long_for_a_unix_socket_is_refused_with_its_name() {
    let long = format!("/tmp/{}", "x".repeat(200));
    net_common::check_fds(|| {
        simul::run(async {
            let e = UnixStream::connect(&long).await.unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
            assert!(e.to_string().contains("xxxx"), "names the path: {e}");
            let e = UnixListener::bind(&long).unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
            let e = UnixDatagram::bind(&long).unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
        })
    });
}

#[test]
fn an_abstract_unix_socket_name_connects() {
    let name = format!("\0simul-abstract-{}", std::process::id());
    // Every descriptor is made under the lock, so descriptor-counting tests running at the
    // same time do not see it.
    net_common::check_fds(|| {
        let std_listener = {
            use std::os::linux::net::SocketAddrExt;
            let addr =
                std::os::unix::net::SocketAddr::from_abstract_name(&name.as_bytes()[1..]).unwrap();
            std::os::unix::net::UnixListener::bind_addr(&addr).unwrap()
        };
        simul::run(async move {
            let listener = UnixListener::from_std(std_listener).unwrap();
            let mut c = UnixStream::connect(&name).await.unwrap();
            let (mut s, _) = listener.accept().await.unwrap();
            c.write_all(b"hi").await.unwrap();
            let mut buf = [0u8; 8];
            let n = s.read(&mut buf).await.unwrap(); // two bytes on a local stream: one read
            assert_eq!(&buf[..n], b"hi");
        })
    });
}

#[test]
fn unix_connect_and_bind_errors_name_the_path_and_keep_the_kind() {
    let missing = sock_path("missing-named");
    let taken = sock_path("taken");
    net_common::check_fds(|| {
        simul::run(async {
            let e = UnixStream::connect(&missing).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::NotFound);
            assert!(
                e.to_string().contains("missing-named"),
                "names the path: {e}"
            );

            let _l = UnixListener::bind(&taken).unwrap();
            let e = UnixListener::bind(&taken).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::AddrInUse);
            assert!(e.to_string().contains("taken"), "names the path: {e}");
            let e = UnixDatagram::bind(&taken).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::AddrInUse);
            assert!(e.to_string().contains("taken"), "names the path: {e}");
        })
    });
    std::fs::remove_file(&taken).unwrap();
}

#[test]
fn every_unix_descriptor_is_close_on_exec() {
    let path = sock_path("cloexec");
    net_common::exclusive(|| {
        let before = net_common::open_fds();
        simul::run(async {
            let l = UnixListener::bind(&path).unwrap();
            let c = UnixStream::connect(&path).await.unwrap();
            let (s, _) = l.accept().await.unwrap();
            let pair = UnixStream::pair().unwrap();
            let d = UnixDatagram::unbound().unwrap();
            let dpair = UnixDatagram::pair().unwrap();
            net_common::assert_new_fds_cloexec(&before, 8);
            drop((l, c, s, pair, d, dpair));
        });
    });
    std::fs::remove_file(&path).unwrap();
}

/// A blocking client socket bound to `local` (a path or, with a leading NUL, an abstract
/// name) and connected to the listener at `server`.
fn bound_client(local: &[u8], server: &std::path::Path) -> std::os::unix::net::UnixStream {
    use std::os::fd::FromRawFd;
    use std::os::unix::ffi::OsStrExt;
    fn addr_of(bytes: &[u8]) -> (libc::sockaddr_un, libc::socklen_t) {
        // SAFETY: sockaddr_un is plain old data for which all-zero bytes are valid.
        let mut a: libc::sockaddr_un = unsafe { std::mem::zeroed() };
        a.sun_family = libc::AF_UNIX as libc::sa_family_t;
        assert!(bytes.len() < a.sun_path.len());
        for (d, s) in a.sun_path.iter_mut().zip(bytes) {
            *d = *s as libc::c_char;
        }
        let nul = usize::from(bytes.first() != Some(&0));
        let len = std::mem::offset_of!(libc::sockaddr_un, sun_path) + bytes.len() + nul;
        (a, len as libc::socklen_t)
    }
    // SAFETY: plain syscall; the descriptor it returns is owned by the stream below.
    let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    assert!(fd >= 0);
    // SAFETY: `fd` was just returned by socket and nothing else owns it.
    let s = unsafe { std::os::unix::net::UnixStream::from_raw_fd(fd) };
    let (a, len) = addr_of(local);
    // SAFETY: `a` is a valid sockaddr_un whose first `len` bytes are initialised.
    let r = unsafe { libc::bind(fd, (&a as *const libc::sockaddr_un).cast(), len) };
    assert_eq!(r, 0, "bind: {}", std::io::Error::last_os_error());
    let (a, len) = addr_of(server.as_os_str().as_bytes());
    // SAFETY: as above.
    let r = unsafe { libc::connect(fd, (&a as *const libc::sockaddr_un).cast(), len) };
    assert_eq!(r, 0, "connect: {}", std::io::Error::last_os_error());
    s
}

#[test]
fn accept_reports_unnamed_pathname_and_abstract_peers() {
    use std::os::linux::net::SocketAddrExt;
    let path = sock_path("peers");
    let client_path = sock_path("peers-client");
    let abstract_name = format!("\0simul-peer-{}", std::process::id());
    net_common::check_fds(|| {
        simul::run(async {
            let l = UnixListener::bind(&path).unwrap();

            let _c = UnixStream::connect(&path).await.unwrap();
            let (s, a) = l.accept().await.unwrap();
            assert!(a.is_unnamed(), "{a:?}");
            assert!(s.peer_addr().unwrap().is_unnamed());

            use std::os::unix::ffi::OsStrExt;
            let _c = bound_client(client_path.as_os_str().as_bytes(), &path);
            let (s, a) = l.accept().await.unwrap();
            assert_eq!(a.as_pathname(), Some(client_path.as_path()));
            assert_eq!(
                s.peer_addr().unwrap().as_pathname(),
                Some(client_path.as_path())
            );

            let _c = bound_client(abstract_name.as_bytes(), &path);
            let (s, a) = l.accept().await.unwrap();
            assert_eq!(a.as_abstract_name(), Some(&abstract_name.as_bytes()[1..]));
            // The accepted stream is non-blocking and registered: a read with nothing
            // sent waits instead of blocking the loop.
            let mut buf = [0u8; 1];
            assert!(s.try_read(&mut buf).is_err());
        })
    });
    std::fs::remove_file(&path).unwrap();
    std::fs::remove_file(&client_path).unwrap();
}

#[test]
fn an_empty_unix_path_autobinds_and_cannot_be_connected_to() {
    // As CPython and std: an empty address binds to a fresh kernel-chosen abstract name
    // (Linux autobind), so two such binds both succeed; it names nothing to connect to.
    use std::os::linux::net::SocketAddrExt;
    net_common::check_fds(|| {
        simul::run(async {
            let a = UnixDatagram::bind("").unwrap();
            let b = UnixDatagram::bind("").unwrap();
            let (na, nb) = (a.local_addr().unwrap(), b.local_addr().unwrap());
            assert!(na.as_abstract_name().is_some(), "{na:?}");
            assert_ne!(na.as_abstract_name(), nb.as_abstract_name());
            let l = UnixListener::bind("").unwrap();
            assert!(l.local_addr().unwrap().as_abstract_name().is_some());
            let e = UnixStream::connect("").await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        })
    });
}

#[test]
fn an_accepted_unix_stream_reads_bytes_already_queued_without_waiting_for_the_selector() {
    if simul::faults_enabled() {
        return; // an injected "not ready" makes the first poll pending by design
    }
    let path = sock_path("accepted-ready");
    net_common::check_fds(|| {
        simul::run(async {
            let l = UnixListener::bind(&path).unwrap();
            let mut c = std::os::unix::net::UnixStream::connect(&path).unwrap();
            std::io::Write::write_all(&mut c, b"hello").unwrap();
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = [0u8; 16];
            let mut read = Box::pin(s.read(&mut buf));
            let first = std::future::poll_fn(|cx| {
                std::task::Poll::Ready(std::future::Future::poll(read.as_mut(), cx))
            })
            .await;
            assert!(
                matches!(first, std::task::Poll::Ready(Ok(5))),
                "the first read waited for an event: {first:?}"
            );
            drop(read);
            assert_eq!(&buf[..5], b"hello");
        })
    });
    std::fs::remove_file(&path).unwrap();
}
