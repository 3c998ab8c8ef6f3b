//! The blocking-call pool: [`to_thread`] (asyncio's `to_thread` and `run_in_executor` with
//! the default executor).
//!
//! A blocking call — a file read, `getaddrinfo`, a CPU-heavy function, `std::thread::sleep`
//! — would freeze every task on the loop. `to_thread(f)` runs `f` on a worker thread
//! instead and gives the loop a future of its result.
//!
//! # The pool
//! Each event loop has its own pool, created on first use:
//! - **Capped, grows on demand.** A job is handed to an idle worker if there is one; else a
//!   new worker starts, up to [`DEFAULT_MAX_THREADS`] (64, see [`set_max_threads`]); beyond
//!   the cap jobs wait in a FIFO queue.
//! - **Shrinks when idle.** A worker that finds no job for [`DEFAULT_KEEP_ALIVE`] (10 s,
//!   see [`set_keep_alive`]) exits.
//! - **Shut down with the loop.** [`crate::run`] (and closing an `EventLoop`) drops queued
//!   jobs that have not started, then waits up to [`DEFAULT_SHUTDOWN_TIMEOUT`] (5 s, see
//!   [`set_shutdown_timeout`]) for running ones and joins every worker that ended within
//!   that time (as asyncio's `shutdown_default_executor` joins its threads), so once the
//!   loop is closed no pool thread of it is left; workers still busy after that are left to
//!   finish on their own (detached) and a line on stderr says how many. A worker's join
//!   includes its thread-local destructors, which run as its thread exits.
//!
//! # Completion
//! The worker stores the result (or the closure's panic payload) in a slot shared with the
//! awaiting future and wakes the task through its `Waker`: no polling. While a job is in
//! flight the loop counts it as external work, so virtual time does not jump past it.
//! Dropping the future before the job starts cancels the job (as cancelling asyncio's
//! `run_in_executor` future cancels a job not yet running); a job already running finishes
//! and its result is dropped.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// Default cap on worker threads per loop.
pub const DEFAULT_MAX_THREADS: usize = 64;
/// Default time an idle worker waits for a job before it exits.
pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(10);
/// Default time the loop's shutdown waits for running jobs.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

type Job = Box<dyn FnOnce() + Send>;

struct State {
    queue: VecDeque<Job>,
    /// Live workers.
    threads: usize,
    /// Workers waiting for a job.
    idle: usize,
    max_threads: usize,
    keep_alive: Duration,
    shutdown: bool,
    spawned_total: u64,
    /// Join handles of the workers started (a finished worker's handle is dropped, which
    /// detaches it, when the next worker starts; shutdown joins the rest).
    handles: Vec<std::thread::JoinHandle<()>>,
}

struct Pool {
    state: Mutex<State>,
    /// Signalled when a job is queued or on shutdown.
    work: Condvar,
    /// Signalled when a worker exits.
    exited: Condvar,
    shutdown_timeout: Mutex<Duration>,
}

impl Pool {
    fn new() -> Pool {
        Pool {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                threads: 0,
                idle: 0,
                max_threads: DEFAULT_MAX_THREADS,
                keep_alive: DEFAULT_KEEP_ALIVE,
                shutdown: false,
                spawned_total: 0,
                handles: Vec::new(),
            }),
            work: Condvar::new(),
            exited: Condvar::new(),
            shutdown_timeout: Mutex::new(DEFAULT_SHUTDOWN_TIMEOUT),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `job`, waking an idle worker or starting a new one below the cap.
    fn submit(self: &Arc<Self>, job: Job) {
        let mut st = self.lock();
        if st.shutdown {
            drop(st);
            drop(job); // completes the slot as abandoned
            return;
        }
        st.queue.push_back(job);
        if st.idle >= st.queue.len() {
            drop(st);
            self.work.notify_one();
            return;
        }
        if st.threads < st.max_threads {
            st.threads += 1;
            st.spawned_total += 1;
            let n = st.spawned_total;
            drop(st);
            let pool = self.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("simul-blocking-{n}"))
                .spawn(move || pool.worker());
            match spawned {
                Ok(handle) => {
                    let mut st = self.lock();
                    st.handles.retain(|h| !h.is_finished());
                    st.handles.push(handle);
                }
                Err(e) => self.spawn_failed(e),
            }
        }
        // else: at the cap; a busy worker takes the job when it is done.
    }

    /// A worker thread could not start: if no worker is left to run the queued jobs, they
    /// are dropped (their awaiters get a panic).
    fn spawn_failed(&self, e: std::io::Error) {
        let mut st = self.lock();
        st.threads -= 1;
        let stranded = st.threads == 0;
        let jobs: Vec<Job> = if stranded {
            st.queue.drain(..).collect()
        } else {
            Vec::new()
        };
        drop(st);
        eprintln!("simul: cannot start a blocking-pool thread: {e}");
        drop(jobs); // no worker will ever run them: their awaiters get a panic
    }

    fn worker(self: Arc<Self>) {
        let mut st = self.lock();
        loop {
            if let Some(job) = st.queue.pop_front() {
                drop(st);
                job(); // never unwinds: the closure runs under catch_unwind
                st = self.lock();
                continue;
            }
            if st.shutdown {
                break;
            }
            st.idle += 1;
            let keep_alive = st.keep_alive;
            let (guard, res) = self
                .work
                .wait_timeout(st, keep_alive)
                .unwrap_or_else(|e| e.into_inner());
            st = guard;
            st.idle -= 1;
            if res.timed_out() && st.queue.is_empty() && !st.shutdown {
                break; // idle too long: shrink
            }
        }
        st.threads -= 1;
        drop(st);
        self.exited.notify_all();
    }

    /// Drops queued jobs, wakes idle workers, waits (bounded) for running ones, then joins
    /// the workers that ended in time.
    fn shutdown(&self) {
        let timeout = *self
            .shutdown_timeout
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let mut st = self.lock();
        st.shutdown = true;
        let dropped: Vec<Job> = st.queue.drain(..).collect();
        drop(st);
        drop(dropped);
        self.work.notify_all();
        let deadline = Instant::now() + timeout;
        let mut st = self.lock();
        while st.threads > 0 {
            let now = Instant::now();
            if now >= deadline {
                eprintln!(
                    "simul: {} blocking-pool job(s) still running {timeout:?} after the loop \
                     closed; leaving them to finish on their own",
                    st.threads
                );
                break;
            }
            st = self
                .exited
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        let handles = std::mem::take(&mut st.handles);
        drop(st);
        for h in handles {
            // A worker that left its loop is returning from its thread: its handle reports
            // finished within moments. One still running a job past the deadline is
            // detached (dropping its handle).
            while !h.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            if h.is_finished() {
                let _ = h.join();
            }
        }
    }
}

thread_local! {
    /// The pool of each loop that has used one, keyed by the loop's core address.
    static POOLS: RefCell<Vec<(u64, Arc<Pool>)>> = const { RefCell::new(Vec::new()) };
}

/// The current loop's pool, created (and its shutdown hook registered) on first use.
#[track_caller]
fn current_pool(what: &str) -> Arc<Pool> {
    crate::runtime::with_core(what, |core| {
        let key = core.id();
        if let Some(p) = POOLS.with(|p| {
            p.borrow()
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, pool)| pool.clone())
        }) {
            return p;
        }
        let pool = Arc::new(Pool::new());
        POOLS.with(|p| p.borrow_mut().push((key, pool.clone())));
        let hook_pool = pool.clone();
        core.add_shutdown_hook(move || {
            POOLS.with(|p| p.borrow_mut().retain(|(k, _)| *k != key));
            hook_pool.shutdown();
        });
        pool
    })
}

/// Sets the current loop's cap on blocking-pool threads (default
/// [`DEFAULT_MAX_THREADS`]). Lowering it does not stop running jobs; jobs beyond the cap
/// wait in the queue.
///
/// # Panics
/// Outside a running loop, or if `n` is 0.
///
/// # Examples
/// ```
/// simul::run(async {
///     simul::blocking::set_max_threads(2);
///     let v = simul::to_thread(|| 1 + 1).await;
///     assert_eq!(v, 2);
/// });
/// ```
pub fn set_max_threads(n: usize) {
    assert!(
        n > 0,
        "simul::blocking::set_max_threads: the cap must be at least 1"
    );
    current_pool("blocking::set_max_threads").lock().max_threads = n;
}

/// Sets how long an idle worker of the current loop's pool waits for a job before it
/// exits (default [`DEFAULT_KEEP_ALIVE`]). Applies to waits that start afterwards.
///
/// # Panics
/// Outside a running loop.
///
/// # Examples
/// ```
/// simul::run(async {
///     simul::blocking::set_keep_alive(std::time::Duration::from_millis(50));
///     simul::to_thread(|| ()).await;
/// });
/// ```
pub fn set_keep_alive(d: Duration) {
    current_pool("blocking::set_keep_alive").lock().keep_alive = d;
}

/// Sets how long the loop's shutdown waits for running jobs (default
/// [`DEFAULT_SHUTDOWN_TIMEOUT`]).
///
/// # Panics
/// Outside a running loop.
///
/// # Examples
/// ```
/// simul::run(async {
///     simul::blocking::set_shutdown_timeout(std::time::Duration::from_millis(100));
///     // A job still sleeping when run() returns is waited for at most 100 ms.
///     let _job = simul::to_thread(|| std::thread::sleep(std::time::Duration::from_secs(1)));
/// });
/// ```
pub fn set_shutdown_timeout(d: Duration) {
    *current_pool("blocking::set_shutdown_timeout")
        .shutdown_timeout
        .lock()
        .unwrap_or_else(|e| e.into_inner()) = d;
}

/// Live worker threads of the current loop's pool (0 before first use).
///
/// # Panics
/// Outside a running loop.
///
/// # Examples
/// ```
/// simul::run(async {
///     simul::to_thread(|| ()).await;
///     assert!(simul::blocking::thread_count() >= 1);
/// });
/// ```
pub fn thread_count() -> usize {
    current_pool("blocking::thread_count").lock().threads
}

/// The result slot shared by a job and its future.
struct Slot<T> {
    inner: Mutex<SlotState<T>>,
    /// Set when the future is dropped: a job not yet started is skipped.
    cancelled: AtomicBool,
}

struct SlotState<T> {
    result: Option<std::thread::Result<T>>,
    waker: Option<Waker>,
    /// The job was dropped without running (pool shut down, or no thread could start).
    abandoned: bool,
}

/// Completes the slot when the job runs, or marks it abandoned if the job is dropped.
struct Completer<T> {
    slot: Arc<Slot<T>>,
    done: bool,
}

impl<T> Completer<T> {
    /// The job was skipped on purpose: nobody waits, nothing to report.
    fn disarm(&mut self) {
        self.done = true;
    }

    fn finish(&mut self, result: Option<std::thread::Result<T>>) {
        self.done = true;
        let waker = {
            let mut st = self.slot.inner.lock().unwrap_or_else(|e| e.into_inner());
            match result {
                Some(r) => st.result = Some(r),
                None => st.abandoned = true,
            }
            st.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> Drop for Completer<T> {
    fn drop(&mut self) {
        if !self.done {
            self.finish(None);
        }
    }
}

/// Runs the blocking closure `f` on the current loop's thread pool and returns a future of
/// its result (asyncio's `to_thread`, and `run_in_executor(None, f)`).
///
/// The job is submitted at once. If `f` panics, awaiting the future resumes the panic in
/// the awaiting task with the original payload (so the task fails with
/// `TaskError::Panicked`, as an exception raised in the executor propagates in asyncio).
/// Dropping the future before the job starts cancels the job. See the [module
/// doc](crate::blocking) for the pool's sizing and shutdown.
///
/// # Panics
/// Outside a running loop.
///
/// # Examples
/// ```
/// simul::run(async {
///     let len = simul::to_thread(|| {
///         std::thread::sleep(std::time::Duration::from_millis(5)); // would block the loop
///         "blocking".len()
///     })
///     .await;
///     assert_eq!(len, 8);
///
///     let t = simul::spawn(simul::to_thread(|| panic!("boom")));
///     assert!(t.await.is_err());
/// });
/// ```
#[doc(alias = "run_in_executor")]
#[track_caller]
pub fn to_thread<F, T>(f: F) -> ToThread<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let pool = current_pool("to_thread");
    let slot = Arc::new(Slot {
        inner: Mutex::new(SlotState {
            result: None,
            waker: None,
            abandoned: false,
        }),
        cancelled: AtomicBool::new(false),
    });
    let mut completer = Completer {
        slot: slot.clone(),
        done: false,
    };
    let job: Job = Box::new(move || {
        if completer.slot.cancelled.load(Ordering::Acquire) {
            completer.disarm(); // nobody is waiting
            return;
        }
        let r = catch_unwind(AssertUnwindSafe(f));
        completer.finish(Some(r));
    });
    crate::runtime::with_core("to_thread", |_| ());
    let hold = crate::runtime::VirtualTimeHold::new();
    pool.submit(job);
    ToThread { slot, hold }
}

/// The future returned by [`to_thread`]: resolves to the closure's result.
///
/// # Examples
/// ```
/// simul::run(async {
///     let fut: simul::blocking::ToThread<u32> = simul::to_thread(|| 7);
///     assert_eq!(fut.await, 7);
/// });
/// ```
#[must_use = "the job's result is lost unless the future is awaited (dropping it cancels a job not yet started)"]
pub struct ToThread<T> {
    slot: Arc<Slot<T>>,
    /// Holds the loop's virtual clock until the job is over.
    hold: crate::runtime::VirtualTimeHold,
}

impl<T> Future for ToThread<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let taken = {
            let mut st = self.slot.inner.lock().unwrap_or_else(|e| e.into_inner());
            match st.result.take() {
                Some(r) => Some(r),
                None if st.abandoned => None,
                None => {
                    match &mut st.waker {
                        Some(w) if w.will_wake(cx.waker()) => {}
                        w => *w = Some(cx.waker().clone()),
                    }
                    return Poll::Pending;
                }
            }
        };
        self.hold.release();
        match taken {
            Some(Ok(v)) => Poll::Ready(v),
            Some(Err(payload)) => std::panic::resume_unwind(payload),
            None => panic!(
                "simul::to_thread: the blocking pool shut down (or could not start a thread) \
                 before the job ran"
            ),
        }
    }
}

impl<T> Drop for ToThread<T> {
    fn drop(&mut self) {
        self.slot.cancelled.store(true, Ordering::Release);
        self.hold.release();
    }
}

impl<T> fmt::Debug for ToThread<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.slot.inner.lock().unwrap_or_else(|e| e.into_inner());
        f.debug_struct("ToThread")
            .field("done", &(st.result.is_some() || st.abandoned))
            .finish()
    }
}
