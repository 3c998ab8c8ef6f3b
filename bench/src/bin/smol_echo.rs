//! A TCP echo server on smol's LocalExecutor (driven by `async_io::block_on`), for
//! `shared/bench/echo_cpu.sh`.
//!
//! usage: `smol_echo [PORT]` (default 9000), binds 127.0.0.1. One task per connection
//! with one 64 KiB buffer reused for its whole life: read, then write it all back.
//! TCP_NODELAY is set on every connection, as in `limit_epoll.c`.

use std::net::{TcpListener, TcpStream};

use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::{Async, LocalExecutor};

fn main() {
    let port = match std::env::args().nth(1).map(|p| p.parse::<u16>()) {
        None => 9000,
        Some(Ok(p)) => p,
        Some(Err(e)) => {
            eprintln!("smol_echo: bad port: {e}\nusage: smol_echo [PORT]");
            std::process::exit(2);
        }
    };
    let ex = LocalExecutor::new();
    if let Err(e) = smol::block_on(ex.run(serve(&ex, port))) {
        eprintln!("smol_echo: {e}");
        std::process::exit(1);
    }
}

async fn serve(ex: &LocalExecutor<'_>, port: u16) -> std::io::Result<()> {
    let listener = Async::<TcpListener>::bind(([127, 0, 0, 1], port))?;
    println!(
        "smol_echo: listening on {}",
        listener.get_ref().local_addr()?
    );
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                eprintln!("smol_echo: accept: {e}");
                continue;
            }
        };
        let _ = stream.get_ref().set_nodelay(true);
        ex.spawn(echo(stream)).detach();
    }
}

async fn echo(mut stream: Async<TcpStream>) {
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
