//! What `run` leaves behind: nothing alive, destructors run.
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

struct OnDrop<F: FnMut()>(F);
impl<F: FnMut()> Drop for OnDrop<F> {
    fn drop(&mut self) {
        (self.0)()
    }
}

#[test]
fn run_cancels_every_task_still_alive() {
    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    simul::run(async move {
        for _ in 0..50 {
            let d = d.clone();
            drop(simul::spawn(async move {
                let _g = OnDrop(move || d.set(d.get() + 1));
                simul::sleep(Duration::from_secs(3600)).await;
            }));
        }
        simul::yield_now().await;
    });
    assert_eq!(drops.get(), 50);
}

#[test]
fn destructors_may_use_the_loop_during_shutdown() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    simul::run(async move {
        let l = l.clone();
        drop(simul::spawn(async move {
            let l2 = l.clone();
            let _g = OnDrop(move || {
                // spawning and scheduling from a destructor during shutdown must not panic
                let l3 = l2.clone();
                drop(simul::spawn(async move {
                    l3.borrow_mut().push("late task ran")
                }));
                let _ = simul::call_soon(|| {});
                l2.borrow_mut().push("destructor ran");
            });
            std::future::pending::<()>().await;
        }));
        simul::yield_now().await;
    });
    assert_eq!(*log.borrow(), ["destructor ran"]);
}

#[test]
fn a_panicking_destructor_during_cancel_is_contained() {
    let out = simul::run(async {
        let t = simul::spawn(async {
            let _g = OnDrop(|| panic!("bad destructor"));
            std::future::pending::<()>().await;
        });
        simul::yield_now().await;
        t.cancel();
        let err = t.await.unwrap_err();
        assert!(err.is_panic());
        "survived"
    });
    assert_eq!(out, "survived");
}

#[test]
#[allow(clippy::async_yields_async)] // the test returns the Task handle on purpose
fn shutdown_releases_task_memory() {
    // A task's memory is freed once the loop and every handle are gone: observe via an Rc
    // captured by the future.
    let probe = Rc::new(());
    let p = probe.clone();
    let handle = simul::run(async move {
        let p = p.clone();
        let t = simul::spawn(async move {
            let _p = p;
            std::future::pending::<()>().await
        });
        simul::yield_now().await;
        t
    });
    assert!(handle.is_cancelled());
    assert_eq!(Rc::strong_count(&probe), 1, "the future was dropped");
    drop(handle);
}

#[test]
fn loops_can_run_one_after_another_on_one_thread_and_in_parallel_threads() {
    for i in 0..3 {
        assert_eq!(simul::run(async move { i }), i);
    }
    let threads: Vec<_> = (0..4)
        .map(|i| {
            std::thread::spawn(move || {
                simul::run(async move {
                    simul::sleep(Duration::from_millis(5)).await;
                    i * 2
                })
            })
        })
        .collect();
    let sum: i32 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(sum, 12);
}
