//! GroupHandle: spawning into a group from its own tasks, and after it is finished.

use std::cell::Cell;
use std::rc::Rc;

use simul::{GroupClosed, GroupHandle, TaskGroup};

mod common;
use common::{secs, vrun, Guard};

/// A crawler-like tree: each task spawns `fanout` children until `depth` reaches 0.
async fn crawl(h: GroupHandle, depth: u32, fanout: u32, visited: Rc<Cell<u32>>) {
    simul::sleep(secs(1)).await;
    visited.set(visited.get() + 1);
    if depth > 0 {
        for _ in 0..fanout {
            let _t = h
                .spawn(crawl(h.clone(), depth - 1, fanout, visited.clone()))
                .unwrap();
        }
    }
}

#[test]
fn join_waits_for_tasks_spawned_by_members_through_a_handle() {
    vrun(async {
        let t0 = simul::time();
        let visited = Rc::new(Cell::new(0));
        let tg = TaskGroup::new();
        let _root = tg.spawn(crawl(tg.handle(), 3, 2, visited.clone()));
        tg.join().await.unwrap();
        assert_eq!(visited.get(), 1 + 2 + 4 + 8);
        assert_eq!(simul::time() - t0, secs(4));
    });
}

#[test]
fn spawning_through_a_handle_after_join_or_drop_is_an_error() {
    vrun(async {
        let tg = TaskGroup::new();
        let h = tg.handle();
        tg.join().await.unwrap();
        assert_eq!(h.spawn(async {}).unwrap_err(), GroupClosed);

        let tg = TaskGroup::new();
        let h = tg.handle();
        drop(tg);
        assert!(h.spawn(async {}).is_err());
        assert!(h.clone().try_spawn(async { Ok::<(), _>(()) }).is_err());
    });
}

#[test]
fn a_failure_cancels_tasks_spawned_through_handles_once() {
    vrun(async {
        let drops = Rc::new(Cell::new(0));
        let tg = TaskGroup::new();
        let h = tg.handle();
        let d = drops.clone();
        let _spawner = tg.spawn(async move {
            for _ in 0..3 {
                let g = Guard(d.clone());
                let _t = h
                    .spawn(async move {
                        let _g = g;
                        simul::sleep(secs(60)).await;
                    })
                    .unwrap();
            }
            simul::sleep(secs(1)).await;
            panic!("spawner failed");
        });
        assert!(tg.join().await.unwrap_err().into_panic().is_some());
        assert_eq!(drops.get(), 3);
    });
}

#[test]
fn a_handle_spawn_into_a_failed_group_starts_cancelled() {
    vrun(async {
        let tg = TaskGroup::new();
        let h = tg.handle();
        let _bad = tg.spawn(async { panic!("x") });
        simul::yield_now().await;
        let ran = Rc::new(Cell::new(false));
        let r = ran.clone();
        let t = h.spawn(async move { r.set(true) }).unwrap();
        assert!(t.await.unwrap_err().is_cancelled());
        assert!(!ran.get());
        assert!(tg.join().await.is_err());
    });
}
