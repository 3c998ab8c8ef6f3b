//! [`channel`]: a queue that plain threads (or other loops) can feed, read by a task.
//!
//! # Design
//!
//! Everything else in `sync` is single-loop and lock-free; this is the bridge to the rest
//! of the process. It is deliberately simple: one `Mutex` guards a `VecDeque` of items,
//! the receiving task's `Waker`, and the number of live senders. A send pushes under the
//! lock, takes the waker out, and wakes it after unlocking — so a burst of sends wakes
//! the loop once, and the loop pays a syscall only if it was parked (the core's wake-up
//! handshake). The receiver stores its waker under the same lock when it finds nothing,
//! so no wake-up can be lost between its check and its sleep.
//!
//! The channel is unbounded: `send` never blocks, which is what a thread feeding an event
//! loop wants (asyncio's `call_soon_threadsafe(queue.put_nowait, item)` pattern).
//! `recv` returns `None` once every [`Sender`] is dropped and the items are drained.
//!
//! Virtual time: the loop does not know that another thread is about to send, so with
//! [`Builder::virtual_time`](crate::Builder::virtual_time) it may jump to the next timer
//! while a task waits on [`Receiver::recv`]. Use real time to test code fed by threads.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use futures_core::Stream;

use crate::io::coop_exhausted;

struct State<T> {
    items: VecDeque<T>,
    waker: Option<Waker>,
    senders: usize,
    receiver_alive: bool,
}

struct Shared<T> {
    state: Mutex<State<T>>,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // The lock is never held across user code, so poisoning cannot leave the state
        // inconsistent: carry on.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Creates an unbounded channel whose [`Sender`] works from any thread (it is `Send +
/// Sync` and never blocks) and whose [`Receiver`] is awaited by a task.
///
/// # Examples
/// ```
/// simul::run(async {
///     let (tx, mut rx) = simul::sync::channel();
///     let worker = std::thread::spawn(move || {
///         for i in 0..3 {
///             tx.send(i).unwrap();
///         }
///     }); // `tx` dropped here: the channel ends once drained
///     let mut got = Vec::new();
///     while let Some(i) = rx.recv().await {
///         got.push(i);
///     }
///     worker.join().unwrap();
///     assert_eq!(got, [0, 1, 2]);
/// });
/// ```
#[doc(alias = "ThreadSafeQueue")]
#[doc(alias = "call_soon_threadsafe")]
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            items: VecDeque::new(),
            waker: None,
            senders: 1,
            receiver_alive: true,
        }),
    });
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared },
    )
}

/// The sending half of a [`channel`]: clone it for more senders, move it to any thread.
///
/// # Examples
/// ```
/// let (tx, rx) = simul::sync::channel::<&str>();
/// let tx2 = tx.clone();
/// std::thread::spawn(move || tx2.send("from a thread").unwrap()).join().unwrap();
/// assert_eq!(rx.try_recv(), Ok("from a thread"));
/// ```
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Sender<T> {
    /// Queues `item` for the receiver and wakes it. Never blocks.
    ///
    /// # Errors
    /// [`SendError`] (with the item) when the [`Receiver`] was dropped or closed.
    ///
    /// # Examples
    /// ```
    /// let (tx, rx) = simul::sync::channel();
    /// tx.send(1).unwrap();
    /// drop(rx);
    /// assert_eq!(tx.send(2).unwrap_err().into_inner(), 2);
    /// ```
    pub fn send(&self, item: T) -> Result<(), SendError<T>> {
        let mut st = self.shared.lock();
        if !st.receiver_alive {
            return Err(SendError(item));
        }
        st.items.push_back(item);
        let w = st.waker.take();
        drop(st);
        if let Some(w) = w {
            w.wake();
        }
        Ok(())
    }

    /// `true` once the receiver is dropped or closed: sends would fail.
    ///
    /// # Examples
    /// ```
    /// let (tx, mut rx) = simul::sync::channel::<()>();
    /// rx.close();
    /// assert!(tx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        !self.shared.lock().receiver_alive
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.shared.lock().senders += 1;
        Sender {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.senders -= 1;
        let w = if st.senders == 0 {
            st.waker.take()
        } else {
            None
        };
        drop(st);
        if let Some(w) = w {
            w.wake(); // the receiver sees the end of the channel
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

/// The receiving half of a [`channel`], awaited by one task; also a [`Stream`].
///
/// # Examples
/// ```
/// simul::run(async {
///     let (tx, mut rx) = simul::sync::channel();
///     tx.send("hi").unwrap();
///     assert_eq!(rx.recv().await, Some("hi"));
/// });
/// ```
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Receiver<T> {
    /// Waits for the next item; `None` once every sender is dropped and the channel is
    /// drained. Cancel-safe: a dropped `recv` takes nothing.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let (tx, mut rx) = simul::sync::channel::<u8>();
    ///     drop(tx);
    ///     assert_eq!(rx.recv().await, None);
    /// });
    /// ```
    pub fn recv(&mut self) -> Recv<'_, T> {
        Recv { rx: self }
    }

    /// Takes the next item without waiting.
    ///
    /// # Errors
    /// [`TryRecvError::Empty`] when nothing is queued, [`TryRecvError::Disconnected`]
    /// when also no sender is left.
    ///
    /// # Examples
    /// ```
    /// use simul::sync::TryRecvError;
    /// let (tx, rx) = simul::sync::channel();
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    /// tx.send(5).unwrap();
    /// drop(tx);
    /// assert_eq!(rx.try_recv(), Ok(5));
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    /// ```
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        let mut st = self.shared.lock();
        match st.items.pop_front() {
            Some(v) => Ok(v),
            None if st.senders == 0 => Err(TryRecvError::Disconnected),
            None => Err(TryRecvError::Empty),
        }
    }

    /// Stops accepting items: later sends fail, items already queued can still be
    /// received.
    ///
    /// # Examples
    /// ```
    /// let (tx, mut rx) = simul::sync::channel();
    /// tx.send(1).unwrap();
    /// rx.close();
    /// assert!(tx.send(2).is_err());
    /// assert_eq!(rx.try_recv(), Ok(1));
    /// ```
    pub fn close(&mut self) {
        self.shared.lock().receiver_alive = false;
    }

    /// Items queued now.
    ///
    /// # Examples
    /// ```
    /// let (tx, rx) = simul::sync::channel();
    /// tx.send(()).unwrap();
    /// assert_eq!(rx.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.shared.lock().items.len()
    }

    /// `true` when nothing is queued now.
    ///
    /// # Examples
    /// ```
    /// let (_tx, rx) = simul::sync::channel::<()>();
    /// assert!(rx.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.shared.lock().items.is_empty()
    }

    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut st = self.shared.lock();
        if !st.items.is_empty() {
            if coop_exhausted(cx) {
                return Poll::Pending;
            }
            return Poll::Ready(st.items.pop_front());
        }
        if st.senders == 0 {
            return Poll::Ready(None);
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
        st.receiver_alive = false;
        let items = std::mem::take(&mut st.items);
        let waker = st.waker.take();
        drop(st);
        drop(items); // destructors run without the lock
        drop(waker);
    }
}

impl<T> Stream for Receiver<T> {
    type Item = T;

    /// The next item, as [`recv`](Receiver::recv) returns it.
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.get_mut().poll_recv(cx)
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

/// The future of [`Receiver::recv`].
///
/// # Examples
/// ```
/// simul::run(async {
///     let (tx, mut rx) = simul::sync::channel();
///     tx.send(1).unwrap();
///     let r: simul::sync::Recv<'_, i32> = rx.recv();
///     assert_eq!(r.await, Some(1));
/// });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct Recv<'a, T> {
    rx: &'a mut Receiver<T>,
}

impl<T> Future for Recv<'_, T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.get_mut().rx.poll_recv(cx)
    }
}

impl<T> fmt::Debug for Recv<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recv").finish_non_exhaustive()
    }
}

/// The [`Receiver`] is gone; carries back the item that was not sent.
///
/// # Examples
/// ```
/// let (tx, rx) = simul::sync::channel();
/// drop(rx);
/// let err = tx.send("lost?").unwrap_err();
/// assert_eq!(err.to_string(), "the receiver is closed");
/// assert_eq!(err.into_inner(), "lost?");
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SendError<T>(pub T);

impl<T> SendError<T> {
    /// The item that was not sent.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(simul::sync::SendError(1).into_inner(), 1);
    /// ```
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError(..)")
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the receiver is closed")
    }
}

impl<T> std::error::Error for SendError<T> {}

/// Why [`Receiver::try_recv`] returned no item.
///
/// # Examples
/// ```
/// let (tx, rx) = simul::sync::channel::<()>();
/// assert_eq!(rx.try_recv(), Err(simul::sync::TryRecvError::Empty));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TryRecvError {
    /// Nothing queued right now.
    Empty,
    /// Nothing queued and every sender is gone.
    Disconnected,
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => f.write_str("the channel is empty"),
            TryRecvError::Disconnected => f.write_str("the channel is empty and closed"),
        }
    }
}

impl std::error::Error for TryRecvError {}
