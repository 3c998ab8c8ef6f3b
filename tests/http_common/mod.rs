//! Helpers for the HTTP and TLS tests: a server on its own thread, client binaries.
#![allow(dead_code)] // each test binary uses a different subset

#[path = "../../examples/common/app.rs"]
pub mod app;
#[path = "../../examples/common/certs.rs"]
pub mod certs;

use std::future::IntoFuture;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::mpsc;
use std::time::Duration;

/// A server running the examples' axum app on its own thread and loop.
pub struct TestServer {
    pub port: u16,
    /// The test CA (PEM file) when the server speaks TLS.
    pub ca_file: Option<PathBuf>,
    pub pki: Option<certs::TestPki>,
    pub handle: simul::LoopHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// How the test server is set up.
#[derive(Clone, Copy, Default)]
pub struct Options {
    pub tls: bool,
    pub header_read_timeout: Option<Duration>,
    pub handshake_timeout: Option<Duration>,
}

impl TestServer {
    pub fn start(opts: Options) -> TestServer {
        let pki = opts.tls.then(certs::TestPki::new);
        let ca_file = pki.as_ref().map(|p| {
            let path = std::env::temp_dir().join(format!(
                "simul-test-ca-{}-{:?}.pem",
                std::process::id(),
                std::thread::current().id()
            ));
            std::fs::write(&path, &p.ca_pem).unwrap();
            path
        });
        let acceptor = pki.as_ref().map(|p| {
            let a = p.acceptor();
            match opts.handshake_timeout {
                Some(d) => a.handshake_timeout(d),
                None => a,
            }
        });
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            simul::run(async move {
                let listener = simul::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send((
                    listener.local_addr().unwrap().port(),
                    simul::LoopHandle::current(),
                ))
                .unwrap();
                let mut s =
                    simul::http::serve(listener, simul::http::TowerToHyper::new(app::router()))
                        .header_read_timeout(Some(
                            opts.header_read_timeout.unwrap_or(Duration::from_secs(30)),
                        ))
                        .max_buf_size(64 * 1024);
                if let Some(a) = acceptor {
                    s = s.tls(a);
                }
                s.into_future().await.unwrap();
            })
        });
        let (port, handle) = rx.recv().expect("the server thread started");
        TestServer {
            port,
            ca_file,
            pki,
            handle,
            thread: Some(thread),
        }
    }

    pub fn url(&self, path: &str) -> String {
        match self.ca_file {
            Some(_) => format!("https://localhost:{}{path}", self.port),
            None => format!("http://127.0.0.1:{}{path}", self.port),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // The server thread is left running (detached): the test process ends it.
        drop(self.thread.take());
        if let Some(f) = &self.ca_file {
            let _ = std::fs::remove_file(f);
        }
    }
}

/// Whether `bin` can be run; prints why the test is skipped when it cannot.
pub fn have(bin: &str) -> bool {
    let ok = Command::new(bin)
        .arg("--version")
        .output()
        .map(|_| true)
        .unwrap_or(false);
    if !ok {
        eprintln!("SKIPPED: `{bin}` is not installed (.ci/run installs it)");
    }
    ok
}

/// Runs a command and returns its output.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("the client ran")
}

/// `curl -s` with the given arguments; returns (stdout, stderr, success).
pub fn curl(args: &[&str]) -> (String, String, bool) {
    let out = run(Command::new("curl")
        .args(["-s", "-S", "--max-time", "30"])
        .args(args));
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.success(),
    )
}
