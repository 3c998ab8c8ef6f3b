//! `gather` over tasks and panics: a panicked task's result is
//! `Err(TaskError::Panicked)` in the `Vec` (asyncio's `return_exceptions=True`); if that
//! result is dropped unread, the loop reports it as never retrieved, naming the task. To
//! have the first failure raised, as asyncio's default `gather`, use `try_gather`.

use std::cell::RefCell;
use std::rc::Rc;

use simul::{ExceptionContext, ExceptionKind, TaskError};

fn run_capturing<T>(fut: impl std::future::Future<Output = T>) -> (T, Vec<ExceptionContext>) {
    let lp = simul::EventLoop::new().unwrap();
    let reports: Rc<RefCell<Vec<ExceptionContext>>> = Rc::default();
    let r = reports.clone();
    lp.set_exception_handler(move |ctx| r.borrow_mut().push(ctx.clone()));
    let out = lp.run_until_complete(fut);
    drop(lp);
    let reports = reports.borrow().clone();
    (out, reports)
}

#[test]
fn a_gathered_panic_dropped_unread_is_reported_with_the_task() {
    let ((), reports) = run_capturing(async {
        let _ = simul::gather(vec![
            simul::spawn(async { 1 }),
            simul::Task::builder()
                .name("crasher")
                .spawn(async { panic!("boom") }),
        ])
        .await;
    });
    let unread: Vec<_> = reports
        .iter()
        .filter(|r| r.kind() == ExceptionKind::UnretrievedPanic)
        .collect();
    assert_eq!(unread.len(), 1, "{reports:?}");
    let msg = unread[0].message();
    assert!(msg.contains("\"crasher\""), "{msg}");
    assert!(msg.contains("combinators_gather_panics.rs"), "{msg}");
    assert!(msg.contains("boom"), "{msg}");
    assert!(msg.contains("try_gather"), "{msg}");
}

#[test]
fn a_gathered_panic_that_is_read_is_not_reported() {
    let (seen, reports) = run_capturing(async {
        let out = simul::gather(vec![simul::spawn(async { panic!("boom") })]).await;
        out.into_iter()
            .map(|r| r.unwrap_err().to_string())
            .collect::<Vec<_>>()
    });
    assert_eq!(seen, ["task panicked: boom"]);
    assert!(reports.is_empty(), "{reports:?}");

    let (n, reports) = run_capturing(async {
        let out = simul::gather(vec![simul::spawn(async { panic!("boom") })]).await;
        out.iter()
            .filter(|r| r.as_ref().is_err_and(TaskError::is_panic))
            .count()
    });
    assert_eq!(n, 1);
    assert!(
        reports.is_empty(),
        "is_panic counts as reading it: {reports:?}"
    );
}

#[test]
fn a_panic_awaited_directly_and_dropped_is_not_reported() {
    // `t.await` is a `Result`, which the compiler already says must be used; `let _ =`
    // is an explicit choice.
    let ((), reports) = run_capturing(async {
        let _ = simul::spawn(async { panic!("boom") }).await;
    });
    assert!(reports.is_empty(), "{reports:?}");
}

#[test]
fn try_gather_raises_the_first_panic_as_asyncio_gather_does() {
    let (err, reports) = run_capturing(async {
        simul::try_gather(vec![
            simul::spawn(async { 1 }),
            simul::spawn(async { panic!("first") }),
        ])
        .await
        .unwrap_err()
    });
    assert!(matches!(&err, TaskError::Panicked(p) if p.message() == "first"));
    assert!(reports.is_empty(), "{reports:?}");
}
