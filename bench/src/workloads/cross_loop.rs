//! Work between two threads' event loops: simul's `Loops` (one loop per thread, `Send`
//! work handed across with `spawn_on` and `bounded_channel`) against tokio's
//! `multi_thread` runtime with 2 workers (`tokio::spawn` and `tokio::sync::mpsc`). smol
//! has no multi-loop counterpart here: `-`.
//!
//! - `cross_spawn`: a task on one loop spawns a tiny task on the other loop and awaits
//!   its result, 10k times in a row: the round-trip latency of a remote spawn (two
//!   cross-thread hand-offs, each waking a parked thread).
//! - `cross_channel`: 100k items through a bounded channel (capacity 1024) from a
//!   producer on one loop to a consumer on the other.

use std::time::{Duration, Instant};

use super::{Opts, Workload};
use crate::rt::Rt;

pub const W_SPAWN: Workload = Workload {
    name: "cross_spawn",
    what: "10k remote spawn round trips between 2 threads",
    run: run_spawn,
};

pub const W_CHANNEL: Workload = Workload {
    name: "cross_channel",
    what: "100k items, bounded(1024), producer/consumer on 2 threads",
    run: run_channel,
};

fn tokio_mt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn simul_pair() -> simul::Loops {
    simul::Loops::builder()
        .count(2)
        .build()
        .expect("simul loops")
}

fn run_spawn(rt: Rt, o: &Opts) -> Option<Duration> {
    let n = o.n(10_000);
    match rt {
        Rt::Simul => {
            let loops = simul_pair();
            let t = loops.spawn_on(0, async move {
                let t0 = Instant::now();
                for i in 0..n {
                    let back = simul::loops::spawn_on(1, async move { i }).await.unwrap();
                    assert_eq!(back, i);
                }
                t0.elapsed()
            });
            Some(simul::run(t).unwrap())
        }
        Rt::Tokio => {
            let rt = tokio_mt();
            Some(rt.block_on(async move {
                tokio::spawn(async move {
                    let t0 = Instant::now();
                    for i in 0..n {
                        let back = tokio::spawn(async move { i }).await.unwrap();
                        assert_eq!(back, i);
                    }
                    t0.elapsed()
                })
                .await
                .unwrap()
            }))
        }
        Rt::Smol => None,
    }
}

fn run_channel(rt: Rt, o: &Opts) -> Option<Duration> {
    let n = o.n(100_000);
    match rt {
        Rt::Simul => {
            let loops = simul_pair();
            let (tx, mut rx) = simul::sync::bounded_channel::<usize>(1024);
            let t0 = Instant::now();
            let producer = loops.spawn_on(0, async move {
                for i in 0..n {
                    tx.send(i).await.unwrap();
                }
            });
            let consumer = loops.spawn_on(1, async move {
                let mut sum = 0usize;
                while let Some(i) = rx.recv().await {
                    sum = sum.wrapping_add(i);
                }
                sum
            });
            let sum = simul::run(async move {
                producer.await.unwrap();
                consumer.await.unwrap()
            });
            let took = t0.elapsed();
            assert_eq!(sum, (0..n).sum::<usize>());
            Some(took)
        }
        Rt::Tokio => {
            let rt = tokio_mt();
            Some(rt.block_on(async move {
                let (tx, mut rx) = tokio::sync::mpsc::channel::<usize>(1024);
                let t0 = Instant::now();
                let producer = tokio::spawn(async move {
                    for i in 0..n {
                        tx.send(i).await.unwrap();
                    }
                });
                let consumer = tokio::spawn(async move {
                    let mut sum = 0usize;
                    while let Some(i) = rx.recv().await {
                        sum = sum.wrapping_add(i);
                    }
                    sum
                });
                producer.await.unwrap();
                let sum = consumer.await.unwrap();
                let took = t0.elapsed();
                assert_eq!(sum, (0..n).sum::<usize>());
                took
            }))
        }
        Rt::Smol => None,
    }
}
