//! A line echo server written with streams: the asyncio docs' "TCP echo server using
//! streams", one task per connection.
//!
//! ```text
//! cargo run --release --example stream_echo [PORT] [--read] [--loops N]   # default 8888
//! printf 'hello\nworld\n' | nc 127.0.0.1 8888
//! ```
//!
//! Each connection's handler reads a line with `readline()`, writes it back and awaits
//! `drain()` (which returns at once unless the client stops reading). With `--loops N` it
//! serves on N event loops (`simul::Loops`), each with its own `reuse_port` server on the
//! port. With `--read` the
//! handler echoes whatever arrives (`read(65536)`) instead of lines: that is the mode for
//! `../shared/bench/echo_cpu.sh`, whose load generator's messages carry no newline.
//! `bench/py/echo_lines.sh` runs the same benchmark with newline-terminated messages, for
//! the default line mode; `bench/py/stream_echo.py` is the asyncio (and uvloop) twin:
//!
//! ```text
//! bench/py/echo_lines.sh 100 64 5 simul=target/release/examples/stream_echo \
//!     asyncio=bench/py/stream_echo.py uvloop='bench/py/stream_echo.py --uvloop'
//! ```

use std::io::ErrorKind;

use simul::{StreamError, StreamReader, StreamWriter};

/// The asyncio docs' port.
const DEFAULT_PORT: u16 = 8888;

async fn echo_lines(reader: StreamReader, writer: StreamWriter) -> Result<(), StreamError> {
    loop {
        let line = reader.readline().await?;
        if line.is_empty() {
            return Ok(()); // EOF
        }
        writer.write(&line);
        writer.drain().await?;
    }
}

async fn echo_chunks(reader: StreamReader, writer: StreamWriter) -> Result<(), StreamError> {
    loop {
        let data = reader.read(65536).await?;
        if data.is_empty() {
            return Ok(());
        }
        writer.write(&data);
        writer.drain().await?;
    }
}

/// A client that hangs up without reading the last echo resets the connection: that is
/// how a connection ends, not a failure worth reporting.
fn quietly(r: Result<(), StreamError>) -> Result<(), StreamError> {
    match r {
        Err(StreamError::Io(e))
            if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) =>
        {
            Ok(())
        }
        r => r,
    }
}

fn usage() -> ! {
    eprintln!("usage: stream_echo [PORT] [--read] [--loops N]   (PORT defaults to {DEFAULT_PORT})");
    std::process::exit(2)
}

async fn serve(port: u16, chunks: bool, reuse_port: bool) {
    let builder = simul::Server::builder()
        .bind("127.0.0.1", port)
        .reuse_port(reuse_port);
    let server = if chunks {
        builder
            .start(|r, w| async { quietly(echo_chunks(r, w).await) })
            .await
    } else {
        builder
            .start(|r, w| async { quietly(echo_lines(r, w).await) })
            .await
    };
    let server = match server {
        Ok(s) => s,
        Err(e) => {
            eprintln!("stream_echo: cannot listen on 127.0.0.1:{port}: {e}");
            std::process::exit(1);
        }
    };
    let mode = if chunks {
        "chunks (read)"
    } else {
        "lines (readline)"
    };
    let on = simul::loops::current_index().map_or_else(String::new, |i| format!(" (loop {i})"));
    println!(
        "Serving on {} — echoing {mode}{on}",
        server.local_addrs()[0]
    );
    server.serve_forever().await;
}

fn main() {
    let (mut port, mut chunks, mut loops) = (DEFAULT_PORT, false, 1usize);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--read" => chunks = true,
            "--loops" => match args.next().and_then(|n| n.parse().ok()) {
                Some(n) if n >= 1 => loops = n,
                _ => usage(),
            },
            p => port = p.parse().unwrap_or_else(|_| usage()),
        }
    }
    if loops == 1 {
        return simul::run(serve(port, chunks, false));
    }
    if port == 0 {
        // Every loop binds the same port: pick a free one first.
        port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("stream_echo: no free port");
    }
    let set = simul::Loops::builder()
        .count(loops)
        .build()
        .unwrap_or_else(|e| {
            eprintln!("stream_echo: cannot start {loops} loops: {e}");
            std::process::exit(1)
        });
    set.run(move |_| serve(port, chunks, true));
}
