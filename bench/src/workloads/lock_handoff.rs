//! lock_handoff: 4 tasks each take a lock 250k times, add one, yield to the loop while
//! still holding it, and release it. The yield makes the other three queue on the lock,
//! so nearly every release hands the lock to a waiting task: this measures the lock's
//! waiter queue and the wake-up it costs. `Rc<simul::Lock<u64>>` against
//! `tokio::sync::Mutex` and smol's `async_lock::Mutex` (behind an `Arc`: tokio's `spawn`
//! needs `Send`; the `Arc` is cloned 4 times, never in the loop).

use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Opts, Workload};
use crate::rt::{Rt, Runtime, Simul, Smol, Tokio};

pub const W: Workload = Workload {
    name: "lock_handoff",
    what: "4 tasks x 250k lock, yield inside, unlock",
    run,
};

const TASKS: u64 = 4;

fn run(rt: Rt, o: &Opts) -> Option<Duration> {
    let iters = o.n(250_000) as u64;
    let (took, total) = match rt {
        Rt::Simul => Simul::block_on(async move {
            let lock = Rc::new(simul::Lock::new(0u64));
            let t0 = Instant::now();
            let tasks: Vec<_> = (0..TASKS)
                .map(|_| {
                    let lock = lock.clone();
                    simul::spawn(async move {
                        for _ in 0..iters {
                            let mut g = lock.lock().await;
                            *g += 1;
                            simul::yield_now().await;
                            drop(g);
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.expect("simul task failed");
            }
            let took = t0.elapsed();
            let total = *lock.lock().await;
            (took, total)
        }),
        Rt::Tokio => Tokio::block_on(async move {
            let lock = Arc::new(tokio::sync::Mutex::new(0u64));
            let t0 = Instant::now();
            let tasks: Vec<_> = (0..TASKS)
                .map(|_| {
                    let lock = lock.clone();
                    Tokio::spawn(async move {
                        for _ in 0..iters {
                            let mut g = lock.lock().await;
                            *g += 1;
                            tokio::task::yield_now().await;
                            drop(g);
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await;
            }
            let took = t0.elapsed();
            let total = *lock.lock().await;
            (took, total)
        }),
        Rt::Smol => Smol::block_on(async move {
            let lock = Arc::new(smol::lock::Mutex::new(0u64));
            let t0 = Instant::now();
            let tasks: Vec<_> = (0..TASKS)
                .map(|_| {
                    let lock = lock.clone();
                    Smol::spawn(async move {
                        for _ in 0..iters {
                            let mut g = lock.lock().await;
                            *g += 1;
                            smol::future::yield_now().await;
                            drop(g);
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await;
            }
            let took = t0.elapsed();
            let total = *lock.lock().await;
            (took, total)
        }),
    };
    assert_eq!(total, TASKS * iters, "lost or doubled increments");
    Some(took)
}
