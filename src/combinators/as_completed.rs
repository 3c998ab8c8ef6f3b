//! `as_completed`: a stream of outputs in the order the futures finish.
//!
//! # Design
//!
//! asyncio's `as_completed(aws)` yields awaitables that resolve in completion order. In
//! Rust the natural shape is a [`Stream`] of the outputs themselves. [`AsCompleted`] holds
//! the futures pinned in one boxed slice and drives them with the same per-child ready
//! list as [`gather`](super::gather()): a poll of the stream polls only the children woken
//! since the last poll, and returns as soon as one of them finishes (the rest of the batch
//! is kept for the next poll, so nothing woken is lost and no output is buffered).
//!
//! Outputs carry no index; to know which future produced an output, make it part of the
//! output (`async move { (i, fut.await) }`).
//!
//! Dropping the stream drops (cancels) the futures that have not finished yet.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::stream::{FusedStream, Stream};

use super::gather::Children;

/// The stream returned by [`as_completed`].
///
/// # Examples
/// ```
/// use futures_core::Stream;
/// simul::run(async {
///     let s = simul::as_completed((1..=2).map(|i| async move { i }));
///     assert_eq!(s.size_hint(), (2, Some(2)));
/// });
/// ```
#[must_use = "streams do nothing unless polled"]
pub struct AsCompleted<F: Future> {
    children: Children<F>,
}

/// Runs `futures` concurrently and yields their outputs in completion order
/// (asyncio's `as_completed`).
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use futures_util::StreamExt;
/// let lp = simul::EventLoop::builder().virtual_time(true).build().unwrap();
/// lp.run_until_complete(async {
///     let mut s = simul::as_completed([3u64, 1, 2].map(|secs| async move {
///         simul::sleep(Duration::from_secs(secs)).await;
///         secs
///     }));
///     let mut order = Vec::new();
///     while let Some(secs) = s.next().await {
///         order.push(secs);
///     }
///     assert_eq!(order, vec![1, 2, 3]);
/// });
/// ```
pub fn as_completed<I>(futures: I) -> AsCompleted<<I::Item as IntoFuture>::IntoFuture>
where
    I: IntoIterator,
    I::Item: IntoFuture,
{
    AsCompleted {
        children: Children::new(futures.into_iter().map(IntoFuture::into_future)),
    }
}

impl<F: Future> AsCompleted<F> {
    /// How many futures have not produced their output yet.
    ///
    /// # Examples
    /// ```
    /// simul::run(async { assert_eq!(simul::as_completed([async { 1 }]).remaining(), 1) });
    /// ```
    pub fn remaining(&self) -> usize {
        self.children.remaining
    }
}

impl<F: Future> Stream for AsCompleted<F> {
    type Item = F::Output;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<F::Output>> {
        let this = self.get_mut();
        if this.children.remaining == 0 {
            return Poll::Ready(None);
        }
        let mut got = None;
        this.children.poll_woken(cx, |_, out| {
            got = Some(out);
            false
        });
        match got {
            Some(out) => {
                if this.children.remaining == 0 {
                    this.children.driver.close();
                }
                Poll::Ready(Some(out))
            }
            None => Poll::Pending,
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.children.remaining, Some(self.children.remaining))
    }
}

impl<F: Future> FusedStream for AsCompleted<F> {
    fn is_terminated(&self) -> bool {
        self.children.remaining == 0
    }
}

impl<F: Future> fmt::Debug for AsCompleted<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompleted")
            .field("len", &self.children.len())
            .field("remaining", &self.children.remaining)
            .finish()
    }
}
