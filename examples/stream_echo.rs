//! A line echo server written with streams: the asyncio docs' "TCP echo server using
//! streams", one task per connection.
//!
//! ```text
//! cargo run --release --example stream_echo [PORT] [--read]   # default port 8888, on 127.0.0.1
//! printf 'hello\nworld\n' | nc 127.0.0.1 8888
//! ```
//!
//! Each connection's handler reads a line with `readline()`, writes it back and awaits
//! `drain()` (which returns at once unless the client stops reading). With `--read` the
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

fn main() {
    let mut port = DEFAULT_PORT;
    let mut chunks = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--read" => chunks = true,
            p => {
                match p.parse() {
                    Ok(p) => port = p,
                    Err(_) => {
                        eprintln!("usage: stream_echo [PORT] [--read]   (PORT defaults to {DEFAULT_PORT})");
                        std::process::exit(2);
                    }
                }
            }
        }
    }
    simul::run(async move {
        let server = if chunks {
            simul::start_server(
                |r, w| async { quietly(echo_chunks(r, w).await) },
                "127.0.0.1",
                port,
            )
            .await
        } else {
            simul::start_server(
                |r, w| async { quietly(echo_lines(r, w).await) },
                "127.0.0.1",
                port,
            )
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
        println!("Serving on {} — echoing {mode}", server.local_addrs()[0]);
        server.serve_forever().await;
    });
}
