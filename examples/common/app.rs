//! The axum app shared by the `http_server` and `https_server` examples.
//!
//! `GET /` and `GET /json` are TechEmpower's plaintext and JSON shapes (so a peer server
//! can be compared with `wrk`/`h2load`); the other routes show a path parameter, JSON in
//! and out, shared state, a streaming body, and `/loop`: which loop serves the request.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

/// State shared by every connection (and, with several loops, every thread).
#[derive(Clone, Default)]
pub struct AppState {
    pub visits: Arc<AtomicU64>,
}

#[derive(Serialize)]
struct Message {
    message: &'static str,
}

#[derive(Deserialize)]
struct Greeting {
    name: String,
    #[serde(default = "one")]
    times: usize,
}

fn one() -> usize {
    1
}

#[derive(Serialize)]
struct Greeted {
    greeting: String,
    visit: u64,
}

pub fn router() -> Router {
    Router::new()
        .route("/", get(plaintext))
        .route(
            "/json",
            get(|| async {
                Json(Message {
                    message: "Hello, World!",
                })
            }),
        )
        .route("/hello/{name}", get(hello))
        .route("/greet", post(greet))
        .route("/visits", get(visits))
        .route("/stream/{chunks}", get(stream))
        .route("/loop", get(which_loop))
        .with_state(AppState::default())
}

async fn plaintext() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain")], "Hello, World!")
}

async fn hello(Path(name): Path<String>) -> String {
    format!("Hello, {name}!")
}

/// JSON in, JSON out: `{"name": "Ada", "times": 2}` → `{"greeting": "Hello, Ada! Hello, Ada!", ...}`.
async fn greet(State(state): State<AppState>, Json(g): Json<Greeting>) -> Json<Greeted> {
    let visit = state.visits.fetch_add(1, Ordering::Relaxed) + 1;
    let greeting = vec![format!("Hello, {}!", g.name); g.times.min(100)].join(" ");
    Json(Greeted { greeting, visit })
}

async fn visits(State(state): State<AppState>) -> String {
    let n = state.visits.fetch_add(1, Ordering::Relaxed) + 1;
    format!("visit number {n}\n")
}

/// Which loop of the server serves this request: `loop N` (0 on a single loop).
async fn which_loop() -> String {
    format!("loop {}\n", simul::loops::current_index().unwrap_or(0))
}

/// `chunks` lines, one every 10 ms, sent as they are made (chunked encoding on HTTP/1.1,
/// DATA frames on HTTP/2).
async fn stream(Path(chunks): Path<u32>) -> impl IntoResponse {
    let body = Body::from_stream(Ticks {
        left: chunks.min(10_000),
        n: 0,
        sleep: None,
    });
    ([(header::CONTENT_TYPE, "text/plain")], body)
}

/// A stream of numbered lines paced by simul's timer (its `Sleep` is `Send`).
struct Ticks {
    left: u32,
    n: u32,
    sleep: Option<simul::time::Sleep>,
}

impl futures_core::Stream for Ticks {
    type Item = Result<Bytes, Infallible>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        if self.n > 0 {
            let sleep = self
                .sleep
                .get_or_insert_with(|| simul::sleep(Duration::from_millis(10)));
            if Pin::new(sleep).poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.sleep = None;
        }
        self.left -= 1;
        self.n += 1;
        Poll::Ready(Some(Ok(Bytes::from(format!("chunk {}\n", self.n)))))
    }
}

use std::future::Future;
