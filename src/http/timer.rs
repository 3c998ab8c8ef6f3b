//! [`HyperTimer`]: hyper's `rt::Timer` on simul's timer wheel.
//!
//! hyper requires its `Sleep` futures to be `Send + Sync`. simul's [`Sleep`] already is:
//! it holds only its deadline and, once armed, the key of its entry in the loop's wheel
//! and the loop's identity — plain data, no `Rc` (the wheel entry holds the waker, and
//! lives on the loop). So the hyper sleep is a simul sleep in a box: arming and firing go
//! through the wheel exactly as [`crate::sleep`] does (O(1), no allocation per fire), and
//! `reset` to a later deadline moves it in place. A sleep is armed on the loop that polls
//! it; dropping it on its loop hands its wheel entry to the next sleep armed there in the
//! same iteration, or disarms it at the iteration's end (see `crate::time`), and dropping
//! it elsewhere leaves the entry to fire harmlessly.
//!
//! **One wheel entry per connection.** hyper drops a connection's header-read sleep once
//! the request head is in and, after the response, arms the next request's in the same
//! poll of the connection's task: the new sleep takes over the dropped one's entry and
//! moves its deadline later in place, so a keep-alive request costs no wheel unlink and
//! insert. The timeout is still exact: a client that sends no complete head within it is
//! cut off at it, never before.
//!
//! **One clock read per timeout.** hyper arms its HTTP/1 header-read timeout once per
//! request as `sleep_until(timer.now() + timeout)`. `now` reads the clock (the real one
//! directly, a virtual one from the loop) and remembers the reading for the thread; a
//! `sleep_until` deadline later than that reading is known to lie ahead of the clock, so
//! its first poll arms the wheel without reading the clock again (as `sleep(d)` does). The
//! remembered reading may be stale or come from another loop: then the deadline may in
//! fact be past, and the wheel fires it at its next turn — late by one turn at most, never
//! early, because the wheel never passes the clock.
//!
//! [`Sleep`]: crate::time::Sleep

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::time::Sleep;

thread_local! {
    /// The last instant [`HyperTimer::now`] returned on this thread: a clock reading, so a
    /// deadline later than it is ahead of the clock it was read from.
    static LAST_NOW: std::cell::Cell<Option<Instant>> = const { std::cell::Cell::new(None) };
}

const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Sleep>(); // hyper's requirement, checked at compile time
};

/// hyper's timer for simul: `sleep`, `sleep_until` and `reset` on the loop's timer wheel
/// (needed for hyper's header-read timeout, HTTP/2 keep-alive pings and pool idling).
///
/// # Examples
/// ```
/// use hyper::rt::Timer;
/// use std::time::Duration;
/// simul::EventLoop::builder().virtual_time(true).build().unwrap().run_until_complete(async {
///     let t0 = simul::time();
///     simul::http::HyperTimer.sleep(Duration::from_secs(30)).await;
///     assert_eq!(simul::time() - t0, Duration::from_secs(30));
/// });
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct HyperTimer;

/// A simul [`Sleep`] as hyper's `rt::Sleep`.
#[derive(Debug)]
struct HyperSleep(Sleep);

impl Future for HyperSleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx)
    }
}

impl hyper::rt::Sleep for HyperSleep {}

impl hyper::rt::Timer for HyperTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(HyperSleep(crate::time::sleep(duration)))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        // hyper's deadlines are `now() + timeout`: one later than the last `now()` needs no
        // second clock read to be known ahead (see the module doc).
        let sleep = if LAST_NOW.get().is_some_and(|t| deadline > t) {
            crate::time::sleep_until_ahead(deadline)
        } else {
            crate::time::sleep_until(deadline)
        };
        Box::pin(HyperSleep(sleep))
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<HyperSleep>() {
            Some(mut s) => s.0.reset(new_deadline),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }

    fn now(&self) -> Instant {
        // The real clock is read directly (the loop's real clock is `Instant::now()`); a
        // virtual one is the loop's.
        let now =
            crate::runtime::try_with_core(|core| core.clock().is_virtual().then(|| core.now()))
                .flatten()
                .unwrap_or_else(Instant::now);
        LAST_NOW.set(Some(now));
        now
    }
}
