//! The part of a loop other threads may touch (`Shared`): the injection queue for wakes,
//! `call_soon_threadsafe` closures and remote spawns, the stop flag, and the selector waker.
//!
//! A remote hand-off pushes under the mutex, then raises the park signal (`park.rs`), and
//! writes the selector's eventfd only if the loop said it is parked. Once the loop closes
//! the queue (`close`), pushes are refused: a task reference is dropped, a call returns
//! `false` to its sender.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use super::park;
use crate::task::raw::TaskRef;

/// The part of a loop other threads may touch.
pub(crate) struct Shared {
    pub(super) inject: Mutex<Inject>,
    pub(super) signal: park::Signal,
    pub(super) stop: AtomicBool,
    pub(super) waker: mio::Waker,
}

pub(super) type RemoteCall = Box<dyn FnOnce() + Send>;

#[derive(Default)]
pub(super) struct Inject {
    pub(super) tasks: Vec<TaskRef>,
    pub(super) calls: Vec<RemoteCall>,
    pub(super) closed: bool,
}

impl Shared {
    pub(super) fn push_task(&self, task: TaskRef) {
        let mut q = self.inject.lock().unwrap_or_else(|e| e.into_inner());
        if q.closed {
            return; // the loop is gone; dropping the reference is all that is left to do
        }
        q.tasks.push(task);
        drop(q);
        self.notify();
    }

    /// Hands a closure to the loop. Returns `false` if the loop is closed.
    pub(crate) fn push_call(&self, f: Box<dyn FnOnce() + Send>) -> bool {
        let mut q = self.inject.lock().unwrap_or_else(|e| e.into_inner());
        if q.closed {
            return false;
        }
        q.calls.push(f);
        drop(q);
        self.notify();
        true
    }

    fn notify(&self) {
        if self.signal.notify() {
            let _ = self.waker.wake();
        }
    }

    pub(crate) fn request_stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.notify();
    }

    /// Closes the queue for good; returns what was still in it.
    pub(super) fn close(&self) -> (Vec<TaskRef>, Vec<RemoteCall>) {
        let mut q = self.inject.lock().unwrap_or_else(|e| e.into_inner());
        q.closed = true;
        (std::mem::take(&mut q.tasks), std::mem::take(&mut q.calls))
    }
}
