//! Lock: mutual exclusion, FIFO hand-off, cancellation safety, no thundering herd.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use simul::Lock;

fn vrun<F: Future>(f: F) -> F::Output {
    simul::EventLoop::builder()
        .virtual_time(true)
        .build()
        .unwrap()
        .run_until_complete(f)
}

/// Awaits `f`, failing (instead of hanging) if a lost wake-up leaves it stuck.
async fn within<F: Future>(f: F) -> F::Output {
    simul::wait_for(Duration::from_secs(10), f)
        .await
        .expect("stuck: a wake-up was lost")
}

/// Counts how many times the inner future is polled.
struct Counted<F> {
    inner: Pin<Box<F>>,
    polls: Rc<Cell<usize>>,
}

impl<F: Future> Future for Counted<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.polls.set(self.polls.get() + 1);
        self.inner.as_mut().poll(cx)
    }
}

#[test]
fn lock_gives_exclusive_access_across_suspensions() {
    simul::run(async {
        let lock = Rc::new(Lock::new(0u32));
        let inside = Rc::new(Cell::new(0));
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let (lock, inside) = (lock.clone(), inside.clone());
                simul::spawn(async move {
                    let mut g = lock.lock().await;
                    inside.set(inside.get() + 1);
                    assert_eq!(inside.get(), 1, "two tasks inside the lock");
                    let v = *g;
                    simul::yield_now().await;
                    *g = v + 1;
                    inside.set(inside.get() - 1);
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*lock.lock().await, 20);
        assert!(!lock.is_locked());
    });
}

#[test]
fn waiters_acquire_in_fifo_order() {
    simul::run(async {
        let lock = Rc::new(Lock::new(Vec::new()));
        let guard = lock.lock().await;
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let lock = lock.clone();
                simul::spawn(async move {
                    lock.lock().await.push(i);
                })
            })
            .collect();
        simul::yield_now().await; // everyone queues
        drop(guard);
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*lock.lock().await, (0..8).collect::<Vec<_>>());
    });
}

#[test]
fn newcomer_does_not_overtake_a_woken_waiter() {
    simul::run(async {
        let lock = Rc::new(Lock::new(()));
        let g = lock.lock().await;
        let l = lock.clone();
        let waiter = simul::spawn(async move {
            let _g = l.lock().await;
        });
        simul::yield_now().await;
        drop(g); // handed to `waiter`, which has not run yet
        assert!(lock.is_locked());
        assert!(lock.try_lock().is_none());
        waiter.await.unwrap();
        assert!(lock.try_lock().is_some());
    });
}

#[test]
fn try_lock_and_is_locked() {
    let lock = Lock::new(5);
    assert!(!lock.is_locked());
    let mut g = lock.try_lock().expect("free lock");
    *g += 1;
    assert!(lock.is_locked());
    assert!(lock.try_lock().is_none());
    drop(g);
    assert!(!lock.is_locked());
    assert_eq!(lock.into_inner().ok(), Some(6));
}

#[test]
fn get_mut_and_default() {
    let mut lock: Lock<Vec<u8>> = Lock::default();
    lock.get_mut().unwrap().push(1);
    assert_eq!(lock.into_inner().ok(), Some(vec![1]));
}

#[test]
fn cancelled_queued_waiter_leaves_the_queue() {
    vrun(async {
        let lock = Rc::new(Lock::new(Vec::new()));
        let g = lock.lock().await;
        let spawn = |i| {
            let lock = lock.clone();
            simul::spawn(async move { lock.lock().await.push(i) })
        };
        let (a, b, c) = (spawn(1), spawn(2), spawn(3));
        simul::yield_now().await;
        b.cancel();
        simul::yield_now().await;
        drop(g);
        within(a).await.unwrap();
        assert!(b.await.unwrap_err().is_cancelled());
        within(c).await.unwrap();
        assert_eq!(*lock.lock().await, [1, 3]);
    });
}

#[test]
fn waiter_cancelled_after_hand_off_passes_the_lock_on() {
    vrun(async {
        let lock = Rc::new(Lock::new(Vec::new()));
        let g = lock.lock().await;
        let spawn = |i| {
            let lock = lock.clone();
            simul::spawn(async move { lock.lock().await.push(i) })
        };
        let (a, b) = (spawn(1), spawn(2));
        simul::yield_now().await;
        drop(g); // lock handed to `a`, woken but not yet run
        a.cancel(); // `a` is dropped holding the hand-off
        assert!(a.await.unwrap_err().is_cancelled());
        within(b).await.unwrap();
        assert!(!lock.is_locked());
        assert_eq!(*lock.lock().await, [2]);
    });
}

#[test]
fn timed_out_lock_leaves_no_trace() {
    vrun(async {
        let lock = Rc::new(Lock::new(()));
        let g = lock.lock().await;
        let r = simul::wait_for(Duration::from_secs(1), lock.lock()).await;
        assert!(r.is_err());
        drop(g);
        assert!(!lock.is_locked());
        let _g2 = lock.lock().await;
    });
}

#[test]
fn cancelling_at_every_suspension_point_never_loses_the_lock() {
    // Task k is cancelled after k iterations of the loop; whatever state its lock()
    // was in, the lock must end up free and every surviving task must get it.
    for k in 0..6 {
        vrun(async move {
            let lock = Rc::new(Lock::new(0));
            let holder = {
                let lock = lock.clone();
                simul::spawn(async move {
                    let mut g = lock.lock().await;
                    simul::yield_now().await;
                    simul::yield_now().await;
                    *g += 1;
                })
            };
            let spawn = || {
                let lock = lock.clone();
                simul::spawn(async move {
                    let mut g = lock.lock().await;
                    simul::yield_now().await;
                    *g += 1;
                })
            };
            let victim = spawn();
            let other = spawn();
            for _ in 0..k {
                simul::yield_now().await;
            }
            let cancelled = victim.cancel();
            let victim_done = victim.await.is_ok();
            within(holder).await.unwrap();
            within(other).await.unwrap();
            assert!(!lock.is_locked(), "k={k}");
            let expected = 2 + usize::from(victim_done);
            assert_eq!(
                *within(lock.lock()).await,
                expected,
                "k={k} cancelled={cancelled}"
            );
        });
    }
}

#[test]
fn unlock_wakes_exactly_one_waiter() {
    simul::run(async {
        let lock = Rc::new(Lock::new(()));
        let g = lock.lock().await;
        let polls: Vec<Rc<Cell<usize>>> = (0..10).map(|_| Rc::new(Cell::new(0))).collect();
        let order = Rc::new(RefCell::new(Vec::new()));
        let tasks: Vec<_> = polls
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let (lock, order) = (lock.clone(), order.clone());
                let fut = Counted {
                    inner: Box::pin(async move {
                        let _g = lock.lock().await;
                        order.borrow_mut().push(i);
                        simul::yield_now().await;
                    }),
                    polls: p.clone(),
                };
                simul::spawn(fut)
            })
            .collect();
        simul::yield_now().await;
        drop(g);
        simul::yield_now().await;
        // Only the first waiter ran after the unlock.
        assert_eq!(
            polls.iter().map(|p| p.get()).collect::<Vec<_>>()[1..],
            [1; 9]
        );
        for t in tasks {
            t.await.unwrap();
        }
        // Each waiter: first poll (queue), granted poll, after-yield poll. No spurious polls.
        assert!(polls.iter().all(|p| p.get() == 3), "{polls:?}");
        assert_eq!(*order.borrow(), (0..10).collect::<Vec<_>>());
    });
}
