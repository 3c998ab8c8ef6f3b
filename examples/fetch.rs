//! An HTTP/1.0 GET with streams, printing the status line and the headers: the asyncio
//! docs' "Get HTTP headers" example.
//!
//! ```text
//! cargo run --release --example fetch                         # fetches from a local server it starts
//! cargo run --release --example fetch http://127.0.0.1:8000/  # a URL (plain http only)
//! cargo run --release --example fetch HOST [PORT [PATH]]      # PORT 80, PATH / by default
//! ```
//!
//! Without arguments the example starts a tiny HTTP server task on 127.0.0.1 (a free port)
//! and fetches from it, so it runs offline. The client writes the request, reads the
//! status line and headers with `readline()` until the empty line, then the body with
//! `read_to_end()`.

use std::time::Instant;

use simul::{StreamError, StreamReader, StreamWriter};

/// A tiny HTTP/1.0 server handler: reads the request head, answers with a small page.
async fn serve_one(reader: StreamReader, writer: StreamWriter) -> Result<(), StreamError> {
    let request_line = reader.readline().await?;
    loop {
        let line = reader.readline().await?;
        if line == b"\r\n" || line == b"\n" || line.is_empty() {
            break;
        }
    }
    let path = String::from_utf8_lossy(&request_line)
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_string();
    let body = format!("<html><body><h1>simul</h1><p>you asked for {path}</p></body></html>\n");
    let head = format!(
        "HTTP/1.0 200 OK\r\nServer: simul-fetch-demo\r\nContent-Type: text/html; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    writer.write(head.as_bytes());
    writer.write(body.as_bytes());
    writer.close();
    writer.wait_closed().await?;
    Ok(())
}

async fn fetch(host: &str, port: u16, path: &str) -> Result<(), StreamError> {
    let t0 = Instant::now();
    let (reader, writer) = simul::open_connection(host, port).await?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: simul-fetch\r\n\r\n");
    writer.write(request.as_bytes());
    writer.drain().await?;
    let mut first = true;
    loop {
        let line = reader.readline().await?;
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end();
        if text.is_empty() {
            break; // end of the headers (or of the stream)
        }
        if first {
            println!("status: {text}");
            first = false;
        } else {
            println!("HTTP header> {text}");
        }
    }
    let body = reader.read_to_end().await?;
    println!("body: {} bytes", body.len());
    println!("fetched http://{host}:{port}{path} in {:.2?}", t0.elapsed());
    writer.close();
    Ok(())
}

fn parse_args() -> Option<(String, u16, String)> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let first = args.first()?;
    if let Some(rest) = first.strip_prefix("http://") {
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (h, p.parse().ok()?),
            None => (authority, 80),
        };
        return Some((host.to_string(), port, path.to_string()));
    }
    let port = match args.get(1) {
        Some(p) => p.parse().ok()?,
        None => 80,
    };
    let path = args.get(2).cloned().unwrap_or_else(|| "/".into());
    Some((first.clone(), port, path))
}

fn main() {
    let target = if std::env::args().len() > 1 {
        match parse_args() {
            Some(t) => Some(t),
            None => {
                eprintln!("usage: fetch [http://HOST[:PORT]/PATH | HOST [PORT [PATH]]]");
                std::process::exit(2);
            }
        }
    } else {
        None
    };
    let result = simul::run(async move {
        match target {
            Some((host, port, path)) => fetch(&host, port, &path).await,
            None => {
                let server = simul::start_server(serve_one, "127.0.0.1", 0).await?;
                let port = server.local_addrs()[0].port().unwrap_or(0);
                println!("no URL given: started a local HTTP server on 127.0.0.1:{port}");
                let r = fetch("127.0.0.1", port, "/index.html").await;
                server.close();
                server.wait_closed().await;
                r
            }
        }
    });
    if let Err(e) = result {
        eprintln!("fetch failed: {e}");
        std::process::exit(1);
    }
}
