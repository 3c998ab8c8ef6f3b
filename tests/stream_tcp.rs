//! Streams over real loopback TCP sockets: framing across segments, back-pressure against
//! a peer that never reads, resets, half-close, and many connections at once.

use std::cell::Cell;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use simul::{open_connection, start_server, Server, StreamError, StreamReader, StreamWriter};

fn port(s: &Server) -> u16 {
    s.local_addrs()[0].port().unwrap()
}

async fn echo_server() -> Server {
    start_server(
        |r: StreamReader, w: StreamWriter| async move {
            loop {
                let line = r.readline().await?;
                if line.is_empty() {
                    return Ok::<_, StreamError>(());
                }
                w.write(&line);
                w.drain().await?;
            }
        },
        "127.0.0.1",
        0,
    )
    .await
    .unwrap()
}

/// A server whose handler hands its reader and writer to the test.
async fn capture_server() -> (Server, Rc<Cell<Option<(StreamReader, StreamWriter)>>>) {
    let slot: Rc<Cell<Option<(StreamReader, StreamWriter)>>> = Rc::new(Cell::new(None));
    let s2 = slot.clone();
    let server = start_server(
        move |r, w| {
            s2.set(Some((r, w)));
            async {}
        },
        "127.0.0.1",
        0,
    )
    .await
    .unwrap();
    (server, slot)
}

async fn accepted(
    slot: &Cell<Option<(StreamReader, StreamWriter)>>,
) -> (StreamReader, StreamWriter) {
    loop {
        if let Some(p) = slot.take() {
            return p;
        }
        simul::sleep(Duration::from_millis(1)).await;
    }
}

#[test]
fn lines_round_trip_and_addresses_match() {
    simul::run(async {
        let server = echo_server().await;
        let (r, w) = open_connection("127.0.0.1", port(&server)).await.unwrap();
        for i in 0..100 {
            let line = format!("line {i}\n");
            w.write(line.as_bytes());
            assert_eq!(r.readline().await.unwrap(), line.as_bytes());
        }
        assert_eq!(w.peer_addr().unwrap().port(), Some(port(&server)));
        assert!(w
            .local_addr()
            .unwrap()
            .as_inet()
            .unwrap()
            .ip()
            .is_loopback());
    });
}

#[test]
fn an_overlong_line_is_refused_and_framing_resumes_after_it() {
    simul::run(async {
        let server = start_server(
            |r: StreamReader, w: StreamWriter| async move {
                let r = r.with_limit(1000);
                let mut overruns = 0;
                loop {
                    match r.readline().await {
                        Err(StreamError::LimitOverrun { .. }) => overruns += 1,
                        Ok(l) if l == b"ok\n" => break,
                        Ok(l) => assert!(l.iter().all(|&b| b == b'x' || b == b'\n')),
                        Err(e) => panic!("{e:?}"),
                    }
                }
                w.write(format!("{overruns}\n").as_bytes());
            },
            "127.0.0.1",
            0,
        )
        .await
        .unwrap();
        let (r, w) = open_connection("127.0.0.1", port(&server)).await.unwrap();
        w.write(&vec![b'x'; 100_000]);
        w.write(b"\nok\n");
        w.drain().await.unwrap();
        let overruns: usize = String::from_utf8(r.readline().await.unwrap())
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(overruns >= 1);
    });
}

#[test]
fn a_separator_split_across_segments_is_found() {
    simul::run(async {
        let (server, slot) = capture_server().await;
        let (_r, w) = open_connection("127.0.0.1", port(&server)).await.unwrap();
        let (sr, _sw) = accepted(&slot).await;
        w.write(b"ab\r");
        simul::sleep(Duration::from_millis(5)).await;
        w.write(b"\ncd\r");
        simul::sleep(Duration::from_millis(5)).await;
        w.write(b"\n");
        assert_eq!(sr.readuntil(b"\r\n").await.unwrap(), b"ab\r\n");
        assert_eq!(sr.readuntil(b"\r\n").await.unwrap(), b"cd\r\n");
    });
}

#[test]
fn eof_in_the_middle_of_a_separator_gives_the_partial_data() {
    simul::run(async {
        let (server, slot) = capture_server().await;
        let (_r, w) = open_connection("127.0.0.1", port(&server)).await.unwrap();
        let (sr, _sw) = accepted(&slot).await;
        w.write(b"abc\r");
        w.write_eof();
        match sr.readuntil(b"\r\n").await {
            Err(StreamError::IncompleteRead { partial, expected }) => {
                assert_eq!(partial, b"abc\r");
                assert_eq!(expected, None);
            }
            other => panic!("{other:?}"),
        }
        assert!(sr.at_eof());
    });
}

#[test]
fn a_one_byte_at_a_time_sender_is_framed_correctly() {
    simul::run(async {
        let server = echo_server().await;
        let (r, w) = open_connection("127.0.0.1", port(&server)).await.unwrap();
        let text = b"slow line one\nand two\n";
        let sender = simul::spawn(async move {
            for b in text {
                w.write(&[*b]);
                simul::sleep(Duration::from_micros(200)).await;
            }
            w
        });
        assert_eq!(r.readline().await.unwrap(), b"slow line one\n");
        assert_eq!(r.readline().await.unwrap(), b"and two\n");
        drop(sender.await.unwrap());
    });
}

#[test]
fn a_peer_that_never_reads_holds_the_writer_at_the_high_mark() {
    simul::run(async {
        let (server, slot) = capture_server().await;
        let (client_r, client_w) = open_connection("127.0.0.1", port(&server)).await.unwrap();
        let (_sr, sw) = accepted(&slot).await;
        let sw = Rc::new(sw);
        let max_seen = Rc::new(Cell::new(0));
        let (sw2, max2) = (sw.clone(), max_seen.clone());
        let chunk = vec![b'z'; 16 * 1024];
        let producer = simul::spawn(async move {
            let mut sent = 0usize;
            loop {
                sw2.write(&chunk);
                sent += chunk.len();
                max2.set(max2.get().max(sw2.write_buffer_size()));
                if let Err(e) = sw2.drain().await {
                    return (sent, e);
                }
            }
        });
        simul::sleep(Duration::from_millis(200)).await;
        assert!(
            !producer.is_done(),
            "held in drain: the client reads nothing"
        );
        let (high, _) = sw.write_buffer_limits();
        assert!(
            max_seen.get() <= high + 16 * 1024,
            "buffer grew to {}",
            max_seen.get()
        );
        assert!(sw.write_buffer_size() > 0);
        // the client goes away without reading: the producer's drain fails
        drop((client_r, client_w));
        let (sent, e) = simul::wait_for(Duration::from_secs(5), producer)
            .await
            .expect("drain returned once the peer was gone")
            .unwrap();
        assert!(sent > 0);
        assert!(
            matches!(
                e.kind(),
                io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
            ),
            "{e:?}"
        );
    });
}

#[test]
fn a_peer_reset_mid_write_fails_drain_and_wait_closed() {
    simul::run(async {
        let server = start_server(
            |_r: StreamReader, w: StreamWriter| async move {
                let big = vec![1u8; 256 * 1024];
                loop {
                    w.write(&big);
                    if let Err(e) = w.drain().await {
                        assert!(w.is_closing());
                        assert!(w.wait_closed().await.is_err());
                        return Err::<(), _>(e);
                    }
                }
            },
            "127.0.0.1",
            0,
        )
        .await
        .unwrap();
        let c = simul::net::TcpStream::connect(("127.0.0.1", port(&server)))
            .await
            .unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        let mut c = c;
        c.read(&mut buf).await.unwrap(); // the server is writing
        c.set_linger(Some(Duration::ZERO)).unwrap();
        drop(c); // RST
        server.close();
        simul::wait_for(Duration::from_secs(5), server.wait_closed())
            .await
            .expect("the handler saw the reset and returned");
    });
}

#[test]
fn write_eof_half_closes_and_the_other_direction_keeps_working() {
    simul::run(async {
        let server = start_server(
            |r: StreamReader, w: StreamWriter| async move {
                let all = r.read_to_end().await?;
                w.write(format!("got {} bytes", all.len()).as_bytes());
                w.close();
                w.wait_closed().await?;
                Ok::<_, io::Error>(())
            },
            "127.0.0.1",
            0,
        )
        .await
        .unwrap();
        let (r, w) = open_connection("127.0.0.1", port(&server)).await.unwrap();
        w.write(&[7; 100_000]);
        w.write_eof();
        assert_eq!(r.read_to_end().await.unwrap(), b"got 100000 bytes");
    });
}

#[test]
fn close_wakes_a_pending_read_with_eof() {
    simul::run(async {
        let server = echo_server().await;
        let (r, w) = open_connection("127.0.0.1", port(&server)).await.unwrap();
        let reading = simul::spawn(async move { r.readline().await });
        simul::sleep(Duration::from_millis(5)).await;
        w.close();
        let got = simul::wait_for(Duration::from_secs(5), reading)
            .await
            .unwrap();
        assert_eq!(got.unwrap().unwrap(), b"");
        w.wait_closed().await.unwrap();
    });
}

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn what_is_written_is_what_is_read_across_many_connections() {
    simul::run(async {
        // The server echoes raw bytes with read(n) + write + drain.
        let server = start_server(
            |r: StreamReader, w: StreamWriter| async move {
                loop {
                    let data = r.read(4096).await?;
                    if data.is_empty() {
                        w.write_eof();
                        return Ok::<_, io::Error>(());
                    }
                    w.write(&data);
                    w.drain().await?;
                }
            },
            "127.0.0.1",
            0,
        )
        .await
        .unwrap();
        let port = port(&server);
        let clients: Vec<_> = (0..40u64)
            .map(|seed| {
                simul::spawn(async move {
                    let mut rng = XorShift(seed * 0x9E37_79B9 + 1);
                    let len = rng.below(200_000);
                    let data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                    let (r, w) = open_connection("127.0.0.1", port).await.unwrap();
                    let sender = {
                        let data = data.clone();
                        simul::spawn(async move {
                            let mut i = 0;
                            let mut rng = XorShift(seed + 7);
                            while i < data.len() {
                                let n = (1 + rng.below(20_000)).min(data.len() - i);
                                w.write(&data[i..i + n]);
                                i += n;
                                if rng.below(3) == 0 {
                                    w.drain().await.unwrap();
                                }
                            }
                            w.write_eof();
                            w.drain().await.unwrap();
                            w
                        })
                    };
                    let mut got = Vec::with_capacity(len);
                    loop {
                        let n = 1 + rng.below(10_000);
                        let chunk = match rng.below(3) {
                            0 => r.read(n).await.unwrap(),
                            1 => match r.readexactly(n).await {
                                Ok(c) => c,
                                Err(StreamError::IncompleteRead { partial, .. }) => partial,
                                Err(e) => panic!("{e:?}"),
                            },
                            _ => match r.readuntil([&[0u8][..], &[1, 2]]).await {
                                Ok(c) => c,
                                Err(StreamError::IncompleteRead { partial, .. }) => partial,
                                Err(StreamError::LimitOverrun { consumed, .. }) => {
                                    r.readexactly(consumed).await.unwrap()
                                }
                                Err(e) => panic!("{e:?}"),
                            },
                        };
                        if chunk.is_empty() && r.at_eof() {
                            break;
                        }
                        got.extend(chunk);
                    }
                    drop(sender.await.unwrap());
                    assert_eq!(got.len(), data.len(), "connection {seed}");
                    assert!(got == data, "connection {seed}: bytes differ");
                })
            })
            .collect();
        for c in clients {
            c.await.unwrap();
        }
    });
}

#[test]
fn writes_the_socket_accepts_go_straight_out_without_a_task_or_a_copy() {
    simul::run(async {
        let server = echo_server().await;
        let (r, w) = open_connection("127.0.0.1", port(&server)).await.unwrap();
        let tasks = simul::all_tasks().len();
        // (Injected short writes legitimately leave bytes for the flusher.)
        let exact = !simul::faults_enabled();
        for i in 0..50 {
            w.write(format!("{i}\n").as_bytes());
            if exact {
                assert_eq!(w.write_buffer_size(), 0, "nothing buffered");
            }
        }
        if exact {
            assert_eq!(simul::all_tasks().len(), tasks, "no flusher task spawned");
        }
        for i in 0..50 {
            assert_eq!(r.readline().await.unwrap(), format!("{i}\n").as_bytes());
        }
    });
}

#[test]
fn connecting_to_a_closed_port_is_a_clean_error() {
    simul::run(async {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let p = l.local_addr().unwrap().port();
        drop(l);
        let e = open_connection("127.0.0.1", p).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
    });
}
