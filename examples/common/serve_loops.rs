//! The examples' app served on one loop or on every loop of a `simul::Loops` set
//! (`--loops N`), shared by `http_server` and `https_server` (and `tests/http_loops.rs`).
//!
//! With N loops there are N `SO_REUSEPORT` listeners on one port, all bound before any
//! loop starts (so a bad port is reported once, and port 0 picks one port for all of
//! them), then moved as `std` listeners to their loops; the kernel spreads connections
//! over them. Each loop runs its own `simul::http::serve` with the same axum `Router`
//! (one app state for all loops), and each listens for Ctrl-C itself: on SIGINT every
//! loop stops accepting, lets its in-flight requests finish (5 s at most) and returns, and
//! the program ends normally.

use std::future::{Future, IntoFuture};
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use simul::http::{Serve, TowerToHyper};
use simul::net::{BindOptions, TcpListener};

/// The server one loop runs.
pub type AppServe = Serve<TowerToHyper<axum::Router>>;

/// Parses `--loops N` (N ≥ 1); prints `usage` and exits with status 2 when N is bad.
#[allow(dead_code)] // used by the examples, not by tests/http_loops.rs
pub fn parse_loops(value: Option<String>, usage: fn(&str) -> !) -> usize {
    match value.as_deref().map(str::parse::<usize>) {
        Some(Ok(n)) if n >= 1 => n,
        Some(_) => usage(&format!(
            "--loops needs a count of at least 1, got {value:?}"
        )),
        None => usage("--loops needs a count"),
    }
}

/// Binds `n` listeners on 127.0.0.1:`port` (with `SO_REUSEPORT` when `n > 1`; the first
/// one picks the port when `port` is 0) and returns them as `std` listeners.
pub fn bind(n: usize, port: u16) -> io::Result<Vec<std::net::TcpListener>> {
    simul::run(async move {
        let opts = BindOptions::new().reuse_port(n > 1);
        let first = TcpListener::bind_with(("127.0.0.1", port), opts).await?;
        let port = first.local_addr()?.port();
        let mut all = vec![first.into_std()?];
        for _ in 1..n {
            let l = TcpListener::bind_with(("127.0.0.1", port), opts).await?;
            all.push(l.into_std()?);
        }
        Ok(all)
    })
}

/// Serves `app` on one loop per listener, each server made by `configure` from the
/// plain one, and shutting down gracefully on Ctrl-C. Returns each loop's result once
/// every loop's server has finished.
pub fn serve_app<C>(
    listeners: Vec<std::net::TcpListener>,
    app: axum::Router,
    configure: C,
) -> Vec<io::Result<()>>
where
    C: Fn(AppServe) -> AppServe + Send + Sync + 'static,
{
    let one = move |index: usize, listener: std::net::TcpListener| {
        let server = configure(simul::http::serve(
            TcpListener::from_std(listener)?,
            TowerToHyper::new(app.clone()),
        ));
        Ok::<_, io::Error>(
            server
                .shutdown_deadline(Duration::from_secs(5))
                .with_graceful_shutdown(async move {
                    let _ = simul::signal::ctrl_c().await;
                    println!("loop {index}: shutting down");
                })
                .into_future(),
        )
    };
    if listeners.len() == 1 {
        let listener = listeners.into_iter().next().unwrap();
        return vec![simul::run(async move { one(0, listener)?.await })];
    }
    let loops = match simul::Loops::builder().count(listeners.len()).build() {
        Ok(l) => l,
        Err(e) => return vec![Err(e)],
    };
    let slots = Mutex::new(listeners.into_iter().map(Some).collect::<Vec<_>>());
    let one = Arc::new(one);
    loops.run(move |index| {
        let listener = slots.lock().unwrap()[index]
            .take()
            .expect("one main per loop");
        let one = one.clone();
        run_one(move || one(index, listener))
    })
}

/// Builds the server on the loop's own thread (adopting the listener there) and runs it.
async fn run_one<M, F>(make: M) -> io::Result<()>
where
    M: FnOnce() -> io::Result<F>,
    F: Future<Output = io::Result<()>>,
{
    make()?.await
}
