//! One task, awaited twice: it runs once and both awaits see the same result.
//!
//! ```text
//! cargo run --release --example await_twice
//! ```
//!
//! In asyncio a Task can be awaited any number of times. A simul `Task<T>` is a handle
//! that yields its result once; `task.shared()` turns it into a cloneable `SharedTask<T>`
//! (for `T: Clone`) that any number of awaiters can await, each getting the same result.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

fn main() {
    simul::run(async {
        let runs = Rc::new(Cell::new(0));
        let r = runs.clone();
        let task = simul::Task::builder()
            .name("compute")
            .spawn(async move {
                r.set(r.get() + 1);
                println!("computing...");
                simul::sleep(Duration::from_millis(100)).await;
                format!("answer = {}", 6 * 7)
            })
            .shared();

        let first = task.clone().await.unwrap();
        println!("first await:  {first}");
        let second = task.await.unwrap();
        println!("second await: {second}");

        assert_eq!(first, second);
        assert_eq!(runs.get(), 1);
        println!(
            "the task ran {} time, both awaits got the same result: {}",
            runs.get(),
            first == second
        );
    });
}
