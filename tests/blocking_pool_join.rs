//! The blocking pool's threads are joined when their loop shuts down (as asyncio's
//! `shutdown_default_executor` joins the default executor's): once `run` returns or a
//! `Loops` is dropped, no pool thread is left, even one whose thread-local destructors
//! take a while after its last job. One binary of its own, so other tests' threads do not
//! move the count.

use std::time::Duration;

/// A thread-local whose destructor, run as its thread exits, takes 200 ms.
struct SlowExit;

impl Drop for SlowExit {
    fn drop(&mut self) {
        std::thread::sleep(Duration::from_millis(200));
    }
}

thread_local! {
    static SLOW_EXIT: SlowExit = const { SlowExit };
}

/// Threads of this process named as blocking-pool workers (`simul-blocking-N`, which the
/// kernel truncates to 15 bytes).
fn pool_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with("simul-blocking"))
        .count()
}

#[test]
fn no_blocking_thread_is_left_once_loops_or_run_are_done() {
    // Every loop of a set uses its pool; the set is dropped.
    let loops = simul::Loops::builder().count(2).build().unwrap();
    let done = loops.run(|i| async move { simul::to_thread(move || SLOW_EXIT.with(|_| i)).await });
    assert_eq!(done, vec![0, 1]);
    drop(loops);
    assert_eq!(
        pool_threads(),
        0,
        "pool threads left after the Loops were dropped"
    );

    // One loop, through `run`.
    let v = simul::run(async { simul::to_thread(|| SLOW_EXIT.with(|_| 7)).await });
    assert_eq!(v, 7);
    assert_eq!(pool_threads(), 0, "pool threads left after run returned");
}
