//! The FIFO list of suspended waiters that every primitive in this module is built on.
//!
//! # Layout
//!
//! Waiter nodes live in a slab (`Vec<Node>`) and are linked into a doubly linked FIFO
//! list by index, so a waiter can leave from the middle in O(1) when its future is dropped.
//! Free slots are chained through the same `next` field and reused, so once the slab has
//! grown to the largest number of simultaneous waiters, waiting allocates nothing.
//!
//! # Life of a node
//!
//! 1. A future that must wait calls [`WaitList::push`] and keeps the returned [`Key`]:
//!    the node is *waiting* and linked at the tail.
//! 2. The primitive notifies the front node ([`WaitList::notify_one`]; to notify all,
//!    it repeats this, one borrow at a time) with a *token* that says what happened (granted, closed,
//!    broken...): the node is unlinked, marked *notified*, and its waker is handed back so
//!    the caller can wake it **after** releasing its own borrow of the primitive's state.
//! 3. The future — when polled, or in its `Drop` — calls [`WaitList::remove`], which frees
//!    the slot and tells whether the node had been notified (and with which token). This
//!    is where cancellation safety lives: a future dropped after being notified still sees
//!    the token and can pass what it was given (a lock, a permit, a queue slot) on.
//!
//! The owner of a key is the only one who frees its slot, so a key stays valid until its
//! owner calls `remove`; keys never dangle and need no generation counter.

use std::cell::RefCell;
use std::task::{Poll, Waker};

const NIL: usize = usize::MAX;

/// Handle to one waiter node; owned by the future that waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Key(usize);

#[derive(Debug)]
enum State {
    Free,
    Waiting,
    Notified(usize),
}

#[derive(Debug)]
struct Node {
    waker: Option<Waker>,
    state: State,
    prev: usize,
    next: usize,
}

/// A FIFO of waiters stored in a slab (see the module doc).
#[derive(Debug)]
pub(crate) struct WaitList {
    nodes: Vec<Node>,
    head: usize,
    tail: usize,
    free: usize,
    linked: usize,
}

impl Default for WaitList {
    fn default() -> Self {
        WaitList::new()
    }
}

impl WaitList {
    pub(crate) const fn new() -> WaitList {
        WaitList {
            nodes: Vec::new(),
            head: NIL,
            tail: NIL,
            free: NIL,
            linked: 0,
        }
    }

    /// Number of waiters still waiting (linked, not yet notified).
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.linked
    }

    /// `true` when nobody is waiting.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.linked == 0
    }

    /// Links a new waiting node at the tail.
    pub(crate) fn push(&mut self, waker: Option<Waker>) -> Key {
        let node = Node {
            waker,
            state: State::Waiting,
            prev: self.tail,
            next: NIL,
        };
        let i = if self.free != NIL {
            let i = self.free;
            self.free = self.nodes[i].next;
            self.nodes[i] = node;
            i
        } else {
            self.nodes.push(node);
            self.nodes.len() - 1
        };
        if self.tail != NIL {
            self.nodes[self.tail].next = i;
        } else {
            self.head = i;
        }
        self.tail = i;
        self.linked += 1;
        Key(i)
    }

    /// `None` while the node waits, `Some(token)` once notified.
    #[inline]
    pub(crate) fn token(&self, key: Key) -> Option<usize> {
        match self.nodes[key.0].state {
            State::Notified(t) => Some(t),
            State::Waiting => None,
            State::Free => unreachable!("simul::sync: waiter key used after removal"),
        }
    }

    /// Stores `waker` for a waiting node unless the stored one already wakes the same
    /// task. Returns the waker it replaced, for the caller to drop outside its borrow.
    pub(crate) fn set_waker(&mut self, key: Key, waker: &Waker) -> Option<Waker> {
        let node = &mut self.nodes[key.0];
        match &node.waker {
            Some(w) if w.will_wake(waker) => None,
            _ => node.waker.replace(waker.clone()),
        }
    }

    /// Notifies the front waiter with `token`; returns its waker to wake (after the caller
    /// has released its borrow). `None` if nobody waits.
    pub(crate) fn notify_one(&mut self, token: usize) -> Option<Option<Waker>> {
        let i = self.head;
        if i == NIL {
            return None;
        }
        self.unlink(i);
        let node = &mut self.nodes[i];
        node.state = State::Notified(token);
        Some(node.waker.take())
    }

    /// Frees the node. Returns its token if it had been notified, `None` if it was still
    /// waiting (it is then unlinked).
    pub(crate) fn remove(&mut self, key: Key) -> Option<usize> {
        let i = key.0;
        let token = match self.nodes[i].state {
            State::Waiting => {
                self.unlink(i);
                None
            }
            State::Notified(t) => Some(t),
            State::Free => unreachable!("simul::sync: waiter key removed twice"),
        };
        let node = &mut self.nodes[i];
        node.state = State::Free;
        node.waker = None;
        node.next = self.free;
        self.free = i;
        token
    }

    fn unlink(&mut self, i: usize) {
        let (prev, next) = (self.nodes[i].prev, self.nodes[i].next);
        if prev != NIL {
            self.nodes[prev].next = next;
        } else {
            self.head = next;
        }
        if next != NIL {
            self.nodes[next].prev = prev;
        } else {
            self.tail = prev;
        }
        self.linked -= 1;
    }
}

/// Wakes an optional waker (the result of [`WaitList::notify_one`]).
#[inline]
/// One poll of a waiting node: once it was notified, frees it and returns `Ready` with
/// its token; otherwise refreshes its waker (dropping the replaced one after the borrow
/// ends, so a waker's destructor cannot re-enter the list) and returns `Pending`.
pub(crate) fn poll_waiter(list: &RefCell<WaitList>, key: Key, waker: &Waker) -> Poll<usize> {
    let mut waiters = list.borrow_mut();
    if let Some(token) = waiters.token(key) {
        waiters.remove(key);
        Poll::Ready(token)
    } else {
        let old = waiters.set_waker(key, waker);
        drop(waiters);
        drop(old);
        Poll::Pending
    }
}

pub(crate) fn wake(w: Option<Option<Waker>>) {
    if let Some(Some(w)) = w {
        w.wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_order_and_removal_from_the_middle() {
        let mut l = WaitList::new();
        let a = l.push(None);
        let b = l.push(None);
        let c = l.push(None);
        assert_eq!(l.remove(b), None);
        assert_eq!(l.len(), 2);
        assert!(l.notify_one(7).is_some());
        assert_eq!(l.token(a), Some(7));
        assert_eq!(l.token(c), None);
        assert!(l.notify_one(8).is_some());
        assert_eq!(l.token(c), Some(8));
        assert!(l.notify_one(9).is_none());
        assert_eq!(l.remove(a), Some(7));
        assert_eq!(l.remove(c), Some(8));
        assert!(l.is_empty());
    }

    #[test]
    fn slots_are_reused() {
        let mut l = WaitList::new();
        for _ in 0..100 {
            let a = l.push(None);
            let b = l.push(None);
            l.remove(a);
            l.remove(b);
        }
        assert_eq!(l.nodes.len(), 2);
    }
}
