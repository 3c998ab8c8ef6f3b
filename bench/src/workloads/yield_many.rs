//! yield_many: 200 tasks each yield to the loop 1000 times.

use std::future::Future;
use std::time::{Duration, Instant};

use super::{Opts, Workload};
use crate::rt::{self, Generic, Rt, Runtime};

pub const W: Workload = Workload {
    name: "yield_many",
    what: "200 tasks x 1000 yields",
    run,
};

fn run(rt: Rt, o: &Opts) -> Option<Duration> {
    Some(rt::on(rt, Body(o.n(1000))))
}

struct Body(usize);

impl Generic<Duration> for Body {
    fn make<R: Runtime>(self) -> impl Future<Output = Duration> {
        let yields = self.0;
        async move {
            let t0 = Instant::now();
            let handles: Vec<_> = (0..200)
                .map(|_| {
                    R::spawn(async move {
                        for _ in 0..yields {
                            R::yield_now().await;
                        }
                    })
                })
                .collect();
            for h in handles {
                h.await;
            }
            t0.elapsed()
        }
    }
}
