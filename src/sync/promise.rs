//! [`Promise`]: asyncio's low-level `Future`, a result set from outside.
//!
//! # Design
//!
//! A `Promise<T>` is a cheap handle (`Rc`) on a shared cell that is pending until
//! [`set_result`](Promise::set_result), [`set_error`](Promise::set_error) or
//! [`cancel`](Promise::cancel) completes it, once. Every clone is itself a future: each
//! awaiting clone queues one waiter node, and completion wakes them all, each receiving
//! a clone of the result. Errors are stored as `Rc<dyn Error>` so that any error type can
//! be set (asyncio's `set_exception`) and cloned out to every awaiter.
//!
//! Done callbacks ([`add_done_callback`](Promise::add_done_callback)) are scheduled with
//! [`call_soon`](crate::call_soon) when the promise completes, as asyncio does — never
//! run inside `set_result` itself — and in the order they were added.

use std::cell::RefCell;
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::waiters::{wake, Key, WaitList};

type Callback<T> = Box<dyn FnOnce(&Result<T, PromiseError>)>;

struct Inner<T> {
    result: RefCell<Option<Result<T, PromiseError>>>,
    waiters: RefCell<WaitList>,
    callbacks: RefCell<Vec<Callback<T>>>,
}

/// A value that will be set later (asyncio's `Future`), awaited by any number of clones.
///
/// Awaiting a promise yields `Ok(value)` after [`set_result`](Promise::set_result), and
/// `Err(PromiseError)` after [`set_error`](Promise::set_error) or
/// [`cancel`](Promise::cancel). A promise is completed once; later attempts return `Err`.
///
/// # Examples
/// ```
/// simul::run(async {
///     let p = simul::Promise::new();
///     let waiter = simul::spawn({
///         let p = p.clone();
///         async move { p.await.unwrap() * 2 }
///     });
///     simul::call_soon({
///         let p = p.clone();
///         move || p.set_result(21).unwrap()
///     });
///     assert_eq!(waiter.await.unwrap(), 42);
///     assert_eq!(p.await, Ok(21)); // awaiting again gives the same result
/// });
/// ```
#[doc(alias = "Future")]
#[must_use = "futures do nothing unless awaited"]
pub struct Promise<T> {
    inner: Rc<Inner<T>>,
    /// This handle's waiter node while it is being awaited.
    key: Option<Key>,
}

impl<T> Unpin for Promise<T> {}

impl<T> Promise<T> {
    /// A new pending promise (asyncio's `loop.create_future()`).
    ///
    /// # Examples
    /// ```
    /// let p = simul::Promise::<i32>::new();
    /// assert!(!p.is_done());
    /// ```
    #[doc(alias = "create_future")]
    pub fn new() -> Promise<T> {
        Promise {
            inner: Rc::new(Inner {
                result: RefCell::new(None),
                waiters: RefCell::new(WaitList::new()),
                callbacks: RefCell::new(Vec::new()),
            }),
            key: None,
        }
    }

    /// Completes the promise with `value` and wakes every awaiter.
    ///
    /// # Errors
    /// If the promise is already done, [`InvalidStateError`] carrying `value` back.
    ///
    /// # Examples
    /// ```
    /// let p = simul::Promise::new();
    /// assert!(p.set_result(1).is_ok());
    /// assert_eq!(p.set_result(2).unwrap_err().into_inner(), 2);
    /// ```
    pub fn set_result(&self, value: T) -> Result<(), InvalidStateError<T>>
    where
        T: 'static,
    {
        if self.is_done() {
            return Err(InvalidStateError(value));
        }
        self.complete(Ok(value));
        Ok(())
    }

    /// Completes the promise with an error (asyncio's `set_exception`); awaiters get
    /// [`PromiseError::Failed`] holding it.
    ///
    /// # Errors
    /// If the promise is already done, [`InvalidStateError`] carrying the error back.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let p = simul::Promise::<()>::new();
    ///     p.set_error("no luck").unwrap();
    ///     let err = p.await.unwrap_err();
    ///     assert_eq!(err.to_string(), "no luck");
    /// });
    /// ```
    #[doc(alias = "set_exception")]
    pub fn set_error(
        &self,
        error: impl Into<Box<dyn Error>>,
    ) -> Result<(), InvalidStateError<Box<dyn Error>>>
    where
        T: 'static,
    {
        let error = error.into();
        if self.is_done() {
            return Err(InvalidStateError(error));
        }
        self.complete(Err(PromiseError::Failed(Rc::from(error))));
        Ok(())
    }

    /// Cancels the promise: awaiters get [`PromiseError::Cancelled`]. Returns `false`
    /// (and changes nothing) if it was already done.
    ///
    /// # Examples
    /// ```
    /// let p = simul::Promise::<u8>::new();
    /// assert!(p.cancel());
    /// assert!(p.is_cancelled());
    /// assert!(!p.cancel());
    /// ```
    pub fn cancel(&self) -> bool
    where
        T: 'static,
    {
        if self.is_done() {
            return false;
        }
        self.complete(Err(PromiseError::Cancelled));
        true
    }

    /// `true` once a result, an error or a cancellation was set (asyncio's `done()`).
    ///
    /// # Examples
    /// ```
    /// let p = simul::Promise::new();
    /// p.set_result("x").unwrap();
    /// assert!(p.is_done());
    /// ```
    #[doc(alias = "done")]
    pub fn is_done(&self) -> bool {
        self.inner.result.borrow().is_some()
    }

    /// `true` if the promise was cancelled (asyncio's `cancelled()`).
    ///
    /// # Examples
    /// ```
    /// let p = simul::Promise::<()>::new();
    /// p.cancel();
    /// assert!(p.is_cancelled());
    /// ```
    #[doc(alias = "cancelled")]
    pub fn is_cancelled(&self) -> bool {
        matches!(
            *self.inner.result.borrow(),
            Some(Err(PromiseError::Cancelled))
        )
    }

    /// The outcome if done, `None` while pending (asyncio's `result()` without the
    /// `InvalidStateError`).
    ///
    /// # Examples
    /// ```
    /// let p = simul::Promise::new();
    /// assert_eq!(p.try_result(), None);
    /// p.set_result(5).unwrap();
    /// assert_eq!(p.try_result(), Some(Ok(5)));
    /// ```
    #[doc(alias = "result")]
    #[doc(alias = "exception")]
    pub fn try_result(&self) -> Option<Result<T, PromiseError>>
    where
        T: Clone,
    {
        self.inner.result.borrow().clone()
    }

    /// Runs `f` with the outcome once the promise is done: scheduled with
    /// [`call_soon`](crate::call_soon) at completion, or right away (scheduled the same
    /// way) if it is already done. Outside a running loop, it runs immediately instead.
    ///
    /// # Examples
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// simul::run(async {
    ///     let p = simul::Promise::new();
    ///     let seen = Rc::new(Cell::new(0));
    ///     let s = seen.clone();
    ///     p.add_done_callback(move |r| s.set(*r.as_ref().unwrap()));
    ///     p.set_result(7).unwrap();
    ///     assert_eq!(seen.get(), 0); // not called synchronously
    ///     simul::yield_now().await;
    ///     assert_eq!(seen.get(), 7);
    /// });
    /// ```
    pub fn add_done_callback(&self, f: impl FnOnce(&Result<T, PromiseError>) + 'static)
    where
        T: 'static,
    {
        if self.is_done() {
            schedule(self.inner.clone(), Box::new(f));
        } else {
            self.inner.callbacks.borrow_mut().push(Box::new(f));
        }
    }

    fn complete(&self, result: Result<T, PromiseError>)
    where
        T: 'static,
    {
        *self.inner.result.borrow_mut() = Some(result);
        loop {
            let w = self.inner.waiters.borrow_mut().notify_one(0);
            if w.is_none() {
                break;
            }
            wake(w);
        }
        let callbacks = std::mem::take(&mut *self.inner.callbacks.borrow_mut());
        for cb in callbacks {
            schedule(self.inner.clone(), cb);
        }
    }
}

fn schedule<T: 'static>(inner: Rc<Inner<T>>, cb: Callback<T>) {
    let run = move || {
        let r = inner.result.borrow();
        if let Some(r) = &*r {
            cb(r);
        }
    };
    if crate::runtime::try_with_core(|_| ()).is_some() {
        drop(crate::runtime::call_soon(run));
    } else {
        run();
    }
}

impl<T> Default for Promise<T> {
    fn default() -> Self {
        Promise::new()
    }
}

impl<T> Clone for Promise<T> {
    /// Another handle on the same promise (with its own place in the queue of awaiters).
    fn clone(&self) -> Self {
        Promise {
            inner: self.inner.clone(),
            key: None,
        }
    }
}

impl<T: Clone> Future for Promise<T> {
    type Output = Result<T, PromiseError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Some(r) = &*this.inner.result.borrow() {
            if let Some(key) = this.key.take() {
                this.inner.waiters.borrow_mut().remove(key);
            }
            return Poll::Ready(r.clone());
        }
        let mut waiters = this.inner.waiters.borrow_mut();
        match this.key {
            None => this.key = Some(waiters.push(Some(cx.waker().clone()))),
            Some(key) => {
                let old = waiters.set_waker(key, cx.waker());
                drop(waiters);
                drop(old);
            }
        }
        Poll::Pending
    }
}

impl<T> Drop for Promise<T> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.inner.waiters.borrow_mut().remove(key);
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Promise<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.inner.result.borrow() {
            None => f.write_str("Promise(<pending>)"),
            Some(r) => f.debug_tuple("Promise").field(r).finish(),
        }
    }
}

/// Why awaiting a [`Promise`] failed.
///
/// # Examples
/// ```
/// simul::run(async {
///     let p = simul::Promise::<()>::new();
///     p.cancel();
///     assert_eq!(p.await, Err(simul::PromiseError::Cancelled));
/// });
/// ```
#[derive(Clone)]
pub enum PromiseError {
    /// [`Promise::cancel`] was called (asyncio's `CancelledError`).
    #[doc(alias = "CancelledError")]
    Cancelled,
    /// [`Promise::set_error`] was called with this error.
    Failed(Rc<dyn Error>),
}

impl PromiseError {
    /// `true` for [`PromiseError::Cancelled`].
    ///
    /// # Examples
    /// ```
    /// assert!(simul::PromiseError::Cancelled.is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        matches!(self, PromiseError::Cancelled)
    }

    /// The error set with [`Promise::set_error`], if this is one.
    ///
    /// # Examples
    /// ```
    /// let p = simul::Promise::<()>::new();
    /// p.set_error(std::io::Error::other("disk")).unwrap();
    /// let e = p.try_result().unwrap().unwrap_err();
    /// assert!(e.error().unwrap().downcast_ref::<std::io::Error>().is_some());
    /// ```
    #[doc(alias = "exception")]
    pub fn error(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            PromiseError::Cancelled => None,
            PromiseError::Failed(e) => Some(&**e),
        }
    }
}

impl PartialEq for PromiseError {
    /// Cancellations are equal; failures are equal when they share the same error.
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (PromiseError::Cancelled, PromiseError::Cancelled) => true,
            (PromiseError::Failed(a), PromiseError::Failed(b)) => Rc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl fmt::Debug for PromiseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PromiseError::Cancelled => f.write_str("Cancelled"),
            PromiseError::Failed(e) => f.debug_tuple("Failed").field(e).finish(),
        }
    }
}

impl fmt::Display for PromiseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PromiseError::Cancelled => f.write_str("the promise was cancelled"),
            PromiseError::Failed(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl Error for PromiseError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.error()
    }
}

/// The promise was already done (asyncio's `InvalidStateError`); carries back what was
/// offered.
///
/// # Examples
/// ```
/// let p = simul::Promise::new();
/// p.set_result(1).unwrap();
/// let err = p.set_result(2).unwrap_err();
/// assert_eq!(err.to_string(), "invalid state: the promise is already done");
/// assert_eq!(err.into_inner(), 2);
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct InvalidStateError<T>(pub T);

impl<T> InvalidStateError<T> {
    /// The value that was not stored.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(simul::sync::InvalidStateError(3).into_inner(), 3);
    /// ```
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for InvalidStateError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InvalidStateError(..)")
    }
}

impl<T> fmt::Display for InvalidStateError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid state: the promise is already done")
    }
}

impl<T> Error for InvalidStateError<T> {}
