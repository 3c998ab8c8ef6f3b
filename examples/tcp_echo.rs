//! A TCP echo server on the low-level API (`net::TcpListener`, `net::TcpStream`), one
//! task per connection: the benchmark target.
//!
//! ```text
//! cargo run --release --example tcp_echo [PORT] [--loops N [--handoff]]
//! ```
//!
//! The port defaults to 8888, on 127.0.0.1. With `--loops N` the server runs on N event
//! loops (one thread each, `simul::Loops`): every loop binds its own listener on the port
//! with `SO_REUSEPORT` and the kernel spreads connections over them; with `--handoff`,
//! loop 0 alone accepts and hands each connection to the least-loaded loop
//! (`simul::loops::serve_handoff`).
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

use simul::net::{BindOptions, TcpListener, TcpStream};

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

struct Args {
    port: u16,
    loops: usize,
    handoff: bool,
}

fn usage() -> ! {
    eprintln!(
        "usage: tcp_echo [PORT] [--loops N [--handoff]]   (PORT is 0-65535, default {DEFAULT_PORT})"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut args = Args {
        port: DEFAULT_PORT,
        loops: 1,
        handoff: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--loops" => match it.next().and_then(|n| n.parse().ok()) {
                Some(n) if n >= 1 => args.loops = n,
                _ => usage(),
            },
            "--handoff" => args.handoff = true,
            p => args.port = p.parse().unwrap_or_else(|_| usage()),
        }
    }
    args
}

/// Every connection of `listener`, each served by its own task on this loop.
async fn serve(listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((stream, _peer)) => drop(simul::spawn(handle(stream))),
            Err(e) => eprintln!("tcp_echo: accept failed: {e}"),
        }
    }
}

fn bind_failed(port: u16, e: std::io::Error) -> ! {
    eprintln!("tcp_echo: cannot listen on 127.0.0.1:{port}: {e}");
    std::process::exit(1)
}

/// The multi-loop server: a reuse-port listener per loop, or one acceptor handing off.
fn run_loops(args: Args) {
    let mut port = args.port;
    if port == 0 {
        // Every loop must bind the same port: pick a free one first.
        port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or_else(|e| bind_failed(0, e));
    }
    let loops = simul::Loops::builder()
        .count(args.loops)
        .build()
        .unwrap_or_else(|e| {
            eprintln!("tcp_echo: cannot start {} loops: {e}", args.loops);
            std::process::exit(1)
        });
    let handoff = args.handoff;
    println!(
        "Serving on 127.0.0.1:{port} with {} loops ({})",
        args.loops,
        if handoff {
            "loop 0 accepts and hands connections off"
        } else {
            "a SO_REUSEPORT listener per loop"
        }
    );
    loops.run(move |index| async move {
        if handoff {
            if index == 0 {
                let l = TcpListener::bind(("127.0.0.1", port))
                    .await
                    .unwrap_or_else(|e| bind_failed(port, e));
                if let Err(e) = simul::loops::serve_handoff(l, handle).await {
                    eprintln!("tcp_echo: accept failed: {e}");
                }
            } else {
                std::future::pending::<()>().await; // serves what loop 0 hands over
            }
        } else {
            let opts = BindOptions::new().reuse_port(true);
            let l = TcpListener::bind_with(("127.0.0.1", port), opts)
                .await
                .unwrap_or_else(|e| bind_failed(port, e));
            serve(l).await;
        }
    });
}

fn main() {
    let args = parse_args();
    if args.loops > 1 || args.handoff {
        return run_loops(args);
    }
    let port = args.port;
    simul::run(async move {
        let listener = match TcpListener::bind(("127.0.0.1", port)).await {
            Ok(l) => l,
            Err(e) => bind_failed(port, e),
        };
        println!("Serving on {}", listener.local_addr().unwrap());
        serve(listener).await;
    });
}
