//! Two connections at once: start two local servers with `start_server`, connect to both
//! concurrently with `open_connection`, sleep a random time on each connection, then
//! close them.
//!
//! ```text
//! cargo run --release --example two_connections
//! ```
//!
//! Like the asyncio tutorial's `gather` of two clients, the total time is the longer of
//! the two sleeps, not their sum: both connections wait at the same time.

use std::cell::Cell;
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, Instant};

use simul::{StreamError, StreamReader, StreamWriter};

thread_local! {
    static START: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Prints with the time since start, like `print(f"[{time.monotonic() - t0:.3f}] ...")`.
fn log(msg: impl std::fmt::Display) {
    let t0 = START.with(|s| *s.get().get_or_insert_with(Instant::now));
    START.with(|s| s.set(Some(t0)));
    println!("[{:6.3}s] {msg}", t0.elapsed().as_secs_f64());
}

/// A random delay between 0.5 and 1.5 s (std's randomly keyed hasher as the dice).
fn random_delay() -> Duration {
    let dice = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    Duration::from_millis(500 + dice % 1000)
}

/// The server's handler: report the connection, echo until the client hangs up.
async fn handle(
    name: &'static str,
    reader: StreamReader,
    writer: StreamWriter,
) -> Result<(), StreamError> {
    let peer = writer.peer_addr()?;
    log(format_args!("{name}: connection from {peer}"));
    loop {
        let data = reader.read(256).await?;
        if data.is_empty() {
            break;
        }
        writer.write(&data);
        writer.drain().await?;
    }
    log(format_args!("{name}: {peer} closed the connection"));
    Ok(())
}

/// The client: connect, say hello, sleep, close.
async fn client(name: &'static str, port: u16) -> Result<(), StreamError> {
    log(format_args!("{name}: connecting to 127.0.0.1:{port}"));
    let (reader, writer) = simul::open_connection("127.0.0.1", port).await?;
    log(format_args!(
        "{name}: connected from {}",
        writer.local_addr()?
    ));
    writer.write(format!("hello from {name}").as_bytes());
    writer.drain().await?;
    let data = reader.read(64).await?;
    log(format_args!(
        "{name}: received {:?}",
        String::from_utf8_lossy(&data)
    ));
    let delay = random_delay();
    log(format_args!("{name}: sleeping {:.3}s", delay.as_secs_f64()));
    simul::sleep(delay).await;
    writer.close();
    writer.wait_closed().await?;
    log(format_args!("{name}: closed"));
    Ok(())
}

#[simul::main]
async fn main() -> Result<(), StreamError> {
    log("started");
    let a = simul::start_server(|r, w| handle("server A", r, w), "127.0.0.1", 0).await?;
    let b = simul::start_server(|r, w| handle("server B", r, w), "127.0.0.1", 0).await?;
    let pa = a.local_addrs()[0].port().unwrap_or(0);
    let pb = b.local_addrs()[0].port().unwrap_or(0);
    log(format_args!(
        "server A listening on port {pa}, server B on port {pb}"
    ));

    let t0 = Instant::now();
    let (r1, r2) = simul::gather!(client("client 1", pa), client("client 2", pb)).await;
    r1?;
    r2?;
    // Let the servers notice the hang-ups, then close them as `async with server` does.
    for server in [a, b] {
        server.close();
        server.wait_closed().await;
    }
    log(format_args!(
        "both connections done in {:.3}s (the longer sleep, not the sum)",
        t0.elapsed().as_secs_f64()
    ));
    Ok(())
}
