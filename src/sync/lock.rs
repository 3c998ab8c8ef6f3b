//! [`Lock`]: asyncio's `Lock`, guarding a value like `std::sync::Mutex`.
//!
//! # Design
//!
//! A `locked` flag and a FIFO of waiters ([`WaitList`]). The fast path of
//! [`Lock::lock`] is one flag test: if the lock is free it is taken. Otherwise the task
//! queues. Unlocking (dropping the guard) **hands the lock over** to the first waiter:
//! `locked` stays `true`, the waiter's node is notified with `GRANTED`, and only that one
//! task is woken. Because a queued waiter always finds the lock already held for it, the
//! invariant "waiters queued ⇒ locked" holds, newcomers cannot overtake the queue, and
//! no woken task ever finds the lock taken (no thundering herd, strict FIFO).
//!
//! Cancellation: a [`LockFuture`] dropped while queued just leaves the queue; one dropped
//! after the lock was handed to it (woken but not yet polled) owns the lock and passes it
//! on to the next waiter, so the lock is never lost.
//!
//! The value sits in a `RefCell`, borrowed mutably by the guard for as long as it lives;
//! the lock protocol guarantees only one guard exists at a time.
//!
//! A `Lock` is a handle: the flag, the waiters and the value live behind one `Rc`, so
//! clones share one lock (asyncio's objects are shared by reference).

use std::cell::{Cell, RefCell, RefMut};
use std::fmt;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::waiters::{wake, Key, WaitList};

const GRANTED: usize = 0;

/// A mutual-exclusion lock for tasks on one loop (asyncio's `Lock`), guarding a `T`.
///
/// [`lock`](Lock::lock) waits until the lock is free and returns a [`LockGuard`] that
/// dereferences to the value; dropping the guard unlocks (asyncio's `async with lock:`).
/// Waiters acquire the lock in the order they asked for it. A `Lock` is a cheap handle:
/// clone it to share the lock between tasks (clones lock the same lock and guard the same
/// value). asyncio's plain `Lock()`, which guards no value, is `Lock<()>`.
///
/// # Examples
/// ```
/// use simul::Lock;
///
/// simul::run(async {
///     let counter = Lock::new(0);
///     let tasks: Vec<_> = (0..10)
///         .map(|_| {
///             let c = counter.clone();
///             simul::spawn(async move {
///                 let mut n = c.lock().await;
///                 let seen = *n;
///                 simul::yield_now().await; // other tasks run, but cannot get in
///                 *n = seen + 1;
///             })
///         })
///         .collect();
///     for t in tasks {
///         t.await.unwrap();
///     }
///     assert_eq!(*counter.lock().await, 10);
/// });
/// ```
pub struct Lock<T: ?Sized> {
    inner: Rc<Inner<T>>,
}

/// The state every clone of a [`Lock`] shares.
struct Inner<T: ?Sized> {
    locked: Cell<bool>,
    waiters: RefCell<WaitList>,
    value: RefCell<T>,
}

impl<T: ?Sized> Clone for Lock<T> {
    /// Another handle to the same lock.
    fn clone(&self) -> Self {
        Lock {
            inner: self.inner.clone(),
        }
    }
}

impl<T> Lock<T> {
    /// A new, unlocked lock guarding `value`.
    ///
    /// # Examples
    /// ```
    /// let lock = simul::Lock::new(String::new());
    /// assert!(!lock.is_locked());
    /// ```
    pub fn new(value: T) -> Lock<T> {
        Lock {
            inner: Rc::new(Inner {
                locked: Cell::new(false),
                waiters: RefCell::new(WaitList::new()),
                value: RefCell::new(value),
            }),
        }
    }

    /// Consumes the last handle to the lock and returns the value; with other clones still
    /// alive, gives the handle back as `Err`.
    ///
    /// # Examples
    /// ```
    /// let lock = simul::Lock::new(3);
    /// let other = lock.clone();
    /// let lock = lock.into_inner().unwrap_err(); // `other` shares it
    /// drop(other);
    /// assert_eq!(lock.into_inner().ok(), Some(3));
    /// ```
    pub fn into_inner(self) -> Result<T, Lock<T>> {
        match Rc::try_unwrap(self.inner) {
            Ok(inner) => Ok(inner.value.into_inner()),
            Err(inner) => Err(Lock { inner }),
        }
    }
}

impl<T: ?Sized> Lock<T> {
    /// Waits until the lock is free, then locks it (asyncio's `acquire`). The guard
    /// unlocks when dropped.
    ///
    /// Cancel-safe: dropping the future before it completes leaves the lock as if
    /// `lock` had never been called.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let lock = simul::Lock::new(vec![1]);
    ///     lock.lock().await.push(2);
    ///     assert_eq!(*lock.lock().await, [1, 2]);
    /// });
    /// ```
    #[doc(alias = "acquire")]
    pub fn lock(&self) -> LockFuture<'_, T> {
        LockFuture {
            lock: self,
            key: None,
        }
    }

    /// Locks the lock if it is free right now, without waiting.
    ///
    /// # Examples
    /// ```
    /// let lock = simul::Lock::new(());
    /// let g = lock.try_lock().unwrap();
    /// assert!(lock.try_lock().is_none());
    /// drop(g);
    /// assert!(lock.try_lock().is_some());
    /// ```
    pub fn try_lock(&self) -> Option<LockGuard<'_, T>> {
        if self.inner.locked.get() {
            None
        } else {
            self.inner.locked.set(true);
            Some(self.guard())
        }
    }

    /// `true` while some guard holds the lock (or it is being handed to a waiter).
    ///
    /// # Examples
    /// ```
    /// let lock = simul::Lock::new(1);
    /// let g = lock.try_lock();
    /// assert!(lock.is_locked());
    /// ```
    #[doc(alias = "locked")]
    pub fn is_locked(&self) -> bool {
        self.inner.locked.get()
    }

    /// Mutable access without locking, when this is the only handle (`&mut self` and no
    /// clones prove nobody else can hold it); `None` while clones exist.
    ///
    /// # Examples
    /// ```
    /// let mut lock = simul::Lock::new(1);
    /// *lock.get_mut().unwrap() += 1;
    /// let other = lock.clone();
    /// assert!(lock.get_mut().is_none());
    /// drop(other);
    /// assert_eq!(lock.into_inner().ok(), Some(2));
    /// ```
    pub fn get_mut(&mut self) -> Option<&mut T> {
        Rc::get_mut(&mut self.inner).map(|inner| inner.value.get_mut())
    }

    fn guard(&self) -> LockGuard<'_, T> {
        LockGuard {
            value: self.inner.value.borrow_mut(),
            lock: self,
        }
    }

    /// Unlocks: hands the lock to the first waiter, if any.
    pub(crate) fn unlock(&self) {
        let w = {
            let mut waiters = self.inner.waiters.borrow_mut();
            if waiters.is_empty() {
                self.inner.locked.set(false);
                return;
            }
            waiters.notify_one(GRANTED)
        };
        wake(w);
    }
}

impl<T: Default> Default for Lock<T> {
    fn default() -> Self {
        Lock::new(T::default())
    }
}

impl<T: ?Sized> fmt::Debug for Lock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lock")
            .field("locked", &self.inner.locked.get())
            .field("waiters", &self.inner.waiters.borrow().len())
            .finish_non_exhaustive()
    }
}

/// Proof that the lock is held; dereferences to the guarded value and unlocks on drop.
///
/// # Examples
/// ```
/// simul::run(async {
///     let lock = simul::Lock::new(5);
///     let mut g = lock.lock().await;
///     *g += 1;
///     assert_eq!(*g, 6);
/// });
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard<'a, T: ?Sized> {
    // Field order: the value's borrow ends before the lock is handed on.
    value: RefMut<'a, T>,
    pub(crate) lock: &'a Lock<T>,
}

impl<'a, T: ?Sized> LockGuard<'a, T> {
    /// The lock this guard holds (used by `Condition::wait` to re-lock).
    pub(crate) fn lock_ref(&self) -> &'a Lock<T> {
        self.lock
    }
}

impl<T: ?Sized> Deref for LockGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: ?Sized> DerefMut for LockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

impl<T: ?Sized> Drop for LockGuard<'_, T> {
    fn drop(&mut self) {
        // The hand-off only marks and wakes the next owner; it cannot run before this
        // guard's `RefMut` is released right after this function returns.
        self.lock.unlock();
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for LockGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.value, f)
    }
}

/// The future of [`Lock::lock`].
///
/// # Examples
/// ```
/// simul::run(async {
///     let lock = simul::Lock::new(());
///     let fut: simul::sync::LockFuture<'_, ()> = lock.lock();
///     let _guard = fut.await;
/// });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct LockFuture<'a, T: ?Sized> {
    lock: &'a Lock<T>,
    key: Option<Key>,
}

impl<'a, T: ?Sized> Future for LockFuture<'a, T> {
    type Output = LockGuard<'a, T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<LockGuard<'a, T>> {
        let lock = self.lock;
        match self.key {
            None => {
                if !lock.inner.locked.get() {
                    lock.inner.locked.set(true);
                    return Poll::Ready(lock.guard());
                }
                let key = lock
                    .inner
                    .waiters
                    .borrow_mut()
                    .push(Some(cx.waker().clone()));
                self.key = Some(key);
                Poll::Pending
            }
            Some(key) => {
                std::task::ready!(super::waiters::poll_waiter(
                    &lock.inner.waiters,
                    key,
                    cx.waker()
                ));
                self.key = None;
                // Handed over: `locked` is still set, on our behalf.
                Poll::Ready(lock.guard())
            }
        }
    }
}

impl<T: ?Sized> Drop for LockFuture<'_, T> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let granted = self.lock.inner.waiters.borrow_mut().remove(key).is_some();
            if granted {
                // We were given the lock but will never use it: pass it on.
                self.lock.unlock();
            }
        }
    }
}

impl<T: ?Sized> fmt::Debug for LockFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockFuture")
            .field("queued", &self.key.is_some())
            .finish_non_exhaustive()
    }
}
