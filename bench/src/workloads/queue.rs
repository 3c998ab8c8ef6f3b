//! queue_*: 1M integers through a queue from P producer tasks to C consumer tasks.
//! simul's `Queue` (`put().await` / `get().await`, consumers end when `get` fails after
//! `shutdown(false)`, which the main task calls once every producer is done) against
//! tokio's `mpsc::channel` / `unbounded_channel` and smol's `async_channel` (`bounded` /
//! `unbounded`; consumers end when the last sender is dropped). tokio's `mpsc` has one
//! receiver, so with several consumers they share it behind a `tokio::sync::Mutex`, held
//! across `recv` (the usual pattern); with one consumer it owns the receiver.
//!
//! Every consumer counts, sums and sums the squares of what it got, and the totals are
//! checked against the items sent, so a row that loses or duplicates an item fails.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::{Opts, Workload};
use crate::rt::{Rt, Runtime, Simul, Smol, Tokio};

pub const W_1TO1_BOUNDED: Workload = Workload {
    name: "queue_1to1_bounded",
    what: "1M items, 1 -> 1 task, capacity 1024",
    run: |rt, o| run(rt, o, 1, 1, 1024),
};

pub const W_1TO1_UNBOUNDED: Workload = Workload {
    name: "queue_1to1_unbounded",
    what: "1M items, 1 -> 1 task, unbounded",
    run: |rt, o| run(rt, o, 1, 1, 0),
};

pub const W_4TO4_BOUNDED: Workload = Workload {
    name: "queue_4to4_bounded",
    what: "1M items, 4 -> 4 tasks, capacity 1024",
    run: |rt, o| run(rt, o, 4, 4, 1024),
};

/// What the consumers received.
#[derive(Default, Debug, PartialEq, Eq, Clone, Copy)]
struct Tally {
    count: u64,
    sum: u64,
    squares: u64,
}

impl Tally {
    fn add(&mut self, v: u64) {
        self.count += 1;
        self.sum = self.sum.wrapping_add(v);
        self.squares = self.squares.wrapping_add(v.wrapping_mul(v));
    }

    fn merge(&mut self, o: Tally) {
        self.count += o.count;
        self.sum = self.sum.wrapping_add(o.sum);
        self.squares = self.squares.wrapping_add(o.squares);
    }
}

/// The items producer `p` of `producers` sends: a contiguous share of `0..n`.
fn share(n: u64, producers: u64, p: u64) -> std::ops::Range<u64> {
    n * p / producers..n * (p + 1) / producers
}

/// `cap == 0`: unbounded.
fn run(rt: Rt, o: &Opts, producers: u64, consumers: u64, cap: usize) -> Option<Duration> {
    let n = o.n(1_000_000) as u64;
    let (took, got) = match rt {
        Rt::Simul => Simul::block_on(simul_body(n, producers, consumers, cap)),
        Rt::Tokio if cap == 0 => {
            let (tx, rx) = mpsc::unbounded_channel();
            Tokio::block_on(tokio_body(n, producers, consumers, tx, rx))
        }
        Rt::Tokio => {
            let (tx, rx) = mpsc::channel(cap);
            Tokio::block_on(tokio_body(n, producers, consumers, tx, rx))
        }
        Rt::Smol => Smol::block_on(smol_body(n, producers, consumers, cap)),
    };
    let mut want = Tally::default();
    (0..n).for_each(|v| want.add(v));
    assert_eq!(got, want, "items lost or duplicated");
    Some(took)
}

async fn simul_body(n: u64, producers: u64, consumers: u64, cap: usize) -> (Duration, Tally) {
    let q = simul::Queue::new(cap);
    let t0 = Instant::now();
    let cons: Vec<_> = (0..consumers)
        .map(|_| {
            let q = q.clone();
            simul::spawn(async move {
                let mut t = Tally::default();
                while let Ok(v) = q.get().await {
                    t.add(v);
                }
                t
            })
        })
        .collect();
    let prods: Vec<_> = (0..producers)
        .map(|p| {
            let q = q.clone();
            simul::spawn(async move {
                for v in share(n, producers, p) {
                    q.put(v).await.expect("queue shut down early");
                }
            })
        })
        .collect();
    for p in prods {
        p.await.expect("producer failed");
    }
    q.shutdown(false);
    let mut got = Tally::default();
    for c in cons {
        got.merge(c.await.expect("consumer failed"));
    }
    (t0.elapsed(), got)
}

/// tokio's bounded and unbounded senders behind one interface.
trait TokioTx: Clone + Send + 'static {
    fn put(&self, v: u64) -> impl Future<Output = ()> + Send;
}

impl TokioTx for mpsc::Sender<u64> {
    async fn put(&self, v: u64) {
        self.send(v).await.expect("receiver gone");
    }
}

impl TokioTx for mpsc::UnboundedSender<u64> {
    fn put(&self, v: u64) -> impl Future<Output = ()> + Send {
        self.send(v).expect("receiver gone");
        std::future::ready(())
    }
}

/// tokio's bounded and unbounded receivers behind one interface.
trait TokioRx: Send + 'static {
    fn get(&mut self) -> impl Future<Output = Option<u64>> + Send;
}

impl TokioRx for mpsc::Receiver<u64> {
    fn get(&mut self) -> impl Future<Output = Option<u64>> + Send {
        self.recv()
    }
}

impl TokioRx for mpsc::UnboundedReceiver<u64> {
    fn get(&mut self) -> impl Future<Output = Option<u64>> + Send {
        self.recv()
    }
}

async fn tokio_body(
    n: u64,
    producers: u64,
    consumers: u64,
    tx: impl TokioTx,
    mut rx: impl TokioRx,
) -> (Duration, Tally) {
    let t0 = Instant::now();
    let cons: Vec<_> = if consumers == 1 {
        vec![tokio::spawn(async move {
            let mut t = Tally::default();
            while let Some(v) = rx.get().await {
                t.add(v);
            }
            t
        })]
    } else {
        let rx = Arc::new(tokio::sync::Mutex::new(rx));
        (0..consumers)
            .map(|_| {
                let rx = rx.clone();
                tokio::spawn(async move {
                    let mut t = Tally::default();
                    loop {
                        let Some(v) = rx.lock().await.get().await else {
                            break;
                        };
                        t.add(v);
                    }
                    t
                })
            })
            .collect()
    };
    let prods: Vec<_> = (0..producers)
        .map(|p| {
            let tx = tx.clone();
            tokio::spawn(async move {
                for v in share(n, producers, p) {
                    tx.put(v).await;
                }
            })
        })
        .collect();
    drop(tx); // the channel closes when the last producer is done
    for p in prods {
        p.await.expect("producer failed");
    }
    let mut got = Tally::default();
    for c in cons {
        got.merge(c.await.expect("consumer failed"));
    }
    (t0.elapsed(), got)
}

async fn smol_body(n: u64, producers: u64, consumers: u64, cap: usize) -> (Duration, Tally) {
    let (tx, rx) = if cap == 0 {
        smol::channel::unbounded()
    } else {
        smol::channel::bounded(cap)
    };
    let t0 = Instant::now();
    let cons: Vec<_> = (0..consumers)
        .map(|_| {
            let rx = rx.clone();
            Smol::spawn(async move {
                let mut t = Tally::default();
                while let Ok(v) = rx.recv().await {
                    t.add(v);
                }
                t
            })
        })
        .collect();
    drop(rx);
    let prods: Vec<_> = (0..producers)
        .map(|p| {
            let tx = tx.clone();
            Smol::spawn(async move {
                for v in share(n, producers, p) {
                    tx.send(v).await.expect("receivers gone");
                }
            })
        })
        .collect();
    drop(tx); // the channel closes when the last producer is done
    for p in prods {
        p.await;
    }
    let mut got = Tally::default();
    for c in cons {
        got.merge(c.await);
    }
    (t0.elapsed(), got)
}
