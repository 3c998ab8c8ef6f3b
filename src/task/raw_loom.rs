//! Loom models of a task's whole life on the real task memory (the state word's atomics
//! are loom's under `cfg(loom)`): spawn, a wake from another thread, cancel, the handle
//! dropped, completion, and the last waker dropped on another thread, each interleaved
//! every way loom finds. Run with
//! `RUSTFLAGS="--cfg loom" cargo test --release -p simul --lib loom`.

use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::sync::{Arc, Mutex};
use loom::thread;

use super::*;

struct Shared {
    queue: Mutex<Vec<Runnable>>,
    ready: AtomicBool,
    waker: Mutex<Option<Waker>>,
    futures_dropped: AtomicUsize,
    freed: AtomicUsize,
}

struct LoomSchedule(Arc<Shared>);

impl Schedule for LoomSchedule {
    fn schedule(&self, task: Runnable) {
        self.0.queue.lock().unwrap().push(task);
    }
}

impl Drop for LoomSchedule {
    fn drop(&mut self) {
        self.0.freed.fetch_add(1, Ordering::SeqCst);
    }
}

/// Pending until `ready`, leaving its waker in `waker`.
struct Gate(Arc<Shared>);

impl Future for Gate {
    type Output = u32;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u32> {
        *self.0.waker.lock().unwrap() = Some(cx.waker().clone());
        if self.0.ready.load(Ordering::SeqCst) {
            Poll::Ready(7)
        } else {
            Poll::Pending
        }
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.0.futures_dropped.fetch_add(1, Ordering::SeqCst);
    }
}

fn shared() -> Arc<Shared> {
    Arc::new(Shared {
        queue: Mutex::new(Vec::new()),
        ready: AtomicBool::new(false),
        waker: Mutex::new(None),
        futures_dropped: AtomicUsize::new(0),
        freed: AtomicUsize::new(0),
    })
}

fn start(s: &Arc<Shared>) -> (OwnedTask, JoinRef<u32>) {
    let (owner, join, r) = spawn(
        Gate(s.clone()),
        LoomSchedule(s.clone()),
        Local::new(1, None, Location::caller(), 0),
    );
    assert!(matches!(r.run(|_| (), |_, ()| ()), Step::Pending));
    (owner, join)
}

/// Runs whatever is queued; returns how the task ended, if it did.
fn drain(s: &Shared) -> Option<TaskState> {
    let mut ended = None;
    loop {
        let Some(r) = s.queue.lock().unwrap().pop() else {
            return ended;
        };
        if let Step::Done(d) = r.run(|_| (), |_, ()| ()) {
            assert!(ended.is_none(), "a task completes once");
            ended = Some(d.state);
        }
    }
}

/// A wake from another thread (which then drops its waker) races the owner completing
/// the task and dropping its handles: the future is dropped once, the task completes
/// once, and the memory is freed once, by whichever thread lets go last.
#[test]
fn loom_remote_wake_races_completion_and_the_last_waker_is_dropped_remotely() {
    loom::model(|| {
        let s = shared();
        let (owner, join) = start(&s);
        let w = s.waker.lock().unwrap().take().unwrap();
        let s2 = s.clone();
        let t = thread::spawn(move || {
            s2.ready.store(true, Ordering::SeqCst);
            w.wake_by_ref();
            drop(w); // possibly the last reference, on this thread
        });
        let mut ended = drain(&s);
        t.join().unwrap();
        ended = ended.or(drain(&s));
        assert_eq!(ended, Some(TaskState::Finished));
        assert_eq!(join.take_output().unwrap().unwrap(), 7);
        assert_eq!(s.futures_dropped.load(Ordering::SeqCst), 1);
        drop((owner, join));
        drop(s.waker.lock().unwrap().take());
        assert_eq!(s.freed.load(Ordering::SeqCst), 1);
    });
}

/// A cancel and a detach on the owner thread race a remote wake by value; the last
/// reference is the remote waker's or the owner's, whichever goes last.
#[test]
fn loom_cancel_and_detach_race_a_remote_wake() {
    loom::model(|| {
        let s = shared();
        let (owner, join) = start(&s);
        let w = s.waker.lock().unwrap().take().unwrap();
        let t = thread::spawn(move || w.wake());
        assert!(join.request_cancel());
        join.wake();
        drop(join);
        let first = drain(&s);
        t.join().unwrap();
        let second = drain(&s);
        assert_eq!(first.or(second), Some(TaskState::Cancelled));
        assert_eq!(s.futures_dropped.load(Ordering::SeqCst), 1);
        assert_eq!(
            s.freed.load(Ordering::SeqCst),
            0,
            "the owner still holds it"
        );
        drop(owner);
        assert_eq!(s.freed.load(Ordering::SeqCst), 1);
    });
}

/// Every handle goes on the owner thread while a remote thread still holds a waker and
/// drops it: the owner's drop has dropped the future, so the remote free only drops Send
/// data, exactly once.
#[test]
fn loom_owner_goes_first_and_a_remote_waker_frees() {
    loom::model(|| {
        let s = shared();
        let (owner, join) = start(&s);
        let w = s.waker.lock().unwrap().take().unwrap();
        let t = thread::spawn(move || {
            w.wake_by_ref();
            drop(w);
        });
        drop(join);
        drop(owner);
        assert_eq!(s.futures_dropped.load(Ordering::SeqCst), 1);
        assert_eq!(drain(&s), None, "a queued entry finds the task complete");
        t.join().unwrap();
        // The wake may have queued an entry after the first drain; it holds the last
        // reference until it is run (or dropped, as a closed queue does).
        assert_eq!(drain(&s), None);
        assert_eq!(s.freed.load(Ordering::SeqCst), 1);
    });
}
