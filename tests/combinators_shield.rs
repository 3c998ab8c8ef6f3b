//! shield: the awaiter's cancellation never reaches the shielded work.

use std::cell::Cell;
use std::rc::Rc;

use simul::shield;

mod common;
use common::{secs, vrun, Guard};

#[test]
fn awaiting_a_shield_gives_the_output() {
    vrun(async {
        assert_eq!(shield(async { 7 }).await, 7);
    });
}

#[test]
fn cancelling_the_awaiter_does_not_cancel_the_shielded_future() {
    vrun(async {
        let done = Rc::new(Cell::new(false));
        let drops = Rc::new(Cell::new(0));
        let (d, g) = (done.clone(), Guard(drops.clone()));
        let awaiter = simul::spawn(async move {
            shield(async move {
                let _g = g;
                simul::sleep(secs(3)).await;
                d.set(true);
            })
            .await
        });
        simul::sleep(secs(1)).await;
        awaiter.cancel();
        assert!(awaiter.await.unwrap_err().is_cancelled());
        assert!(!done.get());
        assert_eq!(drops.get(), 0, "the shielded work was dropped");
        simul::sleep(secs(3)).await;
        assert!(done.get());
        assert_eq!(drops.get(), 1);
    });
}

#[test]
fn a_timeout_around_shield_leaves_the_work_running() {
    vrun(async {
        let done = Rc::new(Cell::new(0));
        let d = done.clone();
        let r = simul::wait_for(
            secs(1),
            shield(async move {
                simul::sleep(secs(2)).await;
                d.set(1);
            }),
        )
        .await;
        assert!(r.is_err());
        simul::sleep(secs(2)).await;
        assert_eq!(done.get(), 1);
    });
}

#[test]
fn shielding_a_task_gives_its_result_and_never_cancels_it() {
    vrun(async {
        let t = simul::spawn(async {
            simul::sleep(secs(2)).await;
            "value"
        })
        .cancel_on_drop(); // even a cancel-on-drop handle is safe behind a shield
        let id = t.task().id();
        let r = simul::wait_for(secs(1), shield(t)).await;
        assert!(r.is_err());
        simul::yield_now().await;
        assert!(
            simul::all_tasks().iter().any(|i| i.id() == id),
            "the task was cancelled"
        );

        let t = simul::spawn(async {
            simul::sleep(secs(1)).await;
            5
        });
        assert_eq!(shield(t).await.unwrap(), 5);
    });
}

#[test]
fn shielding_a_shared_task_keeps_it_for_the_other_clones() {
    vrun(async {
        let shared = simul::spawn(async {
            simul::sleep(secs(2)).await;
            String::from("shared")
        })
        .shared();
        let r = simul::wait_for(secs(1), shield(shared.clone())).await;
        assert!(r.is_err());
        assert_eq!(shared.await.unwrap(), "shared");
    });
}

#[test]
fn a_panic_in_the_shielded_work_resumes_in_the_awaiter() {
    vrun(async {
        let awaiter = simul::spawn(async {
            shield(async {
                simul::sleep(secs(1)).await;
                panic!("shielded boom");
            })
            .await
        });
        match awaiter.await {
            Err(simul::TaskError::Panicked(p)) => assert_eq!(p.message(), "shielded boom"),
            other => panic!("unexpected {other:?}"),
        }
    });
}

#[test]
fn into_task_gives_the_underlying_task() {
    vrun(async {
        let s = shield(async {
            simul::sleep(secs(1)).await;
            3
        });
        assert!(!s.is_done());
        let t = s.into_task();
        assert_eq!(t.await.unwrap(), 3);
    });
}
