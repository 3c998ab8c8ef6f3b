//! `#[simul::main]`: an `async fn` becomes a plain fn that runs it on a new loop.

use std::time::Duration;

#[simul::main]
async fn entry() -> u32 {
    assert!(simul::LoopHandle::try_current().is_some());
    let t = simul::spawn(async {
        simul::sleep(Duration::from_millis(1)).await;
        7
    });
    t.await.unwrap()
}

#[simul::main]
async fn fallible_entry() -> Result<u8, simul::TaskError> {
    let v = simul::spawn(async { 3u8 }).await?;
    Ok(v * 2)
}

#[simul::main(virtual_time)]
async fn simulation() -> Duration {
    let start = simul::time();
    simul::sleep(Duration::from_secs(86_400)).await;
    simul::time() - start
}

#[test]
fn main_runs_the_body_on_a_loop_and_returns_its_value() {
    assert_eq!(entry(), 7);
    assert!(
        simul::LoopHandle::try_current().is_none(),
        "the loop is closed afterwards"
    );
}

#[test]
fn main_can_run_twice_on_one_thread() {
    assert_eq!(entry(), 7);
    assert_eq!(entry(), 7);
}

#[test]
fn main_keeps_a_result_return_type() {
    assert_eq!(fallible_entry().unwrap(), 6);
}

#[test]
fn main_with_virtual_time_skips_the_wait() {
    assert_eq!(simulation(), Duration::from_secs(86_400));
}
