//! HTTP on simul (cargo feature `hyper`): hyper 1.x's runtime traits, a [`serve`] helper
//! for HTTP/1.1 and HTTP/2, and axum routers served through it — with no tokio runtime.
//!
//! | piece | what hyper needs | simul's |
//! |---|---|---|
//! | I/O | `rt::Read + rt::Write` | [`HyperIo`] over a `TcpStream`, `UnixStream` or `TlsStream`, filling hyper's cursor without zero-filling |
//! | executor | `rt::Executor` (HTTP/2 streams, client connections) | [`LocalExecutor`]: spawns on the current loop, `!Send` futures allowed |
//! | timer | `rt::Timer` with `Send + Sync` sleeps | [`HyperTimer`]: simul's own `Sleep` on the loop's wheel (it is `Send + Sync`) |
//! | server | a loop of `accept` + `serve_connection` | [`serve`]: HTTP/1.1 + HTTP/2 (h2c or ALPN), keep-alive, header-read timeout, graceful shutdown |
//! | tower / axum | `Service<Request>` | [`TowerToHyper`] wraps an axum `Router` |
//!
//! # Design
//! Everything runs on the loop of the thread that awaits [`serve`]: one task per
//! connection, hyper's HTTP/2 streams as tasks beside it, timers in the loop's wheel.
//! Nothing needs to be `Send`, so handlers may hold `Rc` state. To use every core, run one
//! `serve` per loop, each on its own `SO_REUSEPORT` listener
//! ([`BindOptions`](crate::net::BindOptions)), bound before the loops start and moved to
//! them as `std` listeners; `examples/http_server.rs --loops N` does this with a
//! [`Loops`](crate::Loops) set, and every loop's `serve` shuts down gracefully on Ctrl-C.
//!
//! hyper's HTTP/2 (the h2 crate) uses tokio's I/O *traits* and `sync` channels as a
//! library; no tokio runtime, reactor or timer is started anywhere.
//!
//! # Examples
//! An axum app with a route parameter, JSON in and out, and shared state:
//! ```
//! use axum::{extract::{Path, State}, routing::{get, post}, Json, Router};
//! use http_body_util::{BodyExt, Full};
//! use hyper::body::Bytes;
//! use simul::http::{serve, HyperIo, TowerToHyper};
//! use std::future::IntoFuture;
//! use std::sync::{atomic::{AtomicU64, Ordering}, Arc};
//!
//! simul::run(async {
//!     let hits = Arc::new(AtomicU64::new(0));
//!     let app = Router::new()
//!         .route("/hello/{name}", get(|Path(name): Path<String>| async move { format!("Hello, {name}!") }))
//!         .route("/echo", post(|Json(v): Json<serde_json::Value>| async move { Json(v) }))
//!         .route("/hits", get(|State(h): State<Arc<AtomicU64>>| async move {
//!             (h.fetch_add(1, Ordering::Relaxed) + 1).to_string()
//!         }))
//!         .with_state(hits);
//!     let listener = simul::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
//!     let addr = listener.local_addr().unwrap();
//!     simul::spawn(serve(listener, TowerToHyper::new(app)).into_future());
//!
//!     let tcp = simul::net::TcpStream::connect(addr).await.unwrap();
//!     let (mut send, conn) = hyper::client::conn::http1::handshake(HyperIo::new(tcp)).await.unwrap();
//!     simul::spawn(conn);
//!     let get = |uri: &str| hyper::Request::get(uri).body(Full::<Bytes>::default()).unwrap();
//!     let body = |r: hyper::Response<hyper::body::Incoming>| async { r.into_body().collect().await.unwrap().to_bytes() };
//!
//!     assert_eq!(body(send.send_request(get("/hello/simul")).await.unwrap()).await, "Hello, simul!");
//!     let req = hyper::Request::post("/echo")
//!         .header("content-type", "application/json")
//!         .body(Full::new(Bytes::from(r#"{"a":1}"#)))
//!         .unwrap();
//!     assert_eq!(body(send.send_request(req).await.unwrap()).await, r#"{"a":1}"#);
//!     body(send.send_request(get("/hits")).await.unwrap()).await;
//!     assert_eq!(body(send.send_request(get("/hits")).await.unwrap()).await, "2");
//! });
//! ```

mod exec;
mod io;
mod serve;
mod timer;
mod tower;

pub use exec::LocalExecutor;
pub use io::{HyperIo, ReadUninit};
pub use serve::{serve, Serve, DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_SHUTDOWN_DEADLINE};
pub use timer::HyperTimer;
pub use tower::{TowerCall, TowerToHyper};
