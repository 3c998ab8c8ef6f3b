//! Every sync primitive is a cheap handle: a clone is the same lock, event, semaphore,
//! condition or barrier (asyncio shares objects by reference), with no `Rc` needed.

use simul::{Barrier, BoundedSemaphore, Condition, Event, Lock, Semaphore};

#[test]
fn a_cloned_event_is_the_same_event() {
    simul::run(async {
        let ready = Event::new();
        let waiter = {
            let ready = ready.clone();
            simul::spawn(async move { ready.wait().await })
        };
        simul::yield_now().await;
        assert!(!waiter.is_done());
        ready.clone().set();
        waiter.await.unwrap();
        assert!(ready.is_set());
    });
}

#[test]
fn a_cloned_lock_guards_the_same_value() {
    simul::run(async {
        let lock = Lock::new(0);
        let tasks: Vec<_> = (0..5)
            .map(|_| {
                let lock = lock.clone();
                simul::spawn(async move {
                    let mut n = lock.lock().await;
                    let seen = *n;
                    simul::yield_now().await;
                    *n = seen + 1;
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*lock.lock().await, 5);
        let other = lock.clone();
        let held = other.try_lock().unwrap();
        assert!(lock.is_locked() && lock.try_lock().is_none());
        drop(held);
    });
}

#[test]
fn cloned_semaphores_share_their_permits() {
    let sem = Semaphore::new(1);
    let other = sem.clone();
    let permit = sem.try_acquire().unwrap();
    assert!(other.try_acquire().is_none());
    assert_eq!(other.value(), 0);
    drop(permit);
    assert_eq!(other.value(), 1);

    let bounded = BoundedSemaphore::new(1);
    let b2 = bounded.clone();
    assert!(b2.release().is_err(), "the bound is shared too");
    bounded.try_acquire().unwrap().forget();
    assert!(b2.release().is_ok());
}

#[test]
fn a_cloned_condition_shares_its_waiters() {
    simul::run(async {
        let (lock, cond) = (Lock::new(false), Condition::new());
        let waiter = {
            let (lock, cond) = (lock.clone(), cond.clone());
            simul::spawn(async move { *cond.wait_for(lock.lock().await, |ready| *ready).await })
        };
        simul::yield_now().await;
        assert_eq!(cond.waiters(), 1);
        *lock.lock().await = true;
        cond.notify_all();
        assert!(waiter.await.unwrap());
    });
}

#[test]
fn cloned_barriers_count_the_same_parties() {
    simul::run(async {
        let barrier = Barrier::new(3);
        let tasks: Vec<_> = (0..3)
            .map(|_| {
                let b = barrier.clone();
                simul::spawn(async move { b.wait().await.unwrap() })
            })
            .collect();
        let mut idx = Vec::new();
        for t in tasks {
            idx.push(t.await.unwrap());
        }
        idx.sort();
        assert_eq!(idx, [0, 1, 2]);
        assert_eq!(barrier.clone().parties(), 3);
    });
}
