//! A TCP echo server on the low-level API (`net::TcpListener`, `net::TcpStream`), one
//! task per connection: the benchmark target.
//!
//! ```text
//! cargo run --release --example tcp_echo [PORT]     # default port 8888, on 127.0.0.1
//! ```
//!
//! Each connection task owns one 64 KiB buffer for its whole life and writes what it
//! reads straight back: no allocation per read, no stream buffering. The server is the
//! subject of `../shared/bench/echo_cpu.sh`, which compares its CPU per round trip with a
//! bare epoll loop:
//!
//! ```text
//! ../shared/bench/echo_cpu.sh 100 64 3 simul=target/release/examples/tcp_echo
//! ```
//!
//! For the tutorial's echo server, written with `start_server` and streams, see the
//! `echo_server` example.

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
                eprintln!("usage: tcp_echo [PORT]   (PORT is 0-65535, default {DEFAULT_PORT})");
                std::process::exit(2);
            }
        },
    };
    simul::run(async move {
        let listener = match TcpListener::bind(("127.0.0.1", port)).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("tcp_echo: cannot listen on 127.0.0.1:{port}: {e}");
                std::process::exit(1);
            }
        };
        println!("Serving on {}", listener.local_addr().unwrap());
        loop {
            match listener.accept().await {
                Ok((stream, _peer)) => drop(simul::spawn(handle(stream))),
                Err(e) => eprintln!("tcp_echo: accept failed: {e}"),
            }
        }
    });
}
