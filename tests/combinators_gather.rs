//! gather, try_gather and gather!: ordering, concurrency, O(1) wake-ups, cancellation.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use simul::{gather, try_gather};

mod common;
use common::{secs, vrun, Guard};

/// Counts drops; each test asserts every guard was dropped exactly once.
#[derive(Clone, Default)]
struct Drops(Rc<Cell<usize>>);

impl Drops {
    fn guard(&self) -> Guard {
        Guard(self.0.clone())
    }
    fn get(&self) -> usize {
        self.0.get()
    }
}

/// A child that sleeps `steps` times for 1 s each, recording progress.
fn stepper(drops: &Drops, steps: u32, progress: Rc<Cell<u32>>) -> impl Future<Output = u32> {
    let g = drops.guard();
    async move {
        let _g = g;
        for _ in 0..steps {
            simul::sleep(secs(1)).await;
            progress.set(progress.get() + 1);
        }
        steps
    }
}

#[test]
fn gather_returns_outputs_in_argument_order_not_completion_order() {
    vrun(async {
        let out = gather([5u64, 1, 3, 2, 4].map(|s| async move {
            simul::sleep(secs(s)).await;
            s
        }))
        .await;
        assert_eq!(out, vec![5, 1, 3, 2, 4]);
    });
}

#[test]
fn gather_runs_children_concurrently() {
    vrun(async {
        let t0 = simul::time();
        let out = gather((1..=100u64).map(|i| async move {
            simul::sleep(secs(i % 7)).await;
            i
        }))
        .await;
        assert_eq!(out.len(), 100);
        assert_eq!(simul::time() - t0, secs(6));
    });
}

#[test]
fn gather_of_nothing_is_an_empty_vec_at_once() {
    vrun(async {
        let g = gather(Vec::<std::future::Ready<u8>>::new());
        assert!(g.is_empty());
        assert_eq!(g.await, Vec::<u8>::new());
    });
}

/// A future that counts its polls and completes after being woken `wakes` times.
struct Counted {
    polls: Rc<Cell<usize>>,
    left: u32,
}

impl Future for Counted {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.polls.set(self.polls.get() + 1);
        if self.left == 0 {
            return Poll::Ready(());
        }
        self.left -= 1;
        // wake later from a timer, so that every wake is a separate event
        let w = cx.waker().clone();
        simul::call_later(Duration::from_millis(u64::from(self.left) + 1), move || {
            w.wake()
        });
        Poll::Pending
    }
}

#[test]
fn a_wake_up_polls_only_the_woken_child() {
    // 2000 children, each woken 3 times at different instants: a gather that re-polled
    // every child on every wake-up would poll them millions of times.
    vrun(async {
        let polls = Rc::new(Cell::new(0));
        let n = 2000;
        gather((0..n).map(|_| Counted {
            polls: polls.clone(),
            left: 3,
        }))
        .await;
        assert_eq!(polls.get(), n * 4);
    });
}

#[test]
fn a_child_that_keeps_yielding_does_not_starve_the_others() {
    vrun(async {
        let done = Rc::new(Cell::new(false));
        let d = done.clone();
        let spinner = async move {
            let mut spins = 0u32;
            while !d.get() {
                simul::yield_now().await;
                spins += 1;
                assert!(spins < 1000, "the other child never ran");
            }
            spins
        };
        let d2 = done.clone();
        let setter = async move {
            simul::yield_now().await;
            simul::yield_now().await;
            d2.set(true);
            0
        };
        let (spins, _) = simul::gather!(spinner, setter).await;
        assert!(spins >= 2);
    });
}

#[test]
fn dropping_gather_before_its_first_poll_drops_every_child_once() {
    vrun(async {
        let drops = Drops::default();
        let progress = Rc::new(Cell::new(0));
        let g = gather((0..5).map(|_| stepper(&drops, 3, progress.clone())));
        drop(g);
        assert_eq!(drops.get(), 5);
        assert_eq!(progress.get(), 0);
    });
}

#[test]
fn cancelling_gather_at_each_suspension_point_drops_every_child_once() {
    // Children suspend at t = 0, 1 and 2 s; cancel in between each (and after some
    // children finished: child i takes i+1 steps).
    for cancel_at_ms in [500u64, 1500, 2500] {
        vrun(async move {
            let drops = Drops::default();
            let progress = Rc::new(Cell::new(0));
            let g = gather((0..3).map(|i| stepper(&drops, i + 1, progress.clone())));
            let r = simul::wait_for(Duration::from_millis(cancel_at_ms), g).await;
            assert!(r.is_err(), "cancelled at {cancel_at_ms} ms");
            assert_eq!(drops.get(), 3, "cancelled at {cancel_at_ms} ms");
            // no child ran after the cancellation
            let seen = progress.get();
            simul::sleep(secs(5)).await;
            assert_eq!(progress.get(), seen);
        });
    }
}

#[test]
fn cancelling_the_task_awaiting_gather_drops_its_children_once() {
    vrun(async {
        let drops = Drops::default();
        let progress = Rc::new(Cell::new(0));
        let futs: Vec<_> = (0..4)
            .map(|_| stepper(&drops, 10, progress.clone()))
            .collect();
        let t = simul::spawn(gather(futs));
        simul::sleep(Duration::from_millis(2500)).await;
        assert_eq!(drops.get(), 0);
        t.cancel();
        assert!(t.await.unwrap_err().is_cancelled());
        assert_eq!(drops.get(), 4);
        assert_eq!(progress.get(), 8);
    });
}

#[test]
fn gather_completes_every_child_and_drops_each_once() {
    vrun(async {
        let drops = Drops::default();
        let progress = Rc::new(Cell::new(0));
        let out = gather((1..=4).map(|i| stepper(&drops, i, progress.clone()))).await;
        assert_eq!(out, vec![1, 2, 3, 4]);
        assert_eq!(drops.get(), 4);
        assert_eq!(progress.get(), 10);
    });
}

#[test]
fn a_panicking_child_fails_the_awaiting_task_and_drops_the_others_once() {
    vrun(async {
        let drops = Drops::default();
        let d = drops.clone();
        let t = simul::spawn(async move {
            let g1 = d.guard();
            let g2 = d.guard();
            let ok = async move {
                let _g = g1;
                simul::sleep(secs(10)).await;
                1
            };
            let bad = async move {
                let _g = g2;
                simul::sleep(secs(1)).await;
                if true {
                    panic!("child failed");
                }
                2
            };
            simul::gather!(ok, bad).await
        });
        let err = t.await.unwrap_err();
        match err {
            simul::TaskError::Panicked(p) => assert_eq!(p.message(), "child failed"),
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(drops.get(), 2);
    });
}

#[test]
fn gather_of_tasks_returns_their_results() {
    vrun(async {
        let tasks: Vec<_> = (0..10u64)
            .map(|i| {
                simul::spawn(async move {
                    simul::sleep(secs(10 - i)).await;
                    i * i
                })
            })
            .collect();
        let out: Vec<u64> = gather(tasks)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(out, (0..10).map(|i| i * i).collect::<Vec<_>>());
    });
}

#[test]
fn dropping_gather_of_cancel_on_drop_handles_cancels_the_tasks() {
    vrun(async {
        let drops = Drops::default();
        let progress = Rc::new(Cell::new(0));
        let tasks: Vec<_> = (0..3)
            .map(|_| simul::spawn(stepper(&drops, 10, progress.clone())).cancel_on_drop())
            .collect();
        let r = simul::wait_for(Duration::from_millis(1500), gather(tasks)).await;
        assert!(r.is_err());
        simul::yield_now().await;
        assert_eq!(drops.get(), 3);
        assert_eq!(progress.get(), 3);
    });
}

#[test]
fn nested_gathers_compose() {
    vrun(async {
        let t0 = simul::time();
        let inner = |base: u64| {
            gather((0..3u64).map(move |i| async move {
                simul::sleep(secs(i + 1)).await;
                base + i
            }))
        };
        let out = gather([inner(0), inner(10), inner(20)]).await;
        assert_eq!(out, vec![vec![0, 1, 2], vec![10, 11, 12], vec![20, 21, 22]]);
        assert_eq!(simul::time() - t0, secs(3));
    });
}

#[test]
fn try_gather_collects_values_in_order() {
    vrun(async {
        let out = try_gather([3u64, 1, 2].map(|s| async move {
            simul::sleep(secs(s)).await;
            Ok::<_, String>(s)
        }))
        .await;
        assert_eq!(out, Ok(vec![3, 1, 2]));
    });
}

type BoxedTry = Pin<Box<dyn Future<Output = Result<u32, &'static str>>>>;

#[test]
fn try_gather_returns_the_first_err_and_cancels_the_rest_once() {
    vrun(async {
        let drops = Drops::default();
        let progress = Rc::new(Cell::new(0));
        let t0 = simul::time();
        let futs: Vec<BoxedTry> = vec![
            Box::pin({
                let s = stepper(&drops, 10, progress.clone());
                async move { Ok(s.await) }
            }),
            Box::pin({
                let g = drops.guard();
                async move {
                    let _g = g;
                    simul::sleep(secs(2)).await;
                    Err("second")
                }
            }),
            Box::pin({
                let g = drops.guard();
                async move {
                    let _g = g;
                    simul::sleep(secs(3)).await;
                    Err("third")
                }
            }),
        ];
        assert_eq!(try_gather(futs).await, Err("second"));
        assert_eq!(simul::time() - t0, secs(2));
        assert_eq!(drops.get(), 3);
        let seen = progress.get();
        simul::sleep(secs(20)).await;
        assert_eq!(progress.get(), seen, "a cancelled child kept running");
    });
}

#[test]
fn dropping_try_gather_midway_drops_every_child_once() {
    vrun(async {
        let drops = Drops::default();
        let progress = Rc::new(Cell::new(0));
        let futs: Vec<_> = (0..3)
            .map(|i| {
                let s = stepper(&drops, i + 1, progress.clone());
                async move { Ok::<_, ()>(s.await) }
            })
            .collect();
        let r = simul::wait_for(Duration::from_millis(1500), try_gather(futs)).await;
        assert!(r.is_err());
        assert_eq!(drops.get(), 3);
    });
}

#[test]
fn gather_macro_builds_a_tuple_of_mixed_types() {
    vrun(async {
        let t0 = simul::time();
        let (a, b, c) = simul::gather!(
            async {
                simul::sleep(secs(2)).await;
                "two"
            },
            async {
                simul::sleep(secs(1)).await;
                1u8
            },
            std::future::ready(vec![3]),
        )
        .await;
        assert_eq!((a, b, c), ("two", 1, vec![3]));
        assert_eq!(simul::time() - t0, secs(2));
    });
}

#[test]
fn gather_macro_accepts_twelve_arguments() {
    vrun(async {
        let f = |i: u64| async move {
            simul::sleep(secs(12 - i)).await;
            i
        };
        let out = simul::gather!(
            f(0),
            f(1),
            f(2),
            f(3),
            f(4),
            f(5),
            f(6),
            f(7),
            f(8),
            f(9),
            f(10),
            f(11)
        )
        .await;
        assert_eq!(out, (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11));
        let (one,) = simul::gather!(async { 1 }).await;
        assert_eq!(one, 1);
    });
}

#[test]
fn dropping_gather_macro_midway_drops_every_child_once() {
    vrun(async {
        let drops = Drops::default();
        let progress = Rc::new(Cell::new(0));
        let g = simul::gather!(
            stepper(&drops, 1, progress.clone()),
            stepper(&drops, 2, progress.clone()),
            stepper(&drops, 3, progress.clone()),
        );
        let r = simul::wait_for(Duration::from_millis(1500), g).await;
        assert!(r.is_err());
        assert_eq!(drops.get(), 3);
        assert_eq!(progress.get(), 3);
    });
}

#[test]
fn gather_macro_accepts_tasks_and_into_future_values() {
    vrun(async {
        let t = simul::spawn(async { 5 });
        let (a, b) = simul::gather!(t, std::future::ready('x')).await;
        assert_eq!((a.unwrap(), b), (5, 'x'));
    });
}

#[test]
fn gather_does_not_need_a_running_loop_to_be_built() {
    // Built outside, awaited inside: nothing is spawned, so this is fine.
    let g = gather((0..3).map(|i| async move { i }));
    assert_eq!(vrun(g), vec![0, 1, 2]);
}

/// Completes once a flag is set; the first poll hands the waker to another thread.
struct WokenFromThread {
    flag: std::sync::Arc<std::sync::atomic::AtomicBool>,
    started: bool,
}

impl Future for WokenFromThread {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.flag.load(std::sync::atomic::Ordering::SeqCst) {
            return Poll::Ready(());
        }
        if !self.started {
            self.started = true;
            let (flag, waker) = (self.flag.clone(), cx.waker().clone());
            std::thread::spawn(move || {
                flag.store(true, std::sync::atomic::Ordering::SeqCst);
                waker.wake();
            });
        }
        Poll::Pending
    }
}

#[test]
fn children_can_be_woken_from_other_threads() {
    let out = simul::run(async {
        gather((0..8).map(|_| WokenFromThread {
            flag: Default::default(),
            started: false,
        }))
        .await
    });
    assert_eq!(out.len(), 8);
}

#[test]
fn polling_a_finished_gather_panics_with_a_clear_message() {
    use std::task::Waker;
    let mut cx = Context::from_waker(Waker::noop());
    let mut g = gather([std::future::ready(1)]);
    assert_eq!(Pin::new(&mut g).poll(&mut cx), Poll::Ready(vec![1]));
    let again = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = Pin::new(&mut g).poll(&mut cx);
    }));
    let msg = again.unwrap_err();
    assert!(msg
        .downcast_ref::<&str>()
        .unwrap()
        .contains("polled after it completed"));

    let mut t = try_gather([std::future::ready(Err::<u8, _>("e"))]);
    assert_eq!(Pin::new(&mut t).poll(&mut cx), Poll::Ready(Err("e")));
    let again = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = Pin::new(&mut t).poll(&mut cx);
    }));
    assert!(again.is_err());
}
