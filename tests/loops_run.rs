//! `Loops::run`, `spawn_on`, `spawn`: one loop per thread, outputs in order, panics
//! contained like a `TaskGroup` of loops.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn two() -> simul::Loops {
    simul::Loops::builder().count(2).build().unwrap()
}

#[test]
fn run_returns_outputs_in_loop_order_from_distinct_threads() {
    let loops = simul::Loops::builder().count(3).build().unwrap();
    let out = loops.run(|index| async move {
        // the last loop finishes first: order must still be by index
        simul::sleep(Duration::from_millis(30 - 10 * index as u64)).await;
        (index, std::thread::current().name().map(String::from))
    });
    assert_eq!(
        out,
        [
            (0, Some("simul-loop-0".to_string())),
            (1, Some("simul-loop-1".to_string())),
            (2, Some("simul-loop-2".to_string())),
        ]
    );
}

#[test]
fn main_futures_run_at_the_same_time() {
    // Each main waits for the other through a pair of channels: sequential runs would hang.
    let loops = two();
    let (tx0, rx0) = simul::sync::channel::<u32>();
    let (tx1, rx1) = simul::sync::channel::<u32>();
    let ends = std::sync::Mutex::new(vec![Some((tx0, rx1)), Some((tx1, rx0))]);
    let out = loops.run(move |index| {
        let (tx, mut rx) = ends.lock().unwrap()[index].take().unwrap();
        async move {
            tx.send(index as u32).unwrap();
            rx.recv().await.unwrap()
        }
    });
    assert_eq!(out, [1, 0]);
}

#[test]
fn spawn_on_runs_on_the_chosen_loop_thread() {
    let loops = two();
    for index in [1, 0, 1] {
        let t = loops.spawn_on(index, async {
            std::thread::current().name().map(String::from)
        });
        assert_eq!(simul::run(t).unwrap(), Some(format!("simul-loop-{index}")));
    }
    // and from inside a loop, through the free function
    let out = loops.run(|index| async move {
        let other = 1 - index;
        simul::loops::spawn_on(other, async { simul::loops::current_index() })
            .await
            .unwrap()
    });
    assert_eq!(out, [Some(1), Some(0)]);
}

/// The summed load of both loops once it has stopped changing (each loop publishes its
/// load once per iteration, so a reading taken right after a spawn may lag).
fn settled_load(loops: &simul::Loops) -> usize {
    let sum = || loops.load(0) + loops.load(1);
    let mut last = sum();
    let mut same = 0;
    for _ in 0..2_000 {
        std::thread::sleep(std::time::Duration::from_millis(1));
        let now = sum();
        if now == last {
            same += 1;
            if same == 10 {
                break;
            }
        } else {
            same = 0;
            last = now;
        }
    }
    last
}

#[test]
fn a_remote_task_counts_once_in_its_loops_load() {
    let loops = two();
    let (tx, rx) = simul::sync::oneshot::channel::<()>();
    let job = loops.spawn_on(1, async move { rx.await.unwrap() });
    assert_eq!(settled_load(&loops), 1);
    assert_eq!((loops.load(0), loops.load(1)), (0, 1));
    tx.send(()).unwrap();
    simul::run(job).unwrap();
    assert_eq!(settled_load(&loops), 0);
}

#[test]
fn spawn_spreads_over_the_least_loaded_loops() {
    let loops = two();
    // Long-lived tasks: each spawn sees the earlier ones as load.
    let mut releases = Vec::new();
    let mut jobs = Vec::new();
    for _ in 0..10 {
        let (tx, rx) = simul::sync::oneshot::channel::<()>();
        releases.push(tx);
        jobs.push(loops.spawn(async move {
            rx.await.unwrap();
            simul::loops::current_index().unwrap()
        }));
        // Each spawn is taken in and parked before the next one looks at the loads
        // (a task still in a ready queue counts as more load than a parked one).
        assert_eq!(settled_load(&loops), jobs.len());
    }
    // Once both loops have taken the spawns in, each long task counts once.
    assert_eq!(settled_load(&loops), 10);
    for r in releases {
        r.send(()).unwrap();
    }
    let ran_on = simul::run(simul::gather(jobs));
    let on0 = ran_on.iter().filter(|r| *r.as_ref().unwrap() == 0).count();
    assert_eq!(on0, 5, "ten long tasks on two loops: {ran_on:?}");
}

#[test]
fn a_panicking_main_future_cancels_the_others_and_is_re_raised() {
    let loops = two();
    let dropped = Arc::new(AtomicUsize::new(0));
    struct CountDrop(Arc<AtomicUsize>);
    impl Drop for CountDrop {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let d = dropped.clone();
    let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        loops.run(move |index| {
            let d = d.clone();
            async move {
                if index == 1 {
                    simul::sleep(Duration::from_millis(10)).await;
                    panic!("loop one gives up");
                }
                let _g = CountDrop(d);
                simul::sleep(Duration::from_secs(60)).await;
            }
        })
    }));
    let err = res.expect_err("the panic is re-raised");
    assert_eq!(err.downcast_ref::<&str>(), Some(&"loop one gives up"));
    // loop 0's main future was cancelled (its destructor ran) before run returned
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
    // and the set still works
    assert_eq!(loops.run(|i| async move { i }), [0, 1]);
}

#[test]
fn dropping_the_set_cancels_tasks_left_on_every_loop() {
    let dropped = Arc::new(AtomicUsize::new(0));
    struct CountDrop(Arc<AtomicUsize>, #[allow(dead_code)] std::rc::Rc<()>); // !Send: dropped on its own loop
    impl Drop for CountDrop {
        fn drop(&mut self) {
            assert!(std::thread::current()
                .name()
                .unwrap()
                .starts_with("simul-loop-"));
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let loops = two();
    let d = dropped.clone();
    loops.run(move |_| {
        let d = d.clone();
        async move {
            drop(simul::spawn(async move {
                let _g = CountDrop(d, std::rc::Rc::new(()));
                std::future::pending::<()>().await
            }));
            simul::yield_now().await; // the task has started and holds its guard
        }
    });
    assert_eq!(dropped.load(Ordering::SeqCst), 0);
    drop(loops);
    assert_eq!(dropped.load(Ordering::SeqCst), 2);
}

#[test]
fn bad_counts_and_indices_are_clear_errors() {
    let e = simul::Loops::builder().count(0).build().unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    assert!(e.to_string().contains("count"), "{e}");
    let loops = two();
    let p = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        drop(loops.spawn_on(2, async {}))
    }))
    .unwrap_err();
    let msg = p.downcast_ref::<String>().unwrap();
    assert!(
        msg.contains("no loop 2") && msg.contains("2 loops"),
        "{msg}"
    );
}

#[test]
fn task_dumps_name_the_loop() {
    let loops = two();
    let dumps = loops.run(|_| async {
        let mut out = Vec::new();
        simul::dump_tasks_to(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    });
    for (i, d) in dumps.iter().enumerate() {
        assert!(d.trim_end().ends_with(&format!("on loop {i}")), "{d}");
    }
}

#[test]
fn load_counts_live_tasks_published_by_each_loop() {
    let loops = two();
    // five long tasks spawned locally on loop 1 (not remote spawns): the loop's own count
    loops.run(|index| async move {
        if index == 1 {
            for _ in 0..5 {
                drop(simul::spawn(std::future::pending::<()>()));
            }
        }
        simul::yield_now().await;
    });
    // the loops publish their counts at their next iteration
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while loops.load(1) < 5 && std::time::Instant::now() < deadline {
        loops.handle(1).call_soon_threadsafe(|| {});
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(loops.load(1) >= 5, "loop 1 load {}", loops.load(1));
    assert!(loops.load(0) < 5, "loop 0 load {}", loops.load(0));
    // so new work goes to loop 0
    for _ in 0..3 {
        let t = loops.spawn(async { simul::loops::current_index() });
        assert_eq!(simul::run(t).unwrap(), Some(0));
    }
}

#[test]
fn virtual_time_is_refused_for_a_set() {
    let e = simul::Loops::builder()
        .loop_options(simul::EventLoop::builder().virtual_time(true))
        .build()
        .unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    assert!(e.to_string().contains("virtual time"), "{e}");
}

#[test]
fn run_inside_a_running_loop_is_refused_before_anything_starts() {
    let loops = Arc::new(two());
    let l = loops.clone();
    let msg = simul::run(async move {
        let t = simul::spawn(async move { l.run(|_| async { panic!("must not start") }) });
        match t.await {
            Err(simul::TaskError::Panicked(p)) => p.message().to_string(),
            _ => unreachable!(),
        }
    });
    assert!(
        msg.contains("cannot be called from a running event loop"),
        "{msg}"
    );
    assert_eq!(loops.run(|i| async move { i }), [0, 1]);
}
