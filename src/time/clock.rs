//! The loop's clock: real monotonic time, or virtual time that stands still while tasks
//! run and is moved only by the loop (to the next timer, when it is idle).
//!
//! Times are kept as nanoseconds since the clock's origin (`now_ns`), the unit the timer
//! wheel works in; `coarse_instant` is a cheap reading for bookkeeping, never for timers.

use std::cell::Cell;
use std::time::{Duration, Instant};

/// The loop's clock: real monotonic time, or virtual time that only moves when the loop
/// is idle and jumps to the next timer.
pub(crate) struct Clock {
    origin: Instant,
    virtual_ns: Option<Cell<u64>>,
    /// The coarse clock's reading at `origin` (see [`Clock::coarse_instant`]).
    coarse_origin: Option<u64>,
}

/// `CLOCK_MONOTONIC_COARSE` in ns: the monotonic clock at the kernel tick's resolution
/// (1-4 ms), which the vDSO serves without reading the time counter (a few ns, against
/// ~25 ns for `Instant::now()` on a VM). `None` where it is unavailable.
#[cfg(target_os = "linux")]
fn coarse_ns() -> Option<u64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through the valid pointer it is given.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    let (secs, nanos) = (
        u64::try_from(ts.tv_sec).ok()?,
        u64::try_from(ts.tv_nsec).ok()?,
    );
    (r == 0).then(|| secs * 1_000_000_000 + nanos)
}

#[cfg(not(target_os = "linux"))]
fn coarse_ns() -> Option<u64> {
    None
}

impl Clock {
    pub(crate) fn new(virtual_time: bool) -> Clock {
        Clock {
            coarse_origin: coarse_ns(),
            origin: Instant::now(),
            virtual_ns: virtual_time.then(|| Cell::new(0)),
        }
    }

    /// Real time (never virtual) to within the kernel tick, cheaply: for bookkeeping such
    /// as task creation times, not for timers.
    pub(crate) fn coarse_instant(&self) -> Instant {
        match (self.coarse_origin, coarse_ns()) {
            (Some(c0), Some(c)) => self.origin + Duration::from_nanos(c.saturating_sub(c0)),
            _ => Instant::now(),
        }
    }

    pub(crate) fn now_ns(&self) -> u64 {
        match &self.virtual_ns {
            Some(v) => v.get(),
            None => u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX),
        }
    }
    pub(crate) fn now(&self) -> Instant {
        self.origin + Duration::from_nanos(self.now_ns())
    }
    /// Nanoseconds since the origin for `t` (0 if before it).
    pub(crate) fn ns_of(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.origin).as_nanos()).unwrap_or(u64::MAX)
    }
    /// Moves the virtual clock forward to `ns` (never back; no effect on a real clock).
    pub(crate) fn advance_to(&self, ns: u64) {
        if let Some(v) = &self.virtual_ns {
            if ns > v.get() {
                v.set(ns);
            }
        }
    }
    pub(crate) fn is_virtual(&self) -> bool {
        self.virtual_ns.is_some()
    }
}
