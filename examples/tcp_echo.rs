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
//! Every connection of a loop reads into that loop's one 64 KiB scratch buffer and writes
//! what it read straight back from it, as the bare epoll loop it is measured against does
//! with its one static buffer (and as uvloop's protocols read into one buffer per loop): a
//! buffer per connection would make the kernel copy each message into memory that 1,000
//! connections have pushed out of the cache (at 1,000 x 4 KiB, `bench/echo_perf.sh` put
//! the kernel's copies at 1.8 us of an 11.4 us round trip with a buffer per connection,
//! and 0.5 us of 9.6 us with the shared one). Only what the socket does not take at once
//! is copied out, into a buffer of that connection's own, and written before the next
//! read. The server is the subject of `../shared/bench/echo_cpu.sh`, which compares its
//! CPU per round trip with a bare epoll loop:
//!
//! ```text
//! ../shared/bench/echo_cpu.sh 100 64 3 simul=target/release/examples/tcp_echo
//! ```
//!
//! For the tutorial's echo server, written with `start_server` and streams, see the
//! `echo_server` example.

use std::cell::RefCell;
use std::io::ErrorKind;

use simul::net::{BindOptions, TcpListener, TcpStream};

/// The asyncio tutorial's port.
const DEFAULT_PORT: u16 = 8888;

thread_local! {
    /// The loop's scratch buffer (one loop per thread): borrowed only between two awaits.
    static SCRATCH: RefCell<[u8; 64 * 1024]> = const { RefCell::new([0; 64 * 1024]) };
}

/// What one read-and-echo step left to do.
enum Step {
    /// Everything read was sent (or nothing was there to read).
    Sent,
    /// The socket took only part of the message: the rest, to send before reading again.
    Unsent(Vec<u8>),
    /// The peer closed, or the socket failed.
    Closed,
}

/// Reads what is there into `buf` and writes it back at once, without waiting.
fn echo_step(stream: &TcpStream, buf: &mut [u8]) -> Step {
    let n = match stream.try_read(buf) {
        Ok(0) => return Step::Closed,
        Ok(n) => n,
        Err(e) if e.kind() == ErrorKind::WouldBlock => return Step::Sent,
        Err(_) => return Step::Closed,
    };
    match stream.try_write(&buf[..n]) {
        Ok(w) if w == n => Step::Sent,
        Ok(w) => Step::Unsent(buf[w..n].to_vec()),
        Err(e) if e.kind() == ErrorKind::WouldBlock => Step::Unsent(buf[..n].to_vec()),
        Err(_) => Step::Closed,
    }
}

async fn handle(mut stream: TcpStream) {
    // Clients send small request/response messages: do not let Nagle hold them back.
    let _ = stream.set_nodelay(true);
    loop {
        if stream.readable().await.is_err() {
            return;
        }
        match SCRATCH.with_borrow_mut(|buf| echo_step(&stream, buf)) {
            Step::Sent => {}
            Step::Unsent(rest) => {
                if stream.write_all(&rest).await.is_err() {
                    return;
                }
            }
            Step::Closed => return,
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

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    /// More than the sockets' buffers hold, sent before the client reads a byte: the
    /// server's writes stop taking whole messages, so the rest of each goes out from the
    /// connection's own buffer, and every byte must come back once, in order.
    #[test]
    fn echoes_every_byte_in_order_when_the_socket_takes_part_of_a_message() {
        const LEN: usize = 32 << 20;
        let (tx, rx) = std::sync::mpsc::channel();
        let server = std::thread::spawn(move || {
            simul::run(async move {
                let listener = super::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                let (stream, _) = listener.accept().await.unwrap();
                super::handle(stream).await;
            })
        });
        let addr = rx.recv().unwrap();
        let mut client = std::net::TcpStream::connect(addr).unwrap();
        let sent: Vec<u8> = (0..LEN).map(|i| (i % 251) as u8).collect();
        let mut writer = client.try_clone().unwrap();
        let data = sent.clone();
        let writing = std::thread::spawn(move || {
            writer.write_all(&data).unwrap();
            writer.shutdown(std::net::Shutdown::Write).unwrap();
        });
        // Let the server fill both directions' buffers before anything is read.
        std::thread::sleep(std::time::Duration::from_millis(200));
        let mut got = Vec::with_capacity(LEN);
        client.read_to_end(&mut got).unwrap();
        writing.join().unwrap();
        server.join().unwrap();
        assert_eq!(got.len(), LEN, "bytes echoed");
        assert!(got == sent, "the echo differs from what was sent");
    }
}
