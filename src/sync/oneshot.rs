//! [`oneshot`](self): one value, sent once, from any thread or loop to a task on another.
//!
//! # Design
//!
//! The `Send` counterpart of [`Promise`](crate::Promise) (which is single-loop and
//! `!Send`): one `Mutex` guards the value, the receiver's waker and two flags (the sender is
//! gone, the receiver is gone). The lock is held only to move those fields, never across
//! user code; wakers are woken and values dropped after it is released. A send never waits:
//! there is room for exactly one value. Dropping the [`Sender`] unsent resolves the
//! [`Receiver`] with [`RecvError`] (asyncio: a future that will never be set, reported
//! instead of hanging).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

struct State<T> {
    value: Option<T>,
    waker: Option<Waker>,
    sender_gone: bool,
    receiver_gone: bool,
}

struct Shared<T> {
    state: Mutex<State<T>>,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // Never held across user code: a poisoned lock still guards consistent fields.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Creates a one-shot channel: a [`Sender`] that moves to any thread or loop and sends one
/// value, and a [`Receiver`] that a task awaits for it.
///
/// # Examples
/// ```
/// let loops = simul::Loops::builder().count(2).build().unwrap();
/// let (tx, rx) = simul::sync::oneshot::channel();
/// loops.spawn_on(1, async move { tx.send(42).unwrap() });
/// let got = loops.spawn_on(0, async move { rx.await.unwrap() });
/// assert_eq!(simul::run(got).unwrap(), 42);
/// ```
#[doc(alias = "run_coroutine_threadsafe")]
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            value: None,
            waker: None,
            sender_gone: false,
            receiver_gone: false,
        }),
    });
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared },
    )
}

/// The sending half of a [`channel`]; `Send`, used once.
///
/// # Examples
/// ```
/// let (tx, rx) = simul::sync::oneshot::channel();
/// std::thread::spawn(move || tx.send("done").unwrap()).join().unwrap();
/// assert_eq!(rx.try_recv(), Ok(Some("done")));
/// ```
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Sender<T> {
    /// Sends the value and wakes the receiver.
    ///
    /// # Errors
    /// Gives the value back when the [`Receiver`] was dropped.
    ///
    /// # Examples
    /// ```
    /// let (tx, rx) = simul::sync::oneshot::channel();
    /// drop(rx);
    /// assert_eq!(tx.send(7), Err(7));
    /// ```
    pub fn send(self, value: T) -> Result<(), T> {
        let mut st = self.shared.lock();
        if st.receiver_gone {
            return Err(value);
        }
        st.value = Some(value);
        let w = st.waker.take();
        drop(st);
        if let Some(w) = w {
            w.wake();
        }
        Ok(())
        // `self` drops here; the value is already in place, so the receiver sees it.
    }

    /// `true` once the receiver is dropped: a send would fail.
    ///
    /// # Examples
    /// ```
    /// let (tx, rx) = simul::sync::oneshot::channel::<()>();
    /// drop(rx);
    /// assert!(tx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        self.shared.lock().receiver_gone
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.sender_gone = true;
        let w = st.waker.take();
        drop(st);
        if let Some(w) = w {
            w.wake();
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("oneshot::Sender").finish_non_exhaustive()
    }
}

/// The receiving half of a [`channel`]: a future of the value, `Send` too.
///
/// # Examples
/// ```
/// simul::run(async {
///     let (tx, rx) = simul::sync::oneshot::channel();
///     std::thread::spawn(move || tx.send(5).unwrap());
///     assert_eq!(rx.await, Ok(5));
/// });
/// ```
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Receiver<T> {
    /// Takes the value if it has arrived, without waiting.
    ///
    /// # Errors
    /// [`RecvError`] when the sender was dropped without sending (or the value was already
    /// taken).
    ///
    /// # Examples
    /// ```
    /// let (tx, rx) = simul::sync::oneshot::channel::<u8>();
    /// assert_eq!(rx.try_recv(), Ok(None));
    /// drop(tx);
    /// assert!(rx.try_recv().is_err());
    /// ```
    pub fn try_recv(&self) -> Result<Option<T>, RecvError> {
        let mut st = self.shared.lock();
        match st.value.take() {
            Some(v) => Ok(Some(v)),
            None if st.sender_gone => Err(RecvError),
            None => Ok(None),
        }
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut st = self.shared.lock();
        if let Some(v) = st.value.take() {
            return Poll::Ready(Ok(v));
        }
        if st.sender_gone {
            return Poll::Ready(Err(RecvError));
        }
        let old = match &st.waker {
            Some(w) if w.will_wake(cx.waker()) => None,
            _ => st.waker.replace(cx.waker().clone()),
        };
        drop(st);
        drop(old);
        Poll::Pending
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.receiver_gone = true;
        let value = st.value.take();
        let waker = st.waker.take();
        drop(st);
        drop(value); // its destructor runs without the lock
        drop(waker);
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("oneshot::Receiver").finish_non_exhaustive()
    }
}

/// The [`Sender`] was dropped without sending a value.
///
/// # Examples
/// ```
/// let (tx, rx) = simul::sync::oneshot::channel::<()>();
/// drop(tx);
/// let e = rx.try_recv().unwrap_err();
/// assert_eq!(e.to_string(), "the oneshot sender was dropped without sending a value");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecvError;

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the oneshot sender was dropped without sending a value")
    }
}

impl std::error::Error for RecvError {}
