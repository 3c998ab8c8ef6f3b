//! current_task, all_tasks, TaskInfo, dump_tasks and eager tasks (core features exercised
//! together with the combinators).

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use simul::{Task, TaskState};

mod common;
use common::vrun;

fn dump() -> String {
    let mut buf = Vec::new();
    simul::dump_tasks_to(&mut buf).unwrap();
    String::from_utf8(buf).unwrap()
}

#[test]
fn dump_lists_every_live_task_with_its_name_state_and_location() {
    vrun(async {
        let _a = Task::builder()
            .name("fetcher")
            .spawn(simul::sleep(Duration::from_secs(9)));
        let _b = Task::builder().name("parser").spawn(async {});
        simul::yield_now().await; // "parser" finishes, "fetcher" waits
        let _c = Task::builder().name("queued").spawn(async {});
        let table = dump();
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].contains("ID") && lines[0].contains("STATE") && lines[0].contains("NAME"));
        let row = |name: &str| lines.iter().find(|l| l.contains(name)).copied();
        let fetcher = row("fetcher").expect("fetcher listed");
        assert!(fetcher.contains("Waiting"), "{fetcher}");
        assert!(
            fetcher.contains("combinators_introspection.rs"),
            "{fetcher}"
        );
        assert!(row("queued").unwrap().contains("Scheduled"));
        assert!(row("parser").is_none(), "a finished task is not listed");
        // the caller is marked with '*'
        let me = row("main").expect("the current task is listed");
        assert!(me.starts_with('*'), "{me}");
        assert!(lines.last().unwrap().contains("3 task(s)"), "{table}");
    });
}

#[test]
fn dump_from_inside_a_task_marks_that_task() {
    vrun(async {
        let t = Task::builder().name("dumper").spawn(async { dump() });
        let table = t.await.unwrap();
        let line = table.lines().find(|l| l.contains("dumper")).unwrap();
        assert!(line.starts_with('*'));
        assert!(line.contains("Running"));
    });
}

#[test]
fn dump_outside_a_loop_is_an_empty_table() {
    let table = dump();
    assert_eq!(table.lines().count(), 2);
    assert!(table.ends_with("0 task(s)\n"));
    simul::dump_tasks(); // must not panic either
}

#[test]
fn current_task_names_the_polled_task_inside_combinators() {
    vrun(async {
        let name = || simul::current_task().unwrap().name().to_string();
        let t = Task::builder().name("gatherer").spawn(async move {
            let (a, b) = simul::gather!(async move { name() }, async move { name() }).await;
            (a, b)
        });
        // gather drives its children in place: they run as part of the gathering task
        assert_eq!(t.await.unwrap(), ("gatherer".into(), "gatherer".into()));
        // shield spawns: the work runs as its own task
        let id = simul::shield(async { simul::current_task().unwrap().id() }).await;
        assert_ne!(id, simul::current_task().unwrap().id());
    });
}

#[test]
fn all_tasks_tracks_polls_and_states() {
    vrun(async {
        let t = Task::builder().name("sleeper").spawn(async {
            for _ in 0..3 {
                simul::sleep(Duration::from_secs(1)).await;
            }
        });
        simul::sleep(Duration::from_millis(2500)).await;
        let info = simul::all_tasks()
            .into_iter()
            .find(|i| i.name() == "sleeper")
            .unwrap();
        assert_eq!(info.polls(), 3);
        assert_eq!(info.state(), TaskState::Waiting);
        assert_eq!(info.id(), t.id());
        t.await.unwrap();
        assert!(simul::all_tasks().iter().all(|i| i.name() != "sleeper"));
    });
}

#[test]
fn eager_tasks_run_their_first_step_inside_spawn() {
    vrun(async {
        let steps = Rc::new(Cell::new(0));
        let s = steps.clone();
        let t = Task::builder().eager(true).spawn(async move {
            s.set(1);
            simul::yield_now().await;
            s.set(2);
        });
        assert_eq!(steps.get(), 1, "the first step ran before spawn returned");
        assert!(!t.is_done());
        t.await.unwrap();
        assert_eq!(steps.get(), 2);
        // a task that never suspends is done when spawn returns
        let quick = Task::builder().eager(true).spawn(async { 9 });
        assert!(quick.is_done());
        assert_eq!(quick.await.unwrap(), 9);
    });
}

#[test]
fn eager_tasks_work_inside_a_task_group_join() {
    vrun(async {
        let tg = simul::TaskGroup::new();
        let t = tg.spawn(async {
            let inner = Task::builder().eager(true).spawn(async { 4 });
            inner.await.unwrap()
        });
        tg.join().await.unwrap();
        assert_eq!(t.await.unwrap(), 4);
    });
}
