//! `simul::loops::spawn` keeps work on the calling loop when that loop is among the least
//! loaded (the calling task itself not counted), and a local spawn's `RemoteTask` behaves
//! as a remote one's: result, panic, cancellation, detaching, shutdown.

use std::sync::{Arc, Mutex};
use std::time::Duration;

fn two() -> simul::Loops {
    simul::Loops::builder().count(2).build().unwrap()
}

fn here() -> (usize, String) {
    (
        simul::loops::current_index().unwrap(),
        std::thread::current().name().unwrap().to_string(),
    )
}

#[test]
fn a_spawn_from_a_loop_whose_peers_are_no_less_loaded_runs_on_the_calling_loop() {
    let loops = Arc::new(two());
    let set = loops.clone();
    let out = loops.run(move |_| {
        let set = set.clone();
        async move {
            let me = here();
            // Both loops run nothing but their main future: the caller's loop, without
            // the caller, is as idle as its peer (or more): the spawns stay here.
            let a = simul::loops::spawn(async { here() }).await.unwrap();
            let b = simul::loops::spawn_with(|| {
                let local = std::rc::Rc::new(()); // !Send: built where it runs
                async move {
                    drop(local);
                    here()
                }
            })
            .await
            .unwrap();
            // the set's own method, called from one of its loops, decides the same way
            let c = set.spawn(async { here() }).await.unwrap();
            (me.clone() == a, me.clone() == b, me == c)
        }
    });
    assert_eq!(out, [(true, true, true), (true, true, true)]);
}

#[test]
fn a_spawn_goes_to_an_idle_peer_when_the_calling_loop_has_other_ready_tasks() {
    let loops = two();
    let t = loops.handle(0).spawn_with(|| async {
        // three tasks queued on this loop, not yet run: loop 1 has nothing
        let queued: Vec<_> = (0..3).map(|_| simul::spawn(async {})).collect();
        let ran_on = simul::loops::spawn(async { here().0 }).await.unwrap();
        for q in queued {
            q.await.unwrap();
        }
        ran_on
    });
    assert_eq!(simul::run(t).unwrap(), 1);
}

#[test]
fn a_burst_of_spawns_from_one_task_alternates_between_the_loops() {
    const BURST: usize = 6;
    let loops = two();
    // Idle first (its start-up callback done and published), so loop 1 takes in the
    // callback below alone and publishes a load of 1 (that callback, queued) before it runs.
    simul::run(loops.handle(1).spawn(async {})).unwrap(); // after the start-up callback
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while loops.load(1) != 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    // Loop 1 is held in a callback for the whole burst, so it takes nothing in and its
    // figure is only the spawns in flight to it: the choices do not depend on timing.
    let (held_tx, held_rx) = std::sync::mpsc::channel::<()>();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    assert!(loops.handle(1).call_soon_threadsafe(move || {
        held_tx.send(()).unwrap();
        go_rx.recv().unwrap();
    }));
    held_rx.recv().unwrap();
    assert_eq!(loops.load(1), 1);
    // The burst is one poll of one task: the local spawns stay queued (not run) and loop 1
    // takes nothing in until it is released.
    let burst = loops.spawn_on(0, async {
        (0..BURST)
            .map(|_| simul::loops::spawn(async { here().0 }))
            .collect::<Vec<_>>()
    });
    let jobs = simul::run(burst).unwrap();
    go_tx.send(()).unwrap();
    let ran_on: Vec<usize> = simul::run(simul::gather(jobs))
        .into_iter()
        .map(Result::unwrap)
        .collect();
    // Each queued local task counts twice (queued and live) and so does each spawn in
    // flight to loop 1, so the choices alternate, starting with the calling loop.
    assert_eq!(ran_on, [0, 1, 0, 1, 0, 1]);
}

/// Spawns `fut` from a task of loop 0, on loop 0 itself (`local`) or on loop 1.
fn spawn_to<F>(local: bool, fut: F) -> simul::RemoteTask<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let me = simul::loops::current_index().unwrap();
    simul::loops::spawn_on(if local { me } else { 1 - me }, fut)
}

/// Records the thread a value was dropped on.
struct DropsOn(Arc<Mutex<Option<String>>>);

impl Drop for DropsOn {
    fn drop(&mut self) {
        *self.0.lock().unwrap() = std::thread::current().name().map(String::from);
    }
}

#[test]
fn a_panic_reaches_the_awaiter_of_a_local_spawn_as_of_a_remote_one() {
    for local in [true, false] {
        let loops = two();
        let t = loops.spawn_on(0, async move {
            let future = match spawn_to(local, async move { panic!("boom {local}") }).await {
                Err(simul::TaskError::Panicked(p)) => p.message().to_string(),
                other => format!("not a panic: {:?}", other.map(|_| ())),
            };
            let make =
                match simul::loops::spawn_with(|| -> std::future::Ready<()> { panic!("in make") })
                    .await
                {
                    Err(simul::TaskError::Panicked(p)) => p.message().to_string(),
                    other => format!("not a panic: {:?}", other.map(|_| ())),
                };
            // the calling loop carries on
            simul::sleep(Duration::from_millis(1)).await;
            (future, make)
        });
        let (future, make) = simul::run(t).unwrap();
        assert_eq!(future, format!("boom {local}"));
        assert_eq!(make, "in make");
    }
}

#[test]
fn cancelling_a_local_spawn_drops_its_future_on_its_loop_as_a_remote_one() {
    for local in [true, false] {
        let loops = two();
        let dropped_on = Arc::new(Mutex::new(None));
        let d = dropped_on.clone();
        let t = loops.spawn_on(0, async move {
            // cancelled while it waits
            let (started_tx, started) = simul::sync::oneshot::channel::<()>();
            let guard = DropsOn(d);
            let running = spawn_to(local, async move {
                let _guard = guard;
                started_tx.send(()).unwrap();
                std::future::pending::<()>().await
            });
            started.await.unwrap();
            running.cancel();
            let waiting = running.await.map(|_| ()).unwrap_err().is_cancelled();
            // cancelled before its first step: never polled (loop 1 is held meanwhile, so
            // a remote spawn cannot run before the cancel either)
            let (held_tx, held) = std::sync::mpsc::channel::<()>();
            let (go, go_rx) = std::sync::mpsc::channel::<()>();
            simul::loops::handle(1).call_soon_threadsafe(move || {
                held_tx.send(()).unwrap();
                go_rx.recv().unwrap();
            });
            held.recv().unwrap();
            let polled = Arc::new(Mutex::new(false));
            let p = polled.clone();
            let never = spawn_to(local, async move { *p.lock().unwrap() = true });
            never.cancel();
            go.send(()).unwrap();
            let early = never.await.unwrap_err().is_cancelled();
            let polled = *polled.lock().unwrap();
            (waiting, early, polled)
        });
        assert_eq!(simul::run(t).unwrap(), (true, true, false));
        let want = if local {
            "simul-loop-0"
        } else {
            "simul-loop-1"
        };
        assert_eq!(dropped_on.lock().unwrap().as_deref(), Some(want));
    }
}

#[test]
fn a_dropped_local_remote_task_detaches_as_a_remote_one() {
    for local in [true, false] {
        let loops = two();
        let (tx, rx) = simul::sync::oneshot::channel::<usize>();
        let t = loops.spawn_on(0, async move {
            drop(spawn_to(local, async move {
                simul::sleep(Duration::from_millis(5)).await;
                tx.send(here().0).unwrap();
            }));
        });
        simul::run(t).unwrap();
        assert_eq!(simul::run(rx).unwrap(), usize::from(!local));
    }
}

#[test]
fn shutting_the_set_down_cancels_a_running_local_spawn_as_a_remote_one() {
    for local in [true, false] {
        let loops = two();
        let dropped_on = Arc::new(Mutex::new(None));
        let d = dropped_on.clone();
        let t = loops.spawn_on(0, async move {
            let (started_tx, started) = simul::sync::oneshot::channel::<()>();
            let guard = DropsOn(d);
            let running = spawn_to(local, async move {
                let _guard = guard;
                started_tx.send(()).unwrap();
                std::future::pending::<()>().await
            });
            started.await.unwrap();
            (running,) // the handle itself, not awaited here
        });
        let (running,) = simul::run(t).unwrap();
        assert!(!running.is_done());
        drop(loops);
        assert!(simul::run(running).unwrap_err().is_cancelled());
        let want = if local {
            "simul-loop-0"
        } else {
            "simul-loop-1"
        };
        assert_eq!(dropped_on.lock().unwrap().as_deref(), Some(want));
    }
}

#[test]
fn a_spawn_onto_the_calling_loop_is_queued_at_once_like_a_local_task() {
    // No trip through the loop's injection queue: a spawn on the calling loop joins the
    // ready queue when it is made, so it runs before a task spawned after it.
    let loops = two();
    let order = Arc::new(Mutex::new(String::new()));
    let o = order.clone();
    let t = loops.handle(0).spawn_with(move || async move {
        let (o1, o2) = (o.clone(), o.clone());
        let first = simul::loops::spawn_on(0, async move { o1.lock().unwrap().push('a') });
        let second = simul::spawn(async move { o2.lock().unwrap().push('b') });
        first.await.unwrap();
        second.await.unwrap();
    });
    simul::run(t).unwrap();
    assert_eq!(*order.lock().unwrap(), "ab");
}

#[test]
fn a_spawn_onto_a_closing_loop_from_its_own_thread_is_cancelled_at_once() {
    // A destructor run by the loop's shutdown spawns onto that same loop: as a remote spawn
    // into a closed injection queue is, the spawn is refused and its handle resolved as
    // cancelled right away (not left as a task for a later round of the shutdown to drop).
    struct SpawnsOnDrop(std::sync::mpsc::Sender<(bool, simul::RemoteTask<u32>)>);
    impl Drop for SpawnsOnDrop {
        fn drop(&mut self) {
            let t = simul::loops::spawn_on(0, async { 5 });
            let _ = self.0.send((t.is_done(), t));
        }
    }
    let loops = two();
    let (tx, rx) = std::sync::mpsc::channel();
    let (started_tx, started) = std::sync::mpsc::channel::<()>();
    let _pending = loops.spawn_on(0, async move {
        let _g = SpawnsOnDrop(tx);
        started_tx.send(()).unwrap();
        std::future::pending::<()>().await
    });
    started.recv().unwrap();
    drop(loops); // shuts loop 0 down: the pending task's destructor runs there
    let (done_at_once, t) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(
        done_at_once,
        "the handle of a refused spawn resolves at once"
    );
    assert!(simul::run(t).unwrap_err().is_cancelled());
}
