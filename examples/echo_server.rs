//! The asyncio tutorial's TCP echo server, written with `start_server` and streams.
//!
//! ```text
//! cargo run --release --example echo_server [PORT] [--loops N]  # default 8888, on 127.0.0.1
//! echo hello | nc -q1 127.0.0.1 8888
//! ```
//!
//! With `--loops N` the same server runs on N event loops, one thread each
//! (`simul::Loops`, what asyncio users get from N worker processes): every loop starts its
//! own server on the port with `reuse_port(true)`, and the kernel spreads the connections.
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

fn usage() -> ! {
    eprintln!("usage: echo_server [PORT] [--loops N]   (PORT is 0-65535, default {DEFAULT_PORT})");
    std::process::exit(2)
}

async fn serve(port: u16, reuse_port: bool, index: Option<usize>) {
    let server = simul::Server::builder()
        .bind("127.0.0.1", port)
        .reuse_port(reuse_port)
        .start(handle_echo)
        .await;
    let server = match server {
        Ok(server) => server,
        Err(e) => {
            eprintln!("echo_server: cannot listen on 127.0.0.1:{port}: {e}");
            std::process::exit(1);
        }
    };
    let addrs: Vec<String> = server.local_addrs().iter().map(|a| a.to_string()).collect();
    match index {
        Some(i) => println!("Serving on {} (loop {i})", addrs.join(", ")),
        None => println!("Serving on {}", addrs.join(", ")),
    }
    server.serve_forever().await;
}

fn main() {
    let (mut port, mut loops) = (DEFAULT_PORT, 1usize);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--loops" => match args.next().and_then(|n| n.parse().ok()) {
                Some(n) if n >= 1 => loops = n,
                _ => usage(),
            },
            p => port = p.parse().unwrap_or_else(|_| usage()),
        }
    }
    if loops == 1 {
        return simul::run(serve(port, false, None));
    }
    if port == 0 {
        // Every loop binds the same port: pick a free one first.
        port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("echo_server: no free port");
    }
    let set = simul::Loops::builder()
        .count(loops)
        .build()
        .unwrap_or_else(|e| {
            eprintln!("echo_server: cannot start {loops} loops: {e}");
            std::process::exit(1)
        });
    set.run(move |index| serve(port, true, Some(index)));
}
