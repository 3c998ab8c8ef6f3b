//! [`TowerToHyper`]: a tower `Service` (an axum `Router`, a tower stack) as a hyper
//! `Service`.
//!
//! hyper's service trait takes `&self` and has no readiness; tower's takes `&mut self`
//! after `poll_ready`. Each call clones the tower service (cheap for a `Router`: an
//! `Arc`), waits until it is ready and calls it — tower's `oneshot`. The future of a call
//! ([`TowerCall`]) is a plain state machine over the tower service's own future: nothing
//! is boxed per request.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

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

pin_project_lite::pin_project! {
    /// The future of one [`TowerToHyper`] call: waits for the tower service's readiness,
    /// then runs its call.
    ///
    /// # Examples
    /// ```
    /// use hyper::service::Service as _;
    /// use std::convert::Infallible;
    /// use std::task::{Context, Poll};
    ///
    /// #[derive(Clone)]
    /// struct AddOne; // a tower service
    /// impl tower_service::Service<u32> for AddOne {
    ///     type Response = u32;
    ///     type Error = Infallible;
    ///     type Future = std::future::Ready<Result<u32, Infallible>>;
    ///     fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
    ///         Poll::Ready(Ok(()))
    ///     }
    ///     fn call(&mut self, req: u32) -> Self::Future {
    ///         std::future::ready(Ok(req + 1))
    ///     }
    /// }
    ///
    /// let call: simul::http::TowerCall<AddOne, u32> = simul::http::TowerToHyper::new(AddOne).call(20);
    /// assert_eq!(simul::run(call), Ok(21));
    /// ```
    #[must_use = "futures do nothing unless awaited"]
    pub struct TowerCall<S, R>
    where
        S: tower_service::Service<R>,
    {
        svc: S,
        req: Option<R>,
        #[pin]
        call: Option<S::Future>,
    }
}

impl<S, R> Future for TowerCall<S, R>
where
    S: tower_service::Service<R>,
{
    type Output = Result<S::Response, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Some(req) = this.req.take() {
            match this.svc.poll_ready(cx) {
                Poll::Ready(Ok(())) => this.call.set(Some(this.svc.call(req))),
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {
                    *this.req = Some(req);
                    return Poll::Pending;
                }
            }
        }
        match this.call.as_mut().as_pin_mut() {
            Some(call) => {
                let out = ready!(call.poll(cx));
                this.call.set(None);
                Poll::Ready(out)
            }
            None => panic!("simul::http::TowerCall polled after it completed"),
        }
    }
}

impl<S, R> hyper::service::Service<R> for TowerToHyper<S>
where
    S: tower_service::Service<R> + Clone,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = TowerCall<S, R>;

    fn call(&self, req: R) -> Self::Future {
        TowerCall {
            svc: self.inner.clone(),
            req: Some(req),
            call: None,
        }
    }
}
