//! A one-slot channel built on wakers, the same for every runtime, so a workload that
//! passes messages measures the executor (wake, schedule, poll) and not a runtime's own
//! channel. `Send + Sync` (tokio's `spawn` needs it): a mutex that is never contended on
//! one thread costs every runtime the same two uncontended atomic operations.
//!
//! Wakers stay registered after a wake (`wake_by_ref`), so a steady ping-pong neither
//! clones nor drops wakers: what is left is the executor's own cost.

use std::future::{poll_fn, Future};
use std::sync::Mutex;
use std::task::{Poll, Waker};

pub struct Slot<T> {
    inner: Mutex<Inner<T>>,
}

struct Inner<T> {
    value: Option<T>,
    /// The receiver waiting for a value.
    rx: Option<Waker>,
    /// The sender waiting for the slot to empty.
    tx: Option<Waker>,
}

fn register(slot: &mut Option<Waker>, w: &Waker) {
    match slot {
        Some(old) if old.will_wake(w) => {}
        _ => *slot = Some(w.clone()),
    }
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Slot {
            inner: Mutex::new(Inner {
                value: None,
                rx: None,
                tx: None,
            }),
        }
    }
}

impl<T> Slot<T> {
    /// Waits until the slot is empty, then fills it and wakes the receiver.
    pub fn send(&self, value: T) -> impl Future<Output = ()> + '_ {
        let mut value = Some(value);
        poll_fn(move |cx| {
            let mut g = self.inner.lock().unwrap();
            if g.value.is_some() {
                register(&mut g.tx, cx.waker());
                return Poll::Pending;
            }
            g.value = value.take();
            if let Some(w) = &g.rx {
                w.wake_by_ref();
            }
            Poll::Ready(())
        })
    }

    /// Fills the slot now (it must be empty) and wakes the receiver.
    pub fn put(&self, value: T) {
        let mut g = self.inner.lock().unwrap();
        assert!(g.value.is_none(), "Slot::put on a full slot");
        g.value = Some(value);
        if let Some(w) = &g.rx {
            w.wake_by_ref();
        }
    }

    /// Waits for a value, takes it and wakes a waiting sender.
    pub fn recv(&self) -> impl Future<Output = T> + '_ {
        poll_fn(move |cx| {
            let mut g = self.inner.lock().unwrap();
            match g.value.take() {
                Some(v) => {
                    if let Some(w) = &g.tx {
                        w.wake_by_ref();
                    }
                    Poll::Ready(v)
                }
                None => {
                    register(&mut g.rx, cx.waker());
                    Poll::Pending
                }
            }
        })
    }
}
