//! A TCP echo server on tokio's current_thread runtime, for `shared/bench/echo_cpu.sh`.
//!
//! usage: `tokio_echo [PORT]` (default 9000), binds 127.0.0.1. One task per connection
//! with one 64 KiB buffer reused for its whole life: read, then write it all back.
//! TCP_NODELAY is set on every connection, as in `limit_epoll.c`.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn main() {
    let port = match std::env::args().nth(1).map(|p| p.parse::<u16>()) {
        None => 9000,
        Some(Ok(p)) => p,
        Some(Err(e)) => {
            eprintln!("tokio_echo: bad port: {e}\nusage: tokio_echo [PORT]");
            std::process::exit(2);
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("tokio runtime");
    if let Err(e) = rt.block_on(serve(port)) {
        eprintln!("tokio_echo: {e}");
        std::process::exit(1);
    }
}

async fn serve(port: u16) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("tokio_echo: listening on {}", listener.local_addr()?);
    loop {
        let mut stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                eprintln!("tokio_echo: accept: {e}");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
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
        });
    }
}
