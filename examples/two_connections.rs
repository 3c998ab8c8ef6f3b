//! Two connections at once: start two local TCP servers, connect to both concurrently,
//! sleep a random time on each connection, then close them.
//!
//! ```text
//! cargo run --release --example two_connections
//! ```
//!
//! Like the asyncio tutorial's `gather` of two clients, the total time is the longer of
//! the two sleeps, not their sum: both connections wait at the same time.

use std::cell::Cell;
use std::time::{Duration, Instant};

use simul::net::{TcpListener, TcpStream};

thread_local! {
    static START: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Prints with the time since start, like `print(f"[{time.monotonic() - t0:.3f}] ...")`.
fn log(msg: impl std::fmt::Display) {
    let t0 = START.with(|s| *s.get().get_or_insert_with(Instant::now));
    START.with(|s| s.set(Some(t0)));
    println!("[{:6.3}s] {msg}", t0.elapsed().as_secs_f64());
}

/// A small random delay between 0.5 and 1.5 s (xorshift seeded from the clock and pid).
fn random_delay(salt: u64) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
    let mut x =
        nanos ^ (u64::from(std::process::id()) << 32) ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    Duration::from_millis(500 + x % 1000)
}

/// A server that reports each connection and when its client hangs up.
async fn server(name: &'static str, listener: TcpListener) {
    loop {
        let Ok((mut conn, peer)) = listener.accept().await else {
            return;
        };
        log(format_args!("{name}: connection from {peer}"));
        drop(simul::spawn(async move {
            let mut buf = [0u8; 256];
            while let Ok(n @ 1..) = conn.read(&mut buf).await {
                let _ = conn.write_all(&buf[..n]).await;
            }
            log(format_args!("{name}: {peer} closed the connection"));
        }));
    }
}

/// The client: connect, say hello, sleep, close.
async fn client(name: &'static str, port: u16, salt: u64) -> std::io::Result<()> {
    log(format_args!("{name}: connecting to 127.0.0.1:{port}"));
    let mut conn = TcpStream::connect(("127.0.0.1", port)).await?;
    log(format_args!(
        "{name}: connected from {}",
        conn.local_addr()?
    ));
    conn.write_all(format!("hello from {name}").as_bytes())
        .await?;
    let mut buf = [0u8; 64];
    let n = conn.read(&mut buf).await?;
    log(format_args!(
        "{name}: received {:?}",
        String::from_utf8_lossy(&buf[..n])
    ));
    let delay = random_delay(salt);
    log(format_args!("{name}: sleeping {:.3}s", delay.as_secs_f64()));
    simul::sleep(delay).await;
    drop(conn);
    log(format_args!("{name}: closed"));
    Ok(())
}

fn main() {
    simul::run(async {
        log("started");
        let a = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind server A");
        let b = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind server B");
        let (pa, pb) = (
            a.local_addr().unwrap().port(),
            b.local_addr().unwrap().port(),
        );
        log(format_args!(
            "server A listening on port {pa}, server B on port {pb}"
        ));
        let _servers = (
            simul::spawn(server("server A", a)).cancel_on_drop(),
            simul::spawn(server("server B", b)).cancel_on_drop(),
        );
        let t0 = Instant::now();
        let c1 = simul::spawn(client("client 1", pa, 1));
        let c2 = simul::spawn(client("client 2", pb, 2));
        let (r1, r2) = (c1.await, c2.await);
        for r in [r1, r2] {
            match r {
                Ok(Ok(())) => {}
                Ok(Err(e)) => eprintln!("client failed: {e}"),
                Err(e) => eprintln!("client task failed: {e}"),
            }
        }
        // Let the servers notice the hang-ups before the loop closes.
        simul::sleep(Duration::from_millis(20)).await;
        log(format_args!(
            "both connections done in {:.3}s (the longer sleep, not the sum)",
            t0.elapsed().as_secs_f64()
        ));
    });
}
