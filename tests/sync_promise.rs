//! Promise: results, errors, cancellation, many awaiters, done callbacks.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use simul::{Promise, PromiseError};

#[test]
fn every_clone_awaits_the_same_result() {
    simul::run(async {
        let p = Promise::new();
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let p = p.clone();
                simul::spawn(p)
            })
            .collect();
        simul::yield_now().await;
        assert!(!p.is_done());
        p.set_result(String::from("done")).unwrap();
        assert!(p.is_done());
        for t in tasks {
            assert_eq!(t.await.unwrap(), Ok(String::from("done")));
        }
        assert_eq!(p.try_result(), Some(Ok(String::from("done"))));
    });
}

#[test]
fn setting_twice_is_an_error_and_keeps_the_first_outcome() {
    let p = Promise::new();
    assert_eq!(p.try_result(), None);
    p.set_result(1).unwrap();
    let e = p.set_result(2).unwrap_err();
    assert_eq!(e.to_string(), "invalid state: the promise is already done");
    assert_eq!(e.into_inner(), 2);
    assert!(p.set_error("late").is_err());
    assert!(!p.cancel());
    assert!(!p.is_cancelled());
    assert_eq!(p.try_result(), Some(Ok(1)));
}

#[test]
fn set_error_delivers_a_typed_error_to_awaiters() {
    simul::run(async {
        let p = Promise::<u8>::new();
        let q = p.clone();
        let t = simul::spawn(q);
        simul::yield_now().await;
        p.set_error(std::io::Error::other("boom")).unwrap();
        let err = t.await.unwrap().unwrap_err();
        assert!(!err.is_cancelled());
        assert_eq!(err.to_string(), "boom");
        let io = err
            .error()
            .unwrap()
            .downcast_ref::<std::io::Error>()
            .unwrap();
        assert_eq!(io.kind(), std::io::ErrorKind::Other);
        assert!(std::error::Error::source(&err).is_some());
        // The same error (shared) for every awaiter.
        assert_eq!(p.try_result().unwrap().unwrap_err(), err);
        assert!(!p.cancel());
    });
}

#[test]
fn cancel_wakes_awaiters_with_cancelled() {
    simul::run(async {
        let p = Promise::<()>::new();
        let q = p.clone();
        let t = simul::spawn(q);
        simul::yield_now().await;
        assert!(p.cancel());
        assert!(p.is_cancelled());
        assert!(p.is_done());
        assert_eq!(t.await.unwrap(), Err(PromiseError::Cancelled));
        assert!(p.set_result(()).is_err());
        assert_eq!(
            PromiseError::Cancelled.to_string(),
            "the promise was cancelled"
        );
    });
}

#[test]
fn done_callbacks_run_soon_in_order_even_when_added_late() {
    simul::run(async {
        let p = Promise::new();
        let log = Rc::new(RefCell::new(Vec::new()));
        for i in 0..3 {
            let log = log.clone();
            p.add_done_callback(move |r: &Result<i32, PromiseError>| {
                log.borrow_mut().push((i, r.clone().unwrap()))
            });
        }
        p.set_result(5).unwrap();
        assert!(
            log.borrow().is_empty(),
            "callbacks are scheduled, not called"
        );
        simul::yield_now().await;
        assert_eq!(*log.borrow(), [(0, 5), (1, 5), (2, 5)]);
        let l = log.clone();
        p.add_done_callback(move |_| l.borrow_mut().push((3, 0)));
        simul::yield_now().await;
        assert_eq!(log.borrow().len(), 4);
    });
}

#[test]
fn done_callback_outside_a_loop_runs_immediately() {
    let p = Promise::<u8>::new();
    let hit = Rc::new(RefCell::new(None));
    let h = hit.clone();
    p.add_done_callback(move |r| *h.borrow_mut() = Some(r.is_err()));
    p.cancel();
    assert_eq!(*hit.borrow(), Some(true));
}

#[test]
fn dropped_awaiter_leaves_no_waiter_behind() {
    let lp = simul::EventLoop::builder()
        .virtual_time(true)
        .build()
        .unwrap();
    lp.run_until_complete(async {
        let p = Promise::<u32>::new();
        for _ in 0..3 {
            let r = simul::wait_for(Duration::from_secs(1), p.clone()).await;
            assert!(r.is_err());
        }
        p.set_result(3).unwrap();
        assert_eq!(p.clone().await, Ok(3));
        assert_eq!(format!("{p:?}"), "Promise(Ok(3))");
    });
}

#[test]
fn default_and_debug_of_a_pending_promise() {
    let p: Promise<u8> = Promise::default();
    assert_eq!(format!("{p:?}"), "Promise(<pending>)");
}
