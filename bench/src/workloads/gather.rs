//! gather_10k: one future awaits 10k child futures that each yield once and return their
//! index: `simul::gather` against `futures_util::future::join_all` (tokio and smol, each
//! with its own `yield_now`). No task is spawned: this measures the combinator (how it
//! finds the woken children) and the wake-ups of the one task that owns them.

use std::time::{Duration, Instant};

use futures_util::future::join_all;

use super::{Opts, Workload};
use crate::rt::{Rt, Runtime, Simul, Smol, Tokio};

pub const W: Workload = Workload {
    name: "gather_10k",
    what: "gather 10k futures, each yields once",
    run,
};

fn run(rt: Rt, o: &Opts) -> Option<Duration> {
    let n = o.n(10_000);
    let (took, out) = match rt {
        Rt::Simul => Simul::block_on(async move {
            let t0 = Instant::now();
            let out = simul::gather((0..n).map(|i| async move {
                simul::yield_now().await;
                i
            }))
            .await;
            (t0.elapsed(), out)
        }),
        Rt::Tokio => Tokio::block_on(async move {
            let t0 = Instant::now();
            let out = join_all((0..n).map(|i| async move {
                tokio::task::yield_now().await;
                i
            }))
            .await;
            (t0.elapsed(), out)
        }),
        Rt::Smol => Smol::block_on(async move {
            let t0 = Instant::now();
            let out = join_all((0..n).map(|i| async move {
                smol::future::yield_now().await;
                i
            }))
            .await;
            (t0.elapsed(), out)
        }),
    };
    assert!(out.into_iter().eq(0..n), "outputs out of argument order");
    Some(took)
}
