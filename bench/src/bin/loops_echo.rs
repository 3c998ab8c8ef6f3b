//! An echo server on several threads, in the shapes the multi-loop benchmark compares:
//!
//! - `simul N`: `simul::Loops` with N loops, a `SO_REUSEPORT` listener on each;
//! - `simul-handoff N`: N loops, loop 0 accepts and hands connections off;
//! - `tokio-mt N`: tokio's `multi_thread` runtime with N workers, one listener;
//! - `tokio-rp N`: N tokio `current_thread` runtimes on N threads, a `SO_REUSEPORT`
//!   listener on each (hyper's TechEmpower shape).
//!
//! usage: `loops_echo PORT SHAPE N [ROUNDS]`, binds 127.0.0.1 (`loops_echo calibrate US`
//! prints the ROUNDS for about US µs of work per 64-byte request). Every shape runs the same
//! connection handler, as `examples/tcp_echo.rs` does: read into the thread's one 64 KiB
//! scratch buffer (as the bare epoll floor reads into its one static buffer), then `ROUNDS`
//! rounds of FNV-1a hashing over what was read (0 by default: a plain echo; the CPU-bound
//! request workload passes enough rounds for ~50 µs per 64-byte request), then write it
//! back at once; only what the socket does not take then is copied into a buffer of the
//! connection's own and written before the next read. Both runtimes read through their
//! own readiness rule for a short read (simul's `readable` and `try_read`, tokio's
//! `AsyncRead::poll_read`): one `recvfrom` per message, no `EAGAIN` read after it.
//! `TCP_NODELAY` on every connection, as in `limit_epoll.c`; every listener has a backlog of
//! 1024, as simul's `TcpListener::bind` gives (so 1,000 connects do not overflow one). For
//! `shared/bench/echo_cpu.sh` and `bench/loops_bench.sh`.

use std::cell::RefCell;
use std::hint::black_box;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::task::Poll;

/// FNV-1a over `buf`, `rounds` times: the request's CPU work.
fn work(buf: &[u8], rounds: u32) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for _ in 0..rounds {
        for &b in buf {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    black_box(h)
}

fn usage() -> ! {
    eprintln!("usage: loops_echo PORT simul|simul-handoff|tokio-mt|tokio-rp N [ROUNDS]");
    std::process::exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("calibrate") {
        // `loops_echo calibrate US`: the ROUNDS for about US µs per 64-byte request.
        let us: f64 = args.get(1).and_then(|u| u.parse().ok()).unwrap_or(50.0);
        let buf = [7u8; 64];
        let t0 = std::time::Instant::now();
        work(&buf, 10_000);
        let per_round = t0.elapsed().as_secs_f64() / 10_000.0;
        println!("{}", (us * 1e-6 / per_round).round().max(1.0) as u64);
        return;
    }
    if args.len() < 3 {
        usage();
    }
    let port: u16 = args[0].parse().unwrap_or_else(|_| usage());
    let n: usize = args[2]
        .parse()
        .ok()
        .filter(|&n| n >= 1)
        .unwrap_or_else(|| usage());
    let rounds: u32 = args
        .get(3)
        .map_or(0, |r| r.parse().unwrap_or_else(|_| usage()));
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    match args[1].as_str() {
        "simul" => simul_shape(addr, n, rounds, false),
        "simul-handoff" => simul_shape(addr, n, rounds, true),
        "tokio-mt" => tokio_mt(addr, n, rounds),
        "tokio-rp" => tokio_rp(addr, n, rounds),
        _ => usage(),
    }
}

thread_local! {
    /// The thread's scratch buffer (one loop or worker per thread): borrowed only within
    /// one poll.
    static SCRATCH: RefCell<[u8; 64 * 1024]> = const { RefCell::new([0; 64 * 1024]) };
}

/// What one read-work-write step left to do.
enum Step {
    /// Nothing read (a spurious wake-up), or everything read was answered.
    Sent,
    /// The socket took only part of the answer: the rest, to send before reading again.
    Unsent(Vec<u8>),
    /// The peer closed, or the socket failed.
    Closed,
}

/// After a read: the work over what was read (`buf`), then the answer, written at once.
fn answer(buf: &[u8], rounds: u32, write: impl FnOnce(&[u8]) -> std::io::Result<usize>) -> Step {
    work(buf, rounds);
    match write(buf) {
        Ok(w) if w == buf.len() => Step::Sent,
        Ok(w) => Step::Unsent(buf[w..].to_vec()),
        Err(e) if e.kind() == ErrorKind::WouldBlock => Step::Unsent(buf.to_vec()),
        Err(_) => Step::Closed,
    }
}

async fn simul_conn(mut s: simul::net::TcpStream, rounds: u32) {
    let _ = s.set_nodelay(true);
    loop {
        if s.readable().await.is_err() {
            return;
        }
        let step = SCRATCH.with_borrow_mut(|buf| match s.try_read(buf) {
            Ok(0) => Step::Closed,
            Ok(n) => answer(&buf[..n], rounds, |b| s.try_write(b)),
            Err(e) if e.kind() == ErrorKind::WouldBlock => Step::Sent,
            Err(_) => Step::Closed,
        });
        match step {
            Step::Sent => {}
            Step::Unsent(rest) => {
                if s.write_all(&rest).await.is_err() {
                    return;
                }
            }
            Step::Closed => return,
        }
    }
}

fn simul_shape(addr: SocketAddr, n: usize, rounds: u32, handoff: bool) {
    let loops = simul::Loops::builder()
        .count(n)
        .build()
        .expect("simul loops");
    loops.run(move |index| async move {
        if handoff {
            if index == 0 {
                let l = simul::net::TcpListener::bind(addr).await.expect("bind");
                simul::loops::serve_handoff(l, move |s| simul_conn(s, rounds))
                    .await
                    .expect("accept");
            } else {
                std::future::pending::<()>().await;
            }
        } else {
            let opts = simul::net::BindOptions::new().reuse_port(true);
            let l = simul::net::TcpListener::bind_with(addr, opts)
                .await
                .expect("bind");
            loop {
                if let Ok((s, _)) = l.accept().await {
                    drop(simul::spawn(simul_conn(s, rounds)));
                }
            }
        }
    });
}

async fn tokio_conn(mut s: tokio::net::TcpStream, rounds: u32) {
    use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};
    let _ = s.set_nodelay(true);
    loop {
        // `poll_read` (not `readable` + `try_read`, whose readiness stays set after a short
        // read and costs an `EAGAIN` read per message), the scratch borrowed within the poll.
        let step = std::future::poll_fn(|cx| {
            SCRATCH.with_borrow_mut(|buf| {
                let mut rb = ReadBuf::new(&mut buf[..]);
                match std::pin::Pin::new(&mut s).poll_read(cx, &mut rb) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(Err(_)) => Poll::Ready(Step::Closed),
                    Poll::Ready(Ok(())) if rb.filled().is_empty() => Poll::Ready(Step::Closed),
                    Poll::Ready(Ok(())) => {
                        let n = rb.filled().len();
                        Poll::Ready(answer(&buf[..n], rounds, |b| s.try_write(b)))
                    }
                }
            })
        })
        .await;
        match step {
            Step::Sent => {}
            Step::Unsent(rest) => {
                if s.write_all(&rest).await.is_err() {
                    return;
                }
            }
            Step::Closed => return,
        }
    }
}

async fn tokio_accept(l: tokio::net::TcpListener, rounds: u32) {
    loop {
        if let Ok((s, _)) = l.accept().await {
            tokio::spawn(tokio_conn(s, rounds));
        }
    }
}

fn tokio_mt(addr: SocketAddr, n: usize, rounds: u32) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(n)
        .enable_io()
        .build()
        .expect("tokio runtime");
    rt.block_on(async move {
        // The backlog of every other shape (`TcpListener::bind` would listen with 128, and
        // 1,000 connects would then overflow it and stall for seconds in SYN retries).
        let s = tokio::net::TcpSocket::new_v4().expect("socket");
        s.set_reuseaddr(true).expect("SO_REUSEADDR");
        s.bind(addr).expect("bind");
        let l = s.listen(1024).expect("listen");
        tokio_accept(l, rounds).await
    });
}

fn tokio_rp(addr: SocketAddr, n: usize, rounds: u32) {
    let threads: Vec<_> = (0..n)
        .map(|_| {
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_io()
                    .build()
                    .expect("tokio runtime");
                rt.block_on(async move {
                    let s = tokio::net::TcpSocket::new_v4().expect("socket");
                    s.set_reuseaddr(true).expect("SO_REUSEADDR");
                    s.set_reuseport(true).expect("SO_REUSEPORT");
                    s.bind(addr).expect("bind");
                    let l = s.listen(1024).expect("listen");
                    tokio_accept(l, rounds).await
                })
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
}
