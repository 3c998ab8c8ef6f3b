//! timers: 100k tasks each sleep 1..=10 ms (task i sleeps i % 10 + 1 ms); measured from
//! the first spawn until the last sleeper has woken. Arms and fires 100k timers, so at
//! least 10 ms of it is the sleep itself.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Opts, Workload};
use crate::rt::{self, Generic, Rt, Runtime};
use crate::slot::Slot;

pub const W: Workload = Workload {
    name: "timers",
    what: "100k tasks sleep 1..=10 ms",
    run,
};

fn run(rt: Rt, o: &Opts) -> Option<Duration> {
    Some(rt::on(rt, Body(o.n(100_000))))
}

struct Body(usize);

impl Generic<Duration> for Body {
    fn make<R: Runtime>(self) -> impl Future<Output = Duration> {
        let n = self.0;
        async move {
            let left = Arc::new(AtomicUsize::new(n));
            let done = Arc::new(Slot::default());
            let t0 = Instant::now();
            for i in 0..n {
                let (left, done) = (left.clone(), done.clone());
                R::spawn_detach(async move {
                    R::sleep(Duration::from_millis(i as u64 % 10 + 1)).await;
                    if left.fetch_sub(1, Ordering::Relaxed) == 1 {
                        done.put(());
                    }
                });
            }
            done.recv().await;
            t0.elapsed()
        }
    }
}
