//! `LoopHandle`: the loop as other threads see it, and `JoinHandle` for remote spawns.
//!
//! A remote spawn travels through the injection queue as a closure that spawns the future
//! on the loop; its result travels back through a small mutex-guarded slot shared with the
//! `JoinHandle`, which is `Send` so the spawning thread (or another loop) can await it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use super::{try_with_core, Shared};
use crate::task::TaskError;

/// A `Send + Sync` handle to an event loop, for other threads.
///
/// # Examples
/// ```
/// let lp = simul::EventLoop::new().unwrap();
/// let h = lp.handle();
/// let worker = std::thread::spawn(move || h.spawn(async { 2 + 2 }));
/// let join = worker.join().unwrap();
/// assert_eq!(lp.run_until_complete(join).unwrap(), 4);
/// ```
#[derive(Clone)]
pub struct LoopHandle {
    shared: Arc<Shared>,
}

impl fmt::Debug for LoopHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopHandle").finish_non_exhaustive()
    }
}

impl LoopHandle {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        LoopHandle { shared }
    }

    /// The handle of the loop running on this thread.
    ///
    /// # Panics
    /// Outside a running loop (see [`LoopHandle::try_current`]).
    ///
    /// # Examples
    /// ```
    /// simul::run(async { let _h = simul::LoopHandle::current(); });
    /// ```
    #[doc(alias = "get_running_loop")]
    #[track_caller]
    pub fn current() -> LoopHandle {
        super::with_core("LoopHandle::current", |core| {
            LoopHandle::new(core.shared().clone())
        })
    }

    /// The handle of the loop running on this thread, if any.
    ///
    /// # Examples
    /// ```
    /// assert!(simul::LoopHandle::try_current().is_none());
    /// ```
    pub fn try_current() -> Option<LoopHandle> {
        try_with_core(|core| LoopHandle::new(core.shared().clone()))
    }

    /// Runs `f` on the loop soon, from any thread; wakes a parked loop at once. Returns
    /// `false` (and drops `f`) if the loop has been closed.
    ///
    /// # Examples
    /// ```
    /// use std::sync::{Arc, atomic::{AtomicBool, Ordering}};
    /// let lp = simul::EventLoop::new().unwrap();
    /// let (h, hit) = (lp.handle(), Arc::new(AtomicBool::new(false)));
    /// let hit2 = hit.clone();
    /// let stopper = lp.handle();
    /// std::thread::spawn(move || { h.call_soon_threadsafe(move || { hit2.store(true, Ordering::SeqCst); stopper.stop(); }); });
    /// lp.run_forever();
    /// assert!(hit.load(Ordering::SeqCst));
    /// ```
    pub fn call_soon_threadsafe(&self, f: impl FnOnce() + Send + 'static) -> bool {
        self.shared.push_call(Box::new(f))
    }

    /// Spawns a `Send` future on the loop from any thread. The returned [`JoinHandle`] is
    /// `Send` and can be awaited anywhere.
    ///
    /// # Examples
    /// ```
    /// let lp = simul::EventLoop::new().unwrap();
    /// let j = lp.handle().spawn(async { "remote" });
    /// assert_eq!(lp.run_until_complete(j).unwrap(), "remote");
    /// ```
    #[track_caller]
    #[doc(alias = "run_coroutine_threadsafe")]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let slot = Arc::new(Mutex::new(Slot {
            result: None,
            waker: None,
            cancel: false,
            task_waker: None,
        }));
        // The guard travels with the closure: if the loop closes before running it (the
        // closure is dropped with the queue), or refuses the spawn, or cancels the task,
        // dropping the guard resolves the handle as cancelled. Every handle resolves.
        let guard = Completion { slot: slot.clone() };
        let location = std::panic::Location::caller();
        let pushed = self.shared.push_call(Box::new(move || {
            let remote = Remote {
                future: Box::pin(future),
                guard,
            };
            super::with_core("LoopHandle::spawn", |core| {
                // Detached: the `JoinHandle` is the way to the result.
                drop(crate::Task::<()>::from_raw(
                    core.spawn_raw(remote, None, location, false),
                ));
            });
        }));
        debug_assert!(pushed || slot.lock().is_ok_and(|s| s.result.is_some()));
        JoinHandle { slot }
    }

    /// Asks the loop to stop ([`crate::EventLoop::run_forever`] returns).
    ///
    /// # Examples
    /// ```
    /// let lp = simul::EventLoop::new().unwrap();
    /// lp.handle().stop();
    /// lp.run_forever();
    /// ```
    pub fn stop(&self) {
        self.shared.request_stop();
    }
}

struct Slot<T> {
    result: Option<Result<T, TaskError>>,
    waker: Option<Waker>,
    cancel: bool,
    task_waker: Option<Waker>,
}

/// Completes the slot with `Cancelled` if the remote task is dropped without a result
/// (cancelled, or the loop shut down).
struct Completion<T> {
    slot: Arc<Mutex<Slot<T>>>,
}

impl<T> Completion<T> {
    fn set(&self, r: Result<T, TaskError>) {
        let mut s = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        if s.result.is_none() {
            s.result = Some(r);
        }
        if let Some(w) = s.waker.take() {
            drop(s);
            w.wake();
        }
    }
}

impl<T> Drop for Completion<T> {
    fn drop(&mut self) {
        self.set(Err(TaskError::Cancelled));
    }
}

struct Remote<T> {
    future: Pin<Box<dyn Future<Output = T> + Send>>,
    guard: Completion<T>,
}

impl<T> Future for Remote<T> {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        {
            let mut s = self.guard.slot.lock().unwrap_or_else(|e| e.into_inner());
            if s.cancel {
                return Poll::Ready(()); // Drop of the guard reports Cancelled
            }
            if !s
                .task_waker
                .as_ref()
                .is_some_and(|w| w.will_wake(cx.waker()))
            {
                s.task_waker = Some(cx.waker().clone());
            }
        }
        let this = &mut *self;
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            this.future.as_mut().poll(cx)
        })) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => {
                this.guard.set(Ok(v));
                Poll::Ready(())
            }
            Err(p) => {
                this.guard.set(Err(TaskError::from_panic(p)));
                Poll::Ready(())
            }
        }
    }
}

/// The result of [`LoopHandle::spawn`]: a `Send` future of the remote task's result.
/// Dropping it detaches the task.
///
/// # Examples
/// ```
/// let lp = simul::EventLoop::new().unwrap();
/// let j = lp.handle().spawn(std::future::pending::<()>());
/// j.cancel();
/// assert!(lp.run_until_complete(j).unwrap_err().is_cancelled());
/// ```
pub struct JoinHandle<T> {
    slot: Arc<Mutex<Slot<T>>>,
}

impl<T> JoinHandle<T> {
    /// Requests cancellation of the remote task (from any thread).
    ///
    /// # Examples
    /// ```
    /// let lp = simul::EventLoop::new().unwrap();
    /// let j = lp.handle().spawn(std::future::pending::<()>());
    /// j.cancel();
    /// assert!(lp.run_until_complete(j).is_err());
    /// ```
    pub fn cancel(&self) {
        let w = {
            let mut s = self.slot.lock().unwrap_or_else(|e| e.into_inner());
            s.cancel = true;
            s.task_waker.take()
        };
        if let Some(w) = w {
            w.wake();
        }
    }

    /// Whether the result is available.
    ///
    /// # Examples
    /// ```
    /// let lp = simul::EventLoop::new().unwrap();
    /// let j = lp.handle().spawn(async {});
    /// assert!(!j.is_done());
    /// ```
    pub fn is_done(&self) -> bool {
        self.slot
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .result
            .is_some()
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, TaskError>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut s = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(r) = s.result.take() {
            return Poll::Ready(r);
        }
        if !s.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            s.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("done", &self.is_done())
            .finish()
    }
}
