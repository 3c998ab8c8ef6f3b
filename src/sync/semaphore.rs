//! [`Semaphore`] and [`BoundedSemaphore`]: asyncio's counting semaphores.
//!
//! # Design
//!
//! A permit counter (`Cell<usize>`) and a FIFO of waiters. Like [`Lock`](super::Lock),
//! a released permit is **handed over** to the first waiter rather than put back in the
//! pool, so the invariant "waiters queued ⇒ no permit available" holds: an acquire
//! that finds a permit takes it in one branch, newcomers never overtake queued tasks, and
//! each release wakes exactly one task that is certain to proceed.
//!
//! Cancellation: an [`Acquire`] dropped while queued leaves the queue; one dropped after
//! a permit was handed to it (woken but not yet polled) releases that permit again, which
//! passes it to the next waiter. No permit is ever lost or duplicated.
//!
//! Permits are guards ([`SemaphorePermit`]) that release on drop — asyncio's
//! `async with sem:`. The manual `acquire()`/`release()` pairing of asyncio maps to
//! [`SemaphorePermit::forget`] followed, later, by [`Semaphore::release`].

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::waiters::{wake, Key, WaitList};

const GRANTED: usize = 0;

/// The state shared by both semaphore kinds.
struct Permits {
    available: Cell<usize>,
    /// Most permits that may be available at once (`usize::MAX` for [`Semaphore`]).
    bound: usize,
    waiters: RefCell<WaitList>,
}

impl Permits {
    const fn new(value: usize, bound: usize) -> Permits {
        Permits {
            available: Cell::new(value),
            bound,
            waiters: RefCell::new(WaitList::new()),
        }
    }

    fn try_take(&self) -> bool {
        let n = self.available.get();
        if n > 0 {
            self.available.set(n - 1);
            true
        } else {
            false
        }
    }

    /// Returns a permit: to the first waiter if there is one, else to the pool.
    /// `false` (and no change) if the pool is already at its bound.
    fn release(&self) -> bool {
        let w = {
            let mut waiters = self.waiters.borrow_mut();
            if waiters.is_empty() {
                let n = self.available.get();
                if n >= self.bound {
                    return false;
                }
                self.available.set(n + 1);
                return true;
            }
            waiters.notify_one(GRANTED)
        };
        wake(w);
        true
    }

    fn is_locked(&self) -> bool {
        self.available.get() == 0
    }

    fn acquire(&self) -> Acquire<'_> {
        Acquire {
            permits: self,
            key: None,
        }
    }
}

impl fmt::Debug for Permits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("value", &self.available.get())
            .field("waiters", &self.waiters.borrow().len())
            .finish()
    }
}

/// A counting semaphore (asyncio's `Semaphore`): at most `value` holders at once.
///
/// [`acquire`](Semaphore::acquire) waits for a permit and returns a [`SemaphorePermit`]
/// that gives it back when dropped. Waiters are served in FIFO order. A `Semaphore` is a
/// cheap handle: clone it to share the semaphore (its permits) between tasks.
///
/// # Examples
/// ```
/// use std::{cell::Cell, rc::Rc, time::Duration};
/// simul::run(async {
///     let sem = simul::Semaphore::new(2);
///     let (now, peak) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
///     let tasks: Vec<_> = (0..6).map(|_| {
///         let (sem, now, peak) = (sem.clone(), now.clone(), peak.clone());
///         simul::spawn(async move {
///             let _permit = sem.acquire().await;
///             now.set(now.get() + 1);
///             peak.set(peak.get().max(now.get()));
///             simul::sleep(Duration::from_millis(1)).await;
///             now.set(now.get() - 1);
///         })
///     }).collect();
///     for t in tasks { t.await.unwrap(); }
///     assert_eq!(peak.get(), 2);
/// });
/// ```
#[derive(Clone)]
pub struct Semaphore {
    /// Shared by every clone.
    permits: Rc<Permits>,
}

impl Semaphore {
    /// A semaphore with `value` permits.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(simul::Semaphore::new(3).value(), 3);
    /// ```
    pub fn new(value: usize) -> Semaphore {
        Semaphore {
            permits: Rc::new(Permits::new(value, usize::MAX)),
        }
    }

    /// Waits for a permit. Cancel-safe: dropping the future before it completes takes no
    /// permit (one already handed to it goes to the next waiter).
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let sem = simul::Semaphore::new(1);
    ///     let p = sem.acquire().await;
    ///     assert!(sem.is_locked());
    ///     drop(p);
    ///     assert_eq!(sem.value(), 1);
    /// });
    /// ```
    pub fn acquire(&self) -> Acquire<'_> {
        self.permits.acquire()
    }

    /// Takes a permit if one is available right now.
    ///
    /// # Examples
    /// ```
    /// let sem = simul::Semaphore::new(1);
    /// let p = sem.try_acquire().unwrap();
    /// assert!(sem.try_acquire().is_none());
    /// ```
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        self.permits.try_take().then(|| SemaphorePermit {
            permits: &self.permits,
        })
    }

    /// Adds a permit (asyncio's `release()`): wakes the first waiter, if any. Pairs with
    /// a permit given up by [`SemaphorePermit::forget`]; calling it without one raises
    /// the count above its initial value, as asyncio allows.
    ///
    /// # Examples
    /// ```
    /// let sem = simul::Semaphore::new(0);
    /// sem.release();
    /// assert_eq!(sem.value(), 1);
    /// ```
    pub fn release(&self) {
        self.permits.release();
    }

    /// Permits available now (asyncio's internal `_value`).
    ///
    /// # Examples
    /// ```
    /// assert_eq!(simul::Semaphore::new(4).value(), 4);
    /// ```
    #[doc(alias = "_value")]
    pub fn value(&self) -> usize {
        self.permits.available.get()
    }

    /// `true` when [`acquire`](Semaphore::acquire) would wait (asyncio's `locked()`).
    ///
    /// # Examples
    /// ```
    /// assert!(simul::Semaphore::new(0).is_locked());
    /// ```
    #[doc(alias = "locked")]
    pub fn is_locked(&self) -> bool {
        self.permits.is_locked()
    }
}

impl Default for Semaphore {
    /// A semaphore with one permit, like asyncio's `Semaphore()`.
    fn default() -> Self {
        Semaphore::new(1)
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.permits.fmt(f)
    }
}

/// A semaphore whose count may never exceed its initial value (asyncio's
/// `BoundedSemaphore`): [`release`](BoundedSemaphore::release) past it is an error.
///
/// # Examples
/// ```
/// simul::run(async {
///     let sem = simul::BoundedSemaphore::new(1);
///     sem.acquire().await.forget(); // asyncio: await sem.acquire()
///     assert!(sem.release().is_ok()); // asyncio: sem.release()
///     assert!(sem.release().is_err()); // released too many times
/// });
/// ```
#[derive(Clone)]
pub struct BoundedSemaphore {
    /// Shared by every clone.
    permits: Rc<Permits>,
}

impl BoundedSemaphore {
    /// A semaphore with `value` permits, bounded by `value`.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(simul::BoundedSemaphore::new(2).value(), 2);
    /// ```
    pub fn new(value: usize) -> BoundedSemaphore {
        BoundedSemaphore {
            permits: Rc::new(Permits::new(value, value)),
        }
    }

    /// Waits for a permit; see [`Semaphore::acquire`].
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let sem = simul::BoundedSemaphore::new(1);
    ///     let _p = sem.acquire().await;
    ///     assert!(sem.try_acquire().is_none());
    /// });
    /// ```
    pub fn acquire(&self) -> Acquire<'_> {
        self.permits.acquire()
    }

    /// Takes a permit if one is available right now.
    ///
    /// # Examples
    /// ```
    /// let sem = simul::BoundedSemaphore::new(1);
    /// assert!(sem.try_acquire().is_some());
    /// ```
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        self.permits.try_take().then(|| SemaphorePermit {
            permits: &self.permits,
        })
    }

    /// Gives a permit back (asyncio's `release()`).
    ///
    /// # Errors
    /// [`ReleaseError`] when that would raise the count above the initial value
    /// (asyncio's `ValueError: BoundedSemaphore released too many times`); nothing changes.
    ///
    /// # Examples
    /// ```
    /// let sem = simul::BoundedSemaphore::new(1);
    /// assert_eq!(sem.release(), Err(simul::sync::ReleaseError));
    /// ```
    pub fn release(&self) -> Result<(), ReleaseError> {
        if self.permits.release() {
            Ok(())
        } else {
            Err(ReleaseError)
        }
    }

    /// Permits available now.
    ///
    /// # Examples
    /// ```
    /// let sem = simul::BoundedSemaphore::new(2);
    /// let _p = sem.try_acquire();
    /// assert_eq!(sem.value(), 1);
    /// ```
    #[doc(alias = "_value")]
    pub fn value(&self) -> usize {
        self.permits.available.get()
    }

    /// `true` when [`acquire`](BoundedSemaphore::acquire) would wait.
    ///
    /// # Examples
    /// ```
    /// assert!(simul::BoundedSemaphore::new(0).is_locked());
    /// ```
    #[doc(alias = "locked")]
    pub fn is_locked(&self) -> bool {
        self.permits.is_locked()
    }
}

impl fmt::Debug for BoundedSemaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.permits.fmt(f)
    }
}

/// [`BoundedSemaphore::release`] would exceed the initial value.
///
/// # Examples
/// ```
/// let e = simul::sync::ReleaseError;
/// assert_eq!(e.to_string(), "BoundedSemaphore released too many times");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReleaseError;

impl fmt::Display for ReleaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BoundedSemaphore released too many times")
    }
}

impl std::error::Error for ReleaseError {}

/// One permit of a [`Semaphore`] or [`BoundedSemaphore`], given back when dropped.
///
/// For a [`BoundedSemaphore`] the permit is given back only up to the bound: if extra
/// [`release`](BoundedSemaphore::release) calls already filled the count, dropping the
/// permit leaves it there.
///
/// # Examples
/// ```
/// let sem = simul::Semaphore::new(1);
/// {
///     let _permit = sem.try_acquire().unwrap();
///     assert_eq!(sem.value(), 0);
/// }
/// assert_eq!(sem.value(), 1);
/// ```
#[must_use = "the permit is released as soon as it is dropped"]
pub struct SemaphorePermit<'a> {
    permits: &'a Permits,
}

impl SemaphorePermit<'_> {
    /// Keeps the permit taken without holding a guard: the semaphore's count stays lower
    /// until someone calls `release()` (asyncio's manual `acquire()` without `async with`).
    ///
    /// # Examples
    /// ```
    /// let sem = simul::Semaphore::new(1);
    /// sem.try_acquire().unwrap().forget();
    /// assert_eq!(sem.value(), 0);
    /// sem.release();
    /// assert_eq!(sem.value(), 1);
    /// ```
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        self.permits.release();
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit").finish_non_exhaustive()
    }
}

/// The future of [`Semaphore::acquire`] and [`BoundedSemaphore::acquire`].
///
/// # Examples
/// ```
/// simul::run(async {
///     let sem = simul::Semaphore::new(1);
///     let fut: simul::sync::Acquire<'_> = sem.acquire();
///     let _permit = fut.await;
/// });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct Acquire<'a> {
    permits: &'a Permits,
    key: Option<Key>,
}

impl<'a> Future for Acquire<'a> {
    type Output = SemaphorePermit<'a>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<SemaphorePermit<'a>> {
        let permits = self.permits;
        match self.key {
            None => {
                if permits.try_take() {
                    return Poll::Ready(SemaphorePermit { permits });
                }
                let key = permits.waiters.borrow_mut().push(Some(cx.waker().clone()));
                self.key = Some(key);
                Poll::Pending
            }
            Some(key) => {
                std::task::ready!(super::waiters::poll_waiter(
                    &permits.waiters,
                    key,
                    cx.waker()
                ));
                self.key = None;
                Poll::Ready(SemaphorePermit { permits })
            }
        }
    }
}

impl Drop for Acquire<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let granted = self.permits.waiters.borrow_mut().remove(key).is_some();
            if granted {
                // A permit was handed to us: pass it on.
                self.permits.release();
            }
        }
    }
}

impl fmt::Debug for Acquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire")
            .field("queued", &self.key.is_some())
            .finish_non_exhaustive()
    }
}
