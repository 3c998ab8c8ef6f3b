//! `LoopHandle`: the loop as other threads see it, and `RemoteTask` for remote spawns.
//!
//! A remote spawn travels through the injection queue as a closure that spawns the future
//! on the loop; its result travels back through a small mutex-guarded slot shared with the
//! `RemoteTask`, which is `Send` so the spawning thread (or another loop) can await it.
//! Made on the loop's own thread while it runs, the spawn skips the injection queue: the
//! task goes straight into the registry and ready queue (`spawn_here`), and only the slot
//! is shared, so the handle and its semantics are the same.
//! The task's future (`Remote`) holds the user's closure and then the future it builds in
//! place, in the task's own allocation: a spawn allocates the task and the slot, plus the
//! injection-queue entry for a remote one, nothing more.

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

    /// Spawns a `Send` future on the loop from any thread. The returned [`RemoteTask`] is
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
    pub fn spawn<F>(&self, future: F) -> RemoteTask<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_with(move || future)
    }

    /// Spawns the future that `make` builds, from any thread: `make` is sent to the loop
    /// and called there, so the future itself need not be `Send` (it may hold `Rc`s and
    /// the loop's `!Send` sockets) — only `make` and the output must be. The returned
    /// [`JoinHandle`] is `Send` and can be awaited anywhere. A panic in `make` is delivered
    /// through the handle like a panic of the future. Called on the loop's own thread while
    /// it runs, the task is queued at once, as [`crate::spawn`] would queue it — so ahead
    /// of calls still waiting in the injection queue (no order is promised between a spawn
    /// and [`call_soon_threadsafe`](Self::call_soon_threadsafe)).
    ///
    /// # Examples
    /// ```
    /// use std::rc::Rc;
    /// let lp = simul::EventLoop::new().unwrap();
    /// let h = lp.handle();
    /// let j = std::thread::spawn(move || {
    ///     h.spawn_with(|| {
    ///         let local = Rc::new(20); // not Send: built on the loop's thread
    ///         async move { *local + 1 }
    ///     })
    /// })
    /// .join()
    /// .unwrap();
    /// assert_eq!(lp.run_until_complete(j).unwrap(), 21);
    /// ```
    #[track_caller]
    pub fn spawn_with<M, F>(&self, make: M) -> RemoteTask<F::Output>
    where
        M: FnOnce() -> F + Send + 'static,
        F: Future + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_named(None, std::panic::Location::caller(), make)
    }

    /// [`spawn_with`](Self::spawn_with) with a task name and spawn location.
    pub(crate) fn spawn_named<M, F>(
        &self,
        name: Option<String>,
        location: &'static std::panic::Location<'static>,
        make: M,
    ) -> RemoteTask<F::Output>
    where
        M: FnOnce() -> F + Send + 'static,
        F: Future + 'static,
        F::Output: Send + 'static,
    {
        if self.is_current() {
            self.spawn_here(name, location, make)
        } else {
            self.spawn_remote(name, location, make, ())
        }
    }

    /// Whether this is the handle of the loop running on this thread.
    pub(crate) fn is_current(&self) -> bool {
        try_with_core(|core| Arc::ptr_eq(core.shared(), &self.shared)).unwrap_or(false)
    }

    /// [`spawn_named`](Self::spawn_named) on the loop's own thread, while it runs (the
    /// caller checked [`is_current`](Self::is_current)): the task goes straight into the
    /// registry and the back of the ready queue, as `simul::spawn` would put it — no
    /// injection-queue entry, no wake-up. Only the result's way back is the remote one,
    /// so the handle is the same `Send` [`RemoteTask`] with the same semantics.
    pub(crate) fn spawn_here<M, F>(
        &self,
        name: Option<String>,
        location: &'static std::panic::Location<'static>,
        make: M,
    ) -> RemoteTask<F::Output>
    where
        M: FnOnce() -> F + 'static,
        F: Future + 'static,
        F::Output: Send + 'static,
    {
        let (task, guard) = RemoteTask::new();
        super::with_core("LoopHandle::spawn", |core| {
            debug_assert!(Arc::ptr_eq(core.shared(), &self.shared));
            if core.life.get() != super::iteration::Lifecycle::Open {
                // Closing (a destructor run by the shutdown spawns): refused as a remote
                // spawn is by the closed injection queue, the handle resolved as cancelled
                // at once (dropping the guard), never a task left for shutdown to drop.
                drop(guard);
                drop(make);
                return;
            }
            // Detached: the `RemoteTask` is the way to the result.
            drop(crate::Task::<()>::from_raw(core.spawn_raw(
                Remote::new(make, guard),
                name,
                location,
                false,
            )));
        });
        task
    }

    /// [`spawn_named`](Self::spawn_named) through the injection queue, from any thread.
    /// `taken_in` is dropped on the loop's thread right after the task is in its registry
    /// and ready queue (or with the closure, if the loop never runs it).
    pub(crate) fn spawn_remote<M, F, G>(
        &self,
        name: Option<String>,
        location: &'static std::panic::Location<'static>,
        make: M,
        taken_in: G,
    ) -> RemoteTask<F::Output>
    where
        M: FnOnce() -> F + Send + 'static,
        F: Future + 'static,
        F::Output: Send + 'static,
        G: Send + 'static,
    {
        let (task, guard) = RemoteTask::new();
        // The guard travels with the closure: if the loop closes before running it (the
        // closure is dropped with the queue), or refuses the spawn, or cancels the task,
        // dropping the guard resolves the handle as cancelled. Every handle resolves.
        let pushed = self.shared.push_call(Box::new(move || {
            let remote = Remote::new(make, guard);
            super::with_core("LoopHandle::spawn", |core| {
                // Detached: the `RemoteTask` is the way to the result.
                drop(crate::Task::<()>::from_raw(
                    core.spawn_raw(remote, name, location, false),
                ));
            });
            drop(taken_in);
        }));
        debug_assert!(pushed || task.is_done());
        task
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

    /// Ready-queue length plus live tasks, as of the loop's last iteration.
    pub(crate) fn load(&self) -> usize {
        self.shared.load()
    }

    /// The same figure read now, on the loop's own thread, without the task being polled
    /// (see [`Core::load_without_caller`](super::Core::load_without_caller)); `None` on
    /// any other thread.
    pub(crate) fn load_here(&self) -> Option<usize> {
        try_with_core(|core| {
            Arc::ptr_eq(core.shared(), &self.shared).then(|| core.load_without_caller())
        })
        .flatten()
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

pin_project_lite::pin_project! {
    /// A remote task's future, stored in place in the task's allocation: first the
    /// closure that builds it (sent from another thread, or handed over on the loop's own),
    /// then the future itself (built and polled on the loop thread only).
    struct Remote<M, F: Future> {
        #[pin]
        state: RemoteState<M, F>,
        guard: Completion<F::Output>,
    }
}

pin_project_lite::pin_project! {
    #[project = RemoteStateProj]
    enum RemoteState<M, F> {
        Make { make: Option<M> },
        Running { #[pin] future: F },
    }
}

impl<M, F> Remote<M, F>
where
    M: FnOnce() -> F,
    F: Future,
{
    fn new(make: M, guard: Completion<F::Output>) -> Self {
        Remote {
            state: RemoteState::Make { make: Some(make) },
            guard,
        }
    }
}

impl<M, F> Future for Remote<M, F>
where
    M: FnOnce() -> F,
    F: Future,
{
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        {
            let mut s = this.guard.slot.lock().unwrap_or_else(|e| e.into_inner());
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
        let mut state = this.state;
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            if let RemoteStateProj::Make { make } = state.as_mut().project() {
                let make = make.take().expect("the remote future is built once");
                state.set(RemoteState::Running { future: make() });
            }
            match state.project() {
                RemoteStateProj::Running { future } => future.poll(cx),
                RemoteStateProj::Make { .. } => unreachable!("built above"),
            }
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
pub struct RemoteTask<T> {
    slot: Arc<Mutex<Slot<T>>>,
}

/// The old name of [`RemoteTask`] (kept for one release).
#[deprecated(
    since = "0.2.0",
    note = "renamed `RemoteTask`: it is a task spawned from elsewhere, not tokio's `JoinHandle`"
)]
pub type JoinHandle<T> = RemoteTask<T>;

impl<T> RemoteTask<T> {
    /// A handle and the guard that resolves it (with `Cancelled` if dropped unset).
    fn new() -> (RemoteTask<T>, Completion<T>) {
        let slot = Arc::new(Mutex::new(Slot {
            result: None,
            waker: None,
            cancel: false,
            task_waker: None,
        }));
        let guard = Completion { slot: slot.clone() };
        (RemoteTask { slot }, guard)
    }

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

impl<T> Future for RemoteTask<T> {
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

impl<T> fmt::Debug for RemoteTask<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteTask")
            .field("done", &self.is_done())
            .finish()
    }
}
