//! call_soon / call_later / call_at: ordering and cancellation.
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

fn log() -> Rc<RefCell<Vec<String>>> {
    Rc::new(RefCell::new(Vec::new()))
}

#[test]
fn call_soon_runs_fifo_after_the_scheduling_task_yields() {
    let l = log();
    let l2 = l.clone();
    simul::run(async move {
        for i in 0..5 {
            let l = l2.clone();
            simul::call_soon(move || l.borrow_mut().push(format!("cb{i}")));
        }
        l2.borrow_mut().push("task still running".into());
        simul::yield_now().await;
        l2.borrow_mut().push("task resumed".into());
    });
    assert_eq!(
        *l.borrow(),
        [
            "task still running",
            "cb0",
            "cb1",
            "cb2",
            "cb3",
            "cb4",
            "task resumed"
        ]
    );
}

#[test]
fn callbacks_and_tasks_share_one_fifo() {
    let l = log();
    let l2 = l.clone();
    simul::run(async move {
        let la = l2.clone();
        simul::call_soon(move || la.borrow_mut().push("cb-a".into()));
        let lt = l2.clone();
        let t = simul::spawn(async move { lt.borrow_mut().push("task".into()) });
        let lb = l2.clone();
        simul::call_soon(move || lb.borrow_mut().push("cb-b".into()));
        t.await.unwrap();
    });
    assert_eq!(*l.borrow(), ["cb-a", "task", "cb-b"]);
}

#[test]
fn cancelled_handle_never_runs() {
    let l = log();
    let l2 = l.clone();
    simul::run(async move {
        let la = l2.clone();
        let h = simul::call_soon(move || la.borrow_mut().push("cancelled".into()));
        let lb = l2.clone();
        simul::call_soon(move || lb.borrow_mut().push("kept".into()));
        h.cancel();
        assert!(h.is_cancelled());
        simul::yield_now().await;
    });
    assert_eq!(*l.borrow(), ["kept"]);
}

#[test]
fn call_later_fires_in_deadline_order_and_equal_deadlines_in_arming_order() {
    let l = log();
    let l2 = l.clone();
    let lp = simul::EventLoop::builder()
        .virtual_time(true)
        .build()
        .unwrap();
    lp.run_until_complete(async move {
        let now = simul::time();
        for (name, ms) in [("c", 30u64), ("a", 10), ("b1", 20), ("b2", 20), ("b3", 20)] {
            let l = l2.clone();
            simul::call_at(now + Duration::from_millis(ms), move || {
                l.borrow_mut().push(name.into())
            });
        }
        simul::sleep(Duration::from_millis(40)).await;
    });
    assert_eq!(*l.borrow(), ["a", "b1", "b2", "b3", "c"]);
}

#[test]
fn timer_handle_cancel_disarms() {
    let l = log();
    let l2 = l.clone();
    let lp = simul::EventLoop::builder()
        .virtual_time(true)
        .build()
        .unwrap();
    lp.run_until_complete(async move {
        let la = l2.clone();
        let h = simul::call_later(Duration::from_millis(5), move || {
            la.borrow_mut().push("no".into())
        });
        let lb = l2.clone();
        simul::call_later(Duration::from_millis(6), move || {
            lb.borrow_mut().push("yes".into())
        });
        h.cancel();
        assert!(h.is_cancelled());
        simul::sleep(Duration::from_millis(10)).await;
    });
    assert_eq!(*l.borrow(), ["yes"]);
}

#[test]
fn call_later_never_fires_early_in_real_time() {
    simul::run(async {
        let fired = Rc::new(RefCell::new(None));
        let start = simul::time();
        let f = fired.clone();
        simul::call_later(Duration::from_millis(15), move || {
            *f.borrow_mut() = Some(simul::time())
        });
        simul::sleep(Duration::from_millis(40)).await;
        let at = fired.borrow().expect("timer did not fire");
        assert!(at - start >= Duration::from_millis(15));
    });
}

#[test]
fn a_panicking_callback_is_reported_and_the_loop_goes_on() {
    let seen = log();
    let s = seen.clone();
    let lp = simul::EventLoop::new().unwrap();
    lp.set_exception_handler(move |ctx| {
        assert_eq!(ctx.kind(), simul::ExceptionKind::CallbackPanicked);
        s.borrow_mut().push(ctx.message().to_string())
    });
    let out = lp.run_until_complete(async {
        simul::call_soon(|| panic!("callback boom"));
        simul::yield_now().await;
        simul::yield_now().await;
        "alive"
    });
    assert_eq!(out, "alive");
    assert_eq!(seen.borrow().len(), 1);
    assert!(seen.borrow()[0].contains("callback boom"));
}

#[test]
fn huge_delays_do_not_overflow() {
    simul::run(async {
        let h = simul::call_later(Duration::MAX, || panic!("never"));
        let s = simul::sleep(Duration::MAX);
        assert!(s.deadline().is_none());
        let r = simul::wait_for(Duration::from_millis(2), s).await;
        assert!(r.is_err());
        let r = simul::wait_for(Duration::MAX, async { 1 }).await;
        assert_eq!(r, Ok(1));
        h.cancel();
    });
}

#[test]
#[should_panic(expected = "outside a running event loop")]
fn call_soon_outside_a_loop_panics_clearly() {
    simul::call_soon(|| {});
}

#[test]
#[should_panic(expected = "cannot be called from a running event loop")]
fn run_inside_run_panics_clearly() {
    simul::run(async {
        simul::run(async {});
    });
}
