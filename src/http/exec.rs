//! [`LocalExecutor`]: hyper's `rt::Executor` that spawns on the current simul loop.
//!
//! hyper spawns a task per HTTP/2 stream (and its connection's background work). Those
//! futures hold the service's futures, which on simul need not be `Send`: the executor
//! accepts any `'static` future and spawns it with [`crate::spawn`] on the loop of the
//! thread that calls it (the connection's own loop — hyper calls `execute` while polling
//! the connection). The task is detached; hyper tracks the stream's end itself.

use std::future::Future;

/// Spawns hyper's background futures as simul tasks on the current loop; `!Send` futures
/// are fine (tokio users know it as a `LocalSet` executor).
///
/// # Panics
/// `execute` panics when called outside a running loop (hyper only calls it while a
/// connection is being polled, which is inside one).
///
/// # Examples
/// ```
/// use hyper::rt::Executor;
/// simul::run(async {
///     let (tx, rx) = (std::rc::Rc::new(std::cell::Cell::new(0)), ());
///     let t = tx.clone(); // an `Rc`: the future is `!Send`
///     simul::http::LocalExecutor.execute(async move { t.set(7) });
///     simul::yield_now().await;
///     assert_eq!(tx.get(), 7);
/// #   let () = rx;
/// });
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct LocalExecutor;

impl<F> hyper::rt::Executor<F> for LocalExecutor
where
    F: Future + 'static,
    F::Output: 'static,
{
    fn execute(&self, fut: F) {
        // Spawned as is: wrapping it in `async move { fut.await; }` would build a second
        // future around it, one more copy of hyper's (large) stream future per request.
        drop(crate::spawn(fut));
    }
}
