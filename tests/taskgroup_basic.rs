//! TaskGroup: join, first failure cancels siblings, drop cancels, nesting, reporting.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use simul::{EventLoop, ExceptionKind, GroupError, TaskGroup};

mod common;
use common::secs;

fn vloop() -> EventLoop {
    EventLoop::builder().virtual_time(true).build().unwrap()
}

fn vrun<F: Future>(f: F) -> F::Output {
    vloop().run_until_complete(f)
}

/// Drop counter; also logs a label to an ordered log when given one.
struct Guard {
    drops: Rc<Cell<usize>>,
    log: Option<(Rc<RefCell<Vec<&'static str>>>, &'static str)>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.drops.set(self.drops.get() + 1);
        if let Some((log, label)) = &self.log {
            log.borrow_mut().push(label);
        }
    }
}

fn guard(drops: &Rc<Cell<usize>>) -> Guard {
    Guard {
        drops: drops.clone(),
        log: None,
    }
}

fn logged(drops: &Rc<Cell<usize>>, log: &Rc<RefCell<Vec<&'static str>>>, l: &'static str) -> Guard {
    Guard {
        drops: drops.clone(),
        log: Some((log.clone(), l)),
    }
}

#[test]
fn join_waits_for_every_task_and_results_stay_on_the_handles() {
    vrun(async {
        let t0 = simul::time();
        let tg = TaskGroup::new();
        let handles: Vec<_> = (1..=5u64)
            .map(|s| {
                tg.spawn(async move {
                    simul::sleep(secs(s)).await;
                    s * 10
                })
            })
            .collect();
        assert_eq!(tg.len(), 5);
        tg.join().await.unwrap();
        assert_eq!(simul::time() - t0, secs(5));
        for (i, h) in handles.into_iter().enumerate() {
            assert!(h.is_done());
            assert_eq!(h.await.unwrap(), (i as u64 + 1) * 10);
        }
    });
}

#[test]
fn an_empty_group_joins_at_once() {
    vrun(async {
        let t0 = simul::time();
        TaskGroup::new().join().await.unwrap();
        assert_eq!(simul::time(), t0);
    });
}

#[test]
fn a_panic_cancels_the_siblings_and_join_returns_it() {
    vrun(async {
        let drops = Rc::new(Cell::new(0));
        let finished = Rc::new(Cell::new(0));
        let t0 = simul::time();
        let tg = TaskGroup::new();
        let mut siblings = Vec::new();
        for _ in 0..3 {
            let (g, f) = (guard(&drops), finished.clone());
            siblings.push(tg.spawn(async move {
                let _g = g;
                simul::sleep(secs(60)).await;
                f.set(f.get() + 1);
            }));
        }
        let bad = tg.spawn(async {
            simul::sleep(secs(1)).await;
            panic!("member failed");
        });
        let err = tg.join().await.unwrap_err();
        assert_eq!(simul::time() - t0, secs(1));
        match &err {
            GroupError::Panicked(p) => assert_eq!(p.message(), "member failed"),
            other => panic!("unexpected {other:?}"),
        }
        // the original payload is kept for resume()
        let payload = err.into_panic().unwrap().take().unwrap();
        assert_eq!(*payload.downcast::<&str>().unwrap(), "member failed");
        assert_eq!(drops.get(), 3);
        assert_eq!(finished.get(), 0);
        for s in siblings {
            assert!(s.await.unwrap_err().is_cancelled());
        }
        // the failing task's own handle sees the panic too
        match bad.await.unwrap_err() {
            simul::TaskError::Panicked(p) => assert_eq!(p.message(), "member failed"),
            other => panic!("unexpected {other:?}"),
        }
    });
}

#[test]
fn siblings_are_cancelled_at_every_suspension_point_exactly_once() {
    // Sibling i sleeps 1 s `i + 1` times; the failure at 0.5 s, 1.5 s, 2.5 s or 3.5 s
    // finds them at different awaits (or finished).
    for fail_ms in [500u64, 1500, 2500, 3500] {
        vrun(async move {
            let drops = Rc::new(Cell::new(0));
            let steps = Rc::new(Cell::new(0));
            let tg = TaskGroup::new();
            for i in 0..3 {
                let (g, st) = (guard(&drops), steps.clone());
                let _t = tg.spawn(async move {
                    let _g = g;
                    for _ in 0..=i {
                        simul::sleep(secs(1)).await;
                        st.set(st.get() + 1);
                    }
                });
            }
            let _t = tg.spawn(async move {
                simul::sleep(Duration::from_millis(fail_ms)).await;
                panic!("fail at {fail_ms}");
            });
            assert!(tg.join().await.is_err());
            assert_eq!(drops.get(), 3, "failure at {fail_ms} ms");
            let expected = (0..3).map(|i| (fail_ms / 1000).min(i + 1)).sum::<u64>();
            assert_eq!(steps.get() as u64, expected, "failure at {fail_ms} ms");
        });
    }
}

#[test]
fn try_spawn_err_fails_the_group_with_that_error() {
    vrun(async {
        let drops = Rc::new(Cell::new(0));
        let tg = TaskGroup::<String>::new_try();
        let g = guard(&drops);
        let slow = tg.try_spawn(async move {
            let _g = g;
            simul::sleep(secs(60)).await;
            Ok(1)
        });
        let ok = tg.try_spawn(async { Ok::<_, String>(2) });
        let bad = tg.try_spawn(async {
            simul::sleep(secs(1)).await;
            Err::<i32, _>("refused".to_string())
        });
        let later = tg.try_spawn(async {
            simul::sleep(secs(2)).await;
            Err::<i32, _>("later".to_string())
        });
        let err = tg.join().await.unwrap_err();
        assert_eq!(err.into_error().as_deref(), Some("refused"));
        assert_eq!(drops.get(), 1);
        assert!(slow.await.unwrap_err().is_cancelled());
        assert_eq!(ok.await.unwrap(), Some(2));
        assert_eq!(bad.await.unwrap(), None);
        assert!(later.await.unwrap_err().is_cancelled());
    });
}

#[test]
fn a_cancelled_member_does_not_fail_the_group() {
    vrun(async {
        let tg = TaskGroup::new();
        let t = tg.spawn(simul::sleep(secs(60)));
        let other = tg.spawn(async {
            simul::sleep(secs(1)).await;
            3
        });
        t.cancel();
        tg.join().await.unwrap();
        assert_eq!(other.await.unwrap(), 3);
    });
}

#[test]
fn dropping_an_unjoined_group_cancels_its_tasks_at_once() {
    vrun(async {
        let drops = Rc::new(Cell::new(0));
        let finished = Rc::new(Cell::new(0));
        let tg = TaskGroup::new();
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let (g, f) = (guard(&drops), finished.clone());
                tg.spawn(async move {
                    let _g = g;
                    simul::sleep(secs(1)).await;
                    f.set(1);
                })
            })
            .collect();
        simul::yield_now().await; // let them start
        drop(tg);
        assert_eq!(drops.get(), 4, "destructors ran before drop returned");
        for h in handles {
            assert!(h.await.unwrap_err().is_cancelled());
        }
        simul::sleep(secs(2)).await;
        assert_eq!(finished.get(), 0);
    });
}

#[test]
fn cancelling_the_task_awaiting_join_cancels_the_group() {
    vrun(async {
        let drops = Rc::new(Cell::new(0));
        let d = drops.clone();
        let parent = simul::spawn(async move {
            let tg = TaskGroup::new();
            for _ in 0..3 {
                let g = guard(&d);
                let _t = tg.spawn(async move {
                    let _g = g;
                    simul::sleep(secs(60)).await;
                });
            }
            tg.join().await
        });
        simul::sleep(secs(1)).await;
        assert_eq!(drops.get(), 0);
        parent.cancel();
        assert!(parent.await.unwrap_err().is_cancelled());
        assert_eq!(drops.get(), 3);
    });
}

#[test]
fn a_join_timed_out_by_wait_for_cancels_the_group() {
    vrun(async {
        let drops = Rc::new(Cell::new(0));
        let tg = TaskGroup::new();
        let g = guard(&drops);
        let t = tg.spawn(async move {
            let _g = g;
            simul::sleep(secs(60)).await;
        });
        assert!(simul::wait_for(secs(1), tg.join()).await.is_err());
        assert_eq!(drops.get(), 1);
        assert!(t.await.unwrap_err().is_cancelled());
    });
}

#[test]
fn nested_groups_cancel_inner_before_outer() {
    vrun(async {
        let drops = Rc::new(Cell::new(0));
        let log = Rc::new(RefCell::new(Vec::new()));
        let outer = TaskGroup::new();
        let (d, l) = (drops.clone(), log.clone());
        let _t = outer.spawn(async move {
            let _outer_guard = logged(&d, &l, "outer member");
            let inner = TaskGroup::new();
            for label in ["inner a", "inner b"] {
                let g = logged(&d, &l, label);
                let _t = inner.spawn(async move {
                    let _g = g;
                    simul::sleep(secs(60)).await;
                });
            }
            inner.join().await.unwrap();
        });
        let _t = outer.spawn(async {
            simul::sleep(secs(1)).await;
            panic!("outer failure");
        });
        assert!(outer.join().await.is_err());
        assert_eq!(drops.get(), 3);
        assert_eq!(*log.borrow(), vec!["inner a", "inner b", "outer member"]);
    });
}

#[test]
fn a_failure_in_an_inner_group_propagates_through_the_outer_one() {
    vrun(async {
        let drops = Rc::new(Cell::new(0));
        let outer = TaskGroup::new();
        let d = drops.clone();
        let g = guard(&drops);
        let _t = outer.spawn(async move {
            let _g = g;
            simul::sleep(secs(60)).await;
        });
        let _t = outer.spawn(async move {
            let inner = TaskGroup::new();
            let g = guard(&d);
            let _t = inner.spawn(async move {
                let _g = g;
                simul::sleep(secs(60)).await;
            });
            let _t = inner.spawn(async {
                simul::sleep(secs(1)).await;
                panic!("deep");
            });
            if let Err(e) = inner.join().await {
                e.into_panic().unwrap().resume();
            }
        });
        match outer.join().await.unwrap_err() {
            GroupError::Panicked(p) => assert_eq!(p.message(), "deep"),
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(drops.get(), 2);
    });
}

#[test]
fn spawning_into_a_failed_group_starts_the_task_cancelled() {
    vrun(async {
        let drops = Rc::new(Cell::new(0));
        let tg = TaskGroup::new();
        let _t = tg.spawn(async { panic!("first") });
        simul::yield_now().await;
        let g = guard(&drops);
        let polled = Rc::new(Cell::new(false));
        let p = polled.clone();
        let late = tg.spawn(async move {
            let _g = g;
            p.set(true);
        });
        assert_eq!(drops.get(), 1);
        assert!(late.await.unwrap_err().is_cancelled());
        assert!(!polled.get());
        assert!(tg.join().await.is_err());
    });
}

#[test]
fn cancel_stops_every_task_and_join_succeeds() {
    vrun(async {
        let drops = Rc::new(Cell::new(0));
        let tg = TaskGroup::new();
        for _ in 0..3 {
            let g = guard(&drops);
            let _t = tg.spawn(async move {
                let _g = g;
                simul::sleep(secs(60)).await;
            });
        }
        simul::yield_now().await;
        tg.cancel();
        assert_eq!(drops.get(), 3);
        assert!(tg.is_empty());
        tg.join().await.unwrap();
    });
}

#[test]
fn a_member_panic_is_not_reported_as_never_retrieved() {
    let lp = vloop();
    let reports = Rc::new(RefCell::new(Vec::new()));
    let r = reports.clone();
    lp.set_exception_handler(move |ctx| r.borrow_mut().push(ctx.kind()));
    lp.run_until_complete(async {
        let tg = TaskGroup::new();
        drop(tg.spawn(async { panic!("detached, handled by the group") }));
        let kept = tg.spawn(async {
            simul::yield_now().await;
            panic!("kept, handled by the group")
        });
        assert!(tg.join().await.is_err());
        drop(kept); // dropping a handle holding a panic the group took: no report either
        simul::sleep(secs(1)).await;
    });
    assert!(reports.borrow().is_empty(), "{:?}", reports.borrow());
}

#[test]
fn a_group_dropped_with_an_unretrieved_panic_reports_it() {
    let lp = vloop();
    let reports = Rc::new(RefCell::new(Vec::new()));
    let r = reports.clone();
    lp.set_exception_handler(move |ctx| {
        r.borrow_mut().push((ctx.kind(), ctx.message().to_string()))
    });
    lp.run_until_complete(async {
        let tg = TaskGroup::new();
        let _t = tg.spawn(async { panic!("lost") });
        simul::yield_now().await;
        drop(tg);
    });
    let reports = reports.borrow();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].0, ExceptionKind::UnretrievedPanic);
    assert!(reports[0].1.contains("lost"));
}

#[test]
fn members_can_be_named_and_listed() {
    vrun(async {
        let tg = TaskGroup::new();
        let t = tg.spawn(simul::sleep(secs(1)));
        let info = simul::all_tasks()
            .into_iter()
            .find(|i| i.id() == t.id())
            .unwrap();
        assert!(info.location().file().ends_with("taskgroup_basic.rs"));
        tg.join().await.unwrap();
    });
}

#[test]
fn ten_thousand_tasks_join() {
    vrun(async {
        let tg = TaskGroup::new();
        let sum = Rc::new(Cell::new(0u64));
        for i in 0..10_000u64 {
            let s = sum.clone();
            let _t = tg.spawn(async move {
                simul::yield_now().await;
                s.set(s.get() + i);
            });
        }
        tg.join().await.unwrap();
        assert_eq!(sum.get(), (0..10_000).sum::<u64>());
    });
}

#[test]
fn loop_shutdown_with_live_groups_drops_every_member_once() {
    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    vrun(async move {
        // a detached task owns a group with an inner group; the loop ends first
        let _detached = simul::spawn(async move {
            let outer = TaskGroup::new();
            for _ in 0..3 {
                let d = d.clone();
                let _t = outer.spawn(async move {
                    let _g = guard(&d);
                    let inner = TaskGroup::new();
                    let g2 = guard(&d);
                    let _t = inner.spawn(async move {
                        let _g = g2;
                        simul::sleep(secs(60)).await;
                    });
                    inner.join().await.unwrap();
                });
            }
            outer.join().await.unwrap();
        });
        simul::sleep(secs(1)).await;
    });
    assert_eq!(drops.get(), 6);
}
