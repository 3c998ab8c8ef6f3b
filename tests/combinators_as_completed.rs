//! as_completed: completion order, cancellation of what is left, fused end.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use futures_core::stream::FusedStream;
use futures_util::StreamExt;
use simul::as_completed;

mod common;
use common::{secs, vrun, Guard};

#[test]
fn yields_outputs_in_completion_order_at_their_completion_times() {
    vrun(async {
        let t0 = simul::time();
        let mut s = as_completed([4u64, 1, 3, 2].map(|d| async move {
            simul::sleep(secs(d)).await;
            d
        }));
        let mut seen = Vec::new();
        while let Some(d) = s.next().await {
            assert_eq!(simul::time() - t0, secs(d));
            seen.push(d);
        }
        assert_eq!(seen, vec![1, 2, 3, 4]);
        assert!(s.is_terminated());
        assert_eq!(s.next().await, None);
    });
}

#[test]
fn children_finishing_together_are_all_yielded() {
    vrun(async {
        let mut s = as_completed((0..10).map(|i| async move {
            simul::sleep(secs(1)).await;
            i
        }));
        let mut got: Vec<i32> = Vec::new();
        while let Some(i) = s.next().await {
            got.push(i);
        }
        got.sort();
        assert_eq!(got, (0..10).collect::<Vec<_>>());
    });
}

#[test]
fn dropping_the_stream_midway_drops_the_rest_exactly_once() {
    vrun(async {
        let drops = Rc::new(Cell::new(0));
        let finished = Rc::new(Cell::new(0));
        let mut s = as_completed((1..=5u64).map(|d| {
            let g = Guard(drops.clone());
            let f = finished.clone();
            async move {
                let _g = g;
                simul::sleep(secs(d)).await;
                f.set(f.get() + 1);
                d
            }
        }));
        assert_eq!(s.next().await, Some(1));
        assert_eq!(s.next().await, Some(2));
        assert_eq!(s.remaining(), 3);
        assert_eq!(drops.get(), 2);
        drop(s);
        assert_eq!(drops.get(), 5);
        simul::sleep(secs(10)).await;
        assert_eq!(finished.get(), 2);
    });
}

#[test]
fn a_timeout_on_next_leaves_the_stream_usable() {
    vrun(async {
        let mut s = as_completed([1u64, 5].map(|d| async move {
            simul::sleep(secs(d)).await;
            d
        }));
        assert_eq!(s.next().await, Some(1));
        // give up waiting for the next one after 1 s: the stream keeps its futures
        assert!(simul::wait_for(secs(1), s.next()).await.is_err());
        assert_eq!(s.next().await, Some(5));
    });
}

#[test]
fn cancelling_the_consumer_task_drops_the_futures_once() {
    vrun(async {
        let drops = Rc::new(Cell::new(0));
        let futs: Vec<_> = (1..=3u64)
            .map(|d| {
                let g = Guard(drops.clone());
                async move {
                    let _g = g;
                    simul::sleep(secs(d * 10)).await;
                }
            })
            .collect();
        let consumer = simul::spawn(async move {
            let mut s = as_completed(futs);
            while s.next().await.is_some() {}
        });
        simul::sleep(secs(15)).await;
        assert_eq!(drops.get(), 1);
        consumer.cancel();
        let _ = consumer.await;
        assert_eq!(drops.get(), 3);
    });
}

#[test]
fn an_empty_set_ends_at_once() {
    vrun(async {
        let mut s = as_completed(Vec::<std::future::Ready<()>>::new());
        assert!(s.is_terminated());
        assert_eq!(s.next().await, None);
    });
}

#[test]
fn cancelling_at_each_suspension_point_drops_every_unfinished_future_once() {
    // Future i sleeps 1 s (i + 1) times; the consumer is timed out at various points.
    for cancel_ms in [0u64, 500, 1500, 2500, 3500] {
        vrun(async move {
            let drops = Rc::new(Cell::new(0));
            let steps = Rc::new(Cell::new(0u64));
            let yielded = Rc::new(Cell::new(0));
            let futs: Vec<_> = (0..3u64)
                .map(|i| {
                    let (g, st) = (Guard(drops.clone()), steps.clone());
                    async move {
                        let _g = g;
                        for _ in 0..=i {
                            simul::sleep(secs(1)).await;
                            st.set(st.get() + 1);
                        }
                    }
                })
                .collect();
            let y = yielded.clone();
            let consume = async move {
                let mut s = as_completed(futs);
                while s.next().await.is_some() {
                    y.set(y.get() + 1);
                }
            };
            let r = simul::wait_for(Duration::from_millis(cancel_ms), consume).await;
            assert_eq!(r.is_err(), cancel_ms < 3000, "at {cancel_ms} ms");
            assert_eq!(drops.get(), 3, "at {cancel_ms} ms");
            let expected: u64 = (0..3).map(|i| (cancel_ms / 1000).min(i + 1)).sum();
            assert_eq!(steps.get(), expected, "at {cancel_ms} ms");
            assert_eq!(
                yielded.get() as u64,
                (cancel_ms / 1000).min(3),
                "at {cancel_ms} ms"
            );
            simul::sleep(secs(10)).await;
            assert_eq!(steps.get(), expected, "a dropped future kept running");
        });
    }
}
