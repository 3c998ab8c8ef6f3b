//! wait and wait_timeout: return conditions, nothing cancelled, timeouts, exceptions.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use simul::{wait, wait_timeout, ReturnWhen, Task, TaskState};

mod common;
use common::{secs, vrun};

fn sleeper(s: u64) -> Task<u64> {
    simul::spawn(async move {
        simul::sleep(secs(s)).await;
        s
    })
}

#[test]
fn first_completed_returns_when_one_task_finishes_and_keeps_the_rest_running() {
    vrun(async {
        let t0 = simul::time();
        let (done, pending) = wait(
            [sleeper(3), sleeper(1), sleeper(2)],
            ReturnWhen::FirstCompleted,
        )
        .await;
        assert_eq!(simul::time() - t0, secs(1));
        assert_eq!(done.len(), 1);
        assert_eq!(pending.len(), 2);
        assert_eq!(done.into_iter().next().unwrap().await.unwrap(), 1);
        // pending keeps argument order and is not cancelled
        let mut outs = Vec::new();
        for t in pending {
            outs.push(t.await.unwrap());
        }
        assert_eq!(outs, vec![3, 2]);
        assert_eq!(simul::time() - t0, secs(3));
    });
}

#[test]
fn all_completed_waits_for_every_task() {
    vrun(async {
        let t0 = simul::time();
        let (done, pending) = wait((1..=5).map(sleeper), ReturnWhen::AllCompleted).await;
        assert_eq!(simul::time() - t0, secs(5));
        assert!(pending.is_empty());
        let outs: Vec<u64> = simul::gather(done)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(outs, vec![1, 2, 3, 4, 5]);
    });
}

#[test]
fn tasks_already_done_count_at_once() {
    vrun(async {
        let a = simul::spawn(async { 1 });
        simul::yield_now().await;
        let t0 = simul::time();
        let (done, pending) = wait([sleeper(5), a], ReturnWhen::FirstCompleted).await;
        assert_eq!(simul::time(), t0);
        assert_eq!((done.len(), pending.len()), (1, 1));
    });
}

#[test]
fn first_exception_returns_at_the_first_panic() {
    vrun(async {
        let t0 = simul::time();
        let bad = simul::spawn(async {
            simul::sleep(secs(2)).await;
            panic!("bad");
        });
        let (done, pending) = wait(
            [sleeper(1), sleeper(5), bad, sleeper(9)],
            ReturnWhen::FirstException,
        )
        .await;
        assert_eq!(simul::time() - t0, secs(2));
        assert_eq!(done.len(), 2);
        assert_eq!(pending.len(), 2);
        let states: Vec<TaskState> = done.iter().map(|t| t.info().state()).collect();
        assert_eq!(states, vec![TaskState::Finished, TaskState::Panicked]);
        let mut it = done.into_iter();
        assert_eq!(it.next().unwrap().await.unwrap(), 1);
        assert!(it.next().unwrap().await.unwrap_err().is_panic());
    });
}

#[test]
fn first_exception_without_a_panic_waits_for_all_and_ignores_cancellation() {
    vrun(async {
        let t0 = simul::time();
        let c = sleeper(1);
        c.cancel();
        let (done, pending) = wait([sleeper(2), c, sleeper(3)], ReturnWhen::FirstException).await;
        assert_eq!(simul::time() - t0, secs(3));
        assert_eq!(done.len(), 3);
        assert!(pending.is_empty());
    });
}

#[test]
fn wait_timeout_returns_what_is_done_and_cancels_nothing() {
    vrun(async {
        let t0 = simul::time();
        let (done, pending) = wait_timeout(
            [sleeper(1), sleeper(10), sleeper(20)],
            ReturnWhen::AllCompleted,
            secs(5),
        )
        .await;
        assert_eq!(simul::time() - t0, secs(5));
        assert_eq!((done.len(), pending.len()), (1, 2));
        for t in &pending {
            assert!(!t.is_done() && !t.is_cancelled());
        }
        let outs: Vec<u64> = simul::gather(pending)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(outs, vec![10, 20]);
        assert_eq!(simul::time() - t0, secs(20));
    });
}

#[test]
fn wait_timeout_returns_early_when_the_condition_holds() {
    vrun(async {
        let t0 = simul::time();
        let (done, _) = wait_timeout(
            [sleeper(1), sleeper(9)],
            ReturnWhen::FirstCompleted,
            secs(5),
        )
        .await;
        assert_eq!(simul::time() - t0, secs(1));
        assert_eq!(done.len(), 1);
    });
}

#[test]
fn waiting_on_nothing_resolves_at_once() {
    vrun(async {
        for when in [
            ReturnWhen::FirstCompleted,
            ReturnWhen::FirstException,
            ReturnWhen::AllCompleted,
        ] {
            let (done, pending) = wait(Vec::<Task<()>>::new(), when).await;
            assert!(done.is_empty() && pending.is_empty());
        }
    });
}

#[test]
fn cancelling_the_waiter_does_not_cancel_the_tasks() {
    vrun(async {
        let finished = Rc::new(Cell::new(0));
        let tasks: Vec<Task<()>> = (0..3)
            .map(|i| {
                let f = finished.clone();
                simul::spawn(async move {
                    simul::sleep(secs(i + 1)).await;
                    f.set(f.get() + 1);
                })
            })
            .collect();
        let waiter = simul::spawn(wait(tasks, ReturnWhen::AllCompleted));
        simul::sleep(Duration::from_millis(1500)).await;
        waiter.cancel();
        assert!(waiter.await.unwrap_err().is_cancelled());
        simul::sleep(secs(5)).await;
        assert_eq!(finished.get(), 3);
    });
}

#[test]
fn wait_accepts_shared_tasks_and_cancel_on_drop_handles() {
    vrun(async {
        let shared = sleeper(2).shared();
        let other = shared.clone();
        let (done, pending) = wait([shared], ReturnWhen::AllCompleted).await;
        assert_eq!((done.len(), pending.len()), (1, 0));
        assert_eq!(other.await.unwrap(), 2);

        let c = sleeper(3).cancel_on_drop();
        let (done, pending) = wait([c], ReturnWhen::FirstCompleted).await;
        assert_eq!((done.len(), pending.len()), (1, 0));
        assert_eq!(done.into_iter().next().unwrap().await.unwrap(), 3);
    });
}

#[test]
fn wait_over_many_tasks_returns_each_finish_in_turn() {
    vrun(async {
        let mut pending: Vec<Task<u64>> = (0..50).rev().map(sleeper).collect();
        let mut order = Vec::new();
        while !pending.is_empty() {
            let (done, rest) = wait(pending, ReturnWhen::FirstCompleted).await;
            for t in done {
                order.push(t.await.unwrap());
            }
            pending = rest;
        }
        assert_eq!(order, (0..50).collect::<Vec<_>>());
    });
}

#[test]
fn timing_out_the_waiter_at_any_point_leaves_every_task_running() {
    for cancel_ms in [0u64, 500, 1500, 2500] {
        vrun(async move {
            let finished = Rc::new(Cell::new(0));
            let tasks: Vec<Task<()>> = (1..=3)
                .map(|s| {
                    let f = finished.clone();
                    simul::spawn(async move {
                        simul::sleep(secs(s)).await;
                        f.set(f.get() + 1);
                    })
                })
                .collect();
            let ids: Vec<u64> = tasks.iter().map(|t| t.id()).collect();
            let r = simul::wait_for(
                Duration::from_millis(cancel_ms),
                wait(tasks, ReturnWhen::AllCompleted),
            )
            .await;
            assert!(r.is_err());
            let alive = simul::all_tasks()
                .iter()
                .filter(|i| ids.contains(&i.id()))
                .count() as u64;
            assert_eq!(alive, 3 - (cancel_ms / 1000), "at {cancel_ms} ms");
            simul::sleep(secs(5)).await;
            assert_eq!(finished.get(), 3, "at {cancel_ms} ms");
        });
    }
}
