//! The ready list shared by every combinator that drives many futures at once.
//!
//! # Why
//!
//! A naive `join_all` re-polls all `n` children whenever any of them is woken: a wake-up
//! costs O(n) and `gather` of 10k futures costs O(n²). Here every child gets its **own
//! waker** that remembers the child's index; waking it appends that index to a shared
//! ready list and wakes the parent once. The parent then polls only the children on the
//! list, so a wake-up costs O(1).
//!
//! # Pieces
//!
//! * [`ReadySet`] — `Arc`-shared (std's `Waker` must be `Send + Sync`, so the children's
//!   wakers may be woken from any thread): a mutex-guarded `Vec<usize>` of woken indices,
//!   the parent's waker, a `notified` flag (the parent has been woken and not polled since:
//!   further wakes need not wake it again) and a `closed` flag (the combinator is gone:
//!   wakes are ignored).
//! * [`ChildWaker`] — one per child: the index, the set, and a `queued` flag so that a
//!   child woken many times before it is polled sits on the list once. The list therefore
//!   never holds more than `n` entries and its buffer is reused: no allocation per wake.
//! * [`Driver`] — the parent's side. [`Driver::begin`] registers the parent's waker and
//!   moves the woken indices into a private batch; [`Driver::next`] hands them out one by
//!   one; [`Driver::poll_child`] polls a child with its own waker. Indices woken *during*
//!   the batch go to the shared list and are picked up by the next `begin`, so one poll of
//!   the parent is bounded even when a child wakes itself (`yield_now`).
//!
//! # Allocation
//!
//! A child waker is created when the child is first polled. If the child finishes
//! without anyone else holding a clone of its waker (the `Arc`'s count shows only ours),
//! the same allocation is reused for the next child: gathering futures that complete
//! immediately allocates one waker in total.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

/// The woken-children list shared by a parent and its children's wakers.
pub(crate) struct ReadySet {
    inner: Mutex<Inner>,
}

struct Inner {
    queue: Vec<usize>,
    parent: Option<Waker>,
    notified: bool,
    closed: bool,
}

impl ReadySet {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, index: usize) {
        let mut inner = self.lock();
        if inner.closed {
            return;
        }
        inner.queue.push(index);
        if !inner.notified {
            inner.notified = true;
            if let Some(w) = &inner.parent {
                // The parent's waker cannot lead back into this set (a set is never its
                // own parent), so waking under the lock cannot deadlock.
                w.wake_by_ref();
            }
        }
    }
}

/// The waker given to one child.
pub(crate) struct ChildWaker {
    set: Arc<ReadySet>,
    /// Changes only while the parent holds the only references (see [`Driver::poll_child`]).
    index: AtomicUsize,
    queued: AtomicBool,
}

impl Wake for ChildWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.queued.swap(true, Ordering::AcqRel) {
            self.set.push(self.index.load(Ordering::Acquire));
        }
    }
}

/// A child's waker, kept both as our `Arc` (to reach its flags) and as the std `Waker`
/// built from it once (so polling costs no refcount traffic).
struct Slot {
    arc: Arc<ChildWaker>,
    waker: Waker,
}

impl Slot {
    /// `true` when nobody but this slot holds the waker: no clone is out there that could
    /// wake the old index later, so the slot can serve another child.
    fn is_unshared(&self) -> bool {
        Arc::strong_count(&self.arc) == 2 && Arc::weak_count(&self.arc) == 0
    }
}

/// The parent's side of a [`ReadySet`] for `n` children indexed `0..n`.
pub(crate) struct Driver {
    set: Arc<ReadySet>,
    wakers: Vec<Option<Slot>>,
    batch: VecDeque<usize>,
    spare: Option<Slot>,
}

impl Driver {
    /// A driver whose first batch holds every child, in index order.
    pub(crate) fn new(n: usize) -> Driver {
        let mut wakers = Vec::with_capacity(n);
        wakers.resize_with(n, || None);
        Driver {
            set: Arc::new(ReadySet {
                inner: Mutex::new(Inner {
                    queue: Vec::new(),
                    parent: None,
                    notified: false,
                    closed: false,
                }),
            }),
            wakers,
            batch: (0..n).collect(),
            spare: None,
        }
    }

    /// Starts a poll of the parent: records its waker and moves the children woken since
    /// the last poll behind whatever is left of the current batch.
    pub(crate) fn begin(&mut self, cx: &mut Context<'_>) {
        let mut inner = self.set.lock();
        match &inner.parent {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => inner.parent = Some(cx.waker().clone()),
        }
        inner.notified = false;
        self.batch.extend(inner.queue.drain(..));
    }

    /// The next child to poll in this batch.
    pub(crate) fn next(&mut self) -> Option<usize> {
        self.batch.pop_front()
    }

    /// Polls child `index` through `poll` with the child's own waker.
    pub(crate) fn poll_child<R>(
        &mut self,
        index: usize,
        poll: impl FnOnce(&mut Context<'_>) -> Poll<R>,
    ) -> Poll<R> {
        let slot = match self.wakers[index].take() {
            Some(s) => s,
            None => match self.spare.take() {
                Some(s) => {
                    s.arc.index.store(index, Ordering::Release);
                    s
                }
                None => {
                    let arc = Arc::new(ChildWaker {
                        set: self.set.clone(),
                        index: AtomicUsize::new(index),
                        queued: AtomicBool::new(true),
                    });
                    let waker = Waker::from(arc.clone());
                    Slot { arc, waker }
                }
            },
        };
        // Cleared before the poll, so that a wake during the poll queues the child again.
        slot.arc.queued.store(false, Ordering::Release);
        let res = poll(&mut Context::from_waker(&slot.waker));
        if res.is_pending() {
            self.wakers[index] = Some(slot);
        } else if slot.is_unshared() {
            self.spare = Some(slot);
        }
        res
    }

    /// Forgets child `index`'s waker (the child is gone).
    pub(crate) fn forget(&mut self, index: usize) {
        self.wakers[index] = None;
    }

    /// Stops listening: later wakes are ignored, and the parent's waker is released.
    pub(crate) fn close(&mut self) {
        let mut inner = self.set.lock();
        inner.closed = true;
        inner.parent = None;
        inner.queue.clear();
        drop(inner);
        self.batch.clear();
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.close();
    }
}
