//! The asyncio tutorial's TCP echo server, written with `start_server` and streams.
//!
//! ```text
//! cargo run --release --example echo_server [PORT]     # default port 8888, on 127.0.0.1
//! echo hello | nc -q1 127.0.0.1 8888
//! ```
//!
//! `start_server` runs `handle_echo(reader, writer)` as its own task for every
//! connection, as asyncio does. The handler echoes what arrives until the client hangs
//! up, printing each message with the peer's address (`get_extra_info("peername")` is
//! `writer.peer_addr()`). The low-level version on `net::TcpStream`, which the benchmarks
//! drive, is the `tcp_echo` example.

use simul::{StreamError, StreamReader, StreamWriter};

/// The asyncio tutorial's port.
const DEFAULT_PORT: u16 = 8888;

async fn handle_echo(reader: StreamReader, writer: StreamWriter) -> Result<(), StreamError> {
    let addr = writer.peer_addr()?;
    loop {
        let data = reader.read(100).await?;
        if data.is_empty() {
            break; // the client closed its end
        }
        let message = String::from_utf8_lossy(&data);
        println!("Received {message:?} from {addr}");
        println!("Send: {message:?}");
        writer.write(&data);
        writer.drain().await?;
    }
    println!("Close the connection to {addr}");
    writer.close();
    writer.wait_closed().await?;
    Ok(())
}

#[simul::main]
async fn main() {
    let port = match std::env::args().nth(1).map(|p| p.parse::<u16>()) {
        None => DEFAULT_PORT,
        Some(Ok(p)) => p,
        Some(Err(_)) => {
            eprintln!("usage: echo_server [PORT]   (PORT is 0-65535, default {DEFAULT_PORT})");
            std::process::exit(2);
        }
    };
    let server = match simul::start_server(handle_echo, "127.0.0.1", port).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("echo_server: cannot listen on 127.0.0.1:{port}: {e}");
            std::process::exit(1);
        }
    };
    let addrs: Vec<String> = server.local_addrs().iter().map(|a| a.to_string()).collect();
    println!("Serving on {}", addrs.join(", "));
    server.serve_forever().await;
}
