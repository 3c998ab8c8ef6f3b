//! `shield`: await work that the awaiter's cancellation must not stop.
//!
//! # Design
//!
//! In simul, cancelling a task drops its future, and dropping a future cancels whatever it
//! was driving in place. To survive that, shielded work must be owned by something other
//! than the awaiter: [`shield`] spawns the given future as its own task and returns a
//! [`Shield`], a handle that awaits that task. Dropping the `Shield` (the awaiter was
//! cancelled, or [`crate::wait_for`] timed it out) detaches the task, which runs on.
//!
//! Shapes accepted — anything that is a `Future + 'static`:
//!
//! * a plain future or `async` block: spawned as a task; `shield(fut).await` gives
//!   `fut`'s output, as `fut.await` would;
//! * a [`crate::Task`]: a small task awaits it, so `shield(task).await` gives
//!   `Result<T, TaskError>`, as `task.await` would, and dropping the shield never cancels
//!   the task (even if it came from [`crate::Task::cancel_on_drop`]: the handle is owned by
//!   the shield's task, which is never cancelled by the shield);
//! * a [`crate::SharedTask`]: likewise, and the other clones still see the result.
//!
//! A panic inside shielded work resumes in the awaiter when it awaits the `Shield` (asyncio
//! propagates the exception); if nobody awaits it any more, the loop reports it as a
//! never-retrieved task panic. The task is only ever cancelled by loop shutdown, in which
//! case awaiting the `Shield` panics with a message saying so.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::task::{Task, TaskError};

/// The future returned by [`shield`]; dropping it does not cancel the shielded work.
///
/// # Examples
/// ```
/// simul::run(async {
///     let s = simul::shield(async { 5 });
///     assert!(!s.is_done());
///     assert_eq!(s.await, 5);
/// });
/// ```
#[must_use = "dropping a Shield leaves the work running detached; await it"]
pub struct Shield<T> {
    /// `None` only once `into_task` has taken it.
    task: Option<Task<T>>,
}

/// Runs `work` as its own task and returns a handle to await it; cancelling or dropping
/// the awaiter does not cancel `work` (asyncio's `shield`).
///
/// # Panics
/// Outside a running loop (it spawns a task).
///
/// # Examples
/// ```
/// use std::{cell::Cell, rc::Rc, time::Duration};
/// let lp = simul::EventLoop::builder().virtual_time(true).build().unwrap();
/// lp.run_until_complete(async {
///     let saved = Rc::new(Cell::new(false));
///     let s = saved.clone();
///     let commit = async move {
///         simul::sleep(Duration::from_secs(2)).await;
///         s.set(true);
///     };
///     // The caller gives up after 1 s, but the shielded commit still completes.
///     let r = simul::wait_for(Duration::from_secs(1), simul::shield(commit)).await;
///     assert!(r.is_err());
///     simul::sleep(Duration::from_secs(2)).await;
///     assert!(saved.get());
/// });
/// ```
#[track_caller]
pub fn shield<F>(work: F) -> Shield<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    Shield {
        task: Some(crate::task::spawn(work)),
    }
}

impl<T> Shield<T> {
    /// `true` once the shielded work has finished.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let s = simul::shield(async {});
    ///     simul::yield_now().await;
    ///     assert!(s.is_done());
    /// });
    /// ```
    pub fn is_done(&self) -> bool {
        self.task().is_done()
    }

    /// The task running the shielded work (to name, inspect or explicitly cancel it).
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let s = simul::shield(std::future::pending::<()>());
    ///     let t = s.into_task();
    ///     t.cancel();
    ///     assert!(t.await.unwrap_err().is_cancelled());
    /// });
    /// ```
    pub fn into_task(mut self) -> Task<T> {
        self.task
            .take()
            .expect("a Shield holds its task until into_task")
    }

    fn task(&self) -> &Task<T> {
        self.task
            .as_ref()
            .expect("a Shield holds its task until into_task")
    }
}

impl<T> Drop for Shield<T> {
    fn drop(&mut self) {
        // Dropped by a timing-out `wait_for` or a cancelled awaiter: the work must go on,
        // so the handle must not count as awaited (see `wait_for`).
        if let Some(t) = &self.task {
            t.stop_awaiting();
        }
    }
}

impl<T> Future for Shield<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let task = self
            .task
            .as_mut()
            .expect("a Shield holds its task until into_task");
        match Pin::new(task).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(v)) => Poll::Ready(v),
            Poll::Ready(Err(TaskError::Panicked(p))) => p.resume(),
            Poll::Ready(Err(TaskError::Cancelled)) => {
                panic!("simul::shield: the shielded task was cancelled (by loop shutdown or an explicit cancel of its task)")
            }
        }
    }
}

impl<T> fmt::Debug for Shield<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shield").field("task", self.task()).finish()
    }
}
