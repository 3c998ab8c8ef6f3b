//! The asyncio beginner's program: ten tasks each print "Hello", sleep 3 s and print
//! "World!". They sleep together, so the whole program takes about 3 s, not 30.
//!
//! Run: `cargo run --release --example hello`

use std::time::{Duration, Instant};

async fn greet(i: usize) {
    println!("Hello ({i})");
    simul::sleep(Duration::from_secs(3)).await;
    println!("World! ({i})");
}

fn main() {
    let start = Instant::now();
    simul::run(async {
        let tasks: Vec<_> = (0..10).map(|i| simul::spawn(greet(i))).collect();
        for t in tasks {
            t.await.expect("greeting task failed");
        }
    });
    println!(
        "10 greetings with a 3 s pause each took {:.2} s",
        start.elapsed().as_secs_f64()
    );
}
