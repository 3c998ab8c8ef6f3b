//! Seeing inside the loop: debug-mode reports and the stall watchdog.
//!
//! # Debug mode
//! With [`crate::Builder::debug`] (or `SIMUL_DEBUG` set to any non-empty value) every task poll is timed; a poll
//! longer than the slow-poll threshold (default 100 ms, asyncio's `slow_callback_duration`)
//! is reported to the loop's exception handler with the task's name, spawn location and
//! duration, and resources dropped while still open are reported by the layers that own
//! them. Off by default; when off, the poll path pays one branch.
//!
//! # Stall watchdog
//! [`crate::Builder::stall_watchdog`] (or `SIMUL_WATCHDOG_MS=N`) starts a thread that
//! notices a loop stuck inside one poll — a blocking call or a CPU hog that never reaches
//! an `.await` — for longer than the threshold. It works outside debug mode and costs the
//! loop four relaxed atomic stores per poll. The watchdog cannot touch the loop (it is on
//! another thread), so it prints a line naming the task id and spawn location while the
//! stall lasts, and flags it; when the poll finally returns, the loop reports the stall to
//! its exception handler with the task's name and the full duration.

use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::runtime::{Core, ExceptionContext, ExceptionKind};

/// `" on loop N"` for a loop of a `Loops` set, so reports say which loop they come from.
fn on_loop(core: &Core) -> String {
    core.loop_name()
        .map_or_else(String::new, |n| format!(" on {n}"))
}

pub(crate) fn report_slow_poll(
    core: &Core,
    name: &str,
    location: &'static Location<'static>,
    took: Duration,
) {
    let msg = format!(
        "Executing task {:?} (spawned at {}:{}) took {:.3} seconds{}",
        name,
        location.file(),
        location.line(),
        took.as_secs_f64(),
        on_loop(core)
    );
    core.call_exception_handler(&ExceptionContext::new(
        ExceptionKind::SlowPoll,
        msg,
        Some(name.to_string()),
    ));
}

/// Reports a resource dropped while still open (debug mode only), like Python's
/// `ResourceWarning: unclosed ...`.
pub(crate) fn resource_warning(what: &str) {
    crate::runtime::try_with_core(|core| {
        if core.is_debug() {
            let task = core.current_task_info().map(|i| i.name().to_string());
            core.call_exception_handler(&ExceptionContext::new(
                ExceptionKind::ResourceWarning,
                format!("unclosed {what}{}", on_loop(core)),
                task,
            ));
        }
    });
}

/// State shared between a loop and its watchdog thread.
pub(crate) struct Watch {
    origin: Instant,
    threshold: Duration,
    /// Incremented at every poll start.
    seq: AtomicU64,
    /// Id of the task being polled, 0 when none.
    task_id: AtomicU64,
    location: AtomicPtr<Location<'static>>,
    /// When the current poll started, ns since `origin`.
    since_ns: AtomicU64,
    /// The `seq` the watchdog last reported as stalled.
    stalled_seq: AtomicU64,
    stop: AtomicBool,
    /// `" (loop N)"` for a loop of a `Loops` set, else empty: the live line names the loop.
    label: String,
}

impl Watch {
    /// Starts the watchdog thread for a loop (`name`: the loop's name in a `Loops` set).
    pub(crate) fn start(threshold: Duration, name: Option<&str>) -> Arc<Watch> {
        let w = Arc::new(Watch {
            origin: Instant::now(),
            threshold,
            seq: AtomicU64::new(0),
            task_id: AtomicU64::new(0),
            location: AtomicPtr::new(std::ptr::null_mut()),
            since_ns: AtomicU64::new(0),
            stalled_seq: AtomicU64::new(u64::MAX),
            stop: AtomicBool::new(false),
            label: name.map_or_else(String::new, |n| format!(" ({n})")),
        });
        let watch = w.clone();
        let period = (threshold / 4).max(Duration::from_millis(1));
        std::thread::Builder::new()
            .name("simul-watchdog".into())
            .spawn(move || {
                while !watch.stop.load(Ordering::Relaxed) {
                    std::thread::sleep(period);
                    watch.check();
                }
            })
            .expect("simul: cannot start the watchdog thread");
        w
    }

    fn now_ns(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn check(&self) {
        let seq = self.seq.load(Ordering::Acquire);
        let id = self.task_id.load(Ordering::Acquire);
        if id == 0 || self.stalled_seq.load(Ordering::Relaxed) == seq {
            return;
        }
        let since = self.since_ns.load(Ordering::Acquire);
        let stuck = Duration::from_nanos(self.now_ns().saturating_sub(since));
        if stuck < self.threshold || self.seq.load(Ordering::Acquire) != seq {
            return;
        }
        self.stalled_seq.store(seq, Ordering::Relaxed);
        let loc = self.location.load(Ordering::Acquire);
        // SAFETY: `location` only ever holds null or a `&'static Location` (see `enter`).
        let loc = unsafe { loc.as_ref() };
        let at = loc.map_or_else(|| "?".to_string(), |l| format!("{}:{}", l.file(), l.line()));
        eprintln!(
            "simul watchdog: the event loop{} has been stuck for {:.0} ms in one poll of task \
             id {id} (spawned at {at}): a blocking call or CPU-bound work without an .await?",
            self.label,
            stuck.as_secs_f64() * 1000.0
        );
    }

    /// Marks the start of a poll.
    pub(crate) fn enter(&self, id: u64, location: &'static Location<'static>) {
        self.since_ns.store(self.now_ns(), Ordering::Relaxed);
        self.location
            .store(location as *const _ as *mut _, Ordering::Relaxed);
        self.seq.fetch_add(1, Ordering::Release);
        self.task_id.store(id, Ordering::Release);
    }

    /// Marks the end of a poll; returns how long it was stuck if the watchdog flagged it.
    pub(crate) fn exit(&self) -> Option<Duration> {
        self.task_id.store(0, Ordering::Release);
        let seq = self.seq.load(Ordering::Relaxed);
        if self.stalled_seq.load(Ordering::Relaxed) == seq {
            let since = self.since_ns.load(Ordering::Relaxed);
            Some(Duration::from_nanos(self.now_ns().saturating_sub(since)))
        } else {
            None
        }
    }

    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

pub(crate) fn report_stall(
    core: &Core,
    name: &str,
    location: &'static Location<'static>,
    took: Duration,
) {
    core.call_exception_handler(&ExceptionContext::new(
        ExceptionKind::Stall,
        format!(
            "the event loop{} was stalled for {:.3} seconds by task {:?} (spawned at {}:{})",
            on_loop(core),
            took.as_secs_f64(),
            name,
            location.file(),
            location.line()
        ),
        Some(name.to_string()),
    ));
}
