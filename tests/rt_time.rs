//! Time: sleep, yield_now fairness, intervals, timeouts (virtual time where timing matters).
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

fn virtual_loop() -> simul::EventLoop {
    simul::EventLoop::builder()
        .virtual_time(true)
        .build()
        .unwrap()
}

#[test]
fn yield_now_lets_every_other_ready_task_run_first() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    simul::run(async move {
        let tasks: Vec<_> = (0..3)
            .map(|i| {
                let l = l.clone();
                simul::spawn(async move {
                    for round in 0..3 {
                        l.borrow_mut().push((round, i));
                        simul::yield_now().await;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    // Round-robin: all tasks do round 0, then all do round 1, ...
    let expect: Vec<(i32, i32)> = (0..3).flat_map(|r| (0..3).map(move |i| (r, i))).collect();
    assert_eq!(*log.borrow(), expect);
}

#[test]
fn sleep_zero_yields_like_asyncio_sleep_0() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    simul::run(async move {
        let l2 = l.clone();
        let t = simul::spawn(async move { l2.borrow_mut().push("other") });
        simul::sleep(Duration::ZERO).await;
        l.borrow_mut().push("me");
        t.await.unwrap();
    });
    assert_eq!(*log.borrow(), ["other", "me"]);
}

#[test]
fn concurrent_sleeps_overlap() {
    let lp = virtual_loop();
    let t0 = lp.time();
    lp.run_until_complete(async {
        let tasks: Vec<_> = (1..=10)
            .map(|i| simul::spawn(simul::sleep(Duration::from_secs(i))))
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    let took = lp.time() - t0;
    assert!(
        took >= Duration::from_secs(10) && took < Duration::from_millis(10_010),
        "{took:?}"
    );
}

#[test]
fn sleeps_wake_in_deadline_order() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let lp = virtual_loop();
    let l = log.clone();
    lp.run_until_complete(async move {
        let tasks: Vec<_> = [50u64, 10, 40, 20, 30, 20]
            .into_iter()
            .enumerate()
            .map(|(i, ms)| {
                let l = l.clone();
                simul::spawn(async move {
                    simul::sleep(Duration::from_millis(ms)).await;
                    l.borrow_mut().push(i);
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
    assert_eq!(*log.borrow(), [1, 3, 5, 4, 2, 0]);
}

#[test]
fn wait_for_times_out_and_drops_the_inner_future() {
    let dropped = Rc::new(Cell::new(false));
    let d = dropped.clone();
    struct Guard(Rc<Cell<bool>>);
    impl Drop for Guard {
        fn drop(&mut self) {
            self.0.set(true)
        }
    }
    let lp = virtual_loop();
    let t0 = lp.time();
    let r = lp.run_until_complete(async move {
        let d2 = d.clone();
        let inner = async move {
            let _g = Guard(d2);
            simul::sleep(Duration::from_secs(60)).await;
            "finished"
        };
        let r = simul::wait_for(Duration::from_secs(5), inner).await;
        assert!(
            d.get(),
            "inner future dropped at the timeout, before wait_for returned"
        );
        r
    });
    assert_eq!(r, Err(simul::TimeoutError));
    assert!(dropped.get());
    let took = lp.time() - t0;
    assert!(took >= Duration::from_secs(5) && took < Duration::from_secs(6));
}

#[test]
fn wait_for_returns_the_value_when_in_time() {
    let lp = virtual_loop();
    let r = lp.run_until_complete(simul::wait_for(Duration::from_secs(5), async {
        simul::sleep(Duration::from_secs(1)).await;
        9
    }));
    assert_eq!(r, Ok(9));
}

#[test]
fn wait_for_a_task_with_cancel_on_drop_cancels_it() {
    let lp = virtual_loop();
    lp.run_until_complete(async {
        let t = simul::spawn(simul::sleep(Duration::from_secs(60)));
        let r = simul::wait_for(Duration::from_secs(1), t.cancel_on_drop()).await;
        assert!(r.is_err());
        simul::yield_now().await;
        assert!(simul::all_tasks().iter().all(|i| i.name() == "main"));
    });
}

#[test]
fn timeout_at_absolute_deadline() {
    let lp = virtual_loop();
    lp.run_until_complete(async {
        let at = simul::time() + Duration::from_secs(2);
        let r = simul::timeout_at(at, std::future::pending::<()>()).await;
        assert!(r.is_err());
        assert!(simul::time() >= at);
    });
}

#[test]
fn interval_ticks_on_a_grid_and_skips_missed_ticks() {
    let lp = virtual_loop();
    lp.run_until_complete(async {
        let mut iv = simul::interval(Duration::from_secs(1));
        let start = iv.tick().await;
        let t1 = iv.tick().await;
        assert_eq!(t1 - start, Duration::from_secs(1));
        // fall behind by 3.5 periods (a sleep holds us up)
        simul::sleep(Duration::from_millis(3500)).await;
        let late = iv.tick().await; // the tick that was due at 2 s fires at once
        assert_eq!(late - start, Duration::from_secs(2));
        let next = iv.tick().await; // missed 3 s and 4 s are skipped; back on the grid at 5 s
        assert_eq!(next - start, Duration::from_secs(5));
        assert_eq!(simul::time() - start, Duration::from_secs(5));
    });
}

#[test]
fn virtual_time_is_deterministic() {
    let run_once = || {
        let log = Rc::new(RefCell::new(Vec::new()));
        let lp = virtual_loop();
        let t0 = lp.time();
        let l = log.clone();
        lp.run_until_complete(async move {
            let tasks: Vec<_> = (0..20u64)
                .map(|i| {
                    let l = l.clone();
                    simul::spawn(async move {
                        for k in 0..5u64 {
                            simul::sleep(Duration::from_millis((i * 7 + k * 13) % 50 + 1)).await;
                            l.borrow_mut().push((i, k, simul::time() - t0));
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        });
        log.take()
    };
    let first = run_once();
    for _ in 0..20 {
        assert_eq!(run_once(), first);
    }
}

#[test]
fn real_sleep_is_not_early_and_not_badly_late() {
    simul::run(async {
        for ms in [1u64, 3, 7] {
            let t0 = std::time::Instant::now();
            simul::sleep(Duration::from_millis(ms)).await;
            let took = t0.elapsed();
            assert!(took >= Duration::from_millis(ms), "{took:?} < {ms} ms");
        }
    });
}

#[test]
fn idle_loop_parks_instead_of_spinning() {
    // CPU time used by this thread while the loop sleeps 200 ms must be tiny.
    fn thread_cpu() -> Duration {
        let mut ts = libc_timespec::zero();
        ts.read();
        ts.dur()
    }
    let before = thread_cpu();
    simul::run(simul::sleep(Duration::from_millis(200)));
    let used = thread_cpu() - before;
    assert!(
        used < Duration::from_millis(50),
        "idle loop burned {used:?} of CPU"
    );

    mod libc_timespec {
        use std::time::Duration;
        pub struct Ts(u64);
        impl Ts {
            pub fn read(&mut self) {
                // /proc/thread-self/schedstat: first field is CPU time in ns.
                let s = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap();
                self.0 = s.split_whitespace().next().unwrap().parse().unwrap();
            }
            pub fn dur(&self) -> Duration {
                Duration::from_nanos(self.0)
            }
        }
        pub fn zero() -> Ts {
            Ts(0)
        }
    }
}
