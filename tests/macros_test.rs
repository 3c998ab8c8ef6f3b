//! `#[simul::test]`: each test runs on a fresh loop, with the options it names.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

#[simul::test]
async fn body_runs_inside_a_loop_and_can_spawn() {
    assert!(simul::LoopHandle::try_current().is_some());
    let t = simul::spawn(async { 6 * 7 });
    assert_eq!(t.await.unwrap(), 42);
}

#[simul::test(virtual_time)]
async fn virtual_time_sleeps_a_minute_without_waiting() {
    let wall = Instant::now();
    let start = simul::time();
    simul::sleep(Duration::from_secs(60)).await;
    // By the loop's clock exactly a minute passed, and nothing else ran in between...
    assert_eq!(simul::time() - start, Duration::from_secs(60));
    // ...while the real clock barely moved (a real sleep would take the full minute).
    assert!(wall.elapsed() < Duration::from_secs(30));
}

#[simul::test(virtual_time = false)]
async fn explicit_false_keeps_the_real_clock() {
    let wall = Instant::now();
    simul::sleep(Duration::from_millis(3)).await;
    assert!(wall.elapsed() >= Duration::from_millis(3));
}

#[simul::test(virtual_time, debug)]
async fn options_combine() {
    let start = simul::time();
    simul::sleep(Duration::from_secs(3600)).await;
    assert!(simul::time() - start >= Duration::from_secs(3600));
}

#[simul::test(debug = false)]
async fn debug_option_takes_a_bool() {
    simul::yield_now().await;
}

#[simul::test]
async fn result_return_type_allows_question_mark() -> Result<(), simul::TaskError> {
    let v = simul::spawn(async { 1 }).await?;
    assert_eq!(v, 1);
    Ok(())
}

#[simul::test]
#[should_panic(expected = "boom from the test body")]
async fn panics_in_the_body_fail_the_test() {
    simul::yield_now().await;
    panic!("boom from the test body");
}

#[simul::test]
async fn err_result_is_returned_to_the_harness() -> Result<(), simul::TaskError> {
    let t = simul::spawn(std::future::pending::<()>());
    t.cancel();
    assert!(t.await.is_err_and(|e| e.is_cancelled()));
    Ok(())
}

/// Not a test itself (it returns `Err`): run by the test below.
#[simul::main]
async fn cancelled_task_error_propagates_with_question_mark() -> Result<(), simul::TaskError> {
    let t = simul::spawn(std::future::pending::<()>());
    t.cancel();
    t.await?;
    unreachable!("`?` returned the error")
}

#[test]
fn error_results_come_back_from_the_generated_fn() {
    // The harness fails a test whose fn returns `Err`; the generated fn returns it as is.
    assert!(cancelled_task_error_propagates_with_question_mark().is_err_and(|e| e.is_cancelled()));
}

#[simul::test]
#[ignore = "proves #[ignore] is kept: it would fail if run"]
async fn ignore_attribute_is_kept() {
    panic!("an ignored test ran");
}

thread_local! {
    static DROPS: Cell<u32> = const { Cell::new(0) };
}

struct CountDrop;

impl Drop for CountDrop {
    fn drop(&mut self) {
        DROPS.with(|d| d.set(d.get() + 1));
    }
}

#[simul::test]
async fn leaves_a_sleeping_task_behind() {
    let guard = CountDrop;
    drop(simul::spawn(async move {
        let _guard = guard;
        simul::sleep(Duration::from_secs(3600)).await;
    }));
    simul::yield_now().await;
}

#[test]
fn tasks_left_behind_are_cancelled_when_the_test_returns() {
    // The generated function is an ordinary fn: call it and look at what it left.
    DROPS.with(|d| d.set(0));
    leaves_a_sleeping_task_behind();
    assert_eq!(
        DROPS.with(Cell::get),
        1,
        "the leftover task's future was dropped once"
    );
    assert!(
        simul::LoopHandle::try_current().is_none(),
        "the loop is gone"
    );
}

#[test]
fn every_test_gets_a_fresh_loop() {
    leaves_a_sleeping_task_behind();
    body_runs_inside_a_loop_and_can_spawn();
    virtual_time_sleeps_a_minute_without_waiting();
}

#[simul::test]
async fn locals_and_items_from_the_module_are_visible() {
    let hits = Rc::new(Cell::new(0));
    let h = hits.clone();
    simul::call_soon(move || h.set(h.get() + 1));
    simul::yield_now().await;
    assert_eq!(hits.get(), 1);
    assert_eq!(DROPS.with(Cell::get), 0);
}

mod nested {
    #[simul::test]
    pub(crate) async fn works_in_a_module_with_visibility() {
        assert_eq!(super::helper().await, "helper");
    }
}

async fn helper() -> &'static str {
    simul::yield_now().await;
    "helper"
}

#[test]
fn visibility_is_kept() {
    nested::works_in_a_module_with_visibility();
}
