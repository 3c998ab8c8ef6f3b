//! [`TowerToHyper`]: a tower `Service` (an axum `Router`, a tower stack) as a hyper
//! `Service`.
//!
//! hyper's service trait takes `&self` and has no readiness; tower's takes `&mut self`
//! after `poll_ready`. Each call clones the tower service (cheap for a `Router`: an
//! `Arc`), waits until it is ready and calls it — tower's `oneshot`.

use std::future::{poll_fn, Future};
use std::pin::Pin;

/// Wraps a tower `Service` (e.g. an axum `Router`) for [`serve`](super::serve) and
/// hyper's `serve_connection` (hyper-util's `TowerToHyperService`, for simul).
///
/// # Examples
/// ```
/// use axum::{routing::get, Router};
/// use std::future::IntoFuture;
/// simul::run(async {
///     let app = Router::new().route("/", get(|| async { "Hello, World!" }));
///     let listener = simul::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
///     let _server = simul::spawn(simul::http::serve(listener, simul::http::TowerToHyper::new(app)).into_future());
/// });
/// ```
#[derive(Clone, Debug)]
pub struct TowerToHyper<S> {
    inner: S,
}

impl<S> TowerToHyper<S> {
    /// Wraps `inner`.
    ///
    /// # Examples
    /// See [`TowerToHyper`].
    pub fn new(inner: S) -> TowerToHyper<S> {
        TowerToHyper { inner }
    }
}

impl<S, R> hyper::service::Service<R> for TowerToHyper<S>
where
    S: tower_service::Service<R> + Clone + 'static,
    R: 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>>>>;

    fn call(&self, req: R) -> Self::Future {
        let mut svc = self.inner.clone();
        Box::pin(async move {
            poll_fn(|cx| svc.poll_ready(cx)).await?;
            svc.call(req).await
        })
    }
}
