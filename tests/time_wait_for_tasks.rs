//! `wait_for` / `timeout_at` on a task cancel it on timeout, as asyncio's `wait_for` does;
//! a bare future is dropped; a task that the timed-out work was awaiting is cancelled too
//! (asyncio's cancellation reaches the awaited task), one it merely held is not.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

mod common;
use common::vrun;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// A task that sleeps for an hour and records whether it finished or was dropped.
fn hour_long(finished: &Rc<Cell<bool>>, dropped: &Rc<Cell<bool>>) -> simul::Task<u8> {
    struct OnDrop(Rc<Cell<bool>>);
    impl Drop for OnDrop {
        fn drop(&mut self) {
            self.0.set(true);
        }
    }
    let (f, d) = (finished.clone(), dropped.clone());
    simul::spawn(async move {
        let _guard = OnDrop(d);
        simul::sleep(secs(3600)).await;
        f.set(true);
        7
    })
}

#[test]
fn wait_for_on_a_task_cancels_it_on_timeout() {
    vrun(async {
        let (finished, dropped) = (Rc::default(), Rc::default());
        let task = hour_long(&finished, &dropped);
        let id = task.id();
        assert!(matches!(
            simul::wait_for(secs(1), task).await,
            Err(simul::TimeoutError)
        ));
        simul::yield_now().await;
        assert!(dropped.get(), "the task's future was dropped (cancelled)");
        assert!(!finished.get());
        assert!(simul::all_tasks().iter().all(|t| t.id() != id));
    });
}

#[test]
fn timeout_at_on_a_task_cancels_it_too() {
    vrun(async {
        let (finished, dropped) = (Rc::default(), Rc::default());
        let task = hour_long(&finished, &dropped);
        let r = simul::timeout_at(simul::time() + secs(1), task).await;
        assert!(r.is_err());
        simul::sleep(secs(7200)).await;
        assert!(dropped.get() && !finished.get());
    });
}

#[test]
fn a_task_that_finishes_in_time_gives_its_result() {
    vrun(async {
        let task = simul::spawn(async {
            simul::sleep(secs(1)).await;
            5
        });
        assert_eq!(simul::wait_for(secs(10), task).await.unwrap().unwrap(), 5);
    });
}

#[test]
fn wait_for_on_a_shared_task_cancels_it_for_every_clone() {
    vrun(async {
        let (finished, dropped) = (Rc::default(), Rc::default());
        let shared = hour_long(&finished, &dropped).shared();
        let other = shared.clone();
        assert!(simul::wait_for(secs(1), shared).await.is_err());
        assert!(other.await.unwrap_err().is_cancelled());
        assert!(dropped.get() && !finished.get());
    });
}

#[test]
fn wait_for_on_a_group_task_cancels_it() {
    vrun(async {
        let tg = simul::TaskGroup::new();
        let t = tg.spawn(simul::sleep(secs(3600)));
        assert!(simul::wait_for(secs(1), t).await.is_err());
        let t0 = simul::time();
        tg.join().await.unwrap(); // returns at once: the member was cancelled
        assert_eq!(simul::time(), t0);
    });
}

#[test]
fn a_bare_future_is_dropped_on_timeout() {
    vrun(async {
        let dropped = Rc::new(Cell::new(false));
        struct OnDrop(Rc<Cell<bool>>);
        impl Drop for OnDrop {
            fn drop(&mut self) {
                self.0.set(true);
            }
        }
        let guard = OnDrop(dropped.clone());
        let work = async move {
            let _g = guard;
            simul::sleep(secs(3600)).await;
        };
        assert!(simul::wait_for(secs(1), work).await.is_err());
        assert!(dropped.get());
    });
}

#[test]
fn a_task_awaited_by_the_timed_out_work_is_cancelled() {
    vrun(async {
        let (finished, dropped) = (Rc::default(), Rc::default());
        let task = hour_long(&finished, &dropped);
        let work = async move { task.await.map(|v| v + 1) };
        assert!(simul::wait_for(secs(1), work).await.is_err());
        simul::sleep(secs(7200)).await;
        assert!(dropped.get() && !finished.get());
    });
}

#[test]
fn a_task_only_held_by_the_timed_out_work_keeps_running() {
    vrun(async {
        let (finished, dropped) = (Rc::default(), Rc::default());
        let task = hour_long(&finished, &dropped);
        let work = async move {
            let _held = task; // not awaited
            simul::sleep(secs(7200)).await;
        };
        assert!(simul::wait_for(secs(1), work).await.is_err());
        simul::sleep(secs(7200)).await;
        assert!(finished.get(), "a detached task runs to completion");
    });
}

#[test]
fn dropping_an_unexpired_wait_for_detaches_the_task_as_before() {
    vrun(async {
        let (finished, dropped) = (Rc::default(), Rc::default());
        let task = hour_long(&finished, &dropped);
        let mut timed = Box::pin(simul::wait_for(secs(7200), task));
        // Poll once so the task is being awaited, then drop the wait_for before its deadline.
        let _ = std::future::poll_fn(|cx| {
            let _ = std::future::Future::poll(timed.as_mut(), cx);
            std::task::Poll::Ready(())
        })
        .await;
        drop(timed);
        simul::sleep(secs(3700)).await;
        assert!(finished.get(), "only a timeout cancels");
    });
}

#[test]
fn tasks_wait_returned_as_pending_and_then_held_keep_running() {
    vrun(async {
        let (finished, dropped) = (Rc::default(), Rc::default());
        let slow = hour_long(&finished, &dropped);
        let quick = simul::spawn(async { 0u8 });
        let work = async move {
            let (_done, _pending) =
                simul::wait(vec![slow, quick], simul::ReturnWhen::FirstCompleted).await;
            simul::sleep(secs(7200)).await; // holds the pending task without awaiting it
        };
        assert!(simul::wait_for(secs(1), work).await.is_err());
        simul::sleep(secs(7200)).await;
        assert!(finished.get(), "wait never cancels what it waits on");
    });
}
