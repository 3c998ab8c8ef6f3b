//! Work between two threads' event loops: simul's `Loops` (one loop per thread, `Send`
//! work handed across with `spawn_on` and `bounded_channel`) against tokio. smol has no
//! multi-loop counterpart here: `-`.
//!
//! - `cross_spawn`: a task on one loop spawns a tiny task on the other loop and awaits
//!   its result, 10k times in a row: the round-trip latency of a remote spawn (two
//!   cross-thread hand-offs, each waking a thread that is parked). tokio's side is the
//!   same shape: two `current_thread` runtimes on two threads (I/O driver enabled, so
//!   each parks in epoll as simul's loops do), a task on the first spawning onto the
//!   second through its `Handle` and awaiting the `JoinHandle`. On both sides the two
//!   threads are pinned to two CPUs (the first two the process may use), the
//!   thread-per-core shape: every hand-off wakes a thread parked on the other CPU.
//!   Unpinned, the kernel's placement decides the row: when it puts both threads on one
//!   CPU, a hand-off is a context switch there (~2 µs per round trip here); when it
//!   keeps them apart, each hand-off waits for a sleeping CPU to wake (~35 µs in this
//!   VM), and a run lands in one mode or the other by chance, for simul and tokio alike
//!   (25 ms vs 800 ms for 10k round trips), which made unpinned ratios meaningless.
//! - `cross_spawn_1cpu`: the same with every thread of both sides pinned to one CPU: the
//!   hand-off cost without a CPU wake-up.
//! - `cross_spawn_mt`: spawn onto the set and await, each runtime choosing where, 10k
//!   times in a row from one task: `simul::loops::spawn` from a task of a 2-loop `Loops`
//!   (unpinned) against `tokio::spawn` from a worker of a 2-worker `multi_thread` runtime.
//!   tokio puts such a spawn in the spawning worker's LIFO slot; simul keeps it on the
//!   calling loop while no other loop is less loaded (see `simul::loops`, "Load"). So
//!   both nearly always stay on the spawning thread: the row is the round trip of a
//!   `Send` spawn that stays local, not a hand-off (`cross_spawn` is that). Each side
//!   prints (to stderr) how many of its spawns ran on another thread.
//! - `cross_channel`: 100k items through a bounded channel (capacity 1024) from a
//!   producer on one loop to a consumer on the other, the two threads pinned to two CPUs
//!   as in `cross_spawn`. tokio's side is the same shape: `tokio::sync::mpsc` between two
//!   `current_thread` runtimes (I/O enabled) on two pinned threads. Unpinned, this row too
//!   is decided by placement: perf stat showed simul at 7.5 ms and tokio at 17 ms with
//!   both threads on one CPU (0 migrations), and 15–64 ms for either side when the kernel
//!   kept them apart.
//! - `cross_channel_mt`: the old shape of the row, unpinned, tokio's side on a 2-worker
//!   `multi_thread` runtime (where both tasks may share a worker).

use std::time::{Duration, Instant};

use super::{Opts, Workload};
use crate::rt::Rt;

pub const W_SPAWN: Workload = Workload {
    name: "cross_spawn",
    what: "10k remote spawn round trips between 2 threads",
    run: run_spawn,
};

pub const W_SPAWN_1CPU: Workload = Workload {
    name: "cross_spawn_1cpu",
    what: "10k remote spawn round trips, both threads on one CPU",
    run: run_spawn_1cpu,
};

pub const W_SPAWN_MT: Workload = Workload {
    name: "cross_spawn_mt",
    what: "10k spawns onto the set and awaits, each runtime choosing where",
    run: run_spawn_mt,
};

pub const W_CHANNEL: Workload = Workload {
    name: "cross_channel",
    what: "100k items, bounded(1024), producer/consumer on 2 pinned threads",
    run: run_channel,
};

pub const W_CHANNEL_MT: Workload = Workload {
    name: "cross_channel_mt",
    what: "100k items, bounded(1024), unpinned, tokio multi_thread",
    run: run_channel_mt,
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

/// Where the two threads of a spawn row run: unpinned, or pinned to these two CPUs.
#[derive(Clone, Copy)]
enum Place {
    Free,
    Pinned(usize, usize),
}

/// The first two CPUs this process may run on, or one CPU twice.
fn place(one_cpu: bool) -> Place {
    let cpus = allowed_cpus();
    match (cpus.first(), cpus.get(1)) {
        (Some(&a), _) if one_cpu => Place::Pinned(a, a),
        (Some(&a), Some(&b)) => Place::Pinned(a, b),
        _ => Place::Free,
    }
}

/// The CPUs this process may run on, in increasing order.
fn allowed_cpus() -> Vec<usize> {
    use rustix::thread::{sched_getaffinity, CpuSet};
    match sched_getaffinity(None) {
        Ok(set) => (0..CpuSet::MAX_CPU).filter(|&c| set.is_set(c)).collect(),
        Err(_) => Vec::new(),
    }
}

/// Binds the calling thread to `cpu`.
fn pin_to(cpu: usize) {
    use rustix::thread::{sched_setaffinity, CpuSet};
    let mut set = CpuSet::new();
    set.set(cpu);
    if let Err(e) = sched_setaffinity(None, &set) {
        panic!("cannot pin a bench thread to CPU {cpu}: {e}");
    }
}

/// Pins loop 0 and loop 1 of `loops` to the two CPUs of `at`.
fn pin_loops(loops: &simul::Loops, at: Place) {
    if let Place::Pinned(a, b) = at {
        for (i, cpu) in [(0, a), (1, b)] {
            simul::run(
                loops
                    .handle(i)
                    .spawn_with(move || async move { pin_to(cpu) }),
            )
            .unwrap();
        }
    }
}

/// simul's side of the spawn rows: loop 0 spawns on loop 1 and awaits, `n` times.
fn simul_spawn(n: usize, at: Place) -> Duration {
    let loops = simul_pair();
    pin_loops(&loops, at);
    let t = loops.spawn_on(0, async move {
        let t0 = Instant::now();
        for i in 0..n {
            let back = simul::loops::spawn_on(1, async move { i }).await.unwrap();
            assert_eq!(back, i);
        }
        t0.elapsed()
    });
    simul::run(t).unwrap()
}

fn tokio_ct() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn run_spawn(rt: Rt, o: &Opts) -> Option<Duration> {
    spawn_row(rt, o.n(10_000), place(false))
}

fn run_spawn_1cpu(rt: Rt, o: &Opts) -> Option<Duration> {
    spawn_row(rt, o.n(10_000), place(true))
}

fn spawn_row(rt: Rt, n: usize, at: Place) -> Option<Duration> {
    let pin = move |second: bool| {
        if let Place::Pinned(a, b) = at {
            pin_to(if second { b } else { a });
        }
    };
    match rt {
        Rt::Simul => Some(simul_spawn(n, at)),
        Rt::Tokio => {
            // The second runtime runs on its own thread until told to stop; the first on
            // another new thread (so pinning leaves the bench's main thread alone).
            let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
            let (handle_tx, handle_rx) = std::sync::mpsc::channel();
            let other = std::thread::spawn(move || {
                pin(true);
                let rt = tokio_ct();
                handle_tx.send(rt.handle().clone()).unwrap();
                rt.block_on(async move {
                    let _ = stop_rx.await;
                });
            });
            let remote = handle_rx.recv().unwrap();
            let took = std::thread::spawn(move || {
                pin(false);
                tokio_ct().block_on(async move {
                    let t0 = Instant::now();
                    for i in 0..n {
                        let back = remote.spawn(async move { i }).await.unwrap();
                        assert_eq!(back, i);
                    }
                    t0.elapsed()
                })
            })
            .join()
            .unwrap();
            let _ = stop_tx.send(());
            other.join().unwrap();
            Some(took)
        }
        Rt::Smol => None,
    }
}

fn run_spawn_mt(rt: Rt, o: &Opts) -> Option<Duration> {
    let n = o.n(10_000);
    match rt {
        Rt::Simul => {
            let loops = simul_pair();
            let t = loops.spawn_on(0, async move {
                let here = simul::loops::current_index();
                let mut crossed = 0usize;
                let t0 = Instant::now();
                for i in 0..n {
                    let (back, there) =
                        simul::loops::spawn(async move { (i, simul::loops::current_index()) })
                            .await
                            .unwrap();
                    assert_eq!(back, i);
                    crossed += usize::from(there != here);
                }
                (t0.elapsed(), crossed)
            });
            let (took, crossed) = simul::run(t).unwrap();
            eprintln!("  cross_spawn_mt: {crossed} of {n} simul spawns ran on another loop");
            Some(took)
        }
        Rt::Tokio => {
            let rt = tokio_mt();
            let (took, crossed) = rt.block_on(async move {
                tokio::spawn(async move {
                    let here = std::thread::current().id();
                    let mut crossed = 0usize;
                    let t0 = Instant::now();
                    for i in 0..n {
                        let (back, there) =
                            tokio::spawn(async move { (i, std::thread::current().id()) })
                                .await
                                .unwrap();
                        assert_eq!(back, i);
                        crossed += usize::from(there != here);
                    }
                    (t0.elapsed(), crossed)
                })
                .await
                .unwrap()
            });
            eprintln!("  cross_spawn_mt: {crossed} of {n} tokio spawns ran on another thread");
            Some(took)
        }
        Rt::Smol => None,
    }
}

/// simul's side of the channel rows: a producer on loop 0, a consumer on loop 1.
fn simul_channel(n: usize, at: Place) -> Duration {
    let loops = simul_pair();
    pin_loops(&loops, at);
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
    took
}

fn run_channel(rt: Rt, o: &Opts) -> Option<Duration> {
    let n = o.n(100_000);
    let at = place(false);
    let pin = move |second: bool| {
        if let Place::Pinned(a, b) = at {
            pin_to(if second { b } else { a });
        }
    };
    match rt {
        Rt::Simul => Some(simul_channel(n, at)),
        Rt::Tokio => {
            // The consumer's runtime on one thread, the producer's on another; the time
            // runs from the first send to the consumer's last item.
            let (tx, mut rx) = tokio::sync::mpsc::channel::<usize>(1024);
            let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
            let consumer = std::thread::spawn(move || {
                pin(true);
                tokio_ct().block_on(async move {
                    ready_tx.send(()).unwrap();
                    let mut sum = 0usize;
                    while let Some(i) = rx.recv().await {
                        sum = sum.wrapping_add(i);
                    }
                    (sum, Instant::now())
                })
            });
            ready_rx.recv().unwrap();
            let t0 = std::thread::spawn(move || {
                pin(false);
                tokio_ct().block_on(async move {
                    let t0 = Instant::now();
                    for i in 0..n {
                        tx.send(i).await.unwrap();
                    }
                    t0
                })
            })
            .join()
            .unwrap();
            let (sum, end) = consumer.join().unwrap();
            assert_eq!(sum, (0..n).sum::<usize>());
            Some(end - t0)
        }
        Rt::Smol => None,
    }
}

fn run_channel_mt(rt: Rt, o: &Opts) -> Option<Duration> {
    let n = o.n(100_000);
    match rt {
        Rt::Simul => Some(simul_channel(n, Place::Free)),
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
