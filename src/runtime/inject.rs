//! The part of a loop other threads may touch (`Shared`): the injection queue for wakes,
//! `call_soon_threadsafe` closures and remote spawns, the stop flag, and the selector waker.
//!
//! A remote hand-off pushes under the mutex, then raises the park signal (`park.rs`), and
//! writes the selector's eventfd only if the loop said it is parked. Once the loop closes
//! the queue (`close`), pushes are refused: a task reference is dropped, a call returns
//! `false` to its sender.
//!
//! For a loop that may spin before parking (a member of a `Loops` set, `spin.rs`), each
//! hand-off also records the CPU its sender runs on (one relaxed store): the loop does not
//! spin for work from a thread on its own CPU. A plain loop's senders skip it (one load of
//! a flag fixed at build time).

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::Mutex;

use super::park::ParkState;
use crate::io::driver::Unparker;
use crate::task::raw::Runnable;

/// The part of a loop other threads may touch.
pub(crate) struct Shared {
    /// The loop's identity (unique in the process, never reused).
    id: u64,
    inject: Mutex<Inject>,
    pub(super) signal: ParkState,
    stop: AtomicBool,
    /// Ends the loop's park (the selector's waker).
    unparker: Unparker,
    /// Ready-queue length plus live tasks, published by the loop once per iteration for
    /// other threads choosing the least-loaded loop (`Loops::spawn`).
    load: AtomicUsize,
    /// The loop may spin before parking (fixed at build time): senders record their CPU.
    spins: bool,
    /// The CPU of the last sender of a hand-off ([`NO_CPU`]: none yet, or unknown).
    sender_cpu: AtomicU32,
}

/// `Shared::sender_cpu` before any hand-off, or where the CPU is unknown.
const NO_CPU: u32 = u32::MAX;

pub(super) type RemoteCall = Box<dyn FnOnce() + Send>;

#[derive(Default)]
struct Inject {
    tasks: Vec<Runnable>,
    calls: Vec<RemoteCall>,
    closed: bool,
}

impl Shared {
    pub(super) fn new(id: u64, unparker: Unparker, spins: bool) -> Shared {
        Shared {
            id,
            inject: Mutex::new(Inject::default()),
            signal: ParkState::new(),
            stop: AtomicBool::new(false),
            unparker,
            load: AtomicUsize::new(0),
            spins,
            sender_cpu: AtomicU32::new(NO_CPU),
        }
    }

    /// The loop's identity.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// Hands a woken task to the loop. On a closed loop the reference is dropped here: the
    /// task has completed (shutdown completes every task), so nothing of it runs.
    pub(super) fn push_task(&self, task: Runnable) {
        let mut q = self.inject.lock().unwrap_or_else(|e| e.into_inner());
        if q.closed {
            return;
        }
        q.tasks.push(task);
        drop(q);
        self.notify();
    }

    /// Hands a closure to the loop. Returns `false` (and drops `f` here) if the loop is
    /// closed.
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
        if self.spins {
            let cpu = crate::sys::current_cpu().unwrap_or(NO_CPU);
            self.sender_cpu.store(cpu, Ordering::Relaxed);
        }
        if self.signal.notify() {
            self.unpark();
        }
    }

    /// Whether the last hand-off came from a thread on the calling thread's CPU (as far
    /// as known: `false` when either CPU is unknown). Loop thread, before a spin.
    pub(super) fn sender_shares_my_cpu(&self) -> bool {
        let sender = self.sender_cpu.load(Ordering::Relaxed);
        sender != NO_CPU && crate::sys::current_cpu() == Some(sender)
    }

    /// Ends the loop's park.
    pub(super) fn unpark(&self) {
        self.unparker.unpark();
    }

    /// The load the loop published at its last iteration.
    pub(crate) fn load(&self) -> usize {
        self.load.load(Ordering::Relaxed)
    }

    /// Publishes the loop's load (loop thread, once per iteration).
    pub(super) fn publish_load(&self, load: usize) {
        self.load.store(load, Ordering::Relaxed);
    }

    pub(crate) fn request_stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.notify();
    }

    /// Whether a stop was requested (not cleared).
    pub(super) fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Takes a stop request: `true` once per request.
    pub(super) fn take_stop(&self) -> bool {
        self.stop.swap(false, Ordering::SeqCst)
    }

    /// What was handed in since the last call.
    pub(super) fn take(&self) -> (Vec<Runnable>, Vec<RemoteCall>) {
        let mut q = self.inject.lock().unwrap_or_else(|e| e.into_inner());
        (std::mem::take(&mut q.tasks), std::mem::take(&mut q.calls))
    }

    /// Closes the queue for good; returns what was still in it.
    pub(super) fn close(&self) -> (Vec<Runnable>, Vec<RemoteCall>) {
        let mut q = self.inject.lock().unwrap_or_else(|e| e.into_inner());
        q.closed = true;
        (std::mem::take(&mut q.tasks), std::mem::take(&mut q.calls))
    }
}
