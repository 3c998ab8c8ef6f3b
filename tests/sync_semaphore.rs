//! Semaphore and BoundedSemaphore: permits, FIFO, release errors, cancellation safety.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use simul::{BoundedSemaphore, Semaphore};

fn vrun<F: std::future::Future>(f: F) -> F::Output {
    simul::EventLoop::builder()
        .virtual_time(true)
        .build()
        .unwrap()
        .run_until_complete(f)
}

#[test]
fn acquire_release_and_value() {
    simul::run(async {
        let sem = Semaphore::new(2);
        assert_eq!(sem.value(), 2);
        assert!(!sem.is_locked());
        let p1 = sem.acquire().await;
        let p2 = sem.try_acquire().unwrap();
        assert_eq!(sem.value(), 0);
        assert!(sem.is_locked());
        assert!(sem.try_acquire().is_none());
        drop(p1);
        assert_eq!(sem.value(), 1);
        drop(p2);
        assert_eq!(sem.value(), 2);
        sem.release(); // plain semaphores may grow past the initial value
        assert_eq!(sem.value(), 3);
    });
}

#[test]
fn default_semaphore_has_one_permit() {
    assert_eq!(Semaphore::default().value(), 1);
}

#[test]
fn forget_then_release_mirrors_asyncio_manual_use() {
    let sem = Semaphore::new(1);
    sem.try_acquire().unwrap().forget();
    assert!(sem.is_locked());
    sem.release();
    assert!(!sem.is_locked());
}

#[test]
fn waiters_get_permits_in_fifo_order() {
    simul::run(async {
        let sem = Rc::new(Semaphore::new(0));
        let order = Rc::new(RefCell::new(Vec::new()));
        let tasks: Vec<_> = (0..6)
            .map(|i| {
                let (sem, order) = (sem.clone(), order.clone());
                simul::spawn(async move {
                    sem.acquire().await.forget();
                    order.borrow_mut().push(i);
                })
            })
            .collect();
        simul::yield_now().await;
        for _ in 0..6 {
            sem.release();
            assert!(sem.try_acquire().is_none(), "a newcomer overtook a waiter");
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*order.borrow(), (0..6).collect::<Vec<_>>());
        assert_eq!(sem.value(), 0);
    });
}

#[test]
fn at_most_value_holders_at_once() {
    let lp = simul::EventLoop::builder()
        .virtual_time(true)
        .build()
        .unwrap();
    lp.run_until_complete(async {
        let sem = Rc::new(Semaphore::new(3));
        let (now, peak) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let (sem, now, peak) = (sem.clone(), now.clone(), peak.clone());
                simul::spawn(async move {
                    let _p = sem.acquire().await;
                    now.set(now.get() + 1);
                    peak.set(peak.get().max(now.get()));
                    simul::sleep(Duration::from_millis(1 + i % 4)).await;
                    now.set(now.get() - 1);
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(peak.get(), 3);
        assert_eq!(sem.value(), 3);
    });
}

#[test]
fn cancelled_queued_acquire_takes_no_permit() {
    let lp = simul::EventLoop::builder()
        .virtual_time(true)
        .build()
        .unwrap();
    lp.run_until_complete(async {
        let sem = Semaphore::new(1);
        let p = sem.acquire().await;
        assert!(simul::wait_for(Duration::from_secs(1), sem.acquire())
            .await
            .is_err());
        drop(p);
        assert_eq!(sem.value(), 1);
    });
}

#[test]
fn acquire_cancelled_after_grant_passes_the_permit_on() {
    vrun(async {
        let sem = Rc::new(Semaphore::new(1));
        let got = Rc::new(RefCell::new(Vec::new()));
        let p = sem.acquire().await;
        let spawn = |i| {
            let (sem, got) = (sem.clone(), got.clone());
            simul::spawn(async move {
                let _p = sem.acquire().await;
                got.borrow_mut().push(i);
            })
        };
        let (a, b) = (spawn(1), spawn(2));
        simul::yield_now().await;
        drop(p); // permit handed to `a`
        a.cancel();
        assert!(a.await.unwrap_err().is_cancelled());
        simul::wait_for(Duration::from_secs(10), b)
            .await
            .expect("stuck: the permit was lost")
            .unwrap();
        assert_eq!(*got.borrow(), [2]);
        assert_eq!(sem.value(), 1, "no permit lost or duplicated");
    });
}

#[test]
fn cancelling_at_every_suspension_point_keeps_the_count() {
    for k in 0..5 {
        vrun(async move {
            let sem = Rc::new(Semaphore::new(2));
            let spawn = || {
                let sem = sem.clone();
                simul::spawn(async move {
                    let _p = sem.acquire().await;
                    simul::yield_now().await;
                    simul::yield_now().await;
                })
            };
            let tasks: Vec<_> = (0..5).map(|_| spawn()).collect();
            for _ in 0..k {
                simul::yield_now().await;
            }
            tasks[1].cancel();
            tasks[3].cancel();
            for t in tasks {
                let r = simul::wait_for(Duration::from_secs(10), t).await;
                assert!(r.is_ok(), "k={k}: stuck, a permit was lost");
            }
            assert_eq!(sem.value(), 2, "k={k}");
        });
    }
}

#[test]
fn bounded_release_past_initial_value_is_an_error() {
    simul::run(async {
        let sem = BoundedSemaphore::new(2);
        assert_eq!(sem.release(), Err(simul::sync::ReleaseError));
        assert_eq!(sem.value(), 2);
        sem.acquire().await.forget();
        assert_eq!(sem.value(), 1);
        assert!(!sem.is_locked());
        assert_eq!(sem.release(), Ok(()));
        assert!(sem.release().is_err());
        assert_eq!(sem.value(), 2);
        assert_eq!(
            simul::sync::ReleaseError.to_string(),
            "BoundedSemaphore released too many times"
        );
    });
}

#[test]
fn bounded_permit_drop_saturates_at_the_bound() {
    let sem = BoundedSemaphore::new(1);
    let p = sem.try_acquire().unwrap();
    assert!(sem.try_acquire().is_none());
    assert_eq!(sem.release(), Ok(())); // extra manual release fills the count
    drop(p); // ...so the guard's release is absorbed
    assert_eq!(sem.value(), 1);
}

#[test]
fn bounded_release_wakes_a_waiter() {
    simul::run(async {
        let sem = Rc::new(BoundedSemaphore::new(1));
        sem.acquire().await.forget();
        let s = sem.clone();
        let t = simul::spawn(async move {
            s.acquire().await.forget();
        });
        simul::yield_now().await;
        assert_eq!(sem.release(), Ok(()));
        t.await.unwrap();
        assert_eq!(sem.value(), 0);
    });
}
