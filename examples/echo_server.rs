//! A TCP echo server, one task per connection: the asyncio tutorials' echo server.
//!
//! ```text
//! cargo run --release --example echo_server [PORT]     # default port 8888, on 127.0.0.1
//! ```
//!
//! Each connection task owns one 64 KiB buffer for its whole life and writes what it
//! reads straight back: no allocation per read. The server is the subject of
//! `../shared/bench/echo_cpu.sh`, which compares its CPU per round trip with a bare epoll
//! loop.

use simul::net::{TcpListener, TcpStream};

/// The asyncio tutorial's port.
const DEFAULT_PORT: u16 = 8888;

async fn handle(mut stream: TcpStream) {
    // Clients send small request/response messages: do not let Nagle hold them back.
    let _ = stream.set_nodelay(true);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if stream.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

fn main() {
    let port = match std::env::args().nth(1) {
        None => DEFAULT_PORT,
        Some(p) => match p.parse::<u16>() {
            Ok(p) => p,
            Err(_) => {
                eprintln!("usage: echo_server [PORT]   (PORT is 0-65535, default {DEFAULT_PORT})");
                std::process::exit(2);
            }
        },
    };
    simul::run(async move {
        let listener = match TcpListener::bind(("127.0.0.1", port)).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("echo_server: cannot listen on 127.0.0.1:{port}: {e}");
                std::process::exit(1);
            }
        };
        println!("Serving on {}", listener.local_addr().unwrap());
        loop {
            match listener.accept().await {
                Ok((stream, _peer)) => drop(simul::spawn(handle(stream))),
                Err(e) => eprintln!("echo_server: accept failed: {e}"),
            }
        }
    });
}
