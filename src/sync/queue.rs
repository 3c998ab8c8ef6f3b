//! [`Queue`], [`PriorityQueue`], [`LifoQueue`]: asyncio's queues, for tasks on one loop.
//!
//! # Design
//!
//! A queue handle is an `Rc` on one `RefCell<State>`: the items (a [`QueueStorage`]:
//! `VecDeque` for FIFO, `Vec` for LIFO, a min-`BinaryHeap` for priority), the capacity,
//! three FIFO waiter lists (getters, putters, joiners) and two reservation counters.
//!
//! **Reservations instead of hand-offs.** Items never leave the storage except through a
//! completed `get`, so a cancelled getter can never lose one. Instead, when an item is
//! put while getters wait, the first getter is notified and one item is *reserved* for
//! it (`reserved_items += 1`); when it runs it pops whatever is then at the head (so a
//! priority queue still yields its smallest item). Symmetrically, a `get` that frees a slot
//! while putters wait reserves the slot for the first putter (`reserved_slots += 1`), which
//! pushes its own value only when it runs — a cancelled putter has enqueued nothing.
//!
//! Invariants (between operations):
//! - getters waiting ⇒ `len ≤ reserved_items` (every item is promised to a woken getter);
//! - putters waiting ⇒ `len + reserved_slots ≥ maxsize`;
//! - `reserved_items` / `reserved_slots` equal the number of woken getters / putters that
//!   have not run yet.
//!
//! So each `put` wakes at most one getter and each `get` at most one putter, and only
//! when that task is certain to proceed (no thundering herd, no spurious wake-ups); a
//! newcomer cannot take an item or a slot promised to a task that waited before it (strict
//! FIFO). A woken task that is dropped before it runs gives its reservation to the next
//! waiter. Consequently [`is_empty`](Queue::is_empty) / [`is_full`](Queue::is_full)
//! describe what a *newcomer* would find — they agree with `get_nowait` / `put_nowait` —
//! while [`qsize`](Queue::qsize) counts every stored item.
//!
//! The fast paths (`get` on a queue with a free item, `put` on a queue with a free slot)
//! are one `RefCell` borrow, a comparison, the storage operation and an emptiness check of
//! the other side's waiter list. Like I/O, a completed `get`/`put` spends one unit of the
//! task's cooperative budget (see [`BUDGET`](crate::BUDGET)), so a consumer that always
//! finds items still lets other tasks run.
//!
//! **Shutdown** follows Python 3.13: after [`shutdown`](Queue::shutdown) every `put`
//! fails with [`QueueShutDown`], `get` keeps returning the items left and then fails; the
//! blocked putters and getters are woken and fail. `shutdown(true)` also discards the items
//! (counting them as done for [`join`](Queue::join)).

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use futures_core::Stream;

use super::waiters::{Key, WaitList};
use crate::io::coop_exhausted;

const GRANTED: usize = 0;
const CLOSED: usize = 1;

mod sealed {
    pub trait Sealed {}
}

/// How a queue stores its items: [`Fifo`], [`Lifo`] or [`Heap`]. Sealed: only these.
///
/// # Examples
/// ```
/// use simul::sync::{Fifo, QueueStorage};
/// let mut s = Fifo::default();
/// s.push(1);
/// assert_eq!(s.len(), 1);
/// ```
pub trait QueueStorage<T>: sealed::Sealed + Default {
    /// Adds an item.
    ///
    /// # Examples
    /// ```
    /// use simul::sync::{Lifo, QueueStorage};
    /// let mut s = Lifo::default();
    /// s.push('a');
    /// assert_eq!(s.len(), 1);
    /// ```
    fn push(&mut self, item: T);
    /// Removes the next item: oldest (FIFO), newest (LIFO) or smallest (heap).
    ///
    /// # Examples
    /// ```
    /// use simul::sync::{Heap, QueueStorage};
    /// let mut s = Heap::default();
    /// s.push(2);
    /// s.push(1);
    /// assert_eq!(s.pop(), Some(1));
    /// ```
    fn pop(&mut self) -> Option<T>;
    /// Number of items.
    ///
    /// # Examples
    /// ```
    /// use simul::sync::{Fifo, QueueStorage};
    /// assert_eq!(Fifo::<u8>::default().len(), 0);
    /// ```
    fn len(&self) -> usize;
    /// `true` when there are no items.
    ///
    /// # Examples
    /// ```
    /// use simul::sync::{Fifo, QueueStorage};
    /// assert!(Fifo::<u8>::default().is_empty());
    /// ```
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// First in, first out: the storage of [`Queue`].
///
/// # Examples
/// ```
/// use simul::sync::{Fifo, QueueStorage};
/// let mut s = Fifo::default();
/// s.push(1);
/// s.push(2);
/// assert_eq!(s.pop(), Some(1));
/// ```
pub struct Fifo<T>(VecDeque<T>);

/// Last in, first out: the storage of [`LifoQueue`].
///
/// # Examples
/// ```
/// use simul::sync::{Lifo, QueueStorage};
/// let mut s = Lifo::default();
/// s.push(1);
/// s.push(2);
/// assert_eq!(s.pop(), Some(2));
/// ```
pub struct Lifo<T>(Vec<T>);

/// Smallest first (a min-heap, like `heapq`): the storage of [`PriorityQueue`].
///
/// # Examples
/// ```
/// use simul::sync::{Heap, QueueStorage};
/// let mut s = Heap::default();
/// s.push(5);
/// s.push(1);
/// assert_eq!(s.pop(), Some(1));
/// ```
pub struct Heap<T>(BinaryHeap<Reverse<T>>);

impl<T> Default for Fifo<T> {
    fn default() -> Self {
        Fifo(VecDeque::new())
    }
}
impl<T> Default for Lifo<T> {
    fn default() -> Self {
        Lifo(Vec::new())
    }
}
impl<T: Ord> Default for Heap<T> {
    fn default() -> Self {
        Heap(BinaryHeap::new())
    }
}
impl<T> sealed::Sealed for Fifo<T> {}
impl<T> sealed::Sealed for Lifo<T> {}
impl<T> sealed::Sealed for Heap<T> {}

impl<T> QueueStorage<T> for Fifo<T> {
    #[inline]
    fn push(&mut self, item: T) {
        self.0.push_back(item)
    }
    #[inline]
    fn pop(&mut self) -> Option<T> {
        self.0.pop_front()
    }
    #[inline]
    fn len(&self) -> usize {
        self.0.len()
    }
}
impl<T> QueueStorage<T> for Lifo<T> {
    #[inline]
    fn push(&mut self, item: T) {
        self.0.push(item)
    }
    #[inline]
    fn pop(&mut self) -> Option<T> {
        self.0.pop()
    }
    #[inline]
    fn len(&self) -> usize {
        self.0.len()
    }
}
impl<T: Ord> QueueStorage<T> for Heap<T> {
    #[inline]
    fn push(&mut self, item: T) {
        self.0.push(Reverse(item))
    }
    #[inline]
    fn pop(&mut self) -> Option<T> {
        self.0.pop().map(|Reverse(v)| v)
    }
    #[inline]
    fn len(&self) -> usize {
        self.0.len()
    }
}

struct State<S> {
    items: S,
    /// Capacity: `maxsize`, or `usize::MAX` for an unbounded queue.
    cap: usize,
    maxsize: usize,
    reserved_items: usize,
    reserved_slots: usize,
    getters: WaitList,
    putters: WaitList,
    joiners: WaitList,
    unfinished: usize,
    shut_down: bool,
}

impl<S> State<S> {
    /// If a getter waits and an unpromised item exists, promise it and return the waker.
    #[inline]
    fn offer_item<T>(&mut self) -> Option<Waker>
    where
        S: QueueStorage<T>,
    {
        if !self.getters.is_empty() && self.items.len() > self.reserved_items {
            self.reserved_items += 1;
            self.getters.notify_one(GRANTED).flatten()
        } else {
            None
        }
    }

    /// If a putter waits and an unpromised slot exists, promise it and return the waker.
    #[inline]
    fn offer_slot<T>(&mut self) -> Option<Waker>
    where
        S: QueueStorage<T>,
    {
        if !self.putters.is_empty() && self.items.len() + self.reserved_slots < self.cap {
            self.reserved_slots += 1;
            self.putters.notify_one(GRANTED).flatten()
        } else {
            None
        }
    }

    #[inline]
    fn push<T>(&mut self, item: T) -> Option<Waker>
    where
        S: QueueStorage<T>,
    {
        self.items.push(item);
        self.unfinished += 1;
        self.offer_item()
    }
}

struct Chan<T, S> {
    state: RefCell<State<S>>,
    _items: PhantomData<T>,
}

#[inline]
fn wake(w: Option<Waker>) {
    if let Some(w) = w {
        w.wake();
    }
}

impl<T, S: QueueStorage<T>> Chan<T, S> {
    fn poll_get(
        &self,
        key: &mut Option<Key>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<T, QueueShutDown>> {
        let mut st = self.state.borrow_mut();
        let item = match *key {
            None => {
                if st.items.len() > st.reserved_items {
                    if coop_exhausted(cx) {
                        return Poll::Pending;
                    }
                    st.items.pop()
                } else if st.shut_down {
                    return Poll::Ready(Err(QueueShutDown));
                } else {
                    *key = Some(st.getters.push(Some(cx.waker().clone())));
                    return Poll::Pending;
                }
            }
            Some(k) => match st.getters.token(k) {
                None => {
                    let old = st.getters.set_waker(k, cx.waker());
                    drop(st);
                    drop(old);
                    return Poll::Pending;
                }
                Some(token) => {
                    st.getters.remove(k);
                    *key = None;
                    if token == GRANTED {
                        st.reserved_items -= 1;
                        // Empty only if `shutdown(true)` discarded the promised item.
                        st.items.pop()
                    } else if st.items.len() > st.reserved_items {
                        st.items.pop()
                    } else {
                        None
                    }
                }
            },
        };
        match item {
            Some(item) => {
                let w = st.offer_slot();
                drop(st);
                wake(w);
                Poll::Ready(Ok(item))
            }
            None => Poll::Ready(Err(QueueShutDown)),
        }
    }

    fn cancel_get(&self, key: Key) {
        let w = {
            let mut st = self.state.borrow_mut();
            if st.getters.remove(key) == Some(GRANTED) {
                st.reserved_items -= 1;
                st.offer_item()
            } else {
                None
            }
        };
        wake(w);
    }

    fn poll_put(
        &self,
        value: &mut Option<T>,
        key: &mut Option<Key>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), QueueShutDown>> {
        let mut st = self.state.borrow_mut();
        match *key {
            None => {
                if st.shut_down {
                    return Poll::Ready(Err(QueueShutDown));
                }
                if st.items.len() + st.reserved_slots >= st.cap {
                    *key = Some(st.putters.push(Some(cx.waker().clone())));
                    return Poll::Pending;
                }
                if coop_exhausted(cx) {
                    return Poll::Pending;
                }
            }
            Some(k) => match st.putters.token(k) {
                None => {
                    let old = st.putters.set_waker(k, cx.waker());
                    drop(st);
                    drop(old);
                    return Poll::Pending;
                }
                Some(token) => {
                    st.putters.remove(k);
                    *key = None;
                    if token == GRANTED {
                        st.reserved_slots -= 1;
                    }
                    if st.shut_down {
                        return Poll::Ready(Err(QueueShutDown));
                    }
                }
            },
        }
        let item = value
            .take()
            .expect("simul::sync: Put polled after completion");
        let w = st.push(item);
        drop(st);
        wake(w);
        Poll::Ready(Ok(()))
    }

    fn cancel_put(&self, key: Key) {
        let w = {
            let mut st = self.state.borrow_mut();
            if st.putters.remove(key) == Some(GRANTED) {
                st.reserved_slots -= 1;
                st.offer_slot()
            } else {
                None
            }
        };
        wake(w);
    }

    fn notify_all(&self, which: fn(&mut State<S>) -> &mut WaitList, token: usize) {
        loop {
            // One waiter at a time, so no borrow is held while a waker runs.
            let w = which(&mut self.state.borrow_mut()).notify_one(token);
            match w {
                None => break,
                Some(w) => wake(w),
            }
        }
    }
}

/// A FIFO queue for tasks on one loop (asyncio's `Queue`). Getters and putters are served
/// in FIFO order, each `put` wakes at most one getter and each `get` at most one putter,
/// and every future is cancel-safe (see [`sync`](crate::sync)).
///
/// A `Queue` is a cheap handle: clone it to share the queue between tasks. `maxsize` 0
/// means unbounded. It is also a [`Stream`] of its items that ends when the queue is shut
/// down and drained.
///
/// # Examples
/// ```
/// simul::run(async {
///     let q = simul::Queue::new(2);
///     let consumer = simul::spawn({
///         let q = q.clone();
///         async move {
///             let mut sum = 0;
///             while let Ok(n) = q.get().await {
///                 sum += n;
///                 q.task_done().unwrap();
///             }
///             sum
///         }
///     });
///     for n in 1..=10 {
///         q.put(n).await.unwrap(); // waits while 2 items are queued
///     }
///     q.join().await; // every item processed
///     q.shutdown(false);
///     assert_eq!(consumer.await.unwrap(), 55);
/// });
/// ```
pub type Queue<T> = GenericQueue<T, Fifo<T>>;

/// The queue type behind [`Queue`], [`PriorityQueue`] and [`LifoQueue`]: the storage
/// parameter `S` ([`Fifo`], [`Heap`], [`Lifo`]) selects the order; everything else is
/// shared. Use the aliases.
///
/// # Examples
/// ```
/// use simul::sync::{Fifo, GenericQueue};
/// let q: GenericQueue<u8, Fifo<u8>> = simul::Queue::new(0);
/// q.put_nowait(1).unwrap();
/// ```
pub struct GenericQueue<T, S: QueueStorage<T>> {
    chan: Rc<Chan<T, S>>,
    /// The `Stream` implementation's waiter node.
    next: Option<Key>,
}

/// A priority queue (asyncio's `PriorityQueue`): [`get`](Queue::get) returns the
/// smallest item first, like `heapq`. Use `(priority, item)` tuples or `Reverse`.
///
/// # Examples
/// ```
/// simul::run(async {
///     let q = simul::PriorityQueue::new(0);
///     for job in [(3, "low"), (1, "urgent"), (2, "normal")] {
///         q.put(job).await.unwrap();
///     }
///     assert_eq!(q.get().await.unwrap(), (1, "urgent"));
///     assert_eq!(q.get().await.unwrap(), (2, "normal"));
/// });
/// ```
pub type PriorityQueue<T> = GenericQueue<T, Heap<T>>;

/// A last-in, first-out queue (asyncio's `LifoQueue`).
///
/// # Examples
/// ```
/// simul::run(async {
///     let q = simul::LifoQueue::new(0);
///     q.put(1).await.unwrap();
///     q.put(2).await.unwrap();
///     assert_eq!(q.get().await.unwrap(), 2);
/// });
/// ```
pub type LifoQueue<T> = GenericQueue<T, Lifo<T>>;

impl<T, S: QueueStorage<T>> GenericQueue<T, S> {
    fn with_storage(maxsize: usize) -> Self {
        GenericQueue {
            chan: Rc::new(Chan {
                state: RefCell::new(State {
                    items: S::default(),
                    cap: if maxsize == 0 { usize::MAX } else { maxsize },
                    maxsize,
                    reserved_items: 0,
                    reserved_slots: 0,
                    getters: WaitList::new(),
                    putters: WaitList::new(),
                    joiners: WaitList::new(),
                    unfinished: 0,
                    shut_down: false,
                }),
                _items: PhantomData,
            }),
            next: None,
        }
    }
}

impl<T> GenericQueue<T, Fifo<T>> {
    /// A FIFO queue holding at most `maxsize` items (0: unbounded).
    ///
    /// # Examples
    /// ```
    /// let q = simul::Queue::<u32>::new(10);
    /// assert_eq!(q.maxsize(), 10);
    /// ```
    pub fn new(maxsize: usize) -> Self {
        GenericQueue::with_storage(maxsize)
    }
}

impl<T> GenericQueue<T, Lifo<T>> {
    /// A LIFO queue holding at most `maxsize` items (0: unbounded).
    ///
    /// # Examples
    /// ```
    /// let q = simul::LifoQueue::<u32>::new(0);
    /// assert_eq!(q.maxsize(), 0);
    /// ```
    pub fn new(maxsize: usize) -> Self {
        GenericQueue::with_storage(maxsize)
    }
}

impl<T: Ord> GenericQueue<T, Heap<T>> {
    /// A priority queue holding at most `maxsize` items (0: unbounded).
    ///
    /// # Examples
    /// ```
    /// let q = simul::PriorityQueue::<u32>::new(5);
    /// assert!(q.is_empty());
    /// ```
    pub fn new(maxsize: usize) -> Self {
        GenericQueue::with_storage(maxsize)
    }
}

impl<T, S: QueueStorage<T>> GenericQueue<T, S> {
    /// Puts `item` into the queue, waiting for a free slot while it is full. Putters are
    /// served in FIFO order.
    ///
    /// Cancel-safe: if the future is dropped before it completes, nothing was enqueued
    /// (and a slot promised to it goes to the next putter).
    ///
    /// # Errors
    /// [`QueueShutDown`] if the queue is shut down, before or while waiting; the item is
    /// dropped.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let q = simul::Queue::new(1);
    ///     q.put("a").await.unwrap();
    ///     assert!(q.is_full());
    /// });
    /// ```
    pub fn put(&self, item: T) -> Put<'_, T, S> {
        Put {
            chan: &self.chan,
            value: Some(item),
            key: None,
        }
    }

    /// Removes and returns the next item, waiting while the queue is empty. Getters are
    /// served in FIFO order.
    ///
    /// Cancel-safe: if the future is dropped before it completes, no item was taken (and
    /// an item promised to it goes to the next getter, or stays queued).
    ///
    /// # Errors
    /// [`QueueShutDown`] once the queue is shut down and has no item left for this task.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let q = simul::Queue::new(0);
    ///     q.put_nowait(7).unwrap();
    ///     assert_eq!(q.get().await, Ok(7));
    /// });
    /// ```
    pub fn get(&self) -> Get<'_, T, S> {
        Get {
            chan: &self.chan,
            key: None,
        }
    }

    /// Puts `item` without waiting.
    ///
    /// # Errors
    /// [`TryPutError::Full`] when no slot is free, [`TryPutError::ShutDown`] after
    /// [`shutdown`](Queue::shutdown); both give `item` back.
    ///
    /// # Examples
    /// ```
    /// let q = simul::Queue::new(1);
    /// q.put_nowait(1).unwrap();
    /// assert_eq!(q.put_nowait(2), Err(simul::sync::TryPutError::Full(2)));
    /// ```
    pub fn put_nowait(&self, item: T) -> Result<(), TryPutError<T>> {
        let mut st = self.chan.state.borrow_mut();
        if st.shut_down {
            return Err(TryPutError::ShutDown(item));
        }
        if st.items.len() + st.reserved_slots >= st.cap {
            return Err(TryPutError::Full(item));
        }
        let w = st.push(item);
        drop(st);
        wake(w);
        Ok(())
    }

    /// Removes and returns the next item without waiting.
    ///
    /// # Errors
    /// [`TryGetError::Empty`] when no item is available, [`TryGetError::ShutDown`] when
    /// the queue is also shut down.
    ///
    /// # Examples
    /// ```
    /// let q = simul::Queue::new(0);
    /// assert_eq!(q.get_nowait(), Err(simul::sync::TryGetError::Empty));
    /// q.put_nowait('x').unwrap();
    /// assert_eq!(q.get_nowait(), Ok('x'));
    /// ```
    pub fn get_nowait(&self) -> Result<T, TryGetError> {
        let mut st = self.chan.state.borrow_mut();
        if st.items.len() > st.reserved_items {
            let item = st.items.pop().expect("checked non-empty");
            let w = st.offer_slot();
            drop(st);
            wake(w);
            Ok(item)
        } else if st.shut_down {
            Err(TryGetError::ShutDown)
        } else {
            Err(TryGetError::Empty)
        }
    }

    /// Number of items in the queue, including those promised to getters that were woken
    /// but have not run yet.
    ///
    /// # Examples
    /// ```
    /// let q = simul::Queue::new(0);
    /// q.put_nowait(1).unwrap();
    /// assert_eq!(q.qsize(), 1);
    /// ```
    #[doc(alias = "len")]
    pub fn qsize(&self) -> usize {
        self.chan.state.borrow().items.len()
    }

    /// The capacity given to `new` (0: unbounded).
    ///
    /// # Examples
    /// ```
    /// assert_eq!(simul::Queue::<()>::new(3).maxsize(), 3);
    /// ```
    pub fn maxsize(&self) -> usize {
        self.chan.state.borrow().maxsize
    }

    /// `true` when no item is available to a new getter (asyncio's `empty()`).
    ///
    /// # Examples
    /// ```
    /// assert!(simul::Queue::<u8>::new(0).is_empty());
    /// ```
    #[doc(alias = "empty")]
    pub fn is_empty(&self) -> bool {
        let st = self.chan.state.borrow();
        st.items.len() <= st.reserved_items
    }

    /// `true` when no slot is free for a new putter (asyncio's `full()`); never for an
    /// unbounded queue.
    ///
    /// # Examples
    /// ```
    /// let q = simul::Queue::new(1);
    /// q.put_nowait(()).unwrap();
    /// assert!(q.is_full());
    /// ```
    #[doc(alias = "full")]
    pub fn is_full(&self) -> bool {
        let st = self.chan.state.borrow();
        st.items.len() + st.reserved_slots >= st.cap
    }

    /// Marks one item taken with `get` as processed; when every item put has been marked,
    /// [`join`](Queue::join)ers are woken.
    ///
    /// # Errors
    /// [`TaskDoneError`] when called more times than items were put (asyncio's
    /// `ValueError`); nothing changes.
    ///
    /// # Examples
    /// ```
    /// let q = simul::Queue::new(0);
    /// q.put_nowait(1).unwrap();
    /// q.get_nowait().unwrap();
    /// assert!(q.task_done().is_ok());
    /// assert_eq!(q.task_done(), Err(simul::sync::TaskDoneError));
    /// ```
    pub fn task_done(&self) -> Result<(), TaskDoneError> {
        let mut st = self.chan.state.borrow_mut();
        if st.unfinished == 0 {
            return Err(TaskDoneError);
        }
        st.unfinished -= 1;
        let done = st.unfinished == 0;
        drop(st);
        if done {
            self.chan.notify_all(|s| &mut s.joiners, GRANTED);
        }
        Ok(())
    }

    /// Waits until every item put into the queue has been marked with
    /// [`task_done`](Queue::task_done) (at once if none is outstanding).
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let q = simul::Queue::new(0);
    ///     q.join().await; // nothing outstanding
    ///     q.put_nowait(1).unwrap();
    ///     let worker = simul::spawn({
    ///         let q = q.clone();
    ///         async move { q.get().await.unwrap(); q.task_done().unwrap(); }
    ///     });
    ///     q.join().await;
    ///     worker.await.unwrap();
    /// });
    /// ```
    pub fn join(&self) -> QueueJoin<'_, T, S> {
        QueueJoin {
            chan: &self.chan,
            key: None,
        }
    }

    /// Shuts the queue down (Python 3.13): later `put`s fail with [`QueueShutDown`],
    /// blocked putters and getters are woken and fail, and `get` fails once the items left
    /// are gone. With `immediate`, the items left are discarded (and counted as done, which
    /// may release [`join`](Queue::join)).
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let q = simul::Queue::new(0);
    ///     q.put_nowait(1).unwrap();
    ///     q.shutdown(false);
    ///     assert!(q.put(2).await.is_err());
    ///     assert_eq!(q.get().await, Ok(1)); // still drained
    ///     assert_eq!(q.get().await, Err(simul::QueueShutDown));
    /// });
    /// ```
    pub fn shutdown(&self, immediate: bool) {
        let mut st = self.chan.state.borrow_mut();
        st.shut_down = true;
        let mut discarded = None;
        let mut release_joiners = false;
        if immediate {
            let n = st.items.len();
            discarded = Some(std::mem::take(&mut st.items));
            st.unfinished = st.unfinished.saturating_sub(n);
            release_joiners = st.unfinished == 0;
        }
        drop(st);
        // Items' destructors run with no borrow held: they may use the queue.
        drop(discarded);
        if release_joiners {
            self.chan.notify_all(|s| &mut s.joiners, GRANTED);
        }
        self.chan.notify_all(|s| &mut s.getters, CLOSED);
        self.chan.notify_all(|s| &mut s.putters, CLOSED);
    }

    /// `true` after [`shutdown`](Queue::shutdown).
    ///
    /// # Examples
    /// ```
    /// let q = simul::Queue::<()>::new(0);
    /// q.shutdown(true);
    /// assert!(q.is_shut_down());
    /// ```
    pub fn is_shut_down(&self) -> bool {
        self.chan.state.borrow().shut_down
    }
}

impl<T, S: QueueStorage<T>> Clone for GenericQueue<T, S> {
    /// Another handle on the same queue.
    fn clone(&self) -> Self {
        GenericQueue {
            chan: self.chan.clone(),
            next: None,
        }
    }
}

impl<T, S: QueueStorage<T>> Drop for GenericQueue<T, S> {
    fn drop(&mut self) {
        if let Some(key) = self.next.take() {
            self.chan.cancel_get(key);
        }
    }
}

impl<T, S: QueueStorage<T>> Stream for GenericQueue<T, S> {
    type Item = T;

    /// The next item, as [`get`](Queue::get) would return it; `None` once the queue is
    /// shut down and empty.
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = self.get_mut();
        this.chan.poll_get(&mut this.next, cx).map(Result::ok)
    }
}

impl<T, S: QueueStorage<T>> fmt::Debug for GenericQueue<T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.chan.state.borrow();
        f.debug_struct("Queue")
            .field("qsize", &st.items.len())
            .field("maxsize", &st.maxsize)
            .field("getters", &st.getters.len())
            .field("putters", &st.putters.len())
            .field("unfinished", &st.unfinished)
            .field("shut_down", &st.shut_down)
            .finish()
    }
}

/// The future of [`Queue::put`].
///
/// # Examples
/// ```
/// simul::run(async {
///     let q = simul::Queue::new(0);
///     let put: simul::sync::Put<'_, i32, _> = q.put(1);
///     put.await.unwrap();
/// });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct Put<'a, T, S: QueueStorage<T>> {
    chan: &'a Chan<T, S>,
    value: Option<T>,
    key: Option<Key>,
}

// The item is moved, never pinned.
impl<T, S: QueueStorage<T>> Unpin for Put<'_, T, S> {}

impl<T, S: QueueStorage<T>> Future for Put<'_, T, S> {
    type Output = Result<(), QueueShutDown>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.chan.poll_put(&mut this.value, &mut this.key, cx)
    }
}

impl<T, S: QueueStorage<T>> Drop for Put<'_, T, S> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.chan.cancel_put(key);
        }
    }
}

impl<T, S: QueueStorage<T>> fmt::Debug for Put<'_, T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Put")
            .field("queued", &self.key.is_some())
            .finish_non_exhaustive()
    }
}

/// The future of [`Queue::get`].
///
/// # Examples
/// ```
/// simul::run(async {
///     let q = simul::Queue::new(0);
///     q.put_nowait(1).unwrap();
///     let get: simul::sync::Get<'_, i32, _> = q.get();
///     assert_eq!(get.await, Ok(1));
/// });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct Get<'a, T, S: QueueStorage<T>> {
    chan: &'a Chan<T, S>,
    key: Option<Key>,
}

impl<T, S: QueueStorage<T>> Future for Get<'_, T, S> {
    type Output = Result<T, QueueShutDown>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.chan.poll_get(&mut this.key, cx)
    }
}

impl<T, S: QueueStorage<T>> Drop for Get<'_, T, S> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.chan.cancel_get(key);
        }
    }
}

impl<T, S: QueueStorage<T>> fmt::Debug for Get<'_, T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Get")
            .field("queued", &self.key.is_some())
            .finish_non_exhaustive()
    }
}

/// The future of [`Queue::join`].
///
/// # Examples
/// ```
/// simul::run(async {
///     let q = simul::Queue::<()>::new(0);
///     let j: simul::sync::QueueJoin<'_, (), _> = q.join();
///     j.await;
/// });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct QueueJoin<'a, T, S: QueueStorage<T>> {
    chan: &'a Chan<T, S>,
    key: Option<Key>,
}

/// The old name of [`QueueJoin`] (kept for one release).
#[deprecated(
    since = "0.2.0",
    note = "renamed `QueueJoin` (`task::group` has a `GroupJoin`)"
)]
pub type Join<'a, T, S> = QueueJoin<'a, T, S>;

impl<T, S: QueueStorage<T>> Future for QueueJoin<'_, T, S> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let mut st = this.chan.state.borrow_mut();
        match this.key {
            None => {
                if st.unfinished == 0 {
                    return Poll::Ready(());
                }
                this.key = Some(st.joiners.push(Some(cx.waker().clone())));
                Poll::Pending
            }
            Some(k) => {
                if st.joiners.token(k).is_some() {
                    st.joiners.remove(k);
                    this.key = None;
                    Poll::Ready(())
                } else {
                    let old = st.joiners.set_waker(k, cx.waker());
                    drop(st);
                    drop(old);
                    Poll::Pending
                }
            }
        }
    }
}

impl<T, S: QueueStorage<T>> Drop for QueueJoin<'_, T, S> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.chan.state.borrow_mut().joiners.remove(key);
        }
    }
}

impl<T, S: QueueStorage<T>> fmt::Debug for QueueJoin<'_, T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueJoin")
            .field("queued", &self.key.is_some())
            .finish_non_exhaustive()
    }
}

/// The queue was shut down (asyncio's `QueueShutDown`).
///
/// # Examples
/// ```
/// assert_eq!(simul::QueueShutDown.to_string(), "the queue is shut down");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueShutDown;

impl fmt::Display for QueueShutDown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the queue is shut down")
    }
}

impl std::error::Error for QueueShutDown {}

/// Why [`Queue::put_nowait`] failed; carries the item back.
///
/// # Examples
/// ```
/// use simul::sync::TryPutError;
/// let q = simul::Queue::new(1);
/// q.put_nowait(1).unwrap();
/// match q.put_nowait(2) {
///     Err(TryPutError::Full(item)) => assert_eq!(item, 2),
///     other => panic!("{other:?}"),
/// }
/// ```
#[doc(alias = "QueueFull")]
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum TryPutError<T> {
    /// No free slot (asyncio's `QueueFull`).
    #[doc(alias = "QueueFull")]
    Full(T),
    /// The queue is shut down (asyncio's `QueueShutDown`).
    ShutDown(T),
}

impl<T> TryPutError<T> {
    /// The item that was not put.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(simul::sync::TryPutError::Full(3).into_inner(), 3);
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            TryPutError::Full(v) | TryPutError::ShutDown(v) => v,
        }
    }

    /// `true` for [`TryPutError::Full`].
    ///
    /// # Examples
    /// ```
    /// assert!(simul::sync::TryPutError::Full(()).is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        matches!(self, TryPutError::Full(_))
    }
}

impl<T> fmt::Debug for TryPutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryPutError::Full(_) => f.write_str("Full(..)"),
            TryPutError::ShutDown(_) => f.write_str("ShutDown(..)"),
        }
    }
}

impl<T> fmt::Display for TryPutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryPutError::Full(_) => f.write_str("the queue is full"),
            TryPutError::ShutDown(_) => f.write_str("the queue is shut down"),
        }
    }
}

impl<T> std::error::Error for TryPutError<T> {}

/// Why [`Queue::get_nowait`] failed.
///
/// # Examples
/// ```
/// let q = simul::Queue::<u8>::new(0);
/// q.shutdown(false);
/// assert_eq!(q.get_nowait(), Err(simul::sync::TryGetError::ShutDown));
/// ```
#[doc(alias = "QueueEmpty")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TryGetError {
    /// No item available (asyncio's `QueueEmpty`).
    #[doc(alias = "QueueEmpty")]
    Empty,
    /// The queue is shut down and has no item left (asyncio's `QueueShutDown`).
    ShutDown,
}

impl fmt::Display for TryGetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryGetError::Empty => f.write_str("the queue is empty"),
            TryGetError::ShutDown => f.write_str("the queue is shut down"),
        }
    }
}

impl std::error::Error for TryGetError {}

/// [`Queue::task_done`] was called more times than there were items (asyncio's
/// `ValueError`).
///
/// # Examples
/// ```
/// assert_eq!(
///     simul::sync::TaskDoneError.to_string(),
///     "task_done() called too many times"
/// );
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskDoneError;

impl fmt::Display for TaskDoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("task_done() called too many times")
    }
}

impl std::error::Error for TaskDoneError {}
