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
//!    syscalls), else until the earliest timer or an external wake-up;
//! 5. fires the timers whose deadline has passed, in deadline order.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::ptr::NonNull;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::callback::{Callback, CallbackCell, TimerPayload};
use super::exception::ExceptionHandler;
use super::inject::Inject;
use super::registry::Registry;
use super::{park, Config, Shared};
use crate::debug::Watch;
use crate::io::driver::Driver;
use crate::task::raw::{self, TaskRef};
use crate::time::clock::Clock;
use crate::time::wheel::{self, TimerKey, Wheel};
use crate::trace::{Tracer, TracerCell};

/// Iterations with ready work between two non-blocking selector polls.
pub const IO_INTERVAL: u32 = 61;

pub(super) enum Runnable {
    Task(TaskRef),
    Call(Rc<dyn Callback>),
}

/// The loop's own state; lives on the loop's thread.
pub(crate) struct Core {
    pub(crate) shared: Arc<Shared>,
    pub(super) ready: RefCell<VecDeque<Runnable>>,
    pub(super) tasks: RefCell<Registry>,
    pub(crate) timers: RefCell<Wheel<TimerPayload>>,
    pub(crate) clock: Clock,
    pub(crate) driver: RefCell<Driver>,
    /// The task being polled (raw identity; the queue entry keeps it alive).
    pub(super) current: Cell<Option<NonNull<raw::Header>>>,
    /// Polls of the main future, when it is the one running.
    pub(super) main: Cell<Option<(u64, u64, Instant)>>,
    /// Work outstanding outside the loop (I/O waits, blocking-pool jobs): virtual time
    /// must not jump while it is non-zero.
    pub(crate) external: Cell<usize>,
    /// Cooperative budget of the running task (see the `io` module).
    pub(crate) budget: Cell<u32>,
    pub(crate) config: Config,
    pub(super) exception_handler: RefCell<Option<ExceptionHandler>>,
    pub(super) io_countdown: Cell<u32>,
    /// Creation time shared by the tasks spawned in one stretch of running (cleared on
    /// entering and leaving each iteration), so a spawn does not read the clock each time;
    /// read from the coarse clock, so one spawn per iteration stays cheap too.
    pub(super) spawn_time: Cell<Option<Instant>>,
    pub(super) closed: Cell<bool>,
    /// Hooks run at shutdown (e.g. the blocking pool), in registration order.
    pub(crate) shutdown_hooks: RefCell<Vec<Box<dyn FnOnce()>>>,
    /// Trace recorder (tracing on).
    pub(super) tracer: Option<Box<TracerCell>>,
    /// Stall watchdog (watchdog on).
    pub(super) watch: Option<Arc<Watch>>,
    /// Debug mode, tracing or the watchdog is on: polls go through `before_poll` and
    /// `after_poll` (fixed at build time, so the plain poll path tests one flag).
    pub(super) instrumented: bool,
    /// This loop's number in the process (trace thread id).
    pub(super) loop_no: u64,
    /// Wraps the blocking selector wait (see `hooks.rs`).
    pub(super) park_hook: RefCell<Option<super::hooks::ParkHook>>,
}

static LOOP_NOS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl Core {
    pub(super) fn new(config: Config, virtual_time: bool) -> io::Result<Core> {
        let driver = Driver::new()?;
        let waker = driver.new_waker()?;
        let tracer = config
            .trace
            .clone()
            .map(|path| Box::new(RefCell::new(Tracer::new(path))));
        let watch = config.watchdog.map(Watch::start);
        let instrumented = config.debug || tracer.is_some() || watch.is_some();
        Ok(Core {
            tracer,
            watch,
            instrumented,
            loop_no: LOOP_NOS.fetch_add(1, Ordering::Relaxed),
            shared: Arc::new(Shared {
                inject: Mutex::new(Inject::default()),
                signal: park::Signal::new(),
                stop: AtomicBool::new(false),
                waker,
            }),
            ready: RefCell::new(VecDeque::with_capacity(256)),
            tasks: RefCell::new(Registry::default()),
            timers: RefCell::new(Wheel::new()),
            clock: Clock::new(virtual_time),
            driver: RefCell::new(driver),
            current: Cell::new(None),
            main: Cell::new(None),
            external: Cell::new(0),
            budget: Cell::new(u32::MAX),
            config,
            exception_handler: RefCell::new(None),
            io_countdown: Cell::new(IO_INTERVAL),
            spawn_time: Cell::new(None),
            closed: Cell::new(false),
            shutdown_hooks: RefCell::new(Vec::new()),
            park_hook: RefCell::new(None),
        })
    }

    /// Arms a timer; `None` deadline never fires.
    pub(crate) fn add_timer(&self, deadline_ns: u64, payload: TimerPayload) -> TimerKey {
        self.timers.borrow_mut().insert(deadline_ns, payload)
    }

    pub(crate) fn remove_timer(&self, key: TimerKey) -> Option<TimerPayload> {
        self.timers.borrow_mut().remove(key)
    }

    fn fire_timers(&self) {
        let mut timers = self.timers.borrow_mut();
        if timers.len() == 0 {
            return;
        }
        let now_tick = self.clock.now_ns() / wheel::TICK_NS;
        match timers.next_tick() {
            Some(t) if t <= now_tick => {}
            _ => return,
        }
        let mut fired = timers.advance(now_tick);
        drop(timers);
        if let Some(tr) = &self.tracer {
            tr.borrow_mut().timers(fired.len());
        }
        for (_, _, p) in fired.drain(..) {
            match p {
                TimerPayload::Wake(w) => w.wake(),
                TimerPayload::Call(cb) => self.call_soon_rc(cb),
            }
        }
        self.timers.borrow_mut().recycle(fired);
    }

    pub(super) fn drain_inject(&self) {
        if !self.shared.signal.take_pending() {
            return;
        }
        let (tasks, calls) = {
            let mut q = self.shared.inject.lock().unwrap_or_else(|e| e.into_inner());
            (std::mem::take(&mut q.tasks), std::mem::take(&mut q.calls))
        };
        let mut ready = self.ready.borrow_mut();
        for t in tasks {
            if let Some(tr) = &self.tracer {
                // SAFETY: loop thread; copy out the id.
                tr.borrow_mut().wake(unsafe { t.local() }.id, true);
            }
            ready.push_back(Runnable::Task(t));
        }
        for c in calls {
            ready.push_back(Runnable::Call(Rc::new(CallbackCell {
                f: Cell::new(Some(c)),
                cancelled: Cell::new(false),
            })));
        }
    }

    /// One iteration (see the module doc).
    pub(super) fn run_once(&self) {
        self.spawn_time.set(None);
        let n = self.ready.borrow().len();
        for _ in 0..n {
            let Some(item) = self.ready.borrow_mut().pop_front() else {
                break;
            };
            match item {
                Runnable::Task(t) => self.run_task(t),
                Runnable::Call(cb) => self.run_callback(cb),
            }
        }
        self.drain_inject();
        let busy = !self.ready.borrow().is_empty() || self.shared.signal.main_woken();
        if busy {
            let c = self.io_countdown.get();
            if c == 0 {
                self.io_countdown.set(IO_INTERVAL);
                self.poll_io(Some(Duration::ZERO));
            } else {
                self.io_countdown.set(c - 1);
            }
        } else if self.shared.stop.load(Ordering::SeqCst) {
            // run_forever returns at the top of the next iteration
        } else {
            self.park();
        }
        self.fire_timers();
        self.spawn_time.set(None);
    }

    fn park(&self) {
        let next = self.timers.borrow().next_tick();
        let io_waiting = self.driver.borrow().shared.waiting.load(Ordering::Relaxed);
        if self.clock.is_virtual() && self.external.get() == 0 && io_waiting == 0 {
            if let Some(tick) = next {
                // Idle and waiting only on timers: jump to the next one.
                let v = self.clock.virtual_ns.as_ref().expect("virtual clock");
                let target = tick.saturating_mul(wheel::TICK_NS);
                if target > v.get() {
                    v.set(target);
                }
                self.poll_io(Some(Duration::ZERO));
                return;
            }
        }
        let timeout = match next {
            _ if self.clock.is_virtual() => None,
            Some(tick) => {
                let now = self.clock.now_ns();
                let at = tick.saturating_mul(wheel::TICK_NS);
                Some(Duration::from_nanos(at.saturating_sub(now)))
            }
            None => None,
        };
        if !self.shared.signal.prepare_park() {
            return;
        }
        let t0 = self.tracer.is_some().then(Instant::now);
        self.park_io(timeout);
        self.shared.signal.after_park();
        self.io_countdown.set(IO_INTERVAL);
        if let (Some(t0), Some(tr)) = (t0, &self.tracer) {
            tr.borrow_mut().park(t0, t0.elapsed());
        }
    }

    pub(super) fn poll_io(&self, timeout: Option<Duration>) {
        let res = self.driver.borrow_mut().poll(timeout);
        if let Err(e) = res {
            if e.kind() != io::ErrorKind::Interrupted {
                panic!("simul: the OS selector failed: {e}");
            }
        }
    }
}
