//! The driver stack under the loop core: a time driver (clock, timer wheel, the virtual
//! clock's jumps) over the I/O driver (`io::driver`: epoll/kqueue through mio today).
//!
//! The loop core talks to the stack through three calls: [`TimeDriver::park`] (wait for
//! I/O, a timer or a wake-up), the unpark handle made by [`TimeDriver::unparker`] (which
//! other threads use to end a park), and [`TimeDriver::now`]. A new I/O backend replaces
//! the layer below this one; the loop core does not change.
//!
//! # When the virtual clock jumps
//!
//! Under virtual time the clock stands still while anything runs. An idle park (the loop
//! has nothing ready, no main-future wake and no work handed in from other threads)
//! moves it forward to the earliest armed timer when all of these hold:
//!
//! 1. no *hold* is outstanding: a job on the blocking pool or a running child process
//!    (work outside the loop that will finish on its own) holds the clock, and the park
//!    then waits for it instead;
//! 2. a timer is armed (otherwise the park waits for I/O or a wake-up, without timeout);
//! 3. a non-blocking look at the selector delivered nothing. A socket wait does *not* hold
//!    the clock: data a peer on this loop (or the kernel) has already made ready is seen by
//!    that look and handled first, and I/O that nothing will ever feed cannot stop time (as
//!    tokio's paused clock auto-advances). A cancelled wait therefore costs nothing.
//!
//! The jump sets the clock to the timer's tick; the loop then fires the due timers.

use std::cell::{Cell, RefCell, RefMut};
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::clock::Clock;
use super::wheel::{self, TimerKey, Wheel};
use crate::io::driver::{Driver as IoDriver, IoShared, Unparker};

/// The time driver, generic over what a timer carries; owns the I/O driver below it.
pub(crate) struct TimeDriver<P> {
    clock: Clock,
    wheel: RefCell<Wheel<P>>,
    io: RefCell<IoDriver>,
    /// Outstanding holds on the virtual clock (see the module doc).
    holds: Cell<usize>,
    /// Ordered delivery (see [`TimeDriver::defer`]): how many deferred sleep wake-ups of
    /// the last fired batch have not been delivered yet,
    deferred_left: Cell<usize>,
    /// the smallest deadline (ns) that counts as not yet delivered while some are left,
    deferred_floor: Cell<u64>,
    /// and the wakers of sleeps polled meanwhile, woken when the last one is delivered.
    deferred_waiters: RefCell<Vec<std::task::Waker>>,
    /// The spare (see [`TimeDriver::retire`]): the still armed timer of a sleep dropped
    /// during this iteration's tasks, for the next sleep armed to take over.
    spare: Cell<Option<TimerKey>>,
}

impl<P> TimeDriver<P> {
    pub(crate) fn new(virtual_time: bool) -> io::Result<Self> {
        Ok(TimeDriver {
            clock: Clock::new(virtual_time),
            wheel: RefCell::new(Wheel::new()),
            io: RefCell::new(IoDriver::new()?),
            holds: Cell::new(0),
            deferred_left: Cell::new(0),
            deferred_floor: Cell::new(u64::MAX),
            deferred_waiters: RefCell::new(Vec::new()),
            spare: Cell::new(None),
        })
    }

    /// A handle that ends a park from any thread (the selector's waker).
    pub(crate) fn unparker(&self) -> io::Result<Unparker> {
        self.io.borrow().new_unparker()
    }

    /// The registration side of the I/O driver, for sources on any thread.
    pub(crate) fn io_handle(&self) -> Arc<IoShared> {
        self.io.borrow().shared.clone()
    }

    /// Whether any descriptor is registered with the I/O driver.
    pub(crate) fn has_io_sources(&self) -> bool {
        self.io.borrow().has_sources()
    }

    /// The loop's clock.
    pub(crate) fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The loop's time (virtual under virtual time).
    pub(crate) fn now(&self) -> Instant {
        self.clock.now()
    }

    /// The timer wheel (for `Sleep`'s fast checks on its own entry).
    pub(crate) fn wheel(&self) -> RefMut<'_, Wheel<P>> {
        self.wheel.borrow_mut()
    }

    /// Arms a timer at `deadline_ns` (ns since the clock's origin).
    pub(crate) fn insert(&self, deadline_ns: u64, payload: P) -> TimerKey {
        self.wheel.borrow_mut().insert(deadline_ns, payload)
    }

    /// Disarms a timer; `None` if it already fired or was removed.
    pub(crate) fn remove(&self, key: TimerKey) -> Option<P> {
        self.wheel.borrow_mut().remove(key)
    }

    /// How many timers the wheel holds (the spare included).
    pub(crate) fn armed(&self) -> usize {
        self.wheel.borrow().len()
    }

    /// How many timers are armed for someone: the wheel's, less the spare.
    pub(crate) fn armed_for_use(&self) -> usize {
        self.armed() - usize::from(self.spare.get().is_some())
    }

    /// A sleep was dropped with its timer `key` still armed: instead of disarming it, keep
    /// it as the spare, which the next sleep armed on this loop takes over by moving its
    /// deadline later in place ([`Wheel::postpone`]) — no unlink and no insert. A task
    /// that waits with a timeout in a loop (hyper's header-read timeout: drop the request's
    /// sleep, arm the next one's) then re-uses one entry. One spare at most: a previous one
    /// is disarmed. The spare never outlives the iteration ([`TimeDriver::drop_spare`]
    /// before the park and the firing), so it never fires, never holds the virtual clock's
    /// next jump, and keeps no task alive.
    pub(crate) fn retire(&self, key: TimerKey) {
        if let Some(old) = self.spare.replace(Some(key)) {
            let payload = self.wheel.borrow_mut().remove(old);
            drop(payload); // outside the borrow: a waker's drop may drop a task
        }
    }

    /// Takes the spare, if any (its key may be stale if the wheel was drained).
    pub(crate) fn take_spare(&self) -> Option<TimerKey> {
        self.spare.take()
    }

    /// Disarms the spare, if any: the end of an iteration's tasks. Inlined down to one
    /// load.
    #[inline]
    pub(crate) fn drop_spare(&self) {
        if self.spare.get().is_some() {
            self.drop_spare_now();
        }
    }

    #[inline(never)]
    fn drop_spare_now(&self) {
        // `while`: dropping a spare's waker may drop a task whose own armed sleep then
        // retires into the spare again; that one must not outlive the iteration either.
        while let Some(key) = self.spare.take() {
            let payload = self.wheel.borrow_mut().remove(key);
            drop(payload);
        }
    }

    /// The start (ns since the clock's origin) of the earliest tick holding an armed
    /// timer: no timer fires before it. `None` with no timer armed.
    pub(crate) fn next_timer_ns(&self) -> Option<u64> {
        let next = self.wheel.borrow().next_tick();
        next.map(|tick| tick.saturating_mul(wheel::TICK_NS))
    }

    /// Work outside the loop started: the virtual clock holds until [`Self::release`].
    pub(crate) fn hold(&self) {
        self.holds.set(self.holds.get() + 1);
    }

    /// Gives back one [`Self::hold`].
    pub(crate) fn release(&self) {
        self.holds.set(self.holds.get().saturating_sub(1));
    }

    /// Waits for I/O. `Some(d)`: at most `d` (`Duration::ZERO` only looks). `None`: an idle
    /// park, until the next timer or a wake-up; under virtual time it may instead jump the
    /// clock (see the module doc).
    pub(crate) fn park(&self, timeout: Option<Duration>) {
        if timeout.is_some() {
            self.poll_io(timeout);
            return;
        }
        let next = self.wheel.borrow().next_tick();
        let timeout = match next {
            Some(tick) if self.clock.is_virtual() => {
                if self.holds.get() > 0 {
                    None // wait for the outside work
                } else {
                    if !self.poll_io(Some(Duration::ZERO)) {
                        self.clock.advance_to(tick.saturating_mul(wheel::TICK_NS));
                    }
                    return;
                }
            }
            Some(tick) => {
                let at = tick.saturating_mul(wheel::TICK_NS);
                Some(Duration::from_nanos(at.saturating_sub(self.clock.now_ns())))
            }
            None => None,
        };
        self.poll_io(timeout);
    }

    /// One selector wait; whether any event (I/O or wake-up) arrived.
    fn poll_io(&self, timeout: Option<Duration>) -> bool {
        match self.io.borrow_mut().poll(timeout) {
            Ok(woke) => woke,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => true,
            Err(e) => panic!("simul: the OS selector failed: {e}"),
        }
    }

    /// Takes the timers due by the clock, in deadline order, passing each (with its
    /// deadline in ns) to `f`; returns how many fired.
    ///
    /// Inlined down to one look at the wheel's length: every iteration calls it, and most
    /// find no timer armed.
    #[inline]
    pub(crate) fn fire_due(&self, f: impl FnMut(u64, P)) -> usize {
        if self.wheel.borrow().len() == 0 {
            return 0;
        }
        self.fire_armed(f)
    }

    #[inline(never)]
    fn fire_armed(&self, mut f: impl FnMut(u64, P)) -> usize {
        let mut wheel = self.wheel.borrow_mut();
        let now_tick = self.clock.now_ns() / wheel::TICK_NS;
        match wheel.next_tick() {
            Some(t) if t <= now_tick => {}
            _ => return 0,
        }
        let mut fired = wheel.advance(now_tick);
        drop(wheel);
        let n = fired.len();
        for (deadline, _, p) in fired.drain(..) {
            f(deadline, p);
        }
        self.wheel.borrow_mut().recycle(fired);
        n
    }

    /// Ordered delivery. A fired batch is delivered in deadline order through the ready
    /// queue: a timer callback runs as a queued entry, and a sleep due after a callback of
    /// the same batch must not look finished to a task that was already queued for another
    /// reason (it would run ahead of the earlier callback, which asyncio never allows: a
    /// sleep there is a future its own timer callback resolves). So the loop queues such a
    /// sleep's wake-up behind the callback and calls `defer(floor)` for it: until every
    /// deferred wake-up of the batch is delivered ([`Self::delivered`]), sleeps whose
    /// deadline is at least `floor` report "not yet" ([`Self::undelivered`]).
    pub(crate) fn defer(&self, floor: u64) {
        if self.deferred_left.get() == 0 || floor < self.deferred_floor.get() {
            self.deferred_floor.set(floor);
        }
        self.deferred_left.set(self.deferred_left.get() + 1);
    }

    /// One deferred wake-up was delivered; after the last, every sleep polled meanwhile is
    /// woken again.
    pub(crate) fn delivered(&self) {
        let left = self.deferred_left.get().saturating_sub(1);
        self.deferred_left.set(left);
        if left == 0 {
            self.deferred_floor.set(u64::MAX);
            let waiters = std::mem::take(&mut *self.deferred_waiters.borrow_mut());
            for w in waiters {
                w.wake();
            }
        }
    }

    /// Whether a fired sleep with this deadline must still wait for its ordered delivery;
    /// if so, `waker` is woken once it may look again.
    pub(crate) fn undelivered(&self, deadline_ns: u64, waker: &std::task::Waker) -> bool {
        if self.deferred_left.get() == 0 || deadline_ns < self.deferred_floor.get() {
            return false;
        }
        let mut waiters = self.deferred_waiters.borrow_mut();
        if !waiters.iter().any(|w| w.will_wake(waker)) {
            waiters.push(waker.clone());
        }
        true
    }

    /// Disarms every timer, returning their payloads (dropped by the caller, outside any
    /// borrow of the wheel).
    pub(crate) fn drain_timers(&self) -> Vec<P> {
        self.spare.set(None);
        self.wheel.borrow_mut().drain()
    }
}
