//! Producers and consumers, the asyncio tutorial way: synchronous, then with a queue.
//!
//! Two producers each make 10 numbers, waiting a random 0–100 ms before each one (think:
//! a network fetch); a consumer takes each number and "processes" it for another random
//! 0–100 ms. The same random delays are used for all three runs:
//!
//! 1. synchronously — every wait happens one after the other;
//! 2. async, 2 producers and 1 consumer — the producers' waits overlap, the consumer is
//!    the bottleneck;
//! 3. async, 2 producers and 3 consumers — the processing overlaps too.
//!
//! Run with `cargo run --release --example producer_consumer` (add `-v` to see each
//! item). The whole program takes about four seconds.

use std::rc::Rc;
use std::time::{Duration, Instant};

use simul::Queue;

const PRODUCERS: usize = 2;
const ITEMS: usize = 10;

/// A tiny xorshift generator: deterministic, no `rand` crate needed.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn millis(&mut self, max: u64) -> Duration {
        Duration::from_millis(self.next() % (max + 1))
    }
}

/// The random delays of one run, fixed up front so every run does the same work.
struct Plan {
    /// `produce[p][i]`: how long producer `p` waits before making its item `i`.
    produce: Vec<Vec<Duration>>,
    /// `process[n]`: how long processing the number `n` takes.
    process: Vec<Duration>,
}

impl Plan {
    fn new(seed: u64) -> Plan {
        let mut rng = XorShift(seed);
        let produce = (0..PRODUCERS)
            .map(|_| (0..ITEMS).map(|_| rng.millis(100)).collect())
            .collect();
        let process = (0..PRODUCERS * ITEMS).map(|_| rng.millis(100)).collect();
        Plan { produce, process }
    }

    /// The number producer `p` makes as its item `i`: unique across producers.
    fn number(p: usize, i: usize) -> usize {
        p * ITEMS + i
    }
}

fn run_sync(plan: &Plan, verbose: bool) -> usize {
    let mut total = 0;
    for p in 0..PRODUCERS {
        for i in 0..ITEMS {
            std::thread::sleep(plan.produce[p][i]);
            let n = Plan::number(p, i);
            if verbose {
                println!("  producer {p} made {n}");
            }
            std::thread::sleep(plan.process[n]);
            total += n;
            if verbose {
                println!("  consumer 0 processed {n}");
            }
        }
    }
    total
}

async fn producer(p: usize, plan: Rc<Plan>, queue: Queue<usize>, verbose: bool) {
    for i in 0..ITEMS {
        simul::sleep(plan.produce[p][i]).await;
        let n = Plan::number(p, i);
        queue
            .put(n)
            .await
            .expect("the queue shuts down after the producers end");
        if verbose {
            println!("  producer {p} added {n} to the queue");
        }
    }
}

async fn consumer(c: usize, plan: Rc<Plan>, queue: Queue<usize>, verbose: bool) -> (usize, usize) {
    let (mut count, mut total) = (0, 0);
    // `get` fails with QueueShutDown once the queue is shut down and drained.
    while let Ok(n) = queue.get().await {
        simul::sleep(plan.process[n]).await;
        if verbose {
            println!("  consumer {c} processed {n}");
        }
        count += 1;
        total += n;
        queue.task_done().expect("one task_done per get");
    }
    (count, total)
}

async fn run_async(plan: Rc<Plan>, consumers: usize, verbose: bool) -> usize {
    let queue = Queue::new(8);
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| simul::spawn(producer(p, plan.clone(), queue.clone(), verbose)))
        .collect();
    let workers: Vec<_> = (0..consumers)
        .map(|c| simul::spawn(consumer(c, plan.clone(), queue.clone(), verbose)))
        .collect();
    for p in producers {
        p.await.expect("producer");
    }
    queue.join().await; // every item processed
    queue.shutdown(false); // lets the consumers' `get` fail, ending their loops
    let mut total = 0;
    for (c, w) in workers.into_iter().enumerate() {
        let (count, sum) = w.await.expect("consumer");
        println!("  consumer {c} processed {count} items");
        total += sum;
    }
    total
}

fn main() {
    let verbose = std::env::args().any(|a| a == "-v");
    let plan = Rc::new(Plan::new(0x2545_F491_4F6C_DD1D));
    let expected: usize = (0..PRODUCERS * ITEMS).sum();
    let busy: Duration = plan.produce.iter().flatten().chain(&plan.process).sum();
    println!(
        "{PRODUCERS} producers x {ITEMS} items; {:.2} s of waiting in total",
        busy.as_secs_f64()
    );

    println!("1. synchronous:");
    let t0 = Instant::now();
    assert_eq!(run_sync(&plan, verbose), expected);
    let sync = t0.elapsed();

    println!("2. async, {PRODUCERS} producers / 1 consumer:");
    let t0 = Instant::now();
    assert_eq!(simul::run(run_async(plan.clone(), 1, verbose)), expected);
    let one = t0.elapsed();

    println!("3. async, {PRODUCERS} producers / 3 consumers:");
    let t0 = Instant::now();
    assert_eq!(simul::run(run_async(plan.clone(), 3, verbose)), expected);
    let three = t0.elapsed();

    println!();
    println!("synchronous:              {:.2} s", sync.as_secs_f64());
    println!("async, 2 prod / 1 cons:   {:.2} s", one.as_secs_f64());
    println!("async, 2 prod / 3 cons:   {:.2} s", three.as_secs_f64());
}
