//! [`channel`]: a queue that plain threads (or other loops) can feed, read by a task.
//!
//! # Design
//!
//! Everything else in `sync` is single-loop and lock-free; this is the bridge to the rest
//! of the process. Senders share one `Mutex` guarding a `VecDeque` of items, the
//! receiving task's `Waker`, the number of live senders and the senders waiting for room.
//! A send pushes under the lock, takes the waker out, and wakes it after unlocking — so a
//! burst of sends wakes the loop once, and the loop pays a syscall only if it was parked
//! (the core's wake-up handshake). The receiver stores its waker under the same lock when
//! it finds nothing, so no wake-up can be lost between its check and its sleep.
//!
//! The receiver does not take that lock per item: when its own buffer is empty it swaps
//! the whole shared queue into it under one lock and hands the items out from there, so
//! between two threads the senders' cache line stays with the senders while a batch is
//! consumed (one lock round trip per batch instead of two per item). Room is still exact,
//! item by item: a bounded channel counts the items `pushed` (under the lock) against the
//! items `taken` (a count only the receiver bumps, on its own cache line, as it hands
//! each item out); senders reload it only when their last view says the channel is full.
//! The count and a `waiting` bit share one atomic word: a sender that waits for room sets
//! the bit (under the lock) with one read-modify-write that also returns the count, and
//! the receiver bumps the count with one that returns the bit. The two are ordered in the
//! word's modification order, so either the sender sees the room or the receiver sees the
//! waiter (and wakes the oldest under the lock): no wake-up is lost, on any memory model.
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
use std::sync::Arc;

// Under `cfg(loom)` the locks and atomics are loom's, so the model checker explores the
// room/wake handshake as the channel runs it (the loom tests at the bottom).
#[cfg(loom)]
use loom::sync::atomic::{AtomicUsize, Ordering};
#[cfg(loom)]
use loom::sync::{Mutex, MutexGuard};
#[cfg(not(loom))]
use std::sync::atomic::{AtomicUsize, Ordering};
#[cfg(not(loom))]
use std::sync::{Mutex, MutexGuard};
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
    /// Items ever queued (wrapping); `pushed - taken` are queued or in the receiver's batch.
    pushed: usize,
    /// The senders' last view of the receiver's count (see [`RxSide::word`]).
    taken_seen: usize,
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
            pushed: 0,
            taken_seen: 0,
            send_waiters: VecDeque::new(),
            next_ticket: 0,
        }
    }

    /// Queues an item: the caller checked the receiver is alive (and, bounded, the room).
    fn push(&mut self, item: T) {
        self.items.push_back(item);
        self.pushed = self.pushed.wrapping_add(1);
    }
}

/// The `waiting` bit of [`RxSide::word`].
const WAITING: usize = 1;

/// Items queued or in the receiver's batch, by the senders' view (counts modulo 2^63, as
/// the receiver's count is kept above the `waiting` bit).
fn queued<T>(st: &State<T>) -> usize {
    st.pushed.wrapping_sub(st.taken_seen) & (usize::MAX >> 1)
}

/// What [`Shared::take`] found.
enum Take<'a, T> {
    Item(T),
    /// Items wait, but the task's budget is spent (it was woken to come back).
    Yield,
    /// Nothing queued: the state, still locked, for the caller to look at or wait on.
    Empty(MutexGuard<'a, State<T>>),
}

/// The receiver's side, on cache lines of its own (128 bytes: x86 fetches lines in pairs).
#[repr(align(128))]
struct RxSide<T> {
    /// Bit 0: a sender waits for room (set and cleared under the state lock). Bits 1..:
    /// the items handed out by the receiver, wrapping (only the receiver adds to it).
    word: AtomicUsize,
    /// Items swapped out of the shared queue, oldest first; only the receiver locks it.
    batch: Mutex<VecDeque<T>>,
}

#[repr(align(128))]
struct Aligned<T>(T);

struct Shared<T> {
    state: Aligned<Mutex<State<T>>>,
    rx: RxSide<T>,
}

impl<T> Shared<T> {
    fn new(capacity: usize) -> Arc<Shared<T>> {
        Arc::new(Shared {
            state: Aligned(Mutex::new(State::new(capacity))),
            rx: RxSide {
                word: AtomicUsize::new(0),
                batch: Mutex::new(VecDeque::new()),
            },
        })
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // The lock is never held across user code, so poisoning cannot leave the state
        // inconsistent: carry on.
        self.state.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_batch(&self) -> MutexGuard<'_, VecDeque<T>> {
        self.rx.batch.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether one more item fits (senders, under the lock): reloads the receiver's count
    /// only when the last view says full.
    fn has_room(&self, st: &mut State<T>) -> bool {
        if queued(st) < st.capacity {
            return true;
        }
        st.taken_seen = self.rx.word.load(Ordering::Acquire) >> 1;
        queued(st) < st.capacity
    }

    /// Publishes the `waiting` bit after the waiters changed (under the lock). Setting it
    /// also refreshes the senders' view of the count, in the same operation.
    fn sync_waiting(&self, st: &mut State<T>) {
        let w = !st.send_waiters.is_empty();
        let word = &self.rx.word;
        if w && word.load(Ordering::Relaxed) & WAITING == 0 {
            st.taken_seen = word.fetch_or(WAITING, Ordering::AcqRel) >> 1;
        } else if !w && word.load(Ordering::Relaxed) & WAITING != 0 {
            word.fetch_and(!WAITING, Ordering::AcqRel);
        }
    }

    /// The oldest waiting sender, to be woken after the lock is released.
    fn next_sender(&self, st: &mut State<T>) -> Option<Waker> {
        let w = st.send_waiters.pop_front().map(|(_, w)| w);
        self.sync_waiting(st);
        w
    }

    /// The receiver takes the next item: from its batch, or, when that is empty, from the
    /// shared queue swapped in whole. With a task's context, an item is left in place
    /// (and the task woken to come back) when the task has used up its turn's budget.
    fn take(&self, cx: Option<&mut Context<'_>>) -> Take<'_, T> {
        let mut batch = self.lock_batch();
        if batch.is_empty() {
            let mut st = self.lock();
            if st.items.is_empty() {
                return Take::Empty(st);
            }
            std::mem::swap(&mut st.items, &mut *batch);
        }
        if cx.is_some_and(coop_exhausted) {
            return Take::Yield;
        }
        let item = batch.pop_front().expect("the batch holds an item");
        drop(batch);
        self.handed_out();
        Take::Item(item)
    }

    /// One more item handed out: room for a waiting sender (see the module doc).
    fn handed_out(&self) {
        if self.rx.word.fetch_add(2, Ordering::AcqRel) & WAITING != 0 {
            let mut st = self.lock();
            let w = self.next_sender(&mut st);
            drop(st);
            if let Some(w) = w {
                w.wake(); // room for one more
            }
        }
    }

    /// Items queued or in the receiver's batch.
    fn len(&self) -> usize {
        let batch = self.lock_batch().len();
        batch + self.lock().items.len()
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
    let shared = Shared::new(usize::MAX);
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
    let shared = Shared::new(capacity);
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
        st.push(item);
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
        match self.shared.take(None) {
            Take::Item(v) => Ok(v),
            Take::Empty(st) if st.senders == 0 => Err(TryRecvError::Disconnected),
            Take::Empty(_) | Take::Yield => Err(TryRecvError::Empty),
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
        self.shared.sync_waiting(&mut st);
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
        self.shared.len()
    }

    /// `true` when nothing is queued now.
    ///
    /// # Examples
    /// ```
    /// let (_tx, rx) = simul::sync::channel::<()>();
    /// assert!(rx.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.shared.len() == 0
    }

    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut st = match self.shared.take(Some(cx)) {
            Take::Item(item) => return Poll::Ready(Some(item)),
            Take::Yield => return Poll::Pending,
            Take::Empty(st) => st,
        };
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
        let batch = std::mem::take(&mut *self.shared.lock_batch());
        let mut st = self.shared.lock();
        st.receiver_alive = false;
        let items = std::mem::take(&mut st.items);
        let waker = st.waker.take();
        let senders = std::mem::take(&mut st.send_waiters);
        self.shared.sync_waiting(&mut st);
        drop(st);
        drop(batch);
        drop(items); // destructors run without the locks
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
        if !st.send_waiters.is_empty() || !self.shared.has_room(&mut st) {
            return Err(TrySendError::Full(item));
        }
        st.push(item);
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
        let shared = &this.tx.shared;
        if !st.receiver_alive {
            if let Some(t) = this.ticket.take() {
                st.send_waiters.retain(|(k, _)| *k != t);
                shared.sync_waiting(&mut st);
            }
            return Poll::Ready(Err(SendError(item)));
        }
        // Our turn: there is room, and no older sender is still queued ahead of us.
        let queued_ahead = match this.ticket {
            Some(t) => st.send_waiters.iter().any(|(k, _)| *k < t),
            None => !st.send_waiters.is_empty(),
        };
        if !queued_ahead && shared.has_room(&mut st) {
            if let Some(t) = this.ticket.take() {
                st.send_waiters.retain(|(k, _)| *k != t);
                shared.sync_waiting(&mut st);
            }
            st.push(item);
            let receiver = st.waker.take();
            // Room may remain for the next waiting sender too.
            let next = if !st.send_waiters.is_empty() && shared.has_room(&mut st) {
                shared.next_sender(&mut st)
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
        // Publish the wait (which also reads the receiver's count): an item handed out
        // before the receiver could see the bit would otherwise wake nobody.
        shared.sync_waiting(&mut st);
        let missed = if shared.has_room(&mut st) {
            shared.next_sender(&mut st)
        } else {
            None
        };
        drop(st);
        if let Some(w) = missed {
            w.wake();
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
        let shared = &self.tx.shared;
        let mut st = shared.lock();
        let before = st.send_waiters.len();
        st.send_waiters.retain(|(k, _)| *k != t);
        shared.sync_waiting(&mut st);
        // Already woken (our entry was gone): hand the wake-up to the next sender.
        let next = if st.send_waiters.len() == before
            && !st.send_waiters.is_empty()
            && shared.has_room(&mut st)
        {
            shared.next_sender(&mut st)
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

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::atomic::AtomicBool;
    use std::task::Wake;

    struct Flag(AtomicBool);
    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    /// A sender finding a full channel races the receiver handing the item out (the
    /// receiver's count and the `waiting` flag, outside the senders' lock): either the
    /// send goes through at once, or its waker is woken and the next poll goes through.
    #[test]
    fn loom_a_sender_waiting_for_room_is_never_forgotten() {
        loom::model(|| {
            let (tx, rx) = bounded_channel::<u8>(1);
            tx.try_send(0).unwrap();
            let consumer = loom::thread::spawn(move || {
                assert_eq!(rx.try_recv(), Ok(0));
                rx
            });
            let woken = Arc::new(Flag(AtomicBool::new(false)));
            let waker = Waker::from(woken.clone());
            let mut cx = Context::from_waker(&waker);
            let mut send = std::pin::pin!(tx.send(1));
            let first = send.as_mut().poll(&mut cx);
            let rx = consumer.join().unwrap();
            if first.is_pending() {
                assert!(
                    woken.0.load(Ordering::SeqCst),
                    "the receiver made room but woke nobody"
                );
                assert!(send.as_mut().poll(&mut cx).is_ready());
            }
            assert_eq!(rx.try_recv(), Ok(1));
        });
    }

    /// The same race with the receiver taking from its batch (no senders' lock on that
    /// path) while two senders wait in turn.
    #[test]
    fn loom_room_from_the_batch_reaches_the_oldest_waiting_sender() {
        loom::model(|| {
            let (tx, rx) = bounded_channel::<u8>(2);
            tx.try_send(0).unwrap();
            tx.try_send(1).unwrap();
            assert_eq!(rx.try_recv(), Ok(0)); // item 1 now waits in the batch
            tx.try_send(2).unwrap();
            let consumer = loom::thread::spawn(move || {
                assert_eq!(rx.try_recv(), Ok(1)); // from the batch
                rx
            });
            let woken = Arc::new(Flag(AtomicBool::new(false)));
            let waker = Waker::from(woken.clone());
            let mut cx = Context::from_waker(&waker);
            let mut send = std::pin::pin!(tx.send(3));
            let first = send.as_mut().poll(&mut cx);
            let rx = consumer.join().unwrap();
            if first.is_pending() {
                assert!(
                    woken.0.load(Ordering::SeqCst),
                    "room from the batch was lost"
                );
                assert!(send.as_mut().poll(&mut cx).is_ready());
            }
            assert_eq!(rx.try_recv(), Ok(2));
            assert_eq!(rx.try_recv(), Ok(3));
        });
    }
}
