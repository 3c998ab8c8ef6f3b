//! Time: `sleep`, `yield_now` (asyncio's `sleep(0)`), intervals and timeouts.
//!
//! Every timer lives in the loop's hierarchical wheel (`wheel.rs`): arming and disarming
//! cost O(1) whatever the number of armed timers, and firing allocates nothing in steady
//! state. Deadlines are rounded up to the wheel's 0.1 ms tick, so a timer never fires early;
//! timers fire in deadline order, equal deadlines in the order they were armed. A deadline
//! too far to represent (`Duration::MAX`) simply never fires.
//!
//! A sleep dropped while armed does not unlink its timer at once: the entry becomes the
//! loop's *spare*, and the next sleep armed during the same iteration's tasks, if its
//! deadline is not earlier, takes it over by moving the deadline later in place (the wheel
//! re-links it when its old slot comes up; see `Wheel::postpone`). That is the shape of a
//! timeout re-armed per request (hyper's header-read timeout): one entry per connection,
//! no unlink and insert per request. A spare not taken is disarmed before the loop parks
//! or fires timers, so it never fires, never moves the virtual clock and is not counted by
//! `EventLoop::armed_timers`. [`Sleep::reset`] to a later deadline moves it in place too.
//!
//! A [`Sleep`] whose deadline has already passed when it is first polled still yields once,
//! as asyncio's `sleep(0)` does, so a loop of zero sleeps cannot starve other tasks.

pub(crate) mod clock;
pub(crate) mod driver;
pub(crate) mod wheel;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::runtime::{with_core, Core, TimerPayload};
use wheel::TimerKey;

enum SleepState {
    /// Not armed yet. `ahead`: the deadline is known to have been in the future when the
    /// sleep was created (by `sleep(d)` with `d > 0`), so the first poll can arm it
    /// without reading the clock again.
    Init {
        ahead: bool,
    },
    /// Created outside a loop: the deadline is this many ns after the first poll.
    Lazy {
        after_ns: u64,
    },
    Armed {
        key: TimerKey,
        loop_id: u32,
    },
    Yielded,
    Done,
}

/// A future that completes at a deadline. Created by [`sleep`] and [`sleep_until`].
///
/// # Examples
/// ```
/// use std::time::Duration;
/// simul::run(async {
///     let t0 = simul::time();
///     simul::sleep(Duration::from_millis(3)).await;
///     assert!(simul::time() - t0 >= Duration::from_millis(3));
/// });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    /// `None`: never (too far away to represent), or not known yet (`Lazy`).
    at: Option<Instant>,
    /// 16 bytes, like `at`: every sleeping task carries a `Sleep` in its allocation.
    state: SleepState,
}

impl Unpin for Sleep {}

/// Waits for `duration` (asyncio.sleep). `sleep(Duration::ZERO)` yields once, like
/// [`yield_now`].
///
/// # Examples
/// ```
/// use std::time::{Duration, Instant};
/// simul::run(async {
///     let start = Instant::now();
///     // ten sleeps of 20 ms run together: ~20 ms, not 200
///     let tasks: Vec<_> = (0..10).map(|_| simul::spawn(simul::sleep(Duration::from_millis(20)))).collect();
///     for t in tasks { t.await.unwrap(); }
///     assert!(start.elapsed() < Duration::from_millis(150));
/// });
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    // Created inside a loop, the clock starts now (tokio's rule); created outside one (to
    // hand to `run_until_complete`), it starts at the first poll (asyncio's rule).
    match crate::runtime::try_with_core(|core| core.clock().now().checked_add(duration)) {
        Some(deadline) => Sleep {
            at: deadline,
            state: SleepState::Init {
                ahead: !duration.is_zero(),
            },
        },
        None => Sleep {
            at: None,
            // A duration past u64 ns (584 years) never ends: `Init` with no deadline.
            state: match u64::try_from(duration.as_nanos()) {
                Ok(after_ns) => SleepState::Lazy { after_ns },
                Err(_) => SleepState::Init { ahead: false },
            },
        },
    }
}

/// Waits until `deadline` by the loop's clock.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// simul::run(async {
///     let at = simul::time() + Duration::from_millis(2);
///     simul::sleep_until(at).await;
///     assert!(simul::time() >= at);
/// });
/// ```
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        at: Some(deadline),
        state: SleepState::Init { ahead: false },
    }
}

/// Like [`sleep_until`], for a deadline the caller knows to be later than a reading of this
/// loop's clock (hyper's timer: `now() + timeout`). The first poll then arms it without
/// reading the clock again, as for `sleep(d)`; if the clock has passed the deadline
/// meanwhile, the wheel fires it at its next turn (never early).
#[cfg_attr(not(feature = "hyper"), allow(dead_code))]
pub(crate) fn sleep_until_ahead(deadline: Instant) -> Sleep {
    Sleep {
        at: Some(deadline),
        state: SleepState::Init { ahead: true },
    }
}

impl Sleep {
    /// The deadline (`None` when it is too far away to represent, or not yet known for a
    /// sleep created outside a loop and not polled yet).
    ///
    /// # Examples
    /// ```
    /// simul::run(async { assert!(simul::sleep(std::time::Duration::MAX).deadline().is_none()) });
    /// ```
    pub fn deadline(&self) -> Option<Instant> {
        self.at
    }

    /// Whether it has completed.
    ///
    /// # Examples
    /// ```
    /// simul::run(async { assert!(!simul::sleep(std::time::Duration::from_secs(1)).is_elapsed()) });
    /// ```
    pub fn is_elapsed(&self) -> bool {
        matches!(self.state, SleepState::Done)
    }

    /// Moves the deadline (re-arming the timer).
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// simul::run(async {
    ///     let mut s = simul::sleep(Duration::from_secs(3600));
    ///     s.reset(simul::time() + Duration::from_millis(1));
    ///     s.await;
    /// });
    /// ```
    pub fn reset(&mut self, deadline: Instant) {
        // Armed here and moved later (a timeout pushed back): moved in place.
        if let SleepState::Armed { key, loop_id } = self.state {
            let moved = crate::runtime::try_with_core(|core| {
                if loop_id_of(core) != loop_id {
                    return None;
                }
                let ns = core.clock().ns_of(deadline);
                let key = core.timers().wheel().postpone(key, ns).map(|(k, _)| k);
                key
            });
            if let Some(Some(key)) = moved {
                self.at = Some(deadline);
                self.state = SleepState::Armed { key, loop_id };
                return;
            }
        }
        self.disarm();
        self.at = Some(deadline);
        self.state = SleepState::Init { ahead: false };
    }

    fn disarm(&mut self) {
        if let SleepState::Armed { key, loop_id } = self.state {
            crate::runtime::try_with_core(|core| {
                if loop_id_of(core) == loop_id {
                    core.remove_timer(key);
                }
            });
        }
    }

    pub(crate) fn poll_at(&mut self, core: &Core, cx: &mut Context<'_>) -> Poll<()> {
        match self.state {
            SleepState::Done => Poll::Ready(()),
            SleepState::Yielded => {
                self.state = SleepState::Done;
                Poll::Ready(())
            }
            SleepState::Armed { key, loop_id } if loop_id == loop_id_of(core) => {
                let mut timers = core.timers().wheel();
                let at_ns = self.at.map(|d| core.clock().ns_of(d));
                // The usual wake-up: the wheel has passed the deadline, so the timer fired.
                // Decided without reading the entry (a cache miss with many timers). A
                // fired sleep whose wake-up is still queued behind an earlier callback is
                // not finished yet (see `TimeDriver::defer`).
                if let Some(ns) = at_ns {
                    if timers.has_fired(ns) {
                        if core.timers().undelivered(ns, cx.waker()) {
                            return Poll::Pending;
                        }
                        self.state = SleepState::Done;
                        return Poll::Ready(());
                    }
                }
                match timers.payload_mut(key) {
                    None => {
                        if at_ns.is_some_and(|ns| core.timers().undelivered(ns, cx.waker())) {
                            return Poll::Pending;
                        }
                        self.state = SleepState::Done;
                        Poll::Ready(())
                    }
                    Some(TimerPayload::Wake(w)) => {
                        if !w.will_wake(cx.waker()) {
                            *w = cx.waker().clone();
                        }
                        Poll::Pending
                    }
                    Some(TimerPayload::Call(_)) => unreachable!("sleep keys hold wakers"),
                }
            }
            SleepState::Init { .. } | SleepState::Lazy { .. } | SleepState::Armed { .. } => {
                let mut ahead = matches!(self.state, SleepState::Init { ahead: true });
                if let SleepState::Lazy { after_ns } = self.state {
                    self.at = core
                        .clock()
                        .now()
                        .checked_add(Duration::from_nanos(after_ns));
                    self.state = SleepState::Init { ahead: false };
                    ahead = after_ns != 0;
                }
                let Some(deadline) = self.at else {
                    return Poll::Pending; // never
                };
                let at = core.clock().ns_of(deadline);
                // Past due: the wheel (which never passes the clock) is past it, or the
                // clock is. The clock is read only when creation did not settle it: a
                // deadline that was ahead when `sleep(d)` made it and is still ahead of
                // the wheel is armed as is (if it has come due meanwhile, the wheel fires
                // it at its next turn).
                let past =
                    !core.timers().wheel().is_ahead(at) || (!ahead && at <= core.clock().now_ns());
                if past {
                    self.state = SleepState::Yielded;
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                // Ahead of the wheel, so its tick is exact and `has_fired` applies.
                let key = arm(core, at, cx.waker());
                self.state = SleepState::Armed {
                    key,
                    loop_id: loop_id_of(core),
                };
                Poll::Pending
            }
        }
    }
}

/// Arms a sleep's timer at `at` (ns, ahead of the wheel): by taking over the spare a sleep
/// dropped during this iteration left (see `TimeDriver::retire`) when its deadline is not
/// later than `at`, else anew.
fn arm(core: &Core, at: u64, waker: &std::task::Waker) -> TimerKey {
    let timers = core.timers();
    if let Some(spare) = timers.take_spare() {
        let mut wheel = timers.wheel();
        let old = match wheel.postpone(spare, at) {
            Some((key, TimerPayload::Wake(w))) => {
                let old = (!w.will_wake(waker)).then(|| std::mem::replace(w, waker.clone()));
                drop(wheel);
                drop(old); // outside the borrow: a waker's drop may drop a task
                return key;
            }
            Some((_, TimerPayload::Call(_))) => unreachable!("the spare is a sleep's"),
            None => wheel.remove(spare),
        };
        drop(wheel);
        drop(old);
    }
    core.add_timer(at, TimerPayload::Wake(waker.clone()))
}

/// The loop's number, as a sleep remembers it (a timer key is only meaningful on the wheel
/// that made it). Loop numbers are never reused; 32 bits of one are only confused after
/// 2^32 loops.
fn loop_id_of(core: &Core) -> u32 {
    core.loop_no() as u32
}

impl Future for Sleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match crate::runtime::try_with_core(|core| self.as_mut().poll_at(core, cx)) {
            Some(p) => p,
            None => panic!(
                "a simul::sleep() future was polled outside a running simul event loop: \
                 sleep() may be called anywhere, but its future must be awaited in a task \
                 on a simul loop (inside simul::run() or EventLoop::run_until_complete())"
            ),
        }
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        // Still armed on its loop: the timer becomes the loop's spare, for the next sleep
        // armed in this iteration to take over (see `TimeDriver::retire`). Dropped
        // elsewhere, the entry is left to fire harmlessly.
        if let SleepState::Armed { key, loop_id } = self.state {
            crate::runtime::try_with_core(|core| {
                if loop_id_of(core) == loop_id {
                    core.timers().retire(key);
                }
            });
        }
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline())
            .field("elapsed", &self.is_elapsed())
            .finish()
    }
}

/// Yields to the loop once (asyncio's `await asyncio.sleep(0)`): every other task that is
/// ready runs before this one resumes.
///
/// # Examples
/// ```
/// use std::{cell::RefCell, rc::Rc};
/// simul::run(async {
///     let log = Rc::new(RefCell::new(vec![]));
///     let l = log.clone();
///     let t = simul::spawn(async move { l.borrow_mut().push("other") });
///     simul::yield_now().await;
///     log.borrow_mut().push("me");
///     assert_eq!(*log.borrow(), ["other", "me"]);
///     t.await.unwrap();
/// });
/// ```
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// The future of [`yield_now`].
///
/// # Examples
/// ```
/// simul::run(simul::yield_now());
/// ```
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// A periodic timer: [`Interval::tick`] completes at `start`, `start + period`, ...
/// When ticks are missed (the loop was busy), the missed ones are skipped and the next
/// tick keeps to the original schedule. A tick too far away to represent as an
/// [`Instant`] (`interval(Duration::MAX)` after its first tick) never comes: `tick` then
/// waits forever, like `sleep(Duration::MAX)`.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// simul::run(async {
///     let mut iv = simul::interval(Duration::from_millis(2));
///     let t0 = iv.tick().await; // the first tick is immediate
///     let t2 = { iv.tick().await; iv.tick().await };
///     assert!(t2 - t0 >= Duration::from_millis(4));
/// });
/// ```
#[track_caller]
pub fn interval(period: Duration) -> Interval {
    assert!(
        period > Duration::ZERO,
        "simul::interval: the period must be non-zero"
    );
    let now = with_core("interval", |core| core.clock().now());
    Interval {
        next: Some(now),
        period,
        sleep: None,
    }
}

/// The first tick after `at` on the grid `at + k * period` that is later than `now`
/// (missed ticks are skipped); `None` if it cannot be represented.
fn next_tick(at: Instant, period: Duration, now: Instant) -> Option<Instant> {
    let next = at.checked_add(period)?;
    if next > now {
        return Some(next);
    }
    let periods = (now - at).as_nanos() / period.as_nanos() + 1;
    let ahead = periods.checked_mul(period.as_nanos())?;
    let ahead = Duration::new(
        u64::try_from(ahead / 1_000_000_000).ok()?,
        (ahead % 1_000_000_000) as u32,
    );
    at.checked_add(ahead)
}

/// The periodic timer of [`interval`].
///
/// # Examples
/// ```
/// simul::run(async { simul::interval(std::time::Duration::from_millis(1)).tick().await; });
/// ```
#[derive(Debug)]
pub struct Interval {
    /// The next tick (`None`: too far away to represent, so never).
    next: Option<Instant>,
    period: Duration,
    sleep: Option<Sleep>,
}

impl Interval {
    /// Waits for the next tick and returns its scheduled time.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let mut iv = simul::interval(std::time::Duration::from_millis(1));
    ///     let a = iv.tick().await;
    ///     let b = iv.tick().await;
    ///     assert_eq!(b - a, std::time::Duration::from_millis(1));
    /// });
    /// ```
    pub async fn tick(&mut self) -> Instant {
        std::future::poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Polls for the next tick.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let mut iv = simul::interval(std::time::Duration::from_millis(1));
    ///     std::future::poll_fn(|cx| iv.poll_tick(cx)).await;
    /// });
    /// ```
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        with_core("Interval::tick", |core| {
            let now = core.clock().now();
            let Some(at) = self.next else {
                return Poll::Pending; // never
            };
            if at > now {
                let next = at;
                let s = self.sleep.get_or_insert_with(|| sleep_until(next));
                if s.deadline() != Some(next) {
                    s.reset(next);
                }
                if s.poll_at(core, cx).is_pending() {
                    return Poll::Pending;
                }
            }
            self.next = next_tick(at, self.period, now);
            self.sleep = None;
            Poll::Ready(at)
        })
    }

    /// The period.
    ///
    /// # Examples
    /// ```
    /// simul::run(async { assert_eq!(simul::interval(std::time::Duration::from_secs(1)).period().as_secs(), 1) });
    /// ```
    pub fn period(&self) -> Duration {
        self.period
    }
}

/// The error of [`wait_for`] and [`timeout_at`] when the deadline passes first
/// (asyncio's `TimeoutError`).
///
/// # Examples
/// ```
/// assert_eq!(simul::TimeoutError.to_string(), "deadline has elapsed");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeoutError;

impl fmt::Display for TimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for TimeoutError {}

impl From<TimeoutError> for std::io::Error {
    fn from(_: TimeoutError) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::TimedOut, TimeoutError)
    }
}

pin_project_lite::pin_project! {
    /// The future of [`wait_for`] and [`timeout_at`].
    ///
    /// On timeout the inner future is dropped at once (its destructors run), which is
    /// asyncio's cancellation of the awaited work; a task handle it was awaiting cancels
    /// its task (see [`wait_for`]).
    #[must_use = "futures do nothing unless awaited"]
    pub struct Timeout<F> {
        #[pin]
        future: Option<F>,
        sleep: Sleep,
    }
}

/// Awaits `future` for at most `duration`; on timeout drops it and returns
/// `Err(TimeoutError)` (asyncio.wait_for / asyncio.timeout).
///
/// As in asyncio, the timed-out work is cancelled:
///
/// | passed to `wait_for` | on timeout |
/// |---|---|
/// | a [`Task`](crate::Task), [`SharedTask`](crate::SharedTask) or [`GroupTask`](crate::GroupTask) | the task is cancelled (for a `SharedTask`, every clone sees `Cancelled`) |
/// | any other future | it is dropped, so its destructors run at its suspension point |
/// | a future awaiting a task (`async { task.await }`) | dropped, and the task it was awaiting is cancelled, as asyncio's cancellation reaches the awaited task |
///
/// A task handle that the dropped future merely held, without awaiting it, detaches as
/// any dropped handle does (the task keeps running). Dropping a `wait_for` future before
/// its deadline cancels nothing.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// simul::run(async {
///     let slow = simul::sleep(Duration::from_secs(3600));
///     assert_eq!(simul::wait_for(Duration::from_millis(5), slow).await, Err(simul::TimeoutError));
///     assert_eq!(simul::wait_for(Duration::from_secs(1), async { 7 }).await, Ok(7));
///
///     let task = simul::spawn(simul::sleep(Duration::from_secs(3600)));
///     let id = task.id();
///     assert!(simul::wait_for(Duration::from_millis(5), task).await.is_err());
///     simul::yield_now().await;
///     assert!(simul::all_tasks().iter().all(|t| t.id() != id)); // cancelled, not detached
/// });
/// ```
#[doc(alias = "timeout")]
pub fn wait_for<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    Timeout {
        future: Some(future),
        sleep: sleep(duration),
    }
}

/// Like [`wait_for`], with an absolute deadline.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// simul::run(async {
///     let at = simul::time() + Duration::from_millis(2);
///     assert!(simul::timeout_at(at, std::future::pending::<()>()).await.is_err());
/// });
/// ```
pub fn timeout_at<F: Future>(deadline: Instant, future: F) -> Timeout<F> {
    Timeout {
        future: Some(future),
        sleep: sleep_until(deadline),
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, TimeoutError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let Some(fut) = this.future.as_mut().as_pin_mut() else {
            panic!("`Timeout` polled after completion");
        };
        if let Poll::Ready(v) = fut.poll(cx) {
            this.future.set(None);
            return Poll::Ready(Ok(v));
        }
        if Pin::new(&mut *this.sleep).poll(cx).is_ready() {
            // Task handles being awaited by the timed-out work cancel their tasks as they
            // are dropped (task/scope.rs).
            let _scope = crate::task::scope::TimedOut::enter();
            this.future.set(None);
            return Poll::Ready(Err(TimeoutError));
        }
        Poll::Pending
    }
}
