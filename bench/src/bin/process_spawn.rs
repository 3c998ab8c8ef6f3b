//! Spawn-and-wait of N `true` processes: simul::process vs tokio::process (current-thread
//! runtime), in the same run, sequentially and with a fixed number in flight.
//!
//! ```text
//! cargo run --release -p simul-bench --bin process_spawn [N] [ROUNDS]
//! ```
//! Defaults: N = 1000, ROUNDS = 5. Prints the median and best round for each.

use std::time::{Duration, Instant};

const IN_FLIGHT: usize = 32;

fn simul_round(n: usize, in_flight: usize) -> Duration {
    simul::run(async move {
        let t0 = Instant::now();
        let mut workers = Vec::new();
        for w in 0..in_flight {
            let count = n / in_flight + usize::from(w < n % in_flight);
            workers.push(simul::spawn(async move {
                for _ in 0..count {
                    let st = simul::process::Command::new("true").status().await.unwrap();
                    assert!(st.success());
                }
            }));
        }
        for w in workers {
            w.await.unwrap();
        }
        t0.elapsed()
    })
}

fn tokio_round(n: usize, in_flight: usize) -> Duration {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let t0 = Instant::now();
        let mut workers = Vec::new();
        for w in 0..in_flight {
            let count = n / in_flight + usize::from(w < n % in_flight);
            workers.push(tokio::task::spawn_local(async move {
                for _ in 0..count {
                    let st = tokio::process::Command::new("true").status().await.unwrap();
                    assert!(st.success());
                }
            }));
        }
        for w in workers {
            w.await.unwrap();
        }
        t0.elapsed()
    })
}

fn report(name: &str, mut v: Vec<Duration>, n: usize) {
    v.sort();
    let median = v[v.len() / 2];
    let best = v[0];
    println!(
        "{name:<28} median {:>8.1} ms ({:>6.1} µs/process)   best {:>8.1} ms",
        median.as_secs_f64() * 1e3,
        median.as_secs_f64() * 1e6 / n as f64,
        best.as_secs_f64() * 1e3,
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    println!(
        "spawn + wait of {n} `true` processes, {rounds} rounds (simul uses pidfd: {})",
        simul_pidfd()
    );
    for in_flight in [1, IN_FLIGHT] {
        let mut s = Vec::new();
        let mut t = Vec::new();
        // Interleave the runtimes so machine noise hits both alike.
        for _ in 0..rounds {
            s.push(simul_round(n, in_flight));
            t.push(tokio_round(n, in_flight));
        }
        report(&format!("simul, {in_flight} in flight"), s, n);
        report(&format!("tokio, {in_flight} in flight"), t, n);
    }
}

fn simul_pidfd() -> bool {
    simul::process::uses_pidfd()
}
