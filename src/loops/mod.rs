//! One event loop per core: [`Loops`], a set of ordinary simul loops, each on its own
//! thread — the thread-per-core shape of glommio, monoio and Seastar, and what asyncio
//! users get from one process per core (gunicorn or uvicorn workers).
//!
//! # Design
//!
//! Inside each loop nothing changes: tasks are `!Send`, single-threaded, asyncio-like, and
//! every free function (`simul::spawn`, `sleep`, `start_server`, ...) acts on the loop of
//! the calling thread. Only three things cross between loops, all through the existing
//! cross-thread path of a loop (its injection queue and wake-up, see [`crate::runtime`]):
//!
//! - **work**: [`Loops::spawn_on`] and [`Loops::spawn`] (to the least-loaded loop) send a
//!   `Send` future, or [`LoopHandle::spawn_with`] a `Send` closure that builds a `!Send`
//!   future on the target thread; the result comes back through a `Send`
//!   [`RemoteTask`] that any loop or thread can await. A spawn onto the calling loop
//!   itself (chosen, or named by `spawn_on`) skips the injection queue: see "Load";
//! - **messages**: [`crate::sync::channel`] (unbounded), [`crate::sync::bounded_channel`]
//!   (with backpressure) and [`crate::sync::oneshot`];
//! - **sockets**: a server per loop sharing one port with `SO_REUSEPORT`
//!   ([`ServerBuilder::reuse_port`](crate::ServerBuilder::reuse_port), or
//!   [`BindOptions::reuse_port`](crate::net::BindOptions::reuse_port) for a bare
//!   listener); a socket moves between loops as a `std` socket
//!   ([`TcpStream::into_std`](crate::net::TcpStream::into_std) /
//!   [`from_std`](crate::net::TcpStream::from_std)).
//!
//! # Hand-offs without waking a sleeping CPU
//!
//! A hand-off to a loop blocked in its selector costs a wake-up of a sleeping CPU (tens of
//! microseconds in a VM), twice for a round trip such as `spawn_on(other, ..).await`. So
//! a set's loops are built to spin briefly before they park once work was handed to them
//! from a thread on another CPU (the policy, its bounds and its back-off are in
//! `runtime/spin.rs`): while hand-offs keep coming, each finds its loop awake and costs no
//! system call; a loop with no cross-loop traffic never spins, and an idle one stops after
//! one spin of at most 50 µs.
//!
//! # Load
//!
//! A loop's load figure is its ready-queue length plus its number of live tasks (so a task
//! waiting in the ready queue counts twice, a parked one once), which the loop publishes
//! once per iteration (one relaxed store), plus 2 for each remote spawn sent to it and not
//! yet taken in (counted here: a spawn in flight counts as the queued live task it is about
//! to become, so a burst of spawns spreads before the loops have run).
//!
//! A spawn made on a thread outside the set goes to the loop with the least figure, ties
//! round-robin. A spawn made on one of the set's loops ([`spawn`], [`spawn_with`],
//! [`Loops::spawn`] / [`Loops::spawn_with`] called there, [`serve_handoff`]) stays on the
//! calling loop unless another loop's figure is lower than the calling loop's own, and
//! otherwise goes to the least loaded of the others, ties round-robin — what tokio's
//! `spawn` from a worker does through its LIFO slot. The calling loop's own figure (with
//! the spawns in flight to it, as for any loop) is:
//!
//! - **read exactly, on its own thread**, not the published value, so each spawn sees the
//!   spawns before it: in a burst from one task, spawn 1 stays (a queued live task: +2),
//!   spawn 2 goes to an idle peer (in flight: +2), spawn 3 stays, and so on, alternating;
//! - **without the calling task** (the one being polled, if any): otherwise the caller's
//!   loop would always look busier than an idle peer, and nothing would stay local. A
//!   spawn from a callback or the main future has no such task to leave out.
//!
//! A spawn kept on the calling loop goes straight into its registry and ready queue, as
//! `simul::spawn` would put it (so it runs in spawn order with local tasks): no injection
//! queue, no wake-up, only the work of a `simul::spawn` plus the [`RemoteTask`]'s slot (one
//! allocation, and a mutex taken per poll, as the handle is `Send`). Deciding costs a
//! relaxed load of each other loop's figures. Its `RemoteTask` is the same type
//! with the same semantics as a remote one's: a panic (of the future, or of `make` in
//! `spawn_with`) is its result, dropping it detaches the task, cancelling it cancels the
//! task, and a shutdown of the set resolves it as cancelled.
//!
//! # Lifecycle and invariants
//!
//! - [`LoopsBuilder::build`] starts every thread and returns once every loop is up (or the
//!   first error, after stopping the threads already started).
//! - [`Loops::run`] runs one main future per loop and blocks the calling thread, which
//!   runs a small loop of its own to wait (so Ctrl-C is seen there). Outputs come back in
//!   loop order. A panic in one main future is reported, the other main futures are
//!   cancelled (their destructors run on their own threads), and the panic is re-raised
//!   in the caller — a `TaskGroup` of loops.
//! - Ctrl-C during [`Loops::run`] (when SIGINT has its default disposition, as for
//!   [`crate::run`]) cancels every main future, shuts every loop down and ends the process
//!   with SIGINT (exit status 130).
//! - Dropping a `Loops` (or [`Loops::shutdown`]) closes each loop on its own thread —
//!   every task still alive is cancelled there — and joins every thread, the loops' own
//!   and their blocking pools' (see [`crate::blocking`], bounded by its shutdown timeout):
//!   no thread or descriptor of the set outlives it.
//! - With [`LoopsBuilder::pin`], loop `i`'s thread may run only on the `i`-th CPU of the
//!   process's affinity (wrapping around); stall-watchdog lines and debug reports name the
//!   loop ("loop N").

mod handoff;
#[cfg(all(test, not(loom)))]
mod spin_tests;
pub(crate) mod sys;
mod worker;

pub use handoff::serve_handoff;

use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::task::Poll;
use std::thread;

use crate::sync::oneshot;
use crate::task::TaskError;
use crate::{Builder, EventLoop, LoopHandle, RemoteTask};

/// The loops of a set as every thread sees them.
pub(crate) struct Set {
    members: Vec<Member>,
    /// Where the round-robin among equally loaded loops starts next.
    next: AtomicUsize,
}

struct Member {
    handle: LoopHandle,
    /// Remote spawns sent to this loop and not yet finished.
    inflight: Arc<AtomicUsize>,
}

impl Set {
    fn member(&self, index: usize, what: &str) -> &Member {
        match self.members.get(index) {
            Some(m) => m,
            None => panic!(
                "simul::Loops::{what}: there is no loop {index} (the set has {} loops, 0..{})",
                self.members.len(),
                self.members.len()
            ),
        }
    }

    /// The loop with the least load (see the module doc); ties go round-robin.
    fn least_loaded(&self) -> usize {
        self.least_loaded_but(None).0
    }

    /// The least-loaded loop other than `skip`, and its load, ties round-robin;
    /// `(usize::MAX, usize::MAX)` when there is no other loop.
    fn least_loaded_but(&self, skip: Option<usize>) -> (usize, usize) {
        let n = self.members.len();
        let candidates = n - usize::from(skip.is_some());
        // Candidate `j` (0..candidates) is loop `j`, or `j + 1` from `skip` on.
        let loop_of = |j: usize| match skip {
            Some(s) if j >= s => j + 1,
            _ => j,
        };
        let start = if candidates > 1 {
            self.next.fetch_add(1, Ordering::Relaxed) % candidates
        } else {
            0
        };
        let mut best = (usize::MAX, usize::MAX);
        for k in 0..candidates {
            let i = loop_of((start + k) % candidates);
            let load = self.load(i);
            if load < best.1 || best.0 == usize::MAX {
                best = (i, load);
            }
        }
        best
    }

    /// Where a spawn made on this thread goes (see the module doc, "Load"): from loop
    /// `caller` of this set, that loop itself when no other loop is less loaded than it
    /// is without the calling task; from anywhere else, the least-loaded loop.
    fn choose(&self, caller: Option<usize>) -> usize {
        let Some(me) = caller else {
            return self.least_loaded();
        };
        let m = &self.members[me];
        let Some(own) = m.handle.load_here() else {
            return self.least_loaded(); // this thread is not running that loop now
        };
        let own = own + m.inflight.load(Ordering::Relaxed);
        let (other, other_load) = self.least_loaded_but(Some(me));
        if own <= other_load {
            me
        } else {
            other
        }
    }

    /// This thread's index in this set, if it is one of its loops.
    fn caller(&self) -> Option<usize> {
        worker::index_in(self)
    }

    fn load(&self, index: usize) -> usize {
        let m = &self.members[index];
        m.handle.load() + m.inflight.load(Ordering::Relaxed)
    }

    #[track_caller]
    fn spawn_on<F>(&self, index: usize, future: F) -> RemoteTask<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_named_on(index, None, move || future)
    }

    /// Spawns the future `make` builds, on loop `index`: straight into its ready queue
    /// when that is the loop running on this thread, else through its injection queue,
    /// counted as in flight until it is taken in.
    #[track_caller]
    fn spawn_named_on<M, F>(
        &self,
        index: usize,
        name: Option<String>,
        make: M,
    ) -> RemoteTask<F::Output>
    where
        M: FnOnce() -> F + Send + 'static,
        F: Future + 'static,
        F::Output: Send + 'static,
    {
        let m = self.member(index, "spawn_on");
        let location = std::panic::Location::caller();
        if m.handle.is_current() {
            return m.handle.spawn_here(name, location, make);
        }
        // Dropped by the loop once the task is in its registry and ready queue: from then
        // on its own figure counts it (published at the end of that iteration).
        let in_flight = Inflight::new(m.inflight.clone());
        m.handle.spawn_remote(name, location, make, in_flight)
    }
}

/// How much a remote spawn not yet taken in adds to its loop's load: as much as the task
/// it becomes adds while it waits in the ready queue (queued, and live).
const IN_FLIGHT: usize = 2;

/// Counts a remote spawn as in flight until its loop takes it in (from then on the loop's
/// own figure counts it).
struct Inflight(Arc<AtomicUsize>);

impl Inflight {
    fn new(count: Arc<AtomicUsize>) -> Inflight {
        count.fetch_add(IN_FLIGHT, Ordering::Relaxed);
        Inflight(count)
    }
}

impl Drop for Inflight {
    fn drop(&mut self) {
        self.0.fetch_sub(IN_FLIGHT, Ordering::Relaxed);
    }
}

/// A set of event loops, one per thread (by default one per CPU): see the [module
/// doc](self).
///
/// # Examples
/// ```
/// let loops = simul::Loops::builder().count(2).build().unwrap();
/// let threads = loops.run(|index| async move {
///     simul::sleep(std::time::Duration::from_millis(1)).await;
///     (index, std::thread::current().id())
/// });
/// assert_eq!(threads[0].0, 0);
/// assert_eq!(threads[1].0, 1);
/// assert_ne!(threads[0].1, threads[1].1); // two loops, two threads
/// ```
pub struct Loops {
    set: Arc<Set>,
    threads: Mutex<Vec<thread::JoinHandle<()>>>,
    shutdowns: Mutex<Vec<oneshot::Sender<()>>>,
}

impl fmt::Debug for Loops {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Loops")
            .field("count", &self.set.members.len())
            .finish_non_exhaustive()
    }
}

/// Settings for a [`Loops`].
///
/// # Examples
/// ```
/// use std::time::Duration;
/// let loops = simul::Loops::builder()
///     .count(2)
///     .loop_options(simul::EventLoop::builder().stall_watchdog(Duration::from_secs(1)))
///     .build()
///     .unwrap();
/// assert_eq!(loops.len(), 2);
/// ```
#[derive(Clone, Debug, Default)]
pub struct LoopsBuilder {
    count: Option<usize>,
    pin: bool,
    options: Builder,
}

impl LoopsBuilder {
    /// How many loops (threads). Defaults to [`std::thread::available_parallelism`].
    ///
    /// # Examples
    /// ```
    /// let loops = simul::Loops::builder().count(3).build().unwrap();
    /// assert_eq!(loops.len(), 3);
    /// ```
    pub fn count(mut self, n: usize) -> Self {
        self.count = Some(n);
        self
    }

    /// Pins loop `i` to the `i`-th CPU this process may run on (wrapping around when there
    /// are more loops than CPUs). Off by default: the kernel places the threads.
    ///
    /// # Examples
    /// ```
    /// let loops = simul::Loops::builder().count(1).pin(true).build().unwrap();
    /// assert_eq!(loops.run(|_| async { 1 }), [1]);
    /// ```
    pub fn pin(mut self, on: bool) -> Self {
        self.pin = on;
        self
    }

    /// The settings every loop is built with (debug mode, slow-poll threshold, stall
    /// watchdog, tracing: see [`Builder`]). Virtual time is refused by
    /// [`build`](Self::build): each loop has its own clock, and a virtual clock would jump
    /// while a task waits for another loop.
    ///
    /// # Examples
    /// ```
    /// let loops = simul::Loops::builder()
    ///     .count(2)
    ///     .loop_options(simul::EventLoop::builder().debug(true))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(loops.run(|i| async move { i }), [0, 1]);
    /// ```
    pub fn loop_options(mut self, options: Builder) -> Self {
        self.options = options;
        self
    }

    /// Starts the threads and their loops; returns once every loop is running.
    ///
    /// # Errors
    /// `InvalidInput` for a count of 0 or virtual time in the loop options; otherwise the
    /// first error of a loop that could not start (no selector, no thread, pinning
    /// refused) — the loops already started are shut down first.
    ///
    /// # Examples
    /// ```
    /// let err = simul::Loops::builder().count(0).build().unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    /// ```
    pub fn build(self) -> io::Result<Loops> {
        let count = match self.count {
            Some(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "simul::Loops: count must be at least 1",
                ))
            }
            Some(n) => n,
            None => thread::available_parallelism().map_or(1, NonZeroUsize::get),
        };
        if self.options.is_virtual_time() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "simul::Loops: virtual time is per loop and would jump while a task waits \
                 for another loop; build the loops with real time",
            ));
        }
        let cpus = if self.pin {
            let cpus = sys::allowed_cpus()?;
            if cpus.is_empty() {
                return Err(io::Error::other("simul::Loops: no CPU to pin the loops to"));
            }
            Some(cpus)
        } else {
            None
        };
        let mut threads = Vec::with_capacity(count);
        let mut shutdowns = Vec::with_capacity(count);
        let mut handles = Vec::with_capacity(count);
        let mut failure = None;
        for index in 0..count {
            let (tx, rx) = mpsc::channel();
            let (stop_tx, stop_rx) = oneshot::channel();
            let options = self.options.clone();
            let cpu = cpus.as_ref().map(|c| c[index % c.len()]);
            let spawned = thread::Builder::new()
                .name(format!("simul-loop-{index}"))
                .spawn(move || worker::main(index, options, cpu, tx, stop_rx));
            match spawned {
                Ok(t) => threads.push(t),
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
            shutdowns.push(stop_tx);
            match rx.recv() {
                Ok(Ok(h)) => handles.push(h),
                Ok(Err(e)) => {
                    failure = Some(e);
                    break;
                }
                Err(_) => {
                    failure = Some(io::Error::other(format!(
                        "simul::Loops: loop {index} ended before it started"
                    )));
                    break;
                }
            }
        }
        let set = Arc::new(Set {
            members: handles
                .into_iter()
                .map(|handle| Member {
                    handle,
                    inflight: Arc::new(AtomicUsize::new(0)),
                })
                .collect(),
            next: AtomicUsize::new(0),
        });
        let loops = Loops {
            set,
            threads: Mutex::new(threads),
            shutdowns: Mutex::new(shutdowns),
        };
        if let Some(e) = failure {
            loops.shutdown();
            return Err(e);
        }
        for (index, m) in loops.set.members.iter().enumerate() {
            let set = loops.set.clone();
            m.handle
                .call_soon_threadsafe(move || worker::enter(set, index));
        }
        Ok(loops)
    }
}

impl Loops {
    /// One loop per CPU ([`std::thread::available_parallelism`]), default settings.
    ///
    /// # Errors
    /// As [`LoopsBuilder::build`].
    ///
    /// # Examples
    /// ```
    /// let loops = simul::Loops::new().unwrap();
    /// assert!(loops.len() >= 1);
    /// ```
    pub fn new() -> io::Result<Loops> {
        LoopsBuilder::default().build()
    }

    /// A [`LoopsBuilder`]: count, pinning, the loops' own settings.
    ///
    /// # Examples
    /// ```
    /// let loops = simul::Loops::builder().count(2).build().unwrap();
    /// assert_eq!(loops.len(), 2);
    /// ```
    pub fn builder() -> LoopsBuilder {
        LoopsBuilder::default()
    }

    /// How many loops the set has.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(simul::Loops::builder().count(2).build().unwrap().len(), 2);
    /// ```
    #[allow(clippy::len_without_is_empty)] // a set always has at least one loop
    pub fn len(&self) -> usize {
        self.set.members.len()
    }

    /// Runs `main(index)` as the main future of every loop and blocks until all are done;
    /// returns their outputs in loop order. `main` is called on each loop's own thread,
    /// so the futures need not be `Send` (only their outputs must be).
    ///
    /// Tasks the main futures leave behind stay on their loops until the set is dropped
    /// (like [`EventLoop::run_until_complete`]); `Loops::new()?.run(..)` as one statement
    /// drops the set at once, which cancels them (like [`crate::run`]).
    ///
    /// # Panics
    /// A panic of one main future is reported on stderr, the other main futures are
    /// cancelled (and awaited), and the panic is re-raised here. Called inside a running
    /// loop, it panics (block a thread of its own instead).
    ///
    /// # Ctrl-C
    /// As with [`crate::run`]: the first SIGINT cancels every main future, every loop is
    /// shut down, and the process ends by SIGINT (exit status 130).
    ///
    /// # Examples
    /// ```
    /// let loops = simul::Loops::builder().count(2).build().unwrap();
    /// let out = loops.run(|index| async move {
    ///     let local = std::rc::Rc::new(index * 10); // !Send is fine inside a loop
    ///     simul::spawn(async move { *local }).await.unwrap()
    /// });
    /// assert_eq!(out, [0, 10]);
    /// ```
    #[track_caller]
    pub fn run<M, F>(&self, main: M) -> Vec<F::Output>
    where
        M: Fn(usize) -> F + Send + Sync + 'static,
        F: Future + 'static,
        F::Output: Send + 'static,
    {
        if LoopHandle::try_current().is_some() {
            panic!(
                "simul::Loops::run() cannot be called from a running event loop (it blocks \
                 its thread until every loop's main future is done): call it from a plain \
                 thread, or spawn work with Loops::spawn_on instead"
            );
        }
        let main = Arc::new(main);
        let location = std::panic::Location::caller();
        // SIGINT is taken over before any main future starts: a Ctrl-C that comes once a
        // main future has run (even its first step) must cancel, not kill the process.
        let mut sigint = crate::signal::RunInterrupt::arm();
        let mut mains: Vec<RemoteTask<F::Output>> = (0..self.len())
            .map(|index| {
                let main = main.clone();
                self.set.members[index].handle.spawn_named(
                    Some(format!("main of loop {index}")),
                    location,
                    move || main(index),
                )
            })
            .collect();
        let waiter = EventLoop::new().expect("simul::Loops::run: cannot create an event loop");
        let mut outputs: Vec<Option<F::Output>> = (0..mains.len()).map(|_| None).collect();
        let outcome = waiter.run_until_complete(sigint.watch(collect(&mut mains, &mut outputs)));
        match outcome {
            Some(Ok(())) => outputs
                .into_iter()
                .map(|o| o.expect("every main future finished"))
                .collect(),
            Some(Err((index, err))) => {
                match &err {
                    TaskError::Panicked(p) => eprintln!(
                        "simul::Loops::run: the main future of loop {index} panicked: {}; \
                         cancelling the other loops' main futures",
                        p.message()
                    ),
                    TaskError::Cancelled => eprintln!(
                        "simul::Loops::run: the main future of loop {index} was cancelled; \
                         cancelling the other loops' main futures"
                    ),
                }
                let mut finished: Vec<bool> = outputs.iter().map(Option::is_some).collect();
                finished[index] = true;
                cancel_all(&waiter, &mut mains, &finished);
                drop(waiter);
                match err {
                    TaskError::Panicked(p) => p.resume(),
                    TaskError::Cancelled => {
                        panic!("simul::Loops::run: the main future of loop {index} was cancelled")
                    }
                }
            }
            None => {
                let finished: Vec<bool> = outputs.iter().map(Option::is_some).collect();
                cancel_all(&waiter, &mut mains, &finished);
                drop(waiter);
                self.shutdown();
                sigint.exit_interrupted()
            }
        }
    }

    /// Spawns a `Send` future on loop `index`; the returned handle is `Send` and can be
    /// awaited on any loop or thread (dropping it detaches the task).
    ///
    /// # Panics
    /// When there is no loop `index`.
    ///
    /// # Examples
    /// ```
    /// let loops = simul::Loops::builder().count(2).build().unwrap();
    /// let t = loops.spawn_on(1, async { std::thread::current().name().map(String::from) });
    /// assert_eq!(simul::run(t).unwrap().as_deref(), Some("simul-loop-1"));
    /// ```
    #[track_caller]
    pub fn spawn_on<F>(&self, index: usize, future: F) -> RemoteTask<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.set.spawn_on(index, future)
    }

    /// Spawns a `Send` future on the least-loaded loop (see [`Loops::load`]; ties
    /// round-robin). Called on one of the set's loops, it keeps the task there unless
    /// another loop is less loaded (see the [module doc](self), "Load").
    ///
    /// # Examples
    /// ```
    /// let loops = simul::Loops::builder().count(2).build().unwrap();
    /// let jobs: Vec<_> = (0..4).map(|i| loops.spawn(async move { i * i })).collect();
    /// let squares = simul::run(simul::gather(jobs));
    /// assert_eq!(squares.into_iter().map(Result::unwrap).collect::<Vec<_>>(), [0, 1, 4, 9]);
    /// ```
    #[doc(alias = "run_coroutine_threadsafe")]
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> RemoteTask<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let set = &self.set;
        set.spawn_on(set.choose(set.caller()), future)
    }

    /// Spawns the future that `make` builds on the least-loaded loop (chosen as by
    /// [`Loops::spawn`]): `make` runs on that loop's thread, so the future need not be
    /// `Send` (see [`LoopHandle::spawn_with`]).
    ///
    /// # Examples
    /// ```
    /// let loops = simul::Loops::builder().count(2).build().unwrap();
    /// let t = loops.spawn_with(|| {
    ///     let local = std::rc::Rc::new("built where it runs");
    ///     async move { local.to_string() }
    /// });
    /// assert_eq!(simul::run(t).unwrap(), "built where it runs");
    /// ```
    #[track_caller]
    pub fn spawn_with<M, F>(&self, make: M) -> RemoteTask<F::Output>
    where
        M: FnOnce() -> F + Send + 'static,
        F: Future + 'static,
        F::Output: Send + 'static,
    {
        let set = &self.set;
        set.spawn_named_on(set.choose(set.caller()), None, make)
    }

    /// The handle of loop `index` (`call_soon_threadsafe`, `spawn_with`, `stop`, ...).
    ///
    /// # Panics
    /// When there is no loop `index`.
    ///
    /// # Examples
    /// ```
    /// let loops = simul::Loops::builder().count(2).build().unwrap();
    /// let h = loops.handle(0);
    /// let j = h.spawn_with(|| {
    ///     let local = std::rc::Rc::new(3); // built on loop 0's thread
    ///     async move { *local }
    /// });
    /// assert_eq!(simul::run(j).unwrap(), 3);
    /// ```
    pub fn handle(&self, index: usize) -> LoopHandle {
        self.set.member(index, "handle").handle.clone()
    }

    /// The current load figure of loop `index`: its ready-queue length plus its live tasks
    /// (as of its last iteration) plus 2 for each remote spawn sent to it that it has not
    /// taken in yet. A task waiting in the ready queue counts twice (queued and live), a
    /// parked one once, a spawn in flight as a queued one.
    ///
    /// # Panics
    /// When there is no loop `index`.
    ///
    /// # Examples
    /// ```
    /// let loops = simul::Loops::builder().count(1).build().unwrap();
    /// let _t = loops.spawn_on(0, std::future::pending::<()>());
    /// assert!(loops.load(0) >= 1);
    /// ```
    pub fn load(&self, index: usize) -> usize {
        self.set.member(index, "load");
        self.set.load(index)
    }

    /// Closes every loop on its own thread (each cancels the tasks still alive, as
    /// [`crate::run`] does when it returns) and joins the threads. Also done on drop;
    /// calling it twice is harmless.
    ///
    /// # Examples
    /// ```
    /// let loops = simul::Loops::builder().count(2).build().unwrap();
    /// let t = loops.spawn_on(0, std::future::pending::<()>());
    /// loops.shutdown();
    /// assert!(simul::run(t).unwrap_err().is_cancelled());
    /// ```
    pub fn shutdown(&self) {
        let stops = std::mem::take(&mut *self.shutdowns.lock().unwrap_or_else(|e| e.into_inner()));
        for s in stops {
            let _ = s.send(());
        }
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        let me = thread::current().id();
        for t in threads {
            if t.thread().id() == me {
                continue; // called from one of the loops: it closes when its thread returns
            }
            if t.join().is_err() {
                eprintln!("simul::Loops: a loop thread panicked while shutting down");
            }
        }
    }
}

impl Drop for Loops {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Awaits every main future in turn; stops at the first that fails.
async fn collect<T>(
    mains: &mut [RemoteTask<T>],
    outputs: &mut [Option<T>],
) -> Result<(), (usize, TaskError)> {
    poll_fn(|cx| {
        let mut pending = false;
        for (index, (m, out)) in mains.iter_mut().zip(outputs.iter_mut()).enumerate() {
            if out.is_some() {
                continue;
            }
            match std::pin::Pin::new(&mut *m).poll(cx) {
                Poll::Ready(Ok(v)) => *out = Some(v),
                Poll::Ready(Err(e)) => return Poll::Ready(Err((index, e))),
                Poll::Pending => pending = true,
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(Ok(()))
        }
    })
    .await
}

/// Cancels every main future that has not delivered its result and waits until each has
/// ended (`finished[i]`: the result of main `i` was already taken).
fn cancel_all<T>(waiter: &EventLoop, mains: &mut [RemoteTask<T>], finished: &[bool]) {
    let running = || {
        mains
            .iter()
            .zip(finished)
            .filter(|(_, &done)| !done)
            .map(|(m, _)| m)
    };
    for m in running() {
        m.cancel();
    }
    waiter.run_until_complete(async {
        for (m, _) in mains.iter_mut().zip(finished).filter(|(_, &done)| !done) {
            let _ = m.await;
        }
    });
}

/// The index of the loop running on this thread within its [`Loops`], or `None` when
/// this thread's loop (if any) is not part of a set.
///
/// # Examples
/// ```
/// let loops = simul::Loops::builder().count(2).build().unwrap();
/// assert_eq!(loops.run(|_| async { simul::loops::current_index() }), [Some(0), Some(1)]);
/// assert_eq!(simul::loops::current_index(), None);
/// ```
pub fn current_index() -> Option<usize> {
    worker::current().map(|(_, i)| i)
}

/// Spawns a `Send` future on loop `index` of the set the calling loop belongs to — the
/// way a task on one loop hands work to another. On the calling loop's own index, the task
/// is queued there at once, without the injection queue (see the [module doc](self)).
///
/// # Panics
/// Outside a loop of a [`Loops`], or when there is no loop `index`.
///
/// # Examples
/// ```
/// let loops = simul::Loops::builder().count(2).build().unwrap();
/// let out = loops.run(|index| async move {
///     let other = 1 - index;
///     simul::loops::spawn_on(other, async { simul::loops::current_index() }).await.unwrap()
/// });
/// assert_eq!(out, [Some(1), Some(0)]);
/// ```
#[track_caller]
pub fn spawn_on<F>(index: usize, future: F) -> RemoteTask<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    current_set("spawn_on").spawn_on(index, future)
}

/// Spawns a `Send` future on the calling loop's set: on the calling loop itself unless
/// another loop is less loaded than it is without the calling task, else on the least
/// loaded of the others (see the [module doc](self), "Load"). The handle is a `Send`
/// [`RemoteTask`] either way.
///
/// # Panics
/// Outside a loop of a [`Loops`].
///
/// # Examples
/// ```
/// let loops = simul::Loops::builder().count(2).build().unwrap();
/// let out = loops.run(|_| async { simul::loops::spawn(async { 7 }).await.unwrap() });
/// assert_eq!(out, [7, 7]);
/// ```
#[track_caller]
pub fn spawn<F>(future: F) -> RemoteTask<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (set, me) = current("spawn");
    set.spawn_on(set.choose(Some(me)), future)
}

/// Spawns the future that `make` builds on a loop of the calling loop's set chosen as by
/// [`spawn`]; the future need not be `Send` (see [`LoopHandle::spawn_with`]).
///
/// # Panics
/// Outside a loop of a [`Loops`].
///
/// # Examples
/// ```
/// let loops = simul::Loops::builder().count(2).build().unwrap();
/// let out = loops.run(|_| async {
///     simul::loops::spawn_with(|| {
///         let local = std::rc::Rc::new(5); // built on the loop that runs it
///         async move { *local }
///     })
///     .await
///     .unwrap()
/// });
/// assert_eq!(out, [5, 5]);
/// ```
#[track_caller]
pub fn spawn_with<M, F>(make: M) -> RemoteTask<F::Output>
where
    M: FnOnce() -> F + Send + 'static,
    F: Future + 'static,
    F::Output: Send + 'static,
{
    let (set, me) = current("spawn_with");
    set.spawn_named_on(set.choose(Some(me)), None, make)
}

/// The number of loops in the calling loop's set, `None` outside one.
///
/// # Examples
/// ```
/// let loops = simul::Loops::builder().count(2).build().unwrap();
/// assert_eq!(loops.run(|_| async { simul::loops::count() }), [Some(2), Some(2)]);
/// ```
pub fn count() -> Option<usize> {
    worker::current().map(|(set, _)| set.members.len())
}

/// The handle of loop `index` of the calling loop's set.
///
/// # Panics
/// Outside a loop of a [`Loops`], or when there is no loop `index`.
///
/// # Examples
/// ```
/// let loops = simul::Loops::builder().count(2).build().unwrap();
/// let ok = loops.run(|_| async { simul::loops::handle(1).call_soon_threadsafe(|| {}) });
/// assert_eq!(ok, [true, true]);
/// ```
pub fn handle(index: usize) -> LoopHandle {
    current_set("handle").member(index, "handle").handle.clone()
}

fn current_set(what: &str) -> Arc<Set> {
    current(what).0
}

/// The calling loop's set and its index there.
fn current(what: &str) -> (Arc<Set>, usize) {
    match worker::current() {
        Some(c) => c,
        None => panic!(
            "simul::loops::{what}() called outside a loop of a simul::Loops: call it from a \
             task inside Loops::run(), or use the Loops value's own method"
        ),
    }
}
