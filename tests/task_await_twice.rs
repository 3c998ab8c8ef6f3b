//! Awaiting one task twice: the second await of a plain `Task` fails with a message that
//! names the way to do it (`.shared()`), and the `SharedTask` way works.

#[test]
fn awaiting_a_task_handle_twice_points_to_shared() {
    let err = simul::run(async {
        simul::spawn(async {
            let mut task = simul::spawn(async { 1 });
            assert_eq!((&mut task).await.unwrap(), 1);
            let _ = (&mut task).await; // the second await
        })
        .await
        .unwrap_err()
    });
    let simul::TaskError::Panicked(p) = err else {
        panic!("expected the second await to panic, got {err:?}");
    };
    assert!(p.message().contains("task.shared()"), "{}", p.message());
    assert!(p.message().contains("more than once"), "{}", p.message());
}

#[test]
fn a_shared_task_is_awaited_twice_and_runs_once() {
    use std::cell::Cell;
    use std::rc::Rc;
    let runs = Rc::new(Cell::new(0));
    let r = runs.clone();
    let (a, b) = simul::run(async move {
        let shared = simul::spawn(async move {
            r.set(r.get() + 1);
            "done"
        })
        .shared();
        let again = shared.clone();
        (shared.await.unwrap(), again.await.unwrap())
    });
    assert_eq!((a, b, runs.get()), ("done", "done", 1));
}
