//! Barrier: arrival indices, rounds, abort, reset, cancellation.

use std::rc::Rc;
use std::time::Duration;

use simul::{Barrier, BrokenBarrier};

fn spawn_wait(b: &Rc<Barrier>) -> simul::Task<Result<usize, BrokenBarrier>> {
    let b = b.clone();
    simul::spawn(async move { b.wait().await })
}

#[test]
fn parties_pass_together_with_arrival_indices() {
    simul::run(async {
        let b = Rc::new(Barrier::new(3));
        assert_eq!(b.parties(), 3);
        let t0 = spawn_wait(&b);
        let t1 = spawn_wait(&b);
        simul::yield_now().await;
        assert_eq!(b.n_waiting(), 2);
        assert!(!t0.is_done());
        assert_eq!(b.wait().await, Ok(2)); // the last arrival does not wait
        assert_eq!(t0.await.unwrap(), Ok(0));
        assert_eq!(t1.await.unwrap(), Ok(1));
        assert_eq!(b.n_waiting(), 0);
    });
}

#[test]
fn barrier_is_reusable_round_after_round() {
    simul::run(async {
        let b = Rc::new(Barrier::new(2));
        for _ in 0..5 {
            let t = spawn_wait(&b);
            simul::yield_now().await;
            assert_eq!(b.wait().await, Ok(1));
            assert_eq!(t.await.unwrap(), Ok(0));
        }
    });
}

#[test]
fn abort_breaks_waiters_and_later_waits_until_reset() {
    simul::run(async {
        let b = Rc::new(Barrier::new(3));
        let t = spawn_wait(&b);
        simul::yield_now().await;
        b.abort();
        assert!(b.is_broken());
        assert_eq!(t.await.unwrap(), Err(BrokenBarrier));
        assert_eq!(b.wait().await, Err(BrokenBarrier));
        b.reset();
        assert!(!b.is_broken());
        let t = spawn_wait(&b);
        let u = spawn_wait(&b);
        simul::yield_now().await;
        assert_eq!(b.wait().await, Ok(2));
        assert_eq!(t.await.unwrap(), Ok(0));
        assert_eq!(u.await.unwrap(), Ok(1));
    });
}

#[test]
fn reset_breaks_current_waiters_and_empties_the_barrier() {
    simul::run(async {
        let b = Rc::new(Barrier::new(2));
        let t = spawn_wait(&b);
        simul::yield_now().await;
        assert_eq!(b.n_waiting(), 1);
        b.reset();
        assert_eq!(b.n_waiting(), 0);
        assert!(!b.is_broken());
        assert_eq!(t.await.unwrap(), Err(BrokenBarrier));
        assert_eq!(BrokenBarrier.to_string(), "the barrier is broken");
    });
}

#[test]
fn cancelled_waiter_is_no_longer_counted() {
    let lp = simul::EventLoop::builder()
        .virtual_time(true)
        .build()
        .unwrap();
    lp.run_until_complete(async {
        let b = Rc::new(Barrier::new(2));
        assert!(simul::wait_for(Duration::from_secs(1), b.wait())
            .await
            .is_err());
        assert_eq!(b.n_waiting(), 0);
        let t = spawn_wait(&b);
        simul::yield_now().await;
        assert_eq!(b.wait().await, Ok(1));
        assert_eq!(t.await.unwrap(), Ok(0));
    });
}

#[test]
#[should_panic(expected = "parties must be > 0")]
fn zero_parties_is_rejected() {
    let _ = Barrier::new(0);
}
