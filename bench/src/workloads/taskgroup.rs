//! taskgroup_10k: spawn 10k tasks into a group, each yields once and returns its index,
//! then wait for the whole group: `simul::TaskGroup` (`spawn`, then `join`) against
//! tokio's `JoinSet` (`spawn`, then `join_next` until empty). smol has no task group, so
//! its column is `-` (spawning and awaiting each handle is `spawn_many`).

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::{Opts, Workload};
use crate::rt::{Rt, Runtime, Simul, Tokio};

pub const W: Workload = Workload {
    name: "taskgroup_10k",
    what: "10k tasks in a group, each yields once",
    run,
};

fn run(rt: Rt, o: &Opts) -> Option<Duration> {
    let n = o.n(10_000);
    let (took, sum) = match rt {
        Rt::Simul => Simul::block_on(async move {
            // The group drops the task outputs; each task adds its index here instead, so
            // the row still proves every task ran exactly once.
            let sum = Rc::new(Cell::new(0usize));
            let t0 = Instant::now();
            let tg = simul::TaskGroup::new();
            for i in 0..n {
                let sum = sum.clone();
                let _t = tg.spawn(async move {
                    simul::yield_now().await;
                    sum.set(sum.get() + i);
                    i
                });
            }
            tg.join().await.expect("a task of the group failed");
            (t0.elapsed(), sum.get())
        }),
        Rt::Tokio => Tokio::block_on(async move {
            let t0 = Instant::now();
            let mut set = tokio::task::JoinSet::new();
            for i in 0..n {
                set.spawn(async move {
                    tokio::task::yield_now().await;
                    i
                });
            }
            let mut sum = 0;
            while let Some(r) = set.join_next().await {
                sum += r.expect("tokio task failed");
            }
            (t0.elapsed(), sum)
        }),
        Rt::Smol => return None,
    };
    assert_eq!(sum, n * (n - 1) / 2);
    Some(took)
}
