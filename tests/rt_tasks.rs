//! Tasks: results, names, cancellation running destructors, panics contained, shared results.
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use simul::{TaskError, TaskState};

/// Counts its drops.
struct DropCounter(Rc<Cell<u32>>);
impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn spawn_and_await_results() {
    let v = simul::run(async {
        let tasks: Vec<_> = (0..100u64)
            .map(|i| simul::spawn(async move { i * i }))
            .collect();
        let mut sum = 0;
        for t in tasks {
            sum += t.await.unwrap();
        }
        sum
    });
    assert_eq!(v, (0..100u64).map(|i| i * i).sum());
}

#[test]
fn tasks_need_not_be_send() {
    let out = simul::run(async {
        let rc = Rc::new(5);
        let r2 = rc.clone();
        simul::spawn(async move {
            simul::yield_now().await;
            *r2 + 1
        })
        .await
        .unwrap()
    });
    assert_eq!(out, 6);
}

/// Task ids are unique across threads and increase in spawn order on each thread (the
/// main task first), whether a thread spawns a few tasks or thousands.
#[test]
fn task_ids_are_unique_across_threads_and_increase_on_each() {
    let per_thread = |n: usize| {
        move || {
            simul::run(async move {
                let mut ids = vec![simul::current_task().unwrap().id()];
                for _ in 0..n {
                    ids.push(simul::spawn(async {}).id());
                }
                ids
            })
        }
    };
    let threads: Vec<_> = [3000, 5, 2500, 1]
        .into_iter()
        .map(|n| std::thread::spawn(per_thread(n)))
        .collect();
    let mut all = Vec::new();
    for t in threads {
        let ids = t.join().unwrap();
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "not increasing: {ids:?}"
        );
        all.extend(ids);
    }
    // A second loop on this thread goes on from where the thread's ids were.
    let mine = per_thread(10)();
    let again = per_thread(10)();
    assert!(mine.last() < again.first());
    all.extend(mine);
    all.extend(again);
    let n = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), n, "an id was handed out twice");
}

#[test]
fn names_and_ids() {
    simul::run(async {
        let named = simul::Task::builder()
            .name("board-7")
            .spawn(async { simul::current_task().unwrap().name().to_string() });
        let anon = simul::spawn(async {});
        assert_eq!(named.name(), "board-7");
        assert_eq!(anon.name(), format!("Task-{}", anon.id()));
        assert_ne!(named.id(), anon.id());
        assert!(format!("{named:?}").contains("board-7"));
        assert_eq!(named.await.unwrap(), "board-7");
    });
}

#[test]
fn cancel_drops_the_future_at_its_suspension_point_once() {
    let drops = Rc::new(Cell::new(0));
    let reached_after = Rc::new(Cell::new(false));
    let (d, r) = (drops.clone(), reached_after.clone());
    simul::run(async move {
        let t = simul::spawn(async move {
            let _guard = DropCounter(d);
            simul::sleep(Duration::from_secs(3600)).await;
            r.set(true);
        });
        simul::yield_now().await; // let it reach the sleep
        assert!(t.cancel());
        assert!(!t.is_done()); // takes effect when the loop next picks it up
        let res = t.await;
        assert!(matches!(res, Err(TaskError::Cancelled)));
    });
    assert_eq!(drops.get(), 1);
    assert!(!reached_after.get());
}

#[test]
fn cancel_before_first_poll_never_runs_the_body() {
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    simul::run(async move {
        let t = simul::spawn(async move { r.set(true) });
        t.cancel();
        assert!(t.await.unwrap_err().is_cancelled());
    });
    assert!(!ran.get());
}

#[test]
fn cancel_after_done_returns_false_and_keeps_result() {
    simul::run(async {
        let t = simul::spawn(async { 3 });
        simul::yield_now().await;
        assert!(t.is_done());
        assert!(!t.cancel());
        assert!(!t.is_cancelled());
        assert_eq!(t.await.unwrap(), 3);
    });
}

#[test]
fn panic_is_contained_and_delivered_to_the_awaiter() {
    let out = simul::run(async {
        let bad = simul::spawn(async {
            simul::yield_now().await;
            panic!("board on fire");
        });
        let good = simul::spawn(async { "still playing" });
        let err = bad.await.unwrap_err();
        let TaskError::Panicked(p) = err else {
            panic!("expected a panic")
        };
        assert_eq!(p.message(), "board on fire");
        good.await.unwrap()
    });
    assert_eq!(out, "still playing");
}

#[test]
fn unretrieved_panic_is_reported_exactly_once() {
    let reports = Rc::new(RefCell::new(Vec::new()));
    let r = reports.clone();
    let lp = simul::EventLoop::new().unwrap();
    lp.set_exception_handler(move |ctx| {
        r.borrow_mut()
            .push((ctx.kind(), ctx.task().map(String::from)))
    });
    lp.run_until_complete(async {
        // detached before it panics
        drop(
            simul::Task::builder()
                .name("lost")
                .spawn(async { panic!("x") }),
        );
        // dropped after it panicked, never awaited
        let t = simul::Task::builder()
            .name("ignored")
            .spawn(async { panic!("y") });
        simul::yield_now().await;
        simul::yield_now().await;
        assert!(t.is_done());
        drop(t);
        // awaited: not reported
        let _ = simul::spawn(async { panic!("z") }).await;
    });
    drop(lp);
    let reports = reports.borrow();
    assert_eq!(reports.len(), 2, "{reports:?}");
    assert!(reports
        .iter()
        .all(|(k, _)| *k == simul::ExceptionKind::UnretrievedPanic));
    let names: Vec<_> = reports.iter().map(|(_, n)| n.clone().unwrap()).collect();
    assert!(names.contains(&"lost".to_string()) && names.contains(&"ignored".to_string()));
}

#[test]
fn main_future_panic_propagates_out_of_run_after_shutdown() {
    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        simul::run(async move {
            let d = d.clone();
            let _t = simul::spawn(async move {
                let _g = DropCounter(d);
                std::future::pending::<()>().await
            });
            simul::yield_now().await;
            panic!("main failed");
        })
    }));
    assert!(res.is_err());
    assert_eq!(drops.get(), 1, "the background task was cancelled");
}

#[test]
fn detached_tasks_keep_running() {
    let hit = Rc::new(Cell::new(false));
    let h = hit.clone();
    simul::run(async move {
        drop(simul::spawn(async move {
            simul::sleep(Duration::from_millis(1)).await;
            h.set(true);
        }));
        simul::sleep(Duration::from_millis(20)).await;
    });
    assert!(hit.get());
}

#[test]
fn done_callbacks_see_the_final_state() {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    simul::run(async move {
        let ok = simul::spawn(async {});
        let cancelled = simul::spawn(std::future::pending::<()>());
        let panicked = simul::spawn(async { panic!("p") });
        for (t, tag) in [(&ok, "ok"), (&cancelled, "cancelled")] {
            let s = s.clone();
            t.add_done_callback(move |st| s.borrow_mut().push((tag, st)));
        }
        let s2 = s.clone();
        panicked.add_done_callback(move |st| s2.borrow_mut().push(("panicked", st)));
        cancelled.cancel();
        let _ = ok.await;
        let _ = cancelled.await;
        let _ = panicked.await;
        // callback added after completion still runs
        let s3 = s.clone();
        let done = simul::spawn(async {});
        simul::yield_now().await;
        done.add_done_callback(move |st| s3.borrow_mut().push(("late", st)));
        simul::yield_now().await;
    });
    let mut seen = seen.borrow().clone();
    seen.sort_by_key(|x| x.0);
    assert_eq!(
        seen,
        [
            ("cancelled", TaskState::Cancelled),
            ("late", TaskState::Finished),
            ("ok", TaskState::Finished),
            ("panicked", TaskState::Panicked)
        ]
    );
}

#[test]
fn shared_task_runs_once_and_every_awaiter_gets_the_result() {
    let runs = Rc::new(Cell::new(0));
    let r = runs.clone();
    simul::run(async move {
        let shared = simul::spawn(async move {
            r.set(r.get() + 1);
            simul::sleep(Duration::from_millis(2)).await;
            String::from("result")
        })
        .shared();
        let waiters: Vec<_> = (0..5)
            .map(|_| {
                let s = shared.clone();
                simul::spawn(async move { s.await.unwrap() })
            })
            .collect();
        for w in waiters {
            assert_eq!(w.await.unwrap(), "result");
        }
        assert_eq!(shared.clone().await.unwrap(), "result");
        assert!(shared.is_done());
    });
    assert_eq!(runs.get(), 1);
}

#[test]
fn shared_task_cancellation_is_seen_by_every_awaiter() {
    simul::run(async {
        let s = simul::spawn(std::future::pending::<u8>()).shared();
        let a = {
            let s = s.clone();
            simul::spawn(s)
        };
        simul::yield_now().await;
        s.cancel();
        assert!(a.await.unwrap().unwrap_err().is_cancelled());
        assert!(s.await.unwrap_err().is_cancelled());
    });
}

#[test]
fn all_tasks_and_current_task() {
    simul::run(async {
        let a = simul::Task::builder()
            .name("a")
            .spawn(std::future::pending::<()>());
        let b = simul::Task::builder().name("b").spawn(async {});
        let names: Vec<String> = simul::all_tasks()
            .iter()
            .map(|i| i.name().to_string())
            .collect();
        assert_eq!(names, ["main", "a", "b"], "the main future is a task too");
        simul::yield_now().await;
        let infos: Vec<_> = simul::all_tasks()
            .into_iter()
            .filter(|i| i.name() != "main")
            .collect();
        assert_eq!(infos.len(), 1, "b finished and left the registry");
        assert_eq!(infos[0].state(), TaskState::Waiting);
        assert_eq!(infos[0].polls(), 1);
        assert!(infos[0].location().file().ends_with("rt_tasks.rs"));
        assert_eq!(simul::current_task().unwrap().name(), "main");
        a.cancel();
        drop(b);
    });
    assert!(simul::current_task().is_none());
    assert!(simul::all_tasks().is_empty());
}

#[test]
fn eager_task_runs_first_step_inside_spawn() {
    simul::run(async {
        let log = Rc::new(RefCell::new(Vec::new()));
        let l = log.clone();
        let t = simul::Task::builder().eager(true).spawn(async move {
            l.borrow_mut().push("eager step 1");
            simul::yield_now().await;
            l.borrow_mut().push("eager step 2");
        });
        log.borrow_mut().push("after spawn");
        assert!(!t.is_done());
        t.await.unwrap();
        assert_eq!(
            *log.borrow(),
            ["eager step 1", "after spawn", "eager step 2"]
        );
    });
}

#[test]
fn event_loop_reuse_between_runs() {
    let lp = simul::EventLoop::new().unwrap();
    let t = lp.spawn(async {
        simul::sleep(Duration::from_millis(1)).await;
        1
    });
    let bg = lp.spawn(std::future::pending::<()>());
    assert_eq!(lp.run_until_complete(t).unwrap(), 1);
    assert!(!bg.is_done(), "run_until_complete leaves other tasks alive");
    lp.close();
    assert!(bg.is_cancelled());
}

/// Panics when dropped (after counting the drop).
struct PanicOnDrop(Rc<Cell<u32>>);
impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
        panic!("output destructor panics");
    }
}

#[test]
fn a_detached_tasks_output_is_dropped_once_even_when_its_destructor_panics() {
    let (plain, panicky) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
    let (p, q) = (plain.clone(), panicky.clone());
    let after = simul::run(async move {
        // Large futures (the output is dropped in place, not moved out with the stage).
        let pad = [7u8; 4096];
        drop(simul::spawn(async move {
            simul::yield_now().await;
            std::hint::black_box(&pad);
            DropCounter(p)
        }));
        drop(simul::spawn(async move {
            simul::yield_now().await;
            std::hint::black_box(&pad);
            PanicOnDrop(q)
        }));
        for _ in 0..3 {
            simul::yield_now().await;
        }
        // The loop survived the panicking destructor and still runs tasks.
        simul::spawn(async { 41 + 1 }).await.unwrap()
    });
    assert_eq!(after, 42);
    assert_eq!(plain.get(), 1);
    assert_eq!(panicky.get(), 1);
}

#[test]
fn an_awaited_output_of_a_large_task_is_moved_out_once() {
    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    simul::run(async move {
        let pad = [3u8; 4096];
        let t = simul::spawn(async move {
            simul::yield_now().await;
            (DropCounter(d), std::hint::black_box(pad)[4095])
        });
        let (counter, last) = t.await.unwrap();
        assert_eq!(last, 3);
        assert_eq!(counter.0.get(), 0, "the output is not dropped by the join");
        drop(counter);
    });
    assert_eq!(drops.get(), 1);
}

#[test]
fn a_future_spawned_outside_a_loop_is_dropped_once_with_the_panic() {
    let drops = Rc::new(Cell::new(0));
    let guard = DropCounter(drops.clone());
    let pad = [1u8; 4096];
    let spawned = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        drop(simul::spawn(async move {
            let _g = guard;
            std::hint::black_box(pad);
        }));
    }));
    assert!(spawned.is_err(), "spawn outside a loop panics");
    assert_eq!(drops.get(), 1, "the future was dropped exactly once");
}
