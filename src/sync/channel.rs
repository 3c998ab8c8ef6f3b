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
//! [`channel`] is unbounded: `send` never blocks, which is what a thread feeding an event
//! loop wants (asyncio's `call_soon_threadsafe(queue.put_nowait, item)` pattern).
//! `recv` returns `None` once every [`Sender`] is dropped and the items are drained.
//!
//! [`bounded_channel`] adds backpressure between loops (or threads): at most `capacity`
//! items wait, and [`BoundedSender::send`] suspends the sending task while the channel is
//! full. Waiting senders are kept in a FIFO of `(ticket, waker)` under the same lock; each
//! item the receiver takes wakes the oldest one. A waiting send that is dropped (cancelled)
//! removes its ticket, or, if it had already been woken, passes the wake-up on to the next
//! sender, so no wake-up is lost and nothing is enqueued by a cancelled send. Closing or
//! dropping the receiver wakes every waiting sender, which then fails with the item.
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
    /// `usize::MAX` for an unbounded channel.
    capacity: usize,
    /// Senders waiting for room, oldest first: (ticket, waker).
    send_waiters: VecDeque<(u64, Waker)>,
    next_ticket: u64,
}

impl<T> State<T> {
    fn new(capacity: usize) -> State<T> {
        State {
            items: VecDeque::new(),
            waker: None,
            senders: 1,
            receiver_alive: true,
            capacity,
            send_waiters: VecDeque::new(),
            next_ticket: 0,
        }
    }

    /// The oldest waiting sender, to be woken after the lock is released.
    fn next_sender(&mut self) -> Option<Waker> {
        self.send_waiters.pop_front().map(|(_, w)| w)
    }
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
        state: Mutex::new(State::new(usize::MAX)),
    });
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared },
    )
}

/// Creates a channel that holds at most `capacity` items: [`BoundedSender::send`] waits
/// while it is full, so a fast producer (on another loop or thread) is slowed to the pace
/// of the consumer. The [`Receiver`] is the same as [`channel`]'s.
///
/// # Panics
/// When `capacity` is 0 (a channel must hold at least one item).
///
/// # Examples
/// ```
/// let loops = simul::Loops::builder().count(2).build().unwrap();
/// let (tx, mut rx) = simul::sync::bounded_channel(2);
/// let producer = loops.spawn_on(0, async move {
///     for i in 0..10 {
///         tx.send(i).await.unwrap(); // waits while 2 items are queued
///     }
/// });
/// let consumer = loops.spawn_on(1, async move {
///     let mut got = Vec::new();
///     while let Some(i) = rx.recv().await {
///         assert!(rx.len() <= 2);
///         got.push(i);
///     }
///     got
/// });
/// simul::run(async {
///     producer.await.unwrap();
///     assert_eq!(consumer.await.unwrap(), (0..10).collect::<Vec<_>>());
/// });
/// ```
#[doc(alias = "Queue")]
pub fn bounded_channel<T>(capacity: usize) -> (BoundedSender<T>, Receiver<T>) {
    assert!(
        capacity > 0,
        "simul::sync::bounded_channel: capacity must be at least 1"
    );
    let shared = Arc::new(Shared {
        state: Mutex::new(State::new(capacity)),
    });
    (
        BoundedSender {
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
        sender_gone(&self.shared);
    }
}

fn sender_gone<T>(shared: &Shared<T>) {
    let mut st = shared.lock();
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
            Some(v) => {
                let sender = st.next_sender();
                drop(st);
                if let Some(w) = sender {
                    w.wake();
                }
                Ok(v)
            }
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
        let mut st = self.shared.lock();
        st.receiver_alive = false;
        let senders = std::mem::take(&mut st.send_waiters);
        drop(st);
        for (_, w) in senders {
            w.wake(); // they fail with their item
        }
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
            let item = st.items.pop_front();
            let sender = st.next_sender();
            drop(st);
            if let Some(w) = sender {
                w.wake(); // room for one more
            }
            return Poll::Ready(item);
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
        let senders = std::mem::take(&mut st.send_waiters);
        drop(st);
        drop(items); // destructors run without the lock
        drop(waker);
        for (_, w) in senders {
            w.wake();
        }
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

/// The sending half of a [`bounded_channel`]: clone it for more senders, move it to any
/// loop or thread; [`send`](Self::send) waits for room.
///
/// # Examples
/// ```
/// let (tx, rx) = simul::sync::bounded_channel::<u8>(1);
/// tx.try_send(1).unwrap();
/// assert!(tx.try_send(2).unwrap_err().is_full());
/// assert_eq!(rx.try_recv(), Ok(1));
/// ```
pub struct BoundedSender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> BoundedSender<T> {
    /// Waits until the channel has room, then queues `item` and wakes the receiver.
    /// Cancel-safe: a send dropped while waiting queues nothing (and the item is dropped
    /// with it).
    ///
    /// # Errors
    /// [`SendError`] (with the item) when the [`Receiver`] was dropped or closed.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let (tx, mut rx) = simul::sync::bounded_channel(1);
    ///     tx.send("a").await.unwrap();
    ///     let second = simul::spawn(async move { tx.send("b").await }); // waits: full
    ///     simul::yield_now().await;
    ///     assert_eq!(rx.recv().await, Some("a")); // makes room
    ///     second.await.unwrap().unwrap();
    ///     assert_eq!(rx.recv().await, Some("b"));
    /// });
    /// ```
    pub fn send(&self, item: T) -> BoundedSend<'_, T> {
        BoundedSend {
            tx: self,
            item: Some(item),
            ticket: None,
        }
    }

    /// Queues `item` if there is room now.
    ///
    /// # Errors
    /// [`TrySendError::Full`] or [`TrySendError::Closed`], with the item.
    ///
    /// # Examples
    /// ```
    /// use simul::sync::TrySendError;
    /// let (tx, rx) = simul::sync::bounded_channel(1);
    /// tx.try_send(1).unwrap();
    /// assert_eq!(tx.try_send(2), Err(TrySendError::Full(2)));
    /// drop(rx);
    /// assert_eq!(tx.try_send(3), Err(TrySendError::Closed(3)));
    /// ```
    pub fn try_send(&self, item: T) -> Result<(), TrySendError<T>> {
        let mut st = self.shared.lock();
        if !st.receiver_alive {
            return Err(TrySendError::Closed(item));
        }
        // A newcomer does not overtake senders already waiting for room.
        if st.items.len() >= st.capacity || !st.send_waiters.is_empty() {
            return Err(TrySendError::Full(item));
        }
        st.items.push_back(item);
        let w = st.waker.take();
        drop(st);
        if let Some(w) = w {
            w.wake();
        }
        Ok(())
    }

    /// Sends from a plain thread (not a loop): blocks the thread until there is room.
    ///
    /// # Errors
    /// [`SendError`] (with the item) when the [`Receiver`] was dropped or closed.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let (tx, mut rx) = simul::sync::bounded_channel(1);
    ///     let t = std::thread::spawn(move || {
    ///         for i in 0..3 {
    ///             tx.blocking_send(i).unwrap();
    ///         }
    ///     });
    ///     let mut got = vec![];
    ///     while let Some(i) = rx.recv().await {
    ///         got.push(i);
    ///     }
    ///     t.join().unwrap();
    ///     assert_eq!(got, [0, 1, 2]);
    /// });
    /// ```
    pub fn blocking_send(&self, item: T) -> Result<(), SendError<T>> {
        struct Unpark(std::thread::Thread);
        impl std::task::Wake for Unpark {
            fn wake(self: Arc<Self>) {
                self.0.unpark();
            }
        }
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        let mut send = std::pin::pin!(self.send(item));
        loop {
            match send.as_mut().poll(&mut cx) {
                Poll::Ready(r) => return r,
                Poll::Pending => std::thread::park(),
            }
        }
    }

    /// `true` once the receiver is dropped or closed: sends would fail.
    ///
    /// # Examples
    /// ```
    /// let (tx, rx) = simul::sync::bounded_channel::<()>(4);
    /// drop(rx);
    /// assert!(tx.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        !self.shared.lock().receiver_alive
    }

    /// The most items the channel holds.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(simul::sync::bounded_channel::<()>(8).0.capacity(), 8);
    /// ```
    pub fn capacity(&self) -> usize {
        self.shared.lock().capacity
    }
}

impl<T> Clone for BoundedSender<T> {
    fn clone(&self) -> Self {
        self.shared.lock().senders += 1;
        BoundedSender {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for BoundedSender<T> {
    fn drop(&mut self) {
        sender_gone(&self.shared);
    }
}

impl<T> fmt::Debug for BoundedSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundedSender").finish_non_exhaustive()
    }
}

/// The future of [`BoundedSender::send`].
///
/// # Examples
/// ```
/// simul::run(async {
///     let (tx, _rx) = simul::sync::bounded_channel(1);
///     let s: simul::sync::BoundedSend<'_, i32> = tx.send(1);
///     s.await.unwrap();
/// });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct BoundedSend<'a, T> {
    tx: &'a BoundedSender<T>,
    item: Option<T>,
    /// Our place among the waiting senders, once we wait.
    ticket: Option<u64>,
}

impl<T> Unpin for BoundedSend<'_, T> {}

impl<T> Future for BoundedSend<'_, T> {
    type Output = Result<(), SendError<T>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let mut st = this.tx.shared.lock();
        let item = this
            .item
            .take()
            .expect("BoundedSend polled after it completed");
        if !st.receiver_alive {
            if let Some(t) = this.ticket.take() {
                st.send_waiters.retain(|(k, _)| *k != t);
            }
            return Poll::Ready(Err(SendError(item)));
        }
        // Our turn: there is room, and no older sender is still queued ahead of us.
        let queued_ahead = match this.ticket {
            Some(t) => st.send_waiters.iter().any(|(k, _)| *k < t),
            None => !st.send_waiters.is_empty(),
        };
        if st.items.len() < st.capacity && !queued_ahead {
            if let Some(t) = this.ticket.take() {
                st.send_waiters.retain(|(k, _)| *k != t);
            }
            st.items.push_back(item);
            let receiver = st.waker.take();
            // Room may remain for the next waiting sender too.
            let next = if st.items.len() < st.capacity {
                st.next_sender()
            } else {
                None
            };
            drop(st);
            if let Some(w) = receiver {
                w.wake();
            }
            if let Some(w) = next {
                w.wake();
            }
            return Poll::Ready(Ok(()));
        }
        this.item = Some(item);
        match this.ticket {
            Some(t) => match st.send_waiters.iter_mut().find(|(k, _)| *k == t) {
                Some((_, w)) => {
                    if !w.will_wake(cx.waker()) {
                        *w = cx.waker().clone();
                    }
                }
                // Woken, but the room went to someone else: queue again in our place.
                None => {
                    let pos = st
                        .send_waiters
                        .iter()
                        .position(|(k, _)| *k > t)
                        .unwrap_or(st.send_waiters.len());
                    st.send_waiters.insert(pos, (t, cx.waker().clone()));
                }
            },
            None => {
                let t = st.next_ticket;
                st.next_ticket += 1;
                this.ticket = Some(t);
                st.send_waiters.push_back((t, cx.waker().clone()));
            }
        }
        Poll::Pending
    }
}

impl<T> Drop for BoundedSend<'_, T> {
    fn drop(&mut self) {
        let Some(t) = self.ticket else { return };
        if self.item.is_none() {
            return; // completed
        }
        let mut st = self.tx.shared.lock();
        let before = st.send_waiters.len();
        st.send_waiters.retain(|(k, _)| *k != t);
        // Already woken (our entry was gone): hand the wake-up to the next sender.
        let next = if st.send_waiters.len() == before && st.items.len() < st.capacity {
            st.next_sender()
        } else {
            None
        };
        drop(st);
        if let Some(w) = next {
            w.wake();
        }
    }
}

impl<T> fmt::Debug for BoundedSend<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundedSend")
            .field("waiting", &self.ticket.is_some())
            .finish_non_exhaustive()
    }
}

/// Why [`BoundedSender::try_send`] did not queue the item (which it gives back).
///
/// # Examples
/// ```
/// let e = simul::sync::TrySendError::Full(1);
/// assert!(e.is_full());
/// assert_eq!(e.to_string(), "the channel is full");
/// assert_eq!(e.into_inner(), 1);
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum TrySendError<T> {
    /// The channel holds `capacity` items already.
    Full(T),
    /// The receiver was dropped or closed.
    Closed(T),
}

impl<T> TrySendError<T> {
    /// `true` for [`TrySendError::Full`].
    ///
    /// # Examples
    /// ```
    /// assert!(!simul::sync::TrySendError::Closed(()).is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        matches!(self, TrySendError::Full(_))
    }

    /// The item that was not sent.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(simul::sync::TrySendError::Closed(5).into_inner(), 5);
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            TrySendError::Full(v) | TrySendError::Closed(v) => v,
        }
    }
}

impl<T> fmt::Debug for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("Full(..)"),
            TrySendError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<T> fmt::Display for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("the channel is full"),
            TrySendError::Closed(_) => f.write_str("the receiver is closed"),
        }
    }
}

impl<T> std::error::Error for TrySendError<T> {}
