//! [`HyperTimer`]: hyper's `rt::Timer` on simul's timer wheel.
//!
//! hyper requires its `Sleep` futures to be `Send + Sync`. simul's [`Sleep`] already is:
//! it holds only its deadline and, once armed, the key of its entry in the loop's wheel
//! and the loop's identity — plain data, no `Rc` (the wheel entry holds the waker, and
//! lives on the loop). So the hyper sleep is a simul sleep in a box: arming and firing go
//! through the wheel exactly as [`crate::sleep`] does (O(1), no allocation per fire), and
//! `reset` re-arms it in place. A sleep is armed on the loop that polls it; dropping it on
//! its loop removes the wheel entry, and dropping it elsewhere leaves the entry to fire
//! harmlessly.
//!
//! [`Sleep`]: crate::time::Sleep

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::time::Sleep;

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
        Box::pin(HyperSleep(crate::time::sleep_until(deadline)))
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<HyperSleep>() {
            Some(mut s) => s.0.reset(new_deadline),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }

    fn now(&self) -> Instant {
        crate::time::now_or_real()
    }
}
