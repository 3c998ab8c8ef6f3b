//! The loop core (`Core`) and one iteration of it.
//!
//! # One iteration
//!
//! Like asyncio's `_run_once`, each iteration of the loop:
//!
//! 1. polls the main future if it was woken (in `EventLoop::run_until_complete`);
//! 2. runs the entries that were in the ready queue when the iteration started (task steps
//!    and `call_soon` callbacks, in FIFO order — so a task that yields goes behind every
//!    other ready task, and callbacks run in the order they were scheduled);
//! 3. moves work handed in from other threads (wakes, `call_soon_threadsafe`, remote
//!    spawns) from the injection queue into the ready queue;
//! 4. waits in the selector (`epoll_wait` through mio): not at all if something is ready
//!    (and then only every [`IO_INTERVAL`] iterations, to keep the busy path free of
//!    syscalls, and not at all while no descriptor is registered; a front end may poll
//!    more often, `EventLoop::set_io_interval`, and rest for some iterations after a wait,
//!    `EventLoop::set_io_rest_after_wait`), else until the earliest timer or an
//!    external wake-up — a loop of a `Loops` set that was just handed work from another
//!    thread first spins for more, briefly (`spin.rs`);
//! 5. fires the timers whose deadline has passed, in deadline order.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::panic::Location;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::callback::{Callback, CallbackCell, TimerPayload};
use super::exception::ExceptionHandler;
use super::registry::Registry;
use super::spin::{self, Spin};
use super::{Config, Shared};
use crate::debug::Watch;
use crate::io::driver::IoShared;
use crate::task::raw;
use crate::time::clock::Clock;
use crate::time::driver::TimeDriver;
use crate::time::wheel::TimerKey;
use crate::trace::{Tracer, TracerCell};

/// Iterations with ready work between two non-blocking selector polls.
pub const IO_INTERVAL: u32 = 61;

pub(super) enum Runnable {
    Task(raw::LocalRunnable),
    Call(Rc<dyn Callback>),
    /// A callback that owns no allocation of its own (`call_soon_thin`).
    Thin(raw::ThinCall),
    /// The main future's turn: `run_once` returns to `run_main`, which polls it, and the
    /// rest of the batch runs after it (so main keeps its FIFO place like any task).
    Main,
}

/// Where a loop is in its life. Only forward: `Open → Closing → Closed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Lifecycle {
    /// Runs futures and accepts spawns.
    Open,
    /// Shutting down: every spawn is refused (its future dropped, its handle cancelled).
    Closing,
    /// Shut down: running or spawning is an error ("Event loop is closed").
    Closed,
}

/// The main future of `run_until_complete`, as the task users see (`current_task()`,
/// `all_tasks()`, dumps, reports). Its future is polled in place by `run_until_complete`
/// (so it may borrow), not allocated as task memory.
pub(super) struct MainTask {
    pub(super) id: u64,
    pub(super) location: &'static Location<'static>,
    pub(super) created: Instant,
    pub(super) polls: Cell<u64>,
    pub(super) running: Cell<bool>,
}

/// The loop's own state; lives on the loop's thread.
///
/// # Invariants
/// - Reached only through the thread's context (`context.rs`), on the loop's thread.
/// - Every live task is in `tasks` (one reference each) until it completes.
/// - Once `life` leaves `Open`, no task is added to the ready queue and none is polled.
pub(crate) struct Core {
    shared: Arc<Shared>,
    pub(super) ready: RefCell<VecDeque<Runnable>>,
    pub(super) tasks: RefCell<Registry>,
    /// The driver stack: time over I/O.
    driver: TimeDriver<TimerPayload>,
    /// The main future of the running `run_until_complete`, if any.
    pub(super) main: RefCell<Option<Rc<MainTask>>>,
    /// A `Runnable::Main` entry is in the ready queue.
    pub(super) main_queued: Cell<bool>,
    /// The main future's turn came: `run_main` polls it next.
    main_due: Cell<bool>,
    /// Entries left of the batch that a main turn interrupted (`Some(0)`: the batch was
    /// over, the rest of the iteration is still to do).
    batch_left: Cell<Option<usize>>,
    /// Cooperative budget of the running task (see the `io` module).
    budget: Cell<u32>,
    pub(super) config: Config,
    pub(super) exception_handler: RefCell<Option<ExceptionHandler>>,
    io_countdown: Cell<u32>,
    /// Busy iterations between two non-blocking polls ([`IO_INTERVAL`] unless a front
    /// end set it: `EventLoop::set_io_interval`).
    pub(super) io_interval: Cell<u32>,
    /// Busy iterations that skip the non-blocking poll right after a wait in the selector
    /// (`EventLoop::set_io_rest_after_wait`): the callbacks the I/O steps just scheduled
    /// run before the next look, as libuv's do.
    pub(super) io_rest_after_wait: Cell<u32>,
    /// Creation time shared by the tasks spawned in one stretch of running (cleared on
    /// entering and leaving each iteration), so a spawn does not read the clock each time;
    /// read from the coarse clock, so one spawn per iteration stays cheap too.
    pub(super) spawn_time: Cell<Option<u64>>,
    pub(super) life: Cell<Lifecycle>,
    /// Hooks run at shutdown (e.g. the blocking pool), in registration order.
    pub(super) shutdown_hooks: RefCell<Vec<Box<dyn FnOnce()>>>,
    /// Trace recorder (tracing on).
    pub(super) tracer: Option<Box<TracerCell>>,
    /// Stall watchdog (watchdog on).
    pub(super) watch: Option<Arc<Watch>>,
    /// Debug mode, tracing or the watchdog is on: polls go through `before_poll` and
    /// `after_poll` (fixed at build time, so the plain poll path tests one flag).
    pub(super) instrumented: bool,
    /// Wraps the blocking selector wait (see `hooks.rs`).
    pub(super) park_hook: RefCell<Option<super::hooks::ParkHook>>,
    /// Whether and when to spin before parking (`spin.rs`).
    spin: Spin,
}

/// Loop identities: unique for the life of the process, never reused.
static LOOP_IDS: AtomicU64 = AtomicU64::new(1);

impl Core {
    /// This loop's number in the process (never reused): its [`Core::id`].
    pub(crate) fn loop_no(&self) -> u64 {
        self.id()
    }

    pub(super) fn new(config: Config, virtual_time: bool) -> io::Result<Core> {
        let driver = TimeDriver::new(virtual_time)?;
        let unparker = driver.unparker()?;
        let tracer = config
            .trace
            .clone()
            .map(|path| Box::new(RefCell::new(Tracer::new(path))));
        let watch = config
            .watchdog
            .map(|t| Watch::start(t, config.name.as_deref()));
        let instrumented = config.debug || tracer.is_some() || watch.is_some();
        let spins = config.spin && !virtual_time;
        Ok(Core {
            tracer,
            watch,
            instrumented,
            shared: Arc::new(Shared::new(
                LOOP_IDS.fetch_add(1, Ordering::Relaxed),
                unparker,
                spins,
            )),
            ready: RefCell::new(VecDeque::with_capacity(256)),
            tasks: RefCell::new(Registry::default()),
            driver,
            main: RefCell::new(None),
            main_queued: Cell::new(false),
            main_due: Cell::new(false),
            batch_left: Cell::new(None),
            budget: Cell::new(u32::MAX),
            config,
            exception_handler: RefCell::new(None),
            io_countdown: Cell::new(IO_INTERVAL),
            io_interval: Cell::new(IO_INTERVAL),
            io_rest_after_wait: Cell::new(0),
            spawn_time: Cell::new(None),
            life: Cell::new(Lifecycle::Open),
            shutdown_hooks: RefCell::new(Vec::new()),
            park_hook: RefCell::new(None),
            spin: Spin::new(spins),
        })
    }

    /// This loop's spins before parking so far (`spin.rs`).
    #[cfg(test)]
    pub(crate) fn spin_counts(&self) -> spin::SpinCounts {
        self.spin.counts()
    }

    /// Starts the count to the next busy poll afresh (after the interval changed).
    pub(super) fn reset_io_countdown(&self) {
        self.io_countdown.set(self.io_interval.get());
    }

    /// The part other threads see.
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// This loop's identity: unique in the process for its whole life.
    pub(crate) fn id(&self) -> u64 {
        self.shared.id()
    }

    /// Whether debug mode is on.
    pub(crate) fn is_debug(&self) -> bool {
        self.config.debug
    }

    /// The loop's name, for a loop of a `Loops` set ("loop N").
    pub(crate) fn loop_name(&self) -> Option<&str> {
        self.config.name.as_deref()
    }

    /// The slow-poll threshold of debug mode.
    pub(crate) fn slow_poll_threshold(&self) -> Duration {
        self.config.slow_poll_threshold
    }

    /// The loop's time (virtual under virtual time).
    pub(crate) fn now(&self) -> Instant {
        self.driver.now()
    }

    /// The loop's clock.
    pub(crate) fn clock(&self) -> &Clock {
        self.driver.clock()
    }

    /// The time driver (clock and wheel), for the timer futures of `time`.
    pub(crate) fn timers(&self) -> &TimeDriver<TimerPayload> {
        &self.driver
    }

    /// The I/O driver's registration side, for new sources.
    pub(crate) fn io_handle(&self) -> Arc<IoShared> {
        self.driver.io_handle()
    }

    /// Work outside the loop (a blocking job, a child process) started: virtual time
    /// waits for it instead of jumping (see `time::driver`).
    pub(crate) fn hold_virtual_time(&self) {
        self.driver.hold();
    }

    /// The outside work of a [`Core::hold_virtual_time`] is over.
    pub(crate) fn release_virtual_time(&self) {
        self.driver.release();
    }

    /// Spends one unit of the running task's cooperative budget; `false` when none is
    /// left (see the `io` module).
    pub(crate) fn spend_budget(&self) -> bool {
        let b = self.budget.get();
        if b == 0 {
            false
        } else {
            self.budget.set(b - 1);
            true
        }
    }

    /// Starts a task step's budget; returns the one to restore afterwards.
    pub(super) fn fresh_budget(&self) -> u32 {
        self.budget.replace(crate::io::BUDGET)
    }

    /// Restores the budget saved by [`Core::fresh_budget`].
    pub(super) fn restore_budget(&self, saved: u32) {
        self.budget.set(saved);
    }

    /// Runs `hook` when the loop shuts down (after its tasks are cancelled), in
    /// registration order; hooks may register more hooks.
    pub(crate) fn add_shutdown_hook(&self, hook: impl FnOnce() + 'static) {
        self.shutdown_hooks.borrow_mut().push(Box::new(hook));
    }

    /// Arms a timer at `deadline_ns` (ns since the clock's origin).
    pub(crate) fn add_timer(&self, deadline_ns: u64, payload: TimerPayload) -> TimerKey {
        self.driver.insert(deadline_ns, payload)
    }

    /// How many timers the wheel holds.
    pub(crate) fn armed_timers(&self) -> usize {
        self.driver.armed_for_use()
    }

    /// Disarms a timer of this loop.
    pub(crate) fn remove_timer(&self, key: TimerKey) -> Option<TimerPayload> {
        self.driver.remove(key)
    }

    #[inline(never)]
    fn fire_timers(&self) {
        // Sleeps due before the batch's first callback are woken at once; from that
        // callback on, each sleep's wake-up is queued behind it (see `TimeDriver::defer`).
        // `direct` is the latest deadline woken at once: a sleep at that same deadline
        // must never count as undelivered, so the floor stays above it.
        let mut after_call = false;
        let mut direct = None::<u64>;
        let n = self.driver.fire_due(|deadline, p| match p {
            TimerPayload::Wake(w) if !after_call => {
                direct = Some(deadline);
                w.wake()
            }
            TimerPayload::Wake(w) => {
                let floor = match direct {
                    Some(d) if d >= deadline => d + 1,
                    _ => deadline,
                };
                self.driver.defer(floor);
                self.call_soon_rc(super::callback::callback_cell(move || {
                    super::context::try_with_core(|c| c.driver.delivered());
                    w.wake()
                }));
            }
            TimerPayload::Call(cb) => {
                after_call = true;
                self.call_soon_rc(cb)
            }
        });
        if n > 0 {
            if let Some(tr) = &self.tracer {
                tr.borrow_mut().timers(n);
            }
        }
    }

    /// Moves what other threads handed in into the ready queue. Inlined: every iteration
    /// calls it, and nearly always nothing was handed in (one load of the park word).
    #[inline]
    pub(super) fn drain_inject(&self) {
        if self.shared.signal.take_pending() {
            self.move_injected();
        }
    }

    /// What other threads raised: work handed in, the main future woken.
    #[inline(never)]
    fn take_signals(&self) {
        self.drain_inject();
        if self.shared.signal.main_woken() && self.shared.signal.take_main() {
            // woken from another thread
            self.queue_main();
        }
    }

    #[inline(never)]
    fn move_injected(&self) {
        self.spin.received();
        let (tasks, calls) = self.shared.take();
        for t in tasks {
            if let Some(t) = t.accept() {
                self.push_local(t, true);
            }
        }
        let mut ready = self.ready.borrow_mut();
        for c in calls {
            ready.push_back(Runnable::Call(Rc::new(CallbackCell {
                f: Cell::new(Some(c)),
                cancelled: Cell::new(false),
            })));
        }
    }

    /// Queues the main future's turn (once).
    pub(super) fn queue_main(&self) {
        if !self.main_queued.replace(true) {
            self.ready.borrow_mut().push_back(Runnable::Main);
        }
    }

    /// Takes the main future's turn, if it came.
    pub(super) fn take_main_turn(&self) -> bool {
        self.main_due.replace(false)
    }

    /// Forgets a pending main turn (`run_main` is returning).
    pub(super) fn clear_main_turn(&self) {
        self.main_queued.set(false);
        self.main_due.set(false);
    }

    /// One iteration (see the module doc). Returns early, mid-batch, when the main
    /// future's turn comes; the next call resumes the batch.
    pub(super) fn run_once(&self) {
        self.iteration();
    }

    /// Iterations until the main future's turn comes (`run_until_complete` then polls it
    /// and calls this again): the same as calling [`Core::run_once`] in a loop, without a
    /// call and a return per iteration.
    pub(super) fn run_until_main_turn(&self) {
        loop {
            self.iteration();
            if self.main_due.get() {
                return;
            }
        }
    }

    #[inline(always)]
    fn iteration(&self) {
        self.spawn_time.set(None);
        let mut left = match self.batch_left.take() {
            Some(n) => n,
            None => self.ready.borrow().len(),
        };
        while left > 0 {
            left -= 1;
            let Some(item) = self.ready.borrow_mut().pop_front() else {
                break;
            };
            match item {
                Runnable::Task(t) => self.run_task(t),
                Runnable::Call(cb) => self.run_callback(cb),
                Runnable::Thin(cb) => self.run_thin(cb),
                Runnable::Main => {
                    self.main_queued.set(false);
                    if self.main.borrow().is_some() {
                        self.main_due.set(true);
                        self.batch_left.set(Some(left));
                        return;
                    }
                }
            }
        }
        // A sleep's timer kept for re-use by this batch's tasks is disarmed before the
        // park and the firing (see `TimeDriver::retire`).
        self.driver.drop_spare();
        // One load while nothing was handed in and main was not woken from elsewhere; a
        // flag raised right after it is seen by the next iteration, and `park` refuses
        // to block while one is up.
        if !self.shared.signal.is_quiet() {
            self.take_signals();
        }
        let ready = self.ready.borrow().len();
        self.shared.publish_load(ready + self.tasks.borrow().len);
        if ready != 0 {
            let c = self.io_countdown.get();
            if c == 0 {
                self.io_countdown.set(self.io_interval.get());
                // With no descriptor registered the poll could only report a wake-up,
                // which the injection flag already tells: skip the system call.
                if self.driver.has_io_sources() {
                    self.driver.park(Some(Duration::ZERO));
                }
            } else {
                self.io_countdown.set(c - 1);
            }
        } else if self.shared.stop_requested() {
            // run_forever returns at the top of the next iteration
        } else {
            self.park();
        }
        // Inline down to one look at the wheel's length (most iterations find it empty);
        // the firing itself is a call.
        if self.driver.armed() != 0 {
            self.fire_timers();
        }
        self.spawn_time.set(None);
    }

    /// Idle and armed to spin (`spin.rs`): watches the park word for work handed in, for
    /// at most [`spin::SPIN`] and never past the earliest timer. `true`: work came in,
    /// the loop must not block.
    #[inline(never)]
    fn spin_for_work(&self) -> bool {
        if self.shared.sender_shares_my_cpu() {
            return false; // spinning would keep the CPU from the thread we wait for
        }
        let clock = self.driver.clock();
        let start = clock.now_ns();
        let Some(deadline) = spin::deadline(start, self.driver.next_timer_ns()) else {
            return false;
        };
        let mut now = start;
        let caught = self.shared.signal.spin(spin::CHECK_EVERY, || {
            now = clock.now_ns();
            now < deadline
        });
        self.spin.finished(caught, now.saturating_sub(start));
        caught
    }

    /// The blocking wait of an idle iteration, through the park hook if one is set (see
    /// `hooks.rs`).
    fn park_io(&self) {
        let hook = self.park_hook.borrow_mut().take();
        match hook {
            None => self.driver.park(None),
            Some(mut h) => {
                h(&mut || self.driver.park(None));
                let mut slot = self.park_hook.borrow_mut();
                if slot.is_none() {
                    *slot = Some(h);
                }
            }
        }
    }

    /// Idle: park the driver stack unless work was handed in meanwhile (or, armed to
    /// spin, comes in during the spin).
    fn park(&self) {
        if self.spin.armed() && self.spin_for_work() {
            return;
        }
        if !self.shared.signal.prepare_park() {
            return;
        }
        let t0 = self.tracer.is_some().then(Instant::now);
        self.park_io();
        self.shared.signal.after_park();
        self.io_countdown
            .set(self.io_interval.get().max(self.io_rest_after_wait.get()));
        if let (Some(t0), Some(tr)) = (t0, &self.tracer) {
            tr.borrow_mut().park(t0, t0.elapsed());
        }
    }
}

#[cfg(all(test, not(loom)))]
mod thin_tests {
    use super::Runnable;
    use crate::task::raw::thin_probe::{Counts, Probe};
    use std::rc::Rc;

    #[test]
    fn thin_variant_keeps_the_queue_entry_three_words() {
        assert_eq!(
            std::mem::size_of::<Runnable>(),
            3 * std::mem::size_of::<usize>()
        );
    }

    #[test]
    fn thin_entries_run_once_in_fifo_order_with_call_soon() {
        let counts = Rc::new(Counts::default());
        let c = counts.clone();
        crate::run(async move {
            let probe = |tag| Probe {
                counts: c.clone(),
                tag,
                panics: tag == 2,
            };
            crate::call_soon_thin(probe(1));
            let c2 = c.clone();
            drop(crate::call_soon(move || c2.order.borrow_mut().push(10)));
            // A panicking one is reported, dropped once, and the loop goes on.
            crate::call_soon_thin(probe(2));
            crate::call_soon_thin(probe(3));
            assert_eq!(c.runs.get(), 0);
            crate::yield_now().await;
            crate::yield_now().await;
        });
        assert_eq!(*counts.order.borrow(), vec![1, 10, 2, 3]);
        assert_eq!(counts.runs.get(), 3);
        assert_eq!(counts.drops.get(), 3);
    }
}
