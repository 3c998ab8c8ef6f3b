//! chained_spawn: each task spawns the next, 10k deep; the last one signals the main task.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Opts, Workload};
use crate::rt::{self, Generic, Rt, Runtime};
use crate::slot::Slot;

pub const W: Workload = Workload {
    name: "chained_spawn",
    what: "a task spawns the next, 10k deep",
    run,
};

fn run(rt: Rt, o: &Opts) -> Option<Duration> {
    Some(rt::on(rt, Body(o.n(10_000))))
}

struct Body(usize);

fn chain<R: Runtime>(left: usize, done: Arc<Slot<()>>) {
    if left == 0 {
        done.put(());
    } else {
        R::spawn_detach(async move { chain::<R>(left - 1, done) });
    }
}

impl Generic<Duration> for Body {
    fn make<R: Runtime>(self) -> impl Future<Output = Duration> {
        let depth = self.0;
        async move {
            let done = Arc::new(Slot::default());
            let t0 = Instant::now();
            chain::<R>(depth, done.clone());
            done.recv().await;
            t0.elapsed()
        }
    }
}
