//! [`Condition`]: asyncio's `Condition`, shaped like `std::sync::Condvar`.
//!
//! # Mapping from asyncio
//!
//! asyncio's `Condition` wraps a lock; Rust's idiom (`std::sync::Condvar`) keeps the lock
//! and the condition separate and passes the guard through `wait`. simul follows Rust:
//!
//! | asyncio | simul |
//! |---|---|
//! | `cond = asyncio.Condition(lock)` | `let lock = Lock::new(state); let cond = Condition::new();` |
//! | `async with cond:` | `let guard = lock.lock().await;` |
//! | `await cond.wait()` | `guard = cond.wait(guard).await;` |
//! | `await cond.wait_for(pred)` | `guard = cond.wait_for(guard, \|s\| pred(s)).await;` |
//! | `cond.notify(n)` / `cond.notify_all()` | `cond.notify(n)` / `cond.notify_all()` |
//!
//! `wait` queues the task *before* it releases the lock, all within one poll, so on a
//! single-threaded loop no notification can slip in between: that is why, unlike asyncio,
//! `notify` does not require holding the lock (it is still the usual way to call it).
//!
//! # Design
//!
//! A FIFO of waiters. `notify(n)` notifies the first `n` and wakes only those; each woken
//! task then re-locks the lock, in FIFO order behind other lockers. Cancellation (Python
//! 3.13's rule): a waiter dropped after being notified but before it got the notification
//! passes the notification on to the next waiter, so `notify(1)` is never swallowed by a
//! cancelled task.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::lock::LockGuard;
use super::waiters::{wake, Key, WaitList};

const NOTIFIED: usize = 0;

/// A condition variable for tasks (asyncio's `Condition`), used with a [`Lock`](super::Lock).
///
/// asyncio's `Condition` wraps a lock; Rust's idiom (`std::sync::Condvar`) keeps the lock
/// and the condition apart and passes the guard through `wait`. simul follows Rust:
///
/// | asyncio | simul |
/// |---|---|
/// | `cond = asyncio.Condition(lock)` | `let lock = Lock::new(state); let cond = Condition::new();` |
/// | `async with cond:` | `let guard = lock.lock().await;` |
/// | `await cond.wait()` | `guard = cond.wait(guard).await;` |
/// | `await cond.wait_for(pred)` | `guard = cond.wait_for(guard, \|s\| pred(s)).await;` |
/// | `cond.notify(n)` / `cond.notify_all()` | `cond.notify(n)` / `cond.notify_all()` |
///
/// Unlike asyncio, `notify` does not require holding the lock: `wait` queues the task
/// before it releases the lock, within one poll, so no notification can slip in between.
/// Like the lock, a `Condition` is a cheap handle: clones share one set of waiters.
///
/// # Examples
/// ```
/// use simul::{Condition, Lock};
///
/// simul::run(async {
///     let (lock, cond) = (Lock::new(Vec::new()), Condition::new());
///     let (l, c) = (lock.clone(), cond.clone());
///     let consumer = simul::spawn(async move {
///         let mut items = c.wait_for(l.lock().await, |v| !v.is_empty()).await;
///         items.pop()
///     });
///     simul::yield_now().await;
///     lock.lock().await.push("item");
///     cond.notify(1);
///     assert_eq!(consumer.await.unwrap(), Some("item"));
/// });
/// ```
#[derive(Default, Clone)]
pub struct Condition {
    /// Shared by every clone.
    waiters: Rc<RefCell<WaitList>>,
}

impl Condition {
    /// A new condition with no waiters.
    ///
    /// # Examples
    /// ```
    /// let c = simul::Condition::new();
    /// c.notify_all(); // nobody waits: nothing happens
    /// ```
    pub fn new() -> Condition {
        Condition::default()
    }

    /// Releases the lock held by `guard`, waits for a notification, then locks it again
    /// and returns the new guard.
    ///
    /// Cancel-safe: if the future is dropped, the lock is released (or never re-taken)
    /// and a notification it had received is passed to the next waiter.
    ///
    /// # Examples
    /// ```
    /// use std::rc::Rc;
    /// simul::run(async {
    ///     let pair = Rc::new((simul::Lock::new(false), simul::Condition::new()));
    ///     let p = pair.clone();
    ///     let t = simul::spawn(async move {
    ///         let (lock, cond) = &*p;
    ///         let mut ready = lock.lock().await;
    ///         while !*ready {
    ///             ready = cond.wait(ready).await;
    ///         }
    ///     });
    ///     simul::yield_now().await;
    ///     *pair.0.lock().await = true;
    ///     pair.1.notify_all();
    ///     t.await.unwrap();
    /// });
    /// ```
    pub async fn wait<'a, T: ?Sized>(&self, guard: LockGuard<'a, T>) -> LockGuard<'a, T> {
        let lock = guard.lock_ref();
        // Queue first, then unlock: nothing can run in between on this thread.
        let notified = Notified {
            cond: self,
            key: Some(self.waiters.borrow_mut().push(None)),
        };
        drop(guard);
        notified.await;
        lock.lock().await
    }

    /// Waits until `predicate` returns `true` for the guarded value, checking it first
    /// and after every notification (asyncio's `wait_for`). Returns the guard, locked,
    /// with the predicate true.
    ///
    /// # Examples
    /// ```
    /// use std::rc::Rc;
    /// simul::run(async {
    ///     let pair = Rc::new((simul::Lock::new(0), simul::Condition::new()));
    ///     let p = pair.clone();
    ///     let t = simul::spawn(async move {
    ///         let g = p.1.wait_for(p.0.lock().await, |n| *n >= 3).await;
    ///         *g
    ///     });
    ///     for _ in 0..3 {
    ///         simul::yield_now().await;
    ///         *pair.0.lock().await += 1;
    ///         pair.1.notify_all();
    ///     }
    ///     assert_eq!(t.await.unwrap(), 3);
    /// });
    /// ```
    pub async fn wait_for<'a, T: ?Sized, P>(
        &self,
        mut guard: LockGuard<'a, T>,
        mut predicate: P,
    ) -> LockGuard<'a, T>
    where
        P: FnMut(&mut T) -> bool,
    {
        while !predicate(&mut *guard) {
            guard = self.wait(guard).await;
        }
        guard
    }

    /// Wakes up to `n` waiting tasks, first come first served.
    ///
    /// # Examples
    /// ```
    /// let c = simul::Condition::new();
    /// c.notify(2);
    /// ```
    pub fn notify(&self, n: usize) {
        for _ in 0..n {
            let w = self.waiters.borrow_mut().notify_one(NOTIFIED);
            if w.is_none() {
                break;
            }
            wake(w);
        }
    }

    /// Wakes every waiting task.
    ///
    /// # Examples
    /// ```
    /// simul::Condition::new().notify_all();
    /// ```
    pub fn notify_all(&self) {
        self.notify(usize::MAX);
    }

    /// Number of tasks waiting for a notification.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(simul::Condition::new().waiters(), 0);
    /// ```
    pub fn waiters(&self) -> usize {
        self.waiters.borrow().len()
    }
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condition")
            .field("waiters", &self.waiters.borrow().len())
            .finish()
    }
}

/// Waits for one notification; passes it on if dropped after receiving it.
struct Notified<'a> {
    cond: &'a Condition,
    key: Option<Key>,
}

impl Future for Notified<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let Some(key) = self.key else {
            return Poll::Ready(());
        };
        std::task::ready!(super::waiters::poll_waiter(
            &self.cond.waiters,
            key,
            cx.waker()
        ));
        self.key = None;
        Poll::Ready(())
    }
}

impl Drop for Notified<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let was_notified = self.cond.waiters.borrow_mut().remove(key).is_some();
            if was_notified {
                self.cond.notify(1);
            }
        }
    }
}
