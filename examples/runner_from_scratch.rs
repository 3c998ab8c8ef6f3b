//! What an event loop does, built from scratch with std only — then the same program on
//! simul, with timings beside it.
//!
//! The hand-written runner keeps a queue of boxed futures and polls them round-robin with
//! a waker that does nothing. Its "sleep" can only check the clock each time it is polled,
//! so while every task waits, the runner spins through the queue burning the CPU. simul's
//! loop instead parks in the OS until the earliest timer: the same program, the same
//! interleaving, and almost no CPU.
//!
//! Run: `cargo run --release --example runner_from_scratch`

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

// ---------- part 1: a runner from std only ----------

type BoxedTask = Pin<Box<dyn Future<Output = ()>>>;

/// Round-robin: poll the front task; if it is not finished, put it at the back.
fn run_round_robin(tasks: Vec<BoxedTask>) -> u64 {
    let mut queue: VecDeque<BoxedTask> = tasks.into();
    let mut cx = Context::from_waker(Waker::noop());
    let mut polls = 0;
    while let Some(mut task) = queue.pop_front() {
        polls += 1;
        if task.as_mut().poll(&mut cx).is_pending() {
            queue.push_back(task);
        }
    }
    polls
}

/// A sleep that can only look at the clock when polled (no timers, no wake-ups).
struct SpinSleep(Instant);
impl Future for SpinSleep {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.0 {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

/// Yields once, so the next task gets a turn (like asyncio.sleep(0)).
struct YieldOnce(bool);
impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            Poll::Pending
        }
    }
}

// ---------- the program: three tasks, three parts each, a pause between parts ----------

const PAUSE: Duration = Duration::from_millis(100);

fn log(start: Instant, what: String) {
    println!(
        "  {:>7.1} ms  {what}",
        start.elapsed().as_secs_f64() * 1000.0
    );
}

fn cpu_time() -> Duration {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    Duration::from_nanos(
        s.split_whitespace()
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
    )
}

fn main() {
    println!("1) hand-written round-robin runner (std only, no-op waker):");
    let start = Instant::now();
    let cpu0 = cpu_time();
    let tasks: Vec<BoxedTask> = (1..=3)
        .map(|t| {
            Box::pin(async move {
                for part in 1..=3 {
                    log(start, format!("task{t}_part{part}"));
                    if part < 3 {
                        YieldOnce(false).await;
                        SpinSleep(Instant::now() + PAUSE).await;
                    }
                }
            }) as BoxedTask
        })
        .collect();
    let polls = run_round_robin(tasks);
    let (wall1, cpu1) = (start.elapsed(), cpu_time() - cpu0);

    println!("\n2) the same program on simul:");
    let start = Instant::now();
    let cpu0 = cpu_time();
    simul::run(async move {
        let tasks: Vec<_> = (1..=3)
            .map(|t| {
                simul::spawn(async move {
                    for part in 1..=3 {
                        log(start, format!("task{t}_part{part}"));
                        if part < 3 {
                            simul::yield_now().await;
                            simul::sleep(PAUSE).await;
                        }
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    let (wall2, cpu2) = (start.elapsed(), cpu_time() - cpu0);

    println!("\n                     wall time    CPU time");
    println!(
        "  round-robin        {:>7.1} ms  {:>7.1} ms   ({polls} polls: it spins while waiting)",
        wall1.as_secs_f64() * 1e3,
        cpu1.as_secs_f64() * 1e3
    );
    println!(
        "  simul              {:>7.1} ms  {:>7.1} ms   (parks in epoll until the next timer)",
        wall2.as_secs_f64() * 1e3,
        cpu2.as_secs_f64() * 1e3
    );
}
