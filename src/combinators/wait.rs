//! `wait`: wait for some or all of a set of tasks, without cancelling any.
//!
//! # Design
//!
//! asyncio's `wait(aws, return_when=...)` takes tasks (since Python 3.11, not bare
//! coroutines) and returns two sets: those done and those still pending, which keep
//! running. simul's [`wait`] does the same with handles that implement [`Waitable`]
//! ([`Task`], [`SharedTask`], [`CancelOnDrop`], [`GroupTask`](crate::GroupTask)) and returns two `Vec`s, each in the order
//! the handles were given. Handles in `done` have finished: awaiting one gives its result
//! at once. Handles in `pending` are returned untouched (nothing is cancelled).
//!
//! Waiting does not consume results: [`Waitable::poll_finished`] only learns *that* a task
//! finished and *how* ([`TaskState`]). Each handle is watched through its own waker on the
//! shared ready list (`ready.rs`), so a task finishing costs O(1) however many are waited
//! on.
//!
//! # What counts as an exception
//!
//! [`ReturnWhen::FirstException`] returns when a task ends with [`TaskState::Panicked`]:
//! a panic is Rust's raised exception, and a panicking task is delivered to its awaiter
//! as [`TaskError::Panicked`]. As in asyncio, a *cancelled*
//! task is not an exception. A task whose output is an `Err(_)` has finished normally as
//! far as the runtime is concerned (its `Result` is a value the awaiter will inspect), so
//! it counts as completed, not as an exception: to stop at the first `Err`, use
//! [`try_gather`](super::try_gather) or a [`TaskGroup`](crate::TaskGroup) with
//! [`try_spawn`](crate::TaskGroup::try_spawn).
//!
//! # Timeout
//!
//! [`wait_timeout`] is asyncio's `wait(..., timeout=...)`: when the time runs out it
//! returns what is done so far, and the rest as pending, still without cancelling
//! anything (unlike [`crate::wait_for`]). An empty set of tasks resolves at once to two
//! empty `Vec`s (asyncio raises `ValueError`; an immediate, empty answer is the
//! non-panicking equivalent).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use super::ready::Driver;
use crate::task::{CancelOnDrop, SharedTask, Task, TaskError, TaskState};
use crate::time::Sleep;

/// When [`wait`] returns (asyncio's `FIRST_COMPLETED`, `FIRST_EXCEPTION`, `ALL_COMPLETED`).
///
/// # Examples
/// ```
/// assert_eq!(simul::ReturnWhen::default(), simul::ReturnWhen::AllCompleted);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ReturnWhen {
    /// As soon as any task finishes (or is cancelled).
    #[doc(alias = "FIRST_COMPLETED")]
    FirstCompleted,
    /// As soon as any task panics; if none does, when all have finished.
    #[doc(alias = "FIRST_EXCEPTION")]
    FirstException,
    /// When every task has finished.
    #[doc(alias = "ALL_COMPLETED")]
    #[default]
    AllCompleted,
}

/// A handle [`wait`] can watch: it reports when its task finished, and how, without
/// taking the result.
///
/// Implemented for [`Task`], [`SharedTask`] and [`CancelOnDrop`].
///
/// # Examples
/// ```
/// use std::task::{Context, Poll, Waker};
/// use simul::Waitable;
/// simul::run(async {
///     let mut t = simul::spawn(async { 1 });
///     let mut cx = Context::from_waker(Waker::noop());
///     assert!(t.poll_finished(&mut cx).is_pending());
///     simul::yield_now().await;
///     assert_eq!(t.poll_finished(&mut cx), Poll::Ready(simul::TaskState::Finished));
///     assert_eq!(t.await.unwrap(), 1); // the result is still there
/// });
/// ```
pub trait Waitable: Unpin {
    /// `Ready(state)` once the task is done (`state` is `Finished`, `Cancelled` or
    /// `Panicked`); otherwise arranges for `cx`'s waker to be woken when it is.
    fn poll_finished(&mut self, cx: &mut Context<'_>) -> Poll<TaskState>;

    /// Called by [`wait`] when it is done with the handle (it returned it, or was dropped):
    /// the handle no longer counts as being awaited, so a timing-out
    /// [`wait_for`](crate::wait_for) that drops it does not cancel the task (asyncio's
    /// `wait` never cancels what it waits on). The default does nothing.
    ///
    /// # Examples
    /// ```
    /// use simul::Waitable;
    /// simul::run(async {
    ///     let mut t = simul::spawn(async { 1 });
    ///     t.stop_waiting();
    ///     assert_eq!(t.await.unwrap(), 1);
    /// });
    /// ```
    fn stop_waiting(&mut self) {}
}

impl<T> Waitable for Task<T> {
    fn poll_finished(&mut self, cx: &mut Context<'_>) -> Poll<TaskState> {
        if self.is_done() {
            return Poll::Ready(self.info().state());
        }
        // Not done: polling the handle only registers the waker (the loop thread is the
        // only one that completes tasks, so nothing changes between the check and here).
        let p = Pin::new(self).poll(cx);
        debug_assert!(p.is_pending());
        Poll::Pending
    }

    fn stop_waiting(&mut self) {
        self.stop_awaiting();
    }
}

impl<T> Waitable for CancelOnDrop<T> {
    fn poll_finished(&mut self, cx: &mut Context<'_>) -> Poll<TaskState> {
        if self.task().is_done() {
            return Poll::Ready(self.task().info().state());
        }
        let p = Pin::new(self).poll(cx);
        debug_assert!(p.is_pending());
        Poll::Pending
    }
}

impl<T> Waitable for crate::GroupTask<T> {
    fn poll_finished(&mut self, cx: &mut Context<'_>) -> Poll<TaskState> {
        if self.is_done() {
            return Poll::Ready(self.info().state());
        }
        let p = Pin::new(self).poll(cx);
        debug_assert!(p.is_pending());
        Poll::Pending
    }

    fn stop_waiting(&mut self) {
        self.stop_awaiting();
    }
}

impl<T: Clone + 'static> Waitable for SharedTask<T> {
    fn poll_finished(&mut self, cx: &mut Context<'_>) -> Poll<TaskState> {
        Pin::new(self).poll(cx).map(|r| match r {
            Ok(_) => TaskState::Finished,
            Err(TaskError::Cancelled) => TaskState::Cancelled,
            Err(TaskError::Panicked(_)) => TaskState::Panicked,
        })
    }

    fn stop_waiting(&mut self) {
        self.stop_awaiting();
    }
}

/// The future returned by [`wait`] and [`wait_timeout`]: resolves to `(done, pending)`.
///
/// # Examples
/// ```
/// simul::run(async {
///     let w = simul::wait([simul::spawn(async { 1 })], simul::ReturnWhen::AllCompleted);
///     let (done, pending) = w.await;
///     assert_eq!((done.len(), pending.len()), (1, 0));
/// });
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Wait<W: Waitable> {
    items: Vec<W>,
    states: Vec<Option<TaskState>>,
    driver: Driver,
    when: ReturnWhen,
    remaining: usize,
    timeout: Option<Sleep>,
    finished: bool,
}

/// Waits for `tasks` until the `when` condition holds; returns `(done, pending)`, each in
/// the order given, without cancelling the pending ones (asyncio's `wait`).
///
/// See the [module docs](self) for what counts as an exception.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use simul::{wait, ReturnWhen};
/// let lp = simul::EventLoop::builder().virtual_time(true).build().unwrap();
/// lp.run_until_complete(async {
///     let fast = simul::spawn(async { simul::sleep(Duration::from_secs(1)).await; "fast" });
///     let slow = simul::spawn(async { simul::sleep(Duration::from_secs(5)).await; "slow" });
///     let (done, pending) = wait([fast, slow], ReturnWhen::FirstCompleted).await;
///     assert_eq!(done.len(), 1);
///     assert_eq!(pending.len(), 1);
///     for t in done {
///         assert_eq!(t.await.unwrap(), "fast");
///     }
///     // the pending task was not cancelled
///     let (done, _) = wait(pending, ReturnWhen::AllCompleted).await;
///     assert_eq!(done.into_iter().next().unwrap().await.unwrap(), "slow");
/// });
/// ```
pub fn wait<W, I>(tasks: I, when: ReturnWhen) -> Wait<W>
where
    I: IntoIterator<Item = W>,
    W: Waitable,
{
    let items: Vec<W> = tasks.into_iter().collect();
    let n = items.len();
    Wait {
        states: vec![None; n],
        driver: Driver::new(n),
        items,
        when,
        remaining: n,
        timeout: None,
        finished: false,
    }
}

/// Like [`wait`], but returns after `timeout` at the latest, with whatever is done by then
/// (asyncio's `wait(..., timeout=...)`). Nothing is cancelled.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use simul::{wait_timeout, ReturnWhen};
/// let lp = simul::EventLoop::builder().virtual_time(true).build().unwrap();
/// lp.run_until_complete(async {
///     let t = simul::spawn(simul::sleep(Duration::from_secs(60)));
///     let (done, pending) =
///         wait_timeout([t], ReturnWhen::AllCompleted, Duration::from_secs(1)).await;
///     assert!(done.is_empty());
///     assert!(!pending[0].is_done()); // still running
/// });
/// ```
pub fn wait_timeout<W, I>(tasks: I, when: ReturnWhen, timeout: Duration) -> Wait<W>
where
    I: IntoIterator<Item = W>,
    W: Waitable,
{
    let mut w = wait(tasks, when);
    w.timeout = Some(crate::time::sleep(timeout));
    w
}

impl<W: Waitable> Wait<W> {
    /// How many tasks are waited on.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let w = simul::wait(Vec::<simul::Task<()>>::new(), simul::ReturnWhen::FirstCompleted);
    ///     assert_eq!(w.len(), 0);
    ///     let (done, pending) = w.await; // nothing to wait for: resolves at once
    ///     assert!(done.is_empty() && pending.is_empty());
    /// });
    /// ```
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// `true` when there is nothing to wait for.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     assert!(simul::wait(Vec::<simul::Task<()>>::new(), simul::ReturnWhen::AllCompleted).is_empty());
    /// });
    /// ```
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

impl<W: Waitable> Future for Wait<W> {
    type Output = (Vec<W>, Vec<W>);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.finished, "`Wait` polled after it completed");
        let mut stop = this.items.is_empty();
        this.driver.begin(cx);
        while let Some(i) = this.driver.next() {
            if this.states[i].is_some() {
                continue;
            }
            let item = &mut this.items[i];
            if let Poll::Ready(state) = this.driver.poll_child(i, |cx| item.poll_finished(cx)) {
                this.states[i] = Some(state);
                this.remaining -= 1;
                match this.when {
                    ReturnWhen::FirstCompleted => stop = true,
                    ReturnWhen::FirstException if state == TaskState::Panicked => stop = true,
                    _ => {}
                }
            }
        }
        if this.remaining == 0 {
            stop = true;
        }
        if !stop {
            let timed_out = match &mut this.timeout {
                Some(sleep) => Pin::new(sleep).poll(cx).is_ready(),
                None => false,
            };
            if !timed_out {
                return Poll::Pending;
            }
        }
        this.finished = true;
        this.driver.close();
        let mut done = Vec::new();
        let mut pending = Vec::new();
        for (mut item, state) in std::mem::take(&mut this.items)
            .into_iter()
            .zip(this.states.iter())
        {
            item.stop_waiting();
            if state.is_some() {
                done.push(item);
            } else {
                pending.push(item);
            }
        }
        Poll::Ready((done, pending))
    }
}

impl<W: Waitable> Drop for Wait<W> {
    fn drop(&mut self) {
        // Dropped before it resolved (e.g. by a timing-out `wait_for`): the handles it
        // held were only waited on, not awaited, so they detach rather than cancel.
        for item in &mut self.items {
            item.stop_waiting();
        }
    }
}

impl<W: Waitable> fmt::Debug for Wait<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wait")
            .field("len", &self.items.len())
            .field("remaining", &self.remaining)
            .field("when", &self.when)
            .finish()
    }
}
