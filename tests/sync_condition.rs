//! Condition: wait/notify with a Lock, wait_for, FIFO, cancellation passes notifications on.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use simul::{Condition, Lock};

type Shared = Rc<(Lock<Vec<u32>>, Condition)>;

fn shared() -> Shared {
    Rc::new((Lock::new(Vec::new()), Condition::new()))
}

/// A task that waits once for a notification, then records `id`.
fn waiter(s: &Shared, id: u32, log: &Rc<RefCell<Vec<u32>>>) -> simul::Task<()> {
    let (s, log) = (s.clone(), log.clone());
    simul::spawn(async move {
        let (lock, cond) = &*s;
        let g = lock.lock().await;
        let _g = cond.wait(g).await;
        log.borrow_mut().push(id);
    })
}

#[test]
fn notify_one_wakes_the_first_waiter_only() {
    simul::run(async {
        let s = shared();
        let log = Rc::new(RefCell::new(Vec::new()));
        let tasks: Vec<_> = (0..4).map(|i| waiter(&s, i, &log)).collect();
        simul::yield_now().await;
        assert_eq!(s.1.waiters(), 4);
        assert!(!s.0.is_locked(), "waiting releases the lock");
        s.1.notify(1);
        for _ in 0..3 {
            simul::yield_now().await;
        }
        assert_eq!(*log.borrow(), [0]);
        s.1.notify(2);
        for _ in 0..3 {
            simul::yield_now().await;
        }
        assert_eq!(*log.borrow(), [0, 1, 2]);
        s.1.notify_all();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*log.borrow(), [0, 1, 2, 3]);
        assert_eq!(s.1.waiters(), 0);
    });
}

#[test]
fn wait_returns_with_the_lock_held() {
    simul::run(async {
        let s = shared();
        let s2 = s.clone();
        let t = simul::spawn(async move {
            let (lock, cond) = &*s2;
            let g = cond.wait(lock.lock().await).await;
            assert!(lock.is_locked());
            g.len()
        });
        simul::yield_now().await;
        let mut g = s.0.lock().await;
        g.push(1);
        s.1.notify(1);
        simul::yield_now().await;
        simul::yield_now().await;
        assert!(!t.is_done(), "the waiter must wait for the lock");
        drop(g);
        assert_eq!(t.await.unwrap(), 1);
    });
}

#[test]
fn wait_for_checks_the_predicate_first_and_after_each_notify() {
    simul::run(async {
        let s = shared();
        {
            // Already true: no wait at all.
            s.0.lock().await.push(9);
            let g = s.1.wait_for(s.0.lock().await, |v| !v.is_empty()).await;
            assert_eq!(*g, [9]);
        }
        let s2 = s.clone();
        let t = simul::spawn(async move {
            let (lock, cond) = &*s2;
            let g = cond.wait_for(lock.lock().await, |v| v.len() >= 4).await;
            g.clone()
        });
        for i in 0..2 {
            simul::yield_now().await;
            s.0.lock().await.push(i);
            s.1.notify_all();
        }
        simul::yield_now().await;
        simul::yield_now().await;
        assert!(!t.is_done());
        s.0.lock().await.push(2);
        s.1.notify_all();
        assert_eq!(t.await.unwrap(), [9, 0, 1, 2]);
    });
}

#[test]
fn notified_waiter_cancelled_before_running_passes_the_notification_on() {
    let lp = simul::EventLoop::builder()
        .virtual_time(true)
        .build()
        .unwrap();
    lp.run_until_complete(async {
        let s = shared();
        let log = Rc::new(RefCell::new(Vec::new()));
        let a = waiter(&s, 1, &log);
        let b = waiter(&s, 2, &log);
        simul::yield_now().await;
        s.1.notify(1); // goes to `a`
        a.cancel(); // `a` never sees it: `b` must
        assert!(a.await.unwrap_err().is_cancelled());
        simul::wait_for(Duration::from_secs(1), b)
            .await
            .expect("the notification was lost")
            .unwrap();
        assert_eq!(*log.borrow(), [2]);
        assert!(!s.0.is_locked());
    });
}

#[test]
fn cancelled_wait_releases_the_lock_and_leaves_the_queue() {
    let lp = simul::EventLoop::builder()
        .virtual_time(true)
        .build()
        .unwrap();
    lp.run_until_complete(async {
        let s = shared();
        let (lock, cond) = &*s;
        let g = lock.lock().await;
        let r = simul::wait_for(Duration::from_secs(1), cond.wait(g)).await;
        assert!(r.is_err());
        assert!(!lock.is_locked());
        assert_eq!(cond.waiters(), 0);
        cond.notify(1); // nobody to wake; must not be stored for later
        let g = lock.lock().await;
        let r = simul::wait_for(Duration::from_secs(1), cond.wait(g)).await;
        assert!(r.is_err(), "a notify with no waiter is not remembered");
    });
}

#[test]
fn waiter_cancelled_while_relocking_releases_nothing_it_does_not_hold() {
    simul::run(async {
        let s = shared();
        let log = Rc::new(RefCell::new(Vec::new()));
        let a = waiter(&s, 1, &log);
        simul::yield_now().await;
        let g = s.0.lock().await; // main holds the lock
        s.1.notify(1);
        simul::yield_now().await; // `a` is notified and now queues for the lock
        a.cancel();
        assert!(a.await.unwrap_err().is_cancelled());
        assert!(s.0.is_locked(), "main still holds it");
        drop(g);
        assert!(!s.0.is_locked());
        assert!(log.borrow().is_empty());
    });
}

#[test]
fn cancelling_a_consumer_at_every_suspension_point_loses_no_item_and_frees_the_lock() {
    // Two consumers wait for items with notify(1) per item; one is cancelled after k
    // loop iterations, wherever it is (queued on the lock, waiting for a notification,
    // notified but not yet run, re-locking). The survivor must consume every item and the
    // lock must end up free.
    for k in 0..10 {
        simul::run(async move {
            let s = shared();
            let consumed = Rc::new(RefCell::new(Vec::new()));
            let consumer = || {
                let (s, consumed) = (s.clone(), consumed.clone());
                simul::spawn(async move {
                    loop {
                        let (lock, cond) = &*s;
                        let mut g = cond.wait_for(lock.lock().await, |v| !v.is_empty()).await;
                        let v = g.remove(0);
                        drop(g);
                        if v == u32::MAX {
                            break;
                        }
                        consumed.borrow_mut().push(v);
                        simul::yield_now().await;
                    }
                })
            };
            let victim = consumer();
            let survivor = consumer();
            let producer = {
                let s = s.clone();
                simul::spawn(async move {
                    for i in 0..6 {
                        s.0.lock().await.push(i);
                        s.1.notify(1);
                        simul::yield_now().await;
                    }
                })
            };
            for _ in 0..k {
                simul::yield_now().await;
            }
            victim.cancel();
            let _ = victim.await;
            producer.await.unwrap();
            for _ in 0..10 {
                simul::yield_now().await;
            }
            assert_eq!(*consumed.borrow(), (0..6).collect::<Vec<_>>(), "k={k}");
            s.0.lock().await.push(u32::MAX); // stop the survivor
            s.1.notify(1);
            survivor.await.unwrap();
            assert!(!s.0.is_locked(), "k={k}");
            assert_eq!(*consumed.borrow(), (0..6).collect::<Vec<_>>(), "k={k}");
        });
    }
}
