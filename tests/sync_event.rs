//! Event: set, clear, wait, is_set; set wakes every waiter.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use simul::Event;

#[test]
fn wait_returns_at_once_when_set() {
    simul::run(async {
        let e = Event::new();
        assert!(!e.is_set());
        e.set();
        assert!(e.is_set());
        e.wait().await;
        e.set(); // idempotent
        assert!(e.is_set());
    });
}

#[test]
fn set_wakes_every_waiter() {
    simul::run(async {
        let e = Rc::new(Event::new());
        let woke = Rc::new(Cell::new(0));
        let tasks: Vec<_> = (0..5)
            .map(|_| {
                let (e, woke) = (e.clone(), woke.clone());
                simul::spawn(async move {
                    e.wait().await;
                    woke.set(woke.get() + 1);
                })
            })
            .collect();
        simul::yield_now().await;
        assert_eq!(woke.get(), 0);
        e.set();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(woke.get(), 5);
    });
}

#[test]
fn waiters_woken_by_set_complete_even_if_cleared_before_they_run() {
    simul::run(async {
        let e = Rc::new(Event::new());
        let e2 = e.clone();
        let t = simul::spawn(async move { e2.wait().await });
        simul::yield_now().await;
        e.set();
        e.clear();
        assert!(!e.is_set());
        t.await.unwrap();
    });
}

#[test]
fn clear_makes_wait_block_again() {
    let lp = simul::EventLoop::builder()
        .virtual_time(true)
        .build()
        .unwrap();
    lp.run_until_complete(async {
        let e = Event::new();
        e.set();
        e.clear();
        let r = simul::wait_for(Duration::from_secs(5), e.wait()).await;
        assert!(r.is_err());
    });
}

#[test]
fn cancelled_waiter_does_not_disturb_the_others() {
    simul::run(async {
        let e = Rc::new(Event::new());
        let spawn = || {
            let e = e.clone();
            simul::spawn(async move { e.wait().await })
        };
        let (a, b, c) = (spawn(), spawn(), spawn());
        simul::yield_now().await;
        b.cancel();
        simul::yield_now().await;
        e.set();
        a.await.unwrap();
        assert!(b.await.unwrap_err().is_cancelled());
        c.await.unwrap();
        assert!(format!("{e:?}").contains("waiters: 0"));
    });
}
