//! `StreamReader::read_to_end` against a `read(65536)` loop on the same reader type, and
//! tokio's `read_to_end` as the peer, on one large loopback TCP transfer each (a sender
//! thread writes as fast as it can). Also reports the longest single poll of the reading
//! task (what the rest of the loop waits for at worst).
//!
//! usage: `read_to_end [MIB]` (default 256).

use std::io::Write;
use std::time::{Duration, Instant};

fn sender(total: usize) -> std::net::SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let chunk = vec![0x5au8; 1 << 20];
        let mut left = total;
        while left > 0 {
            let n = left.min(chunk.len());
            s.write_all(&chunk[..n]).unwrap();
            left -= n;
        }
    });
    addr
}

/// Wraps a future, recording the longest poll.
struct Timed<F> {
    inner: std::pin::Pin<Box<F>>,
    longest: Duration,
}

impl<F: std::future::Future> std::future::Future for Timed<F> {
    type Output = (F::Output, Duration);
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let t = Instant::now();
        let r = self.inner.as_mut().poll(cx);
        self.longest = self.longest.max(t.elapsed());
        r.map(|v| (v, self.longest))
    }
}

fn timed<F: std::future::Future>(f: F) -> Timed<F> {
    Timed {
        inner: Box::pin(f),
        longest: Duration::ZERO,
    }
}

fn simul_run(total: usize, to_end: bool) -> (Duration, Duration) {
    simul::run(async move {
        let addr = sender(total);
        let (r, _w) = simul::open_connection("127.0.0.1", addr.port())
            .await
            .unwrap();
        let t0 = Instant::now();
        let (n, longest) = timed(async {
            if to_end {
                r.read_to_end().await.unwrap().len()
            } else {
                let mut out = Vec::new();
                loop {
                    let b = r.read(65536).await.unwrap();
                    if b.is_empty() {
                        break out.len();
                    }
                    out.extend_from_slice(&b);
                }
            }
        })
        .await;
        assert_eq!(n, total);
        (t0.elapsed(), longest)
    })
}

fn tokio_run(total: usize) -> (Duration, Duration) {
    use tokio::io::AsyncReadExt;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    rt.block_on(async move {
        let addr = sender(total);
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let t0 = Instant::now();
        let (n, longest) = timed(async {
            let mut out = Vec::new();
            s.read_to_end(&mut out).await.unwrap()
        })
        .await;
        assert_eq!(n, total);
        (t0.elapsed(), longest)
    })
}

fn main() {
    let mib: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("MIB: a number"))
        .unwrap_or(256);
    let total = mib << 20;
    let runs = 5;
    let median = |f: &dyn Fn() -> (Duration, Duration)| {
        let mut v: Vec<_> = (0..runs).map(|_| f()).collect();
        v.sort();
        v[runs / 2]
    };
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let to_end = median(&|| simul_run(total, true));
    let loop64 = median(&|| simul_run(total, false));
    let tokio = median(&|| tokio_run(total));
    println!("{mib} MiB over loopback TCP, median of {runs} runs (time, longest poll)");
    for (name, (t, p)) in [
        ("simul read_to_end", to_end),
        ("simul read(65536) loop", loop64),
        ("tokio read_to_end", tokio),
    ] {
        println!(
            "{name:<24} {:>8.1} ms  {:>7.2} ms  ratio to tokio {:.2}",
            ms(t),
            ms(p),
            t.as_secs_f64() / tokio.0.as_secs_f64()
        );
    }
    println!(
        "read_to_end / read(65536) loop: {:.2}",
        to_end.0.as_secs_f64() / loop64.0.as_secs_f64()
    );
}
