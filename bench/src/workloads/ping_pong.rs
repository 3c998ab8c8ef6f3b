//! ping_pong: two tasks pass a counter back and forth through two one-slot channels
//! (`crate::slot`, the same waker-based primitive on every runtime): each round trip is
//! two wakes and two task polls.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Opts, Workload};
use crate::rt::{self, Generic, Rt, Runtime};
use crate::slot::Slot;

pub const W: Workload = Workload {
    name: "ping_pong",
    what: "100k round trips between 2 tasks",
    run,
};

fn run(rt: Rt, o: &Opts) -> Option<Duration> {
    Some(rt::on(rt, Body(o.n(100_000) as u64)))
}

struct Body(u64);

impl Generic<Duration> for Body {
    fn make<R: Runtime>(self) -> impl Future<Output = Duration> {
        let rounds = self.0;
        async move {
            let ping = Arc::new(Slot::default());
            let pong = Arc::new(Slot::default());
            let t0 = Instant::now();
            let (p1, p2) = (ping.clone(), pong.clone());
            let pinger = R::spawn(async move {
                for i in 0..rounds {
                    p1.send(i).await;
                    let back = p2.recv().await;
                    assert_eq!(back, i + 1);
                }
            });
            let ponger = R::spawn(async move {
                for _ in 0..rounds {
                    let v = ping.recv().await;
                    pong.send(v + 1).await;
                }
            });
            pinger.await;
            ponger.await;
            t0.elapsed()
        }
    }
}
