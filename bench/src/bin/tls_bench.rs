//! TLS rows: handshakes per second and bulk throughput, simul + futures-rustls against
//! tokio current_thread + tokio-rustls, both with rustls' *ring* provider, one thread
//! each, client and server in the same runtime over loopback TCP. Rates are per second of
//! the thread's own CPU time (client and server together), not of wall-clock time. The
//! bulk row's clock stops when the server has read (and decrypted) every byte and its
//! one-byte acknowledgement reached the client: stopping at the client's last write would
//! leave whatever the socket buffers still hold undecrypted, and credit a runtime for
//! running the reader less often.
//!
//! usage: `tls_bench [HANDSHAKES [MIB]]` (default 2000 handshakes, 512 MiB); with
//! `TLS_ONLY=simul` or `TLS_ONLY=tokio`, that side's rows alone, once (for strace/callgrind).

use std::sync::Arc;
use std::time::{Duration, Instant};

use simul::tls::rustls::{self, pki_types};

struct Certs {
    chain: Vec<pki_types::CertificateDer<'static>>,
    key: pki_types::PrivateKeyDer<'static>,
    roots: rustls::RootCertStore,
}

fn certs() -> Certs {
    let c = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(c.cert.der().clone()).unwrap();
    Certs {
        chain: vec![c.cert.der().clone()],
        key: pki_types::PrivateKeyDer::Pkcs8(c.key_pair.serialize_der().into()),
        roots,
    }
}

const CHUNK: usize = 64 * 1024;

/// CPU time this thread has run, from the scheduler's own accounting (ns precision), so
/// the rows hold up on a loaded machine where wall-clock rates do not.
fn thread_cpu() -> Duration {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let ns = s
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Duration::from_nanos(ns)
}

/// A rate measured both ways: per wall-clock second and per CPU-second of the thread.
#[derive(Clone, Copy)]
struct Rate {
    wall: f64,
    cpu: f64,
}

/// Starts measuring; `Mark::rate(work)` ends it.
struct Mark(Instant, Duration);

impl Mark {
    fn now() -> Mark {
        Mark(Instant::now(), thread_cpu())
    }
    fn rate(&self, work: f64) -> Rate {
        Rate {
            wall: work / self.0.elapsed().as_secs_f64(),
            cpu: work / (thread_cpu() - self.1).as_secs_f64(),
        }
    }
}

fn simul_rows(c: &Certs, handshakes: usize, mib: usize) -> (Rate, Rate) {
    let bulk = mib * 1024 * 1024;
    use futures_util::{AsyncReadExt, AsyncWriteExt};
    let acceptor = simul::tls::TlsAcceptor::from_der(c.chain.clone(), c.key.clone_key()).unwrap();
    let connector = simul::tls::TlsConnector::with_roots(c.roots.clone());
    simul::run(async move {
        let listener = simul::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(simul::spawn(async move {
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                let acceptor = acceptor.clone();
                drop(simul::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut buf = vec![0u8; CHUNK];
                    let mut total = 0;
                    while let Ok(n) = tls.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        total += n;
                        if total == bulk {
                            // Everything arrived (and was decrypted): the client's clock
                            // stops when it reads this.
                            let _ = tls.write_all(b"!").await;
                            let _ = tls.flush().await;
                        }
                    }
                }));
            }
        }));
        let t0 = Mark::now();
        for _ in 0..handshakes {
            let tcp = simul::net::TcpStream::connect(addr).await.unwrap();
            let mut tls = connector.connect("localhost", tcp).await.unwrap();
            tls.close().await.unwrap();
        }
        let hs = t0.rate(handshakes as f64);
        let tcp = simul::net::TcpStream::connect(addr).await.unwrap();
        let mut tls = connector.connect("localhost", tcp).await.unwrap();
        let buf = vec![7u8; CHUNK];
        let t0 = Mark::now();
        for _ in 0..bulk / CHUNK {
            tls.write_all(&buf).await.unwrap();
        }
        tls.flush().await.unwrap();
        let mut ack = [0u8; 1];
        tls.read_exact(&mut ack).await.unwrap();
        tls.close().await.unwrap();
        let mbs = t0.rate(mib as f64);
        (hs, mbs)
    })
}

fn tokio_rows(c: &Certs, handshakes: usize, mib: usize) -> (Rate, Rate) {
    let bulk = mib * 1024 * 1024;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(c.chain.clone(), c.key.clone_key())
        .unwrap();
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(c.roots.clone())
        .with_no_client_auth();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut buf = vec![0u8; CHUNK];
                    let mut total = 0;
                    while let Ok(n) = tls.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        total += n;
                        if total == bulk {
                            // Everything arrived (and was decrypted): the client's clock
                            // stops when it reads this.
                            let _ = tls.write_all(b"!").await;
                            let _ = tls.flush().await;
                        }
                    }
                });
            }
        });
        let name = pki_types::ServerName::try_from("localhost").unwrap();
        let t0 = Mark::now();
        for _ in 0..handshakes {
            let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            let mut tls = connector.connect(name.clone(), tcp).await.unwrap();
            tls.shutdown().await.unwrap();
        }
        let hs = t0.rate(handshakes as f64);
        let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut tls = connector.connect(name, tcp).await.unwrap();
        let buf = vec![7u8; CHUNK];
        let t0 = Mark::now();
        for _ in 0..bulk / CHUNK {
            tls.write_all(&buf).await.unwrap();
        }
        tls.flush().await.unwrap();
        let mut ack = [0u8; 1];
        tls.read_exact(&mut ack).await.unwrap();
        tls.shutdown().await.unwrap();
        let mbs = t0.rate(mib as f64);
        (hs, mbs)
    })
}

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .map(|a| a.parse::<usize>().expect("a number"));
    let handshakes = args.next().unwrap_or(2000);
    let mib = args.next().unwrap_or(512);
    let c = certs();
    // `TLS_ONLY=simul` or `TLS_ONLY=tokio`: that side's rows only, once, no warm-up and no
    // table (for strace and callgrind counts, taken as differences of two sizes).
    match std::env::var("TLS_ONLY").as_deref() {
        Ok("simul") => {
            simul_rows(&c, handshakes, mib);
            return;
        }
        Ok("tokio") => {
            tokio_rows(&c, handshakes, mib);
            return;
        }
        _ => {}
    }
    // Warm up both (page faults, first-use costs), then measure alternately.
    simul_rows(&c, 50, 16);
    tokio_rows(&c, 50, 16);
    let (s_hs, s_mb) = simul_rows(&c, handshakes, mib);
    let (t_hs, t_mb) = tokio_rows(&c, handshakes, mib);
    println!(
        "{:<24} {:>10} {:>10} {:>6}   {:>10} {:>10} {:>6}",
        "TLS row", "simul/s", "tokio/s", "ratio", "simul/cpu-s", "tokio/cpu-s", "ratio"
    );
    for (name, a, b) in [("handshakes", s_hs, t_hs), ("bulk MiB", s_mb, t_mb)] {
        println!(
            "{:<24} {:>10.0} {:>10.0} {:>6.2}   {:>10.0} {:>10.0} {:>6.2}",
            name,
            a.wall,
            b.wall,
            a.wall / b.wall,
            a.cpu,
            b.cpu,
            a.cpu / b.cpu
        );
    }
}
