//! The asyncio tutorial's first example ("Coroutines and Tasks"), in simul.
//!
//! ```text
//! cargo run --release --example say_after            # real time: about 3 s + 2 s + 2 s + 2 s
//! cargo run --release --example say_after -- --virtual   # virtual clock: instant
//! ```
//!
//! Awaiting `say_after(1, "hello")` then `say_after(2, "world")` takes 3 seconds; running
//! them as tasks (or with `gather!`, or in a `TaskGroup`) takes 2, because the waits
//! overlap. Times are printed as HH:MM:SS (UTC), like the tutorial's `time.strftime('%X')`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

async fn say_after(delay: u64, what: &str) {
    simul::sleep(Duration::from_secs(delay)).await;
    println!("{what}");
}

/// Wall-clock time of day, offset by how far the loop's clock has moved from `start`
/// (so the virtual-time run shows the same timeline as a real one).
fn clock(origin: SystemTime, start: std::time::Instant) -> String {
    let now = origin + (simul::time() - start);
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    format!(
        "{:02}:{:02}:{:02}",
        secs / 3600 % 24,
        secs / 60 % 60,
        secs % 60
    )
}

async fn main_async() {
    let origin = SystemTime::now();
    let start = simul::time();
    let at = || clock(origin, start);

    println!("-- awaited in sequence");
    let t0 = simul::time();
    println!("started at {}", at());
    say_after(1, "hello").await;
    say_after(2, "world").await;
    println!(
        "finished at {} ({:.1} s)",
        at(),
        (simul::time() - t0).as_secs_f64()
    );

    println!("-- as tasks");
    let t0 = simul::time();
    let task1 = simul::spawn(say_after(1, "hello"));
    let task2 = simul::spawn(say_after(2, "world"));
    println!("started at {}", at());
    task1.await.unwrap();
    task2.await.unwrap();
    println!(
        "finished at {} ({:.1} s)",
        at(),
        (simul::time() - t0).as_secs_f64()
    );

    println!("-- with gather!");
    let t0 = simul::time();
    println!("started at {}", at());
    simul::gather!(say_after(1, "hello"), say_after(2, "world")).await;
    println!(
        "finished at {} ({:.1} s)",
        at(),
        (simul::time() - t0).as_secs_f64()
    );

    println!("-- in a TaskGroup");
    let t0 = simul::time();
    let tg = simul::TaskGroup::new();
    let _task1 = tg.spawn(say_after(1, "hello"));
    let _task2 = tg.spawn(say_after(2, "world"));
    println!("started at {}", at());
    tg.join().await.unwrap();
    println!(
        "finished at {} ({:.1} s)",
        at(),
        (simul::time() - t0).as_secs_f64()
    );
}

fn main() {
    let virtual_time = std::env::args().any(|a| a == "--virtual");
    let lp = simul::EventLoop::builder()
        .virtual_time(virtual_time)
        .build()
        .expect("cannot create the event loop");
    lp.run_until_complete(main_async());
}
