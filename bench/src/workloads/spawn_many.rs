//! spawn_many: the main task spawns 10k tasks, then awaits each handle in turn.

use std::future::Future;
use std::time::{Duration, Instant};

use super::{Opts, Workload};
use crate::rt::{self, Generic, Rt, Runtime};

pub const W: Workload = Workload {
    name: "spawn_many",
    what: "10k spawns, each awaited",
    run,
};

fn run(rt: Rt, o: &Opts) -> Option<Duration> {
    Some(rt::on(rt, Body(o.n(10_000))))
}

struct Body(usize);

impl Generic<Duration> for Body {
    fn make<R: Runtime>(self) -> impl Future<Output = Duration> {
        let n = self.0;
        async move {
            let t0 = Instant::now();
            let handles: Vec<_> = (0..n).map(|i| R::spawn(async move { i })).collect();
            let mut sum = 0;
            for h in handles {
                sum += h.await;
            }
            let took = t0.elapsed();
            assert_eq!(sum, n * (n - 1) / 2);
            took
        }
    }
}
