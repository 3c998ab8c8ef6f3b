//! [`Barrier`]: asyncio's `Barrier` (Python 3.11).
//!
//! # Design
//!
//! The barrier counts the tasks that arrived in the current round and queues them. The
//! task whose arrival makes the count reach `parties` does not wait: it notifies every
//! queued task with `RELEASED`, resets the count for the next round, and returns. A task
//! arriving after that joins the next round straight away — asyncio makes it wait until
//! the previous round has drained, which ends the same way on a single-threaded loop.
//!
//! [`Barrier::abort`] and [`Barrier::reset`] notify the queued tasks with `BROKEN`;
//! `abort` also leaves the barrier broken (every `wait` fails) until `reset`.
//!
//! Cancellation: a waiter dropped before the round completes leaves the queue and the
//! count (as in asyncio, where the cancelled task decrements the count on its way out).

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use super::waiters::{wake, Key, WaitList};

const RELEASED: usize = 0;
const BROKEN: usize = 1;

struct State {
    count: usize,
    broken: bool,
    waiters: WaitList,
}

/// A barrier for a fixed number of tasks (asyncio's `Barrier`): each
/// [`wait`](Barrier::wait) blocks until `parties` tasks are waiting, then all proceed.
/// A `Barrier` is a cheap handle: clone it to share the barrier between tasks.
///
/// # Examples
/// ```
/// simul::run(async {
///     let barrier = simul::Barrier::new(3);
///     let tasks: Vec<_> = (0..3).map(|_| {
///         let b = barrier.clone();
///         simul::spawn(async move { b.wait().await.unwrap() })
///     }).collect();
///     let mut indices = Vec::new();
///     for t in tasks { indices.push(t.await.unwrap()); }
///     indices.sort();
///     assert_eq!(indices, [0, 1, 2]); // each task's arrival index
/// });
/// ```
#[derive(Clone)]
pub struct Barrier {
    parties: usize,
    /// Shared by every clone.
    state: Rc<RefCell<State>>,
}

impl Barrier {
    /// A barrier for `parties` tasks.
    ///
    /// # Panics
    /// If `parties` is 0 (asyncio raises `ValueError`).
    ///
    /// # Examples
    /// ```
    /// assert_eq!(simul::Barrier::new(4).parties(), 4);
    /// ```
    pub fn new(parties: usize) -> Barrier {
        assert!(parties > 0, "simul::Barrier::new: parties must be > 0");
        Barrier {
            parties,
            state: Rc::new(RefCell::new(State {
                count: 0,
                broken: false,
                waiters: WaitList::new(),
            })),
        }
    }

    /// Waits until `parties` tasks wait, and returns this task's arrival index in the
    /// round, `0..parties` (asyncio's `wait()`).
    ///
    /// # Errors
    /// [`BrokenBarrier`] if the barrier is or becomes broken ([`abort`](Barrier::abort))
    /// or is [`reset`](Barrier::reset) while this task waits.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let b = simul::Barrier::new(1);
    ///     assert_eq!(b.wait().await, Ok(0));
    /// });
    /// ```
    pub fn wait(&self) -> BarrierWait<'_> {
        BarrierWait {
            barrier: self,
            key: None,
            index: 0,
        }
    }

    /// Breaks the barrier: waiting tasks and every later `wait` get [`BrokenBarrier`]
    /// until [`reset`](Barrier::reset).
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let b = simul::Barrier::new(2);
    ///     b.abort();
    ///     assert!(b.is_broken());
    ///     assert_eq!(b.wait().await, Err(simul::BrokenBarrier));
    /// });
    /// ```
    pub fn abort(&self) {
        self.state.borrow_mut().broken = true;
        self.release_all(BROKEN);
    }

    /// Returns the barrier to its empty, unbroken state; tasks waiting get
    /// [`BrokenBarrier`].
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let b = simul::Barrier::new(1);
    ///     b.abort();
    ///     b.reset();
    ///     assert_eq!(b.wait().await, Ok(0));
    /// });
    /// ```
    pub fn reset(&self) {
        self.release_all(BROKEN);
        self.state.borrow_mut().broken = false;
    }

    /// The number of tasks needed to pass the barrier.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(simul::Barrier::new(2).parties(), 2);
    /// ```
    pub fn parties(&self) -> usize {
        self.parties
    }

    /// Tasks waiting in the current round.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(simul::Barrier::new(2).n_waiting(), 0);
    /// ```
    pub fn n_waiting(&self) -> usize {
        self.state.borrow().count
    }

    /// `true` after [`abort`](Barrier::abort), until [`reset`](Barrier::reset).
    ///
    /// # Examples
    /// ```
    /// assert!(!simul::Barrier::new(2).is_broken());
    /// ```
    #[doc(alias = "broken")]
    pub fn is_broken(&self) -> bool {
        self.state.borrow().broken
    }

    fn release_all(&self, token: usize) {
        self.state.borrow_mut().count = 0;
        loop {
            // One waiter at a time, so no borrow is held while a waker runs.
            let w = self.state.borrow_mut().waiters.notify_one(token);
            if w.is_none() {
                break;
            }
            wake(w);
        }
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.state.borrow();
        f.debug_struct("Barrier")
            .field("parties", &self.parties)
            .field("n_waiting", &st.count)
            .field("broken", &st.broken)
            .finish()
    }
}

/// The barrier was aborted or reset (asyncio's `BrokenBarrierError`).
///
/// # Examples
/// ```
/// assert_eq!(simul::BrokenBarrier.to_string(), "the barrier is broken");
/// ```
#[doc(alias = "BrokenBarrierError")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BrokenBarrier;

impl fmt::Display for BrokenBarrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the barrier is broken")
    }
}

impl std::error::Error for BrokenBarrier {}

/// The future of [`Barrier::wait`].
///
/// # Examples
/// ```
/// simul::run(async {
///     let b = simul::Barrier::new(1);
///     let w: simul::sync::BarrierWait<'_> = b.wait();
///     assert_eq!(w.await, Ok(0));
/// });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct BarrierWait<'a> {
    barrier: &'a Barrier,
    key: Option<Key>,
    index: usize,
}

impl Future for BarrierWait<'_> {
    type Output = Result<usize, BrokenBarrier>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let barrier = self.barrier;
        match self.key {
            None => {
                let mut st = barrier.state.borrow_mut();
                if st.broken {
                    return Poll::Ready(Err(BrokenBarrier));
                }
                let index = st.count;
                if index + 1 == barrier.parties {
                    drop(st);
                    barrier.release_all(RELEASED);
                    return Poll::Ready(Ok(index));
                }
                st.count += 1;
                self.key = Some(st.waiters.push(Some(cx.waker().clone())));
                self.index = index;
                Poll::Pending
            }
            Some(key) => {
                let mut st = barrier.state.borrow_mut();
                match st.waiters.token(key) {
                    Some(token) => {
                        st.waiters.remove(key);
                        drop(st);
                        self.key = None;
                        Poll::Ready(if token == RELEASED {
                            Ok(self.index)
                        } else {
                            Err(BrokenBarrier)
                        })
                    }
                    None => {
                        let old = st.waiters.set_waker(key, cx.waker());
                        drop(st);
                        drop(old);
                        Poll::Pending
                    }
                }
            }
        }
    }
}

impl Drop for BarrierWait<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let mut st = self.barrier.state.borrow_mut();
            if st.waiters.remove(key).is_none() {
                // Left before the round completed: no longer counted.
                st.count -= 1;
            }
        }
    }
}

impl fmt::Debug for BarrierWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BarrierWait")
            .field("queued", &self.key.is_some())
            .finish_non_exhaustive()
    }
}
