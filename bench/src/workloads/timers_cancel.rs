//! timers_cancel: one task arms 1M timers (sleeps of 1..=1000 ms, so they spread over the
//! wheel's levels) and cancels each right away: every sleep is polled once, which arms
//! it, then dropped, which disarms it. The timeout that never fires, the common case of a
//! timer in a server. Nothing sleeps: it is the cost of arming and cancelling only.

use std::future::Future;
use std::pin::pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use super::{Opts, Workload};
use crate::rt::{self, Generic, Rt, Runtime};

pub const W: Workload = Workload {
    name: "timers_cancel",
    what: "1M timers armed, then cancelled",
    run,
};

fn run(rt: Rt, o: &Opts) -> Option<Duration> {
    Some(rt::on(rt, Body(o.n(1_000_000))))
}

struct Body(usize);

impl Generic<Duration> for Body {
    fn make<R: Runtime>(self) -> impl Future<Output = Duration> {
        let n = self.0;
        async move {
            let t0 = Instant::now();
            for i in 0..n {
                let mut nap = pin!(R::sleep(Duration::from_millis(i as u64 % 1000 + 1)));
                // Poll once (arms the timer), then drop (cancels it).
                std::future::poll_fn(|cx| {
                    assert!(
                        nap.as_mut().poll(cx).is_pending(),
                        "a fresh sleep is pending"
                    );
                    Poll::Ready(())
                })
                .await;
            }
            t0.elapsed()
        }
    }
}
