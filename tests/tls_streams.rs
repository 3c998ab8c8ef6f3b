//! simul's TLS: typed handshake failures that never take a server down, the handshake
//! timeout, `start_tls` in place (with the peer's first TLS bytes already buffered), and
//! Python's `ssl` + asyncio on the other end in both directions, byte-exact with a large
//! body.

#[path = "../examples/common/certs.rs"]
mod certs;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use futures_util::AsyncReadExt;
use simul::net::{TcpListener, TcpStream};
use simul::tls::{rustls, TlsConnector, TlsError};
use simul::{StreamReader, StreamWriter};

/// An echo server for the length-prefixed protocol: 8-byte big-endian length, then that
/// many bytes, echoed back; then the server closes.
async fn echo_framed(r: StreamReader, w: StreamWriter) -> Result<(), simul::StreamError> {
    let len = r.readexactly(8).await?;
    let n = u64::from_be_bytes(len.try_into().unwrap()) as usize;
    let data = r.readexactly(n).await?;
    w.write(&data);
    w.close();
    w.wait_closed().await?;
    Ok(())
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
}

#[test]
fn failed_handshakes_are_typed_and_the_server_carries_on() {
    let pki = certs::TestPki::new();
    let acceptor = pki.acceptor();
    let good = pki.connector();
    simul::run(async move {
        let server = simul::tls::start_tls_server(echo_framed, "127.0.0.1", 0, acceptor)
            .await
            .unwrap();
        let port = server.local_addrs()[0].port().unwrap();

        // A client that trusts nothing: the server's CA is unknown to it.
        let nobody = TlsConnector::with_roots(rustls::RootCertStore::empty());
        let err = simul::tls::open_tls_connection("127.0.0.1", port, &nobody, Some("localhost"))
            .await
            .unwrap_err();
        assert!(matches!(err, TlsError::UnknownIssuer), "{err:?}");
        assert!(err.to_string().contains("unknown issuer"), "{err}");

        // The right CA, the wrong name.
        let err = simul::tls::open_tls_connection("127.0.0.1", port, &good, Some("example.com"))
            .await
            .unwrap_err();
        match &err {
            TlsError::BadName { expected } => assert_eq!(expected, "example.com"),
            other => panic!("expected BadName, got {other:?}"),
        }
        assert!(err.to_string().contains("\"example.com\""), "{err}");

        // Not a valid server name at all.
        let err = simul::tls::open_tls_connection("127.0.0.1", port, &good, Some("bad name!"))
            .await
            .unwrap_err();
        assert!(matches!(err, TlsError::InvalidServerName(_)), "{err:?}");

        // A client that speaks plain HTTP to the TLS port: its connection is closed.
        let mut plain = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        plain
            .write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut junk = Vec::new();
        let _ = simul::wait_for(Duration::from_secs(30), plain.read_to_end(&mut junk))
            .await
            .expect("the server closes a non-TLS client");

        // ... and after all that the server still serves.
        let (r, w) = simul::tls::open_tls_connection("127.0.0.1", port, &good, Some("localhost"))
            .await
            .unwrap();
        w.write(&5u64.to_be_bytes());
        w.write(b"hello");
        assert_eq!(r.read_to_end().await.unwrap(), b"hello");
    });
}

#[test]
fn the_server_reports_a_client_that_rejects_its_certificate() {
    let pki = certs::TestPki::new();
    let acceptor = pki.acceptor();
    simul::run(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = simul::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            acceptor.accept(tcp).await.map(drop)
        });
        let nobody = TlsConnector::with_roots(rustls::RootCertStore::empty());
        let tcp = TcpStream::connect(addr).await.unwrap();
        assert!(nobody.connect("localhost", tcp).await.is_err());
        let err = server.await.unwrap().unwrap_err();
        assert!(
            matches!(
                err,
                TlsError::AlertReceived(rustls::AlertDescription::UnknownCA)
            ),
            "{err:?}"
        );
    });
}

#[test]
fn a_silent_client_is_dropped_after_the_handshake_timeout() {
    let pki = certs::TestPki::new();
    let acceptor = pki.acceptor().handshake_timeout(Duration::from_millis(200));
    simul::run(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = simul::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            acceptor.accept(tcp).await.map(drop)
        });
        let _silent = TcpStream::connect(addr).await.unwrap();
        let err = simul::wait_for(Duration::from_secs(30), server)
            .await
            .expect("the handshake gives up by itself")
            .unwrap()
            .unwrap_err();
        assert!(
            matches!(err, TlsError::HandshakeTimeout(d) if d == Duration::from_millis(200)),
            "{err:?}"
        );
        assert_eq!(
            std::io::Error::from(err).kind(),
            std::io::ErrorKind::TimedOut
        );
    });
}

#[test]
fn start_tls_keeps_tls_bytes_the_reader_had_already_buffered() {
    let pki = certs::TestPki::new();
    let acceptor = pki.acceptor();
    let connector = pki.connector();
    simul::run(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = simul::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let (r, w) = simul::stream::split(tcp);
            // Wait until the whole ClientHello is here too, so the reader's buffer holds
            // it after the line: the TLS layer must start with those bytes.
            simul::sleep(Duration::from_millis(100)).await;
            assert_eq!(r.readline().await.unwrap(), b"STARTTLS\n");
            assert!(
                r.buffered() > 0,
                "the ClientHello was buffered with the line"
            );
            let (r, w) = w.start_tls_server(r, &acceptor).await.unwrap();
            let got = r.readexactly(6).await.unwrap();
            w.write(&got);
            w.close();
            w.wait_closed().await.unwrap();
        });
        let tcp = TcpStream::connect(addr).await.unwrap();
        let (r, w) = simul::stream::split(tcp);
        w.write(b"STARTTLS\n"); // and the handshake right behind it, unasked
        let (r, w) = w.start_tls(r, &connector, "localhost").await.unwrap();
        w.write(b"secret");
        assert_eq!(r.read_to_end().await.unwrap(), b"secret");
        server.await.unwrap();
    });
}

fn python() -> Option<&'static str> {
    let ok = Command::new("python3")
        .args(["-c", "import ssl, asyncio"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("SKIPPED: python3 with ssl is not installed");
    }
    ok.then_some("python3")
}

const PY_CLIENT: &str = r#"
import asyncio, ssl, sys
async def main(port, cafile, n):
    ctx = ssl.create_default_context(cafile=cafile)
    r, w = await asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname="localhost")
    data = bytes(((i * 7 + i // 251) & 0xFF) for i in range(n))
    w.write(n.to_bytes(8, "big") + data)
    await w.drain()
    back = await r.readexactly(n)
    assert back == data, "echo differs"
    assert await r.read() == b""
    print("OK", len(back), w.get_extra_info("ssl_object").version())
    w.close()
asyncio.run(main(int(sys.argv[1]), sys.argv[2], int(sys.argv[3])))
"#;

#[test]
fn python_asyncio_ssl_client_against_simul_tls_server_byte_exact() {
    let Some(py) = python() else { return };
    let pki = certs::TestPki::new();
    let ca = std::env::temp_dir().join(format!("simul-py-ca-{}.pem", std::process::id()));
    std::fs::write(&ca, &pki.ca_pem).unwrap();
    let acceptor = pki.acceptor();
    let n: usize = 8 << 20; // 8 MiB, many TLS records each way
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        simul::run(async move {
            let server = simul::tls::start_tls_server(echo_framed, "127.0.0.1", 0, acceptor)
                .await
                .unwrap();
            tx.send(server.local_addrs()[0].port().unwrap()).unwrap();
            simul::sleep(Duration::from_secs(600)).await;
        })
    });
    let port = rx.recv().unwrap();
    let out = Command::new(py)
        .args([
            "-c",
            PY_CLIENT,
            &port.to_string(),
            ca.to_str().unwrap(),
            &n.to_string(),
        ])
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&ca);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.trim(), format!("OK {n} TLSv1.3"));
}

const PY_SERVER: &str = r#"
import asyncio, ssl, sys
async def handle(r, w):
    n = int.from_bytes(await r.readexactly(8), "big")
    data = await r.readexactly(n)
    w.write(data)
    await w.drain()
    w.close()
    await w.wait_closed()
async def main(cert, key):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.sleep(600)
asyncio.run(main(sys.argv[1], sys.argv[2]))
"#;

#[test]
fn simul_tls_client_against_python_asyncio_ssl_server_byte_exact() {
    let Some(py) = python() else { return };
    let pki = certs::TestPki::new();
    let dir = std::env::temp_dir();
    let cert = dir.join(format!("simul-py-chain-{}.pem", std::process::id()));
    let key = dir.join(format!("simul-py-key-{}.pem", std::process::id()));
    std::fs::write(&cert, &pki.chain_pem).unwrap();
    std::fs::write(&key, &pki.key_pem).unwrap();
    let mut child = Command::new(py)
        .args([
            "-c",
            PY_SERVER,
            cert.to_str().unwrap(),
            key.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line
        .trim()
        .parse()
        .expect("the Python server printed its port");
    let connector = pki.connector();
    let n: usize = 8 << 20;
    let ok = simul::run(async move {
        let (r, w) =
            simul::tls::open_tls_connection("127.0.0.1", port, &connector, Some("localhost"))
                .await
                .unwrap();
        let data = pattern(n);
        w.write(&(n as u64).to_be_bytes());
        w.write(&data);
        w.drain().await.unwrap();
        let back = r.readexactly(n).await.unwrap();
        back == data
    });
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_file(&cert);
    let _ = std::fs::remove_file(&key);
    assert!(ok, "the echo from Python differs");
    let _ = std::io::stdout().flush();
}

#[test]
fn closing_a_tls_stream_writer_sends_close_notify() {
    let pki = certs::TestPki::new();
    let acceptor = pki.acceptor();
    let connector = pki.connector();
    simul::run(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = simul::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let (r, w) = simul::stream::split(tcp);
            let (_r, w) = w.start_tls_server(r, &acceptor).await.unwrap();
            w.write(b"bye");
            w.close();
            w.wait_closed().await.unwrap();
        });
        let tcp = TcpStream::connect(addr).await.unwrap();
        let mut tls = connector.connect("localhost", tcp).await.unwrap();
        let mut got = Vec::new();
        // rustls reports a close without close_notify as UnexpectedEof: a clean end
        // proves the writer said goodbye at the TLS level before closing the socket.
        tls.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"bye");
        server.await.unwrap();
    });
}

/// One direction of [`pipe`]: at most `PIPE_ROOM` bytes in flight, like a small socket
/// buffer.
#[derive(Default)]
struct Lane {
    data: std::collections::VecDeque<u8>,
    reader: Option<std::task::Waker>,
    writer: Option<std::task::Waker>,
    closed: bool,
}

const PIPE_ROOM: usize = 4096;

/// One end of an in-memory duplex byte stream whose buffers hold `PIPE_ROOM` bytes.
struct PipeEnd {
    rx: std::rc::Rc<std::cell::RefCell<Lane>>,
    tx: std::rc::Rc<std::cell::RefCell<Lane>>,
}

fn pipe() -> (PipeEnd, PipeEnd) {
    let ab = std::rc::Rc::new(std::cell::RefCell::new(Lane::default()));
    let ba = std::rc::Rc::new(std::cell::RefCell::new(Lane::default()));
    (
        PipeEnd {
            rx: ba.clone(),
            tx: ab.clone(),
        },
        PipeEnd { rx: ab, tx: ba },
    )
}

impl futures_io::AsyncRead for PipeEnd {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut [u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let mut lane = self.rx.borrow_mut();
        if lane.data.is_empty() {
            if lane.closed {
                return std::task::Poll::Ready(Ok(0));
            }
            lane.reader = Some(cx.waker().clone());
            return std::task::Poll::Pending;
        }
        let n = buf.len().min(lane.data.len());
        for (dst, src) in buf.iter_mut().zip(lane.data.drain(..n)) {
            *dst = src;
        }
        if let Some(w) = lane.writer.take() {
            w.wake();
        }
        std::task::Poll::Ready(Ok(n))
    }
    fn poll_read_vectored(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &mut [std::io::IoSliceMut<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        // Fills every buffer, as `readv` does (so TLS reads ahead over the pipe too).
        let mut lane = self.rx.borrow_mut();
        if lane.data.is_empty() {
            if lane.closed {
                return std::task::Poll::Ready(Ok(0));
            }
            lane.reader = Some(cx.waker().clone());
            return std::task::Poll::Pending;
        }
        let mut n = 0;
        for b in bufs.iter_mut() {
            let k = b.len().min(lane.data.len());
            for (dst, src) in b.iter_mut().zip(lane.data.drain(..k)) {
                *dst = src;
            }
            n += k;
        }
        if let Some(w) = lane.writer.take() {
            w.wake();
        }
        std::task::Poll::Ready(Ok(n))
    }
}

impl futures_io::AsyncWrite for PipeEnd {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let mut lane = self.tx.borrow_mut();
        let room = PIPE_ROOM - lane.data.len();
        if room == 0 {
            lane.writer = Some(cx.waker().clone());
            return std::task::Poll::Pending;
        }
        let n = room.min(buf.len());
        lane.data.extend(&buf[..n]);
        if let Some(w) = lane.reader.take() {
            w.wake();
        }
        std::task::Poll::Ready(Ok(n))
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_close(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let mut lane = self.tx.borrow_mut();
        lane.closed = true;
        if let Some(w) = lane.reader.take() {
            w.wake();
        }
        std::task::Poll::Ready(Ok(()))
    }
}

#[test]
fn ciphertext_the_session_still_holds_after_a_write_reaches_the_peer() {
    // rustls takes plaintext whole and keeps the ciphertext a full socket did not take:
    // the writer must go on flushing it without being asked (no further write). 10 kB is
    // the write fast path alone; 300 kB goes through the flusher task.
    let pki = certs::TestPki::new();
    let acceptor = pki.acceptor();
    let connector = pki.connector();
    simul::run(async move {
        let (a, b) = pipe();
        let server = simul::spawn(async move { acceptor.accept(b).await.unwrap() });
        let tls = connector.connect("localhost", a).await.unwrap();
        let mut server = Some(server.await.unwrap());
        let (_r, w) = simul::stream::split(tls);
        for n in [10_000usize, 300_000] {
            let mut peer = server.take().unwrap();
            let reading = simul::spawn(async move {
                let mut got = vec![0; n];
                peer.read_exact(&mut got).await.map(|()| (peer, got))
            });
            let data = pattern(n);
            w.write(&data);
            w.drain().await.unwrap();
            let (peer, got) = simul::wait_for(Duration::from_secs(10), reading)
                .await
                .unwrap_or_else(|_| {
                    panic!("{n} bytes written and drained, but the peer never got them all")
                })
                .unwrap()
                .unwrap();
            assert!(got == data, "the {n} bytes arrived altered");
            server = Some(peer);
        }
    });
}

/// `f`, or a panic after 20 s (a lost byte would otherwise leave a reader waiting).
/// `got` is `want`, byte for byte; on failure says how much arrived rather than printing
/// both bodies.
#[track_caller]
fn assert_same_bytes(got: &[u8], want: &[u8]) {
    assert!(
        got == want,
        "{} of {} bytes, or altered",
        got.len(),
        want.len()
    );
}

async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
    simul::wait_for(Duration::from_secs(20), f)
        .await
        .expect("still waiting after 20 s: bytes lost?")
}

#[test]
fn bytes_read_ahead_arrive_before_the_peers_close_notify_and_eof() {
    // The whole body, close_notify and the FIN are in the socket before the client reads:
    // the read-ahead takes most of it in one read, and must hand every byte over before
    // the clean end (a lost close_notify would be UnexpectedEof).
    let pki = certs::TestPki::new();
    let acceptor = pki.acceptor();
    let connector = pki.connector();
    let data = pattern(1 << 20);
    let sent = data.clone();
    simul::run(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = simul::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut tls = acceptor.accept(tcp).await.unwrap();
            futures_util::AsyncWriteExt::write_all(&mut tls, &sent)
                .await
                .unwrap();
            tls.shutdown().await.unwrap();
        });
        let tcp = TcpStream::connect(addr).await.unwrap();
        let mut tls = connector.connect("localhost", tcp).await.unwrap();
        within(server).await.unwrap();
        let mut got = Vec::new();
        within(tls.read_to_end(&mut got)).await.unwrap();
        assert_same_bytes(&got, &data);
    });
}

#[test]
fn reads_after_our_own_shutdown_still_get_the_bytes_read_ahead() {
    // The client shuts its write direction down (close_notify, FIN) while the read-ahead
    // holds part of the server's reply: none of it may be dropped.
    let pki = certs::TestPki::new();
    let acceptor = pki.acceptor();
    let connector = pki.connector();
    let data = pattern(600_000);
    let sent = data.clone();
    simul::run(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = simul::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut tls = acceptor.accept(tcp).await.unwrap();
            futures_util::AsyncWriteExt::write_all(&mut tls, &sent)
                .await
                .unwrap();
            tls.shutdown().await.unwrap();
            // Until the client's close_notify: closing with it unread would reset the
            // connection, and the kernel would drop what the client has not read.
            let mut rest = Vec::new();
            tls.read_to_end(&mut rest).await.unwrap();
        });
        let tcp = TcpStream::connect(addr).await.unwrap();
        let mut tls = connector.connect("localhost", tcp).await.unwrap();
        let mut got = vec![0; 20_000];
        tls.read_exact(&mut got).await.unwrap();
        tls.shutdown().await.unwrap();
        within(tls.read_to_end(&mut got)).await.unwrap();
        assert_same_bytes(&got, &data);
        within(server).await.unwrap();
    });
}

#[test]
fn records_split_across_many_small_reads_of_a_vectored_stream_still_decode() {
    // The pipe holds at most 4 KiB and fills every buffer of a vectored read, so each
    // 16 KiB record reaches rustls in pieces, some through the read-ahead and some not.
    let pki = certs::TestPki::new();
    let acceptor = pki.acceptor();
    let connector = pki.connector();
    simul::run(async move {
        let (a, b) = pipe();
        let server = simul::spawn(async move { acceptor.accept(b).await.unwrap() });
        let mut tls = connector.connect("localhost", a).await.unwrap();
        let mut peer = server.await.unwrap();
        let data = pattern(300_000);
        let sent = data.clone();
        let writer = simul::spawn(async move {
            futures_util::AsyncWriteExt::write_all(&mut peer, &sent)
                .await
                .unwrap();
            futures_util::AsyncWriteExt::close(&mut peer).await.unwrap();
        });
        let mut got = Vec::new();
        within(tls.read_to_end(&mut got)).await.unwrap();
        assert_same_bytes(&got, &data);
        writer.await.unwrap();
    });
}

#[test]
fn start_tls_then_bulk_both_ways_loses_no_byte() {
    // The upgraded stream's reader had plain bytes buffered below TLS; above it, a large
    // body each way and then the clean end.
    let pki = certs::TestPki::new();
    let acceptor = pki.acceptor();
    let connector = pki.connector();
    let data = pattern(500_000);
    simul::run(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = simul::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let (r, w) = simul::stream::split(tcp);
            assert_eq!(r.readline().await.unwrap(), b"STARTTLS\n");
            let (r, w) = w.start_tls_server(r, &acceptor).await.unwrap();
            let got = r.readexactly(500_000).await.unwrap();
            w.write(&got);
            w.close();
            w.wait_closed().await.unwrap();
        });
        let tcp = TcpStream::connect(addr).await.unwrap();
        let (r, w) = simul::stream::split(tcp);
        w.write(b"STARTTLS\n");
        let (r, w) = w.start_tls(r, &connector, "localhost").await.unwrap();
        w.write(&data);
        let back = within(r.read_to_end()).await.unwrap();
        assert_same_bytes(&back, &data);
        within(server).await.unwrap();
    });
}
