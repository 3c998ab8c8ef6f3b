//! [`Event`]: asyncio's `Event`, a flag tasks can wait for.
//!
//! # Design
//!
//! A `Cell<bool>` flag and a FIFO of waiters. [`Event::set`] marks every queued waiter
//! notified and wakes it; a notified waiter completes even if the event is cleared again
//! before it runs (as in asyncio, where `set()` resolves the waiters' futures). Setting an
//! event is the one place in this module where waking everybody is the point.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::waiters::{wake, Key, WaitList};

const SET: usize = 0;

/// A flag that tasks can wait for (asyncio's `Event`).
///
/// Initially clear; [`set`](Event::set) sets it and wakes every waiting task,
/// [`clear`](Event::clear) resets it, [`wait`](Event::wait) returns at once while it is set.
/// An `Event` is a cheap handle: clone it to share the event between tasks (every clone
/// sets, clears and waits on the same flag).
///
/// # Examples
/// ```
/// simul::run(async {
///     let ready = simul::Event::new();
///     let r = ready.clone();
///     let waiter = simul::spawn(async move {
///         r.wait().await;
///         "went"
///     });
///     simul::yield_now().await;
///     assert!(!waiter.is_done());
///     ready.set();
///     assert_eq!(waiter.await.unwrap(), "went");
/// });
/// ```
#[derive(Default, Clone)]
pub struct Event {
    inner: Rc<Inner>,
}

/// The state every clone of an [`Event`] shares.
#[derive(Default)]
struct Inner {
    flag: Cell<bool>,
    waiters: RefCell<WaitList>,
}

impl Event {
    /// A new, clear event.
    ///
    /// # Examples
    /// ```
    /// assert!(!simul::Event::new().is_set());
    /// ```
    pub fn new() -> Event {
        Event::default()
    }

    /// Sets the flag and wakes every task waiting for it.
    ///
    /// # Examples
    /// ```
    /// let e = simul::Event::new();
    /// e.set();
    /// assert!(e.is_set());
    /// ```
    pub fn set(&self) {
        if self.inner.flag.replace(true) {
            return;
        }
        loop {
            // One waiter at a time, so no borrow is held while a waker runs.
            let w = self.inner.waiters.borrow_mut().notify_one(SET);
            if w.is_none() {
                break;
            }
            wake(w);
        }
    }

    /// Clears the flag; later [`wait`](Event::wait)s block until the next `set`.
    ///
    /// # Examples
    /// ```
    /// let e = simul::Event::new();
    /// e.set();
    /// e.clear();
    /// assert!(!e.is_set());
    /// ```
    pub fn clear(&self) {
        self.inner.flag.set(false);
    }

    /// `true` while the flag is set.
    ///
    /// # Examples
    /// ```
    /// let e = simul::Event::new();
    /// assert!(!e.is_set());
    /// ```
    pub fn is_set(&self) -> bool {
        self.inner.flag.get()
    }

    /// Waits until the flag is set (at once if it already is).
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let e = simul::Event::new();
    ///     e.set();
    ///     e.wait().await;
    /// });
    /// ```
    pub fn wait(&self) -> EventWait<'_> {
        EventWait {
            event: self,
            key: None,
        }
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("set", &self.inner.flag.get())
            .field("waiters", &self.inner.waiters.borrow().len())
            .finish()
    }
}

/// The future of [`Event::wait`].
///
/// # Examples
/// ```
/// simul::run(async {
///     let e = simul::Event::new();
///     e.set();
///     let w: simul::sync::EventWait<'_> = e.wait();
///     w.await;
/// });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct EventWait<'a> {
    event: &'a Event,
    key: Option<Key>,
}

impl Future for EventWait<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let event = self.event;
        match self.key {
            None => {
                if event.inner.flag.get() {
                    return Poll::Ready(());
                }
                let key = event
                    .inner
                    .waiters
                    .borrow_mut()
                    .push(Some(cx.waker().clone()));
                self.key = Some(key);
                Poll::Pending
            }
            Some(key) => {
                std::task::ready!(super::waiters::poll_waiter(
                    &event.inner.waiters,
                    key,
                    cx.waker()
                ));
                self.key = None;
                Poll::Ready(())
            }
        }
    }
}

impl Drop for EventWait<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.event.inner.waiters.borrow_mut().remove(key);
        }
    }
}

impl fmt::Debug for EventWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventWait")
            .field("queued", &self.key.is_some())
            .finish_non_exhaustive()
    }
}
