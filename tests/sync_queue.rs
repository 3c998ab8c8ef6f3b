//! Queues: order, nowait errors, sizes, task_done/join, shutdown (3.13), Stream.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use futures_util::StreamExt;
use simul::sync::{TaskDoneError, TryGetError, TryPutError};
use simul::{LifoQueue, PriorityQueue, Queue, QueueShutDown};

fn vrun<F: std::future::Future>(f: F) -> F::Output {
    simul::EventLoop::builder()
        .virtual_time(true)
        .build()
        .unwrap()
        .run_until_complete(f)
}

#[test]
fn fifo_lifo_and_priority_order() {
    simul::run(async {
        let fifo = Queue::new(0);
        let lifo = LifoQueue::new(0);
        let prio = PriorityQueue::new(0);
        for v in [3, 1, 4, 1, 5] {
            fifo.put(v).await.unwrap();
            lifo.put(v).await.unwrap();
            prio.put(v).await.unwrap();
        }
        let mut f = vec![];
        let mut l = vec![];
        let mut p = vec![];
        for _ in 0..5 {
            f.push(fifo.get().await.unwrap());
            l.push(lifo.get().await.unwrap());
            p.push(prio.get().await.unwrap());
        }
        assert_eq!(f, [3, 1, 4, 1, 5]);
        assert_eq!(l, [5, 1, 4, 1, 3]);
        assert_eq!(p, [1, 1, 3, 4, 5]);
    });
}

#[test]
fn priority_queue_serves_the_smallest_item_present_when_the_getter_runs() {
    simul::run(async {
        let q = PriorityQueue::new(0);
        let q2 = q.clone();
        let getter = simul::spawn(async move { q2.get().await.unwrap() });
        simul::yield_now().await;
        q.put_nowait(5).unwrap(); // wakes the getter...
        q.put_nowait(2).unwrap(); // ...which then finds 2 at the head
        assert_eq!(getter.await.unwrap(), 2);
        assert_eq!(q.get_nowait(), Ok(5));
    });
}

#[test]
fn nowait_errors_give_the_item_back() {
    let q = Queue::new(2);
    assert_eq!(q.get_nowait(), Err(TryGetError::Empty));
    q.put_nowait("a").unwrap();
    q.put_nowait("b").unwrap();
    let err = q.put_nowait("c").unwrap_err();
    assert!(err.is_full());
    assert_eq!(err.to_string(), "the queue is full");
    assert_eq!(err.into_inner(), "c");
    assert_eq!(q.get_nowait(), Ok("a"));
    q.shutdown(false);
    assert!(matches!(q.put_nowait("d"), Err(TryPutError::ShutDown("d"))));
    assert_eq!(q.get_nowait(), Ok("b"));
    assert_eq!(q.get_nowait(), Err(TryGetError::ShutDown));
    assert_eq!(TryGetError::Empty.to_string(), "the queue is empty");
}

#[test]
fn sizes_and_fullness() {
    let q = Queue::new(3);
    assert_eq!(q.maxsize(), 3);
    assert!(q.is_empty());
    assert!(!q.is_full());
    for i in 0..3 {
        q.put_nowait(i).unwrap();
    }
    assert_eq!(q.qsize(), 3);
    assert!(q.is_full());
    assert!(!q.is_empty());
    let unbounded = Queue::new(0);
    for i in 0..10_000 {
        unbounded.put_nowait(i).unwrap();
    }
    assert!(!unbounded.is_full());
    assert_eq!(unbounded.maxsize(), 0);
    assert_eq!(unbounded.qsize(), 10_000);
}

#[test]
fn put_waits_for_a_free_slot_and_get_for_an_item() {
    vrun(async {
        let q = Queue::new(1);
        q.put(1).await.unwrap();
        // full: put waits
        assert!(simul::wait_for(Duration::from_secs(1), q.put(2))
            .await
            .is_err());
        assert_eq!(q.qsize(), 1);
        assert_eq!(q.get().await, Ok(1));
        // empty: get waits
        assert!(simul::wait_for(Duration::from_secs(1), q.get())
            .await
            .is_err());
        let q2 = q.clone();
        let later = simul::spawn(async move {
            simul::sleep(Duration::from_secs(2)).await;
            q2.put(7).await
        });
        assert_eq!(q.get().await, Ok(7));
        later.await.unwrap().unwrap();
    });
}

#[test]
fn getters_and_putters_are_served_fifo() {
    simul::run(async {
        let q = Queue::new(1);
        let got = Rc::new(RefCell::new(Vec::new()));
        let getters: Vec<_> = (0..4)
            .map(|i| {
                let (q, got) = (q.clone(), got.clone());
                simul::spawn(async move {
                    let v = q.get().await.unwrap();
                    got.borrow_mut().push((i, v));
                })
            })
            .collect();
        simul::yield_now().await;
        // The queue holds one item at a time; queued putters go in order.
        let putters: Vec<_> = (0..4)
            .map(|v| {
                let q = q.clone();
                simul::spawn(async move { q.put(v * 10).await.unwrap() })
            })
            .collect();
        for t in putters.into_iter().chain(getters) {
            t.await.unwrap();
        }
        assert_eq!(*got.borrow(), [(0, 0), (1, 10), (2, 20), (3, 30)]);
    });
}

#[test]
fn task_done_and_join() {
    vrun(async {
        let q = Queue::new(0);
        assert_eq!(q.task_done(), Err(TaskDoneError));
        q.join().await; // nothing outstanding
        for i in 0..3 {
            q.put(i).await.unwrap();
        }
        let joiners: Vec<_> = (0..2)
            .map(|_| {
                let q = q.clone();
                simul::spawn(async move { q.join().await })
            })
            .collect();
        simul::yield_now().await;
        for _ in 0..3 {
            q.get().await.unwrap();
        }
        q.task_done().unwrap();
        q.task_done().unwrap();
        simul::yield_now().await;
        assert!(joiners.iter().all(|j| !j.is_done()));
        q.task_done().unwrap();
        for j in joiners {
            j.await.unwrap();
        }
        assert_eq!(q.task_done(), Err(TaskDoneError));
        assert_eq!(
            TaskDoneError.to_string(),
            "task_done() called too many times"
        );
        // A cancelled join leaves nothing behind.
        q.put(9).await.unwrap();
        assert!(simul::wait_for(Duration::from_secs(1), q.join())
            .await
            .is_err());
        q.get().await.unwrap();
        q.task_done().unwrap();
        q.join().await;
    });
}

#[test]
fn shutdown_releases_blocked_getters_and_putters() {
    simul::run(async {
        let empty = Queue::<u32>::new(1);
        let getters: Vec<_> = (0..3)
            .map(|_| {
                let q = empty.clone();
                simul::spawn(async move { q.get().await })
            })
            .collect();
        let full = Queue::new(1);
        full.put(0).await.unwrap();
        let putters: Vec<_> = (1..4)
            .map(|i| {
                let q = full.clone();
                simul::spawn(async move { q.put(i).await })
            })
            .collect();
        simul::yield_now().await;
        empty.shutdown(false);
        full.shutdown(false);
        assert!(empty.is_shut_down());
        for g in getters {
            assert_eq!(g.await.unwrap(), Err(QueueShutDown));
        }
        for p in putters {
            assert_eq!(p.await.unwrap(), Err(QueueShutDown));
        }
        // Non-immediate: what is left can still be taken, then get fails.
        assert_eq!(full.get().await, Ok(0));
        assert_eq!(full.get().await, Err(QueueShutDown));
        assert_eq!(full.put(5).await, Err(QueueShutDown));
        assert_eq!(QueueShutDown.to_string(), "the queue is shut down");
    });
}

#[test]
fn immediate_shutdown_discards_items_and_releases_joiners() {
    simul::run(async {
        let q = Queue::new(0);
        for i in 0..5 {
            q.put(i).await.unwrap();
        }
        q.get().await.unwrap(); // one item taken but not marked done
        let q2 = q.clone();
        let joiner = simul::spawn(async move { q2.join().await });
        simul::yield_now().await;
        q.shutdown(true);
        assert_eq!(q.qsize(), 0);
        assert_eq!(q.get().await, Err(QueueShutDown));
        simul::yield_now().await;
        assert!(!joiner.is_done(), "the taken item is still unfinished");
        q.task_done().unwrap();
        joiner.await.unwrap();
    });
}

#[test]
fn immediate_shutdown_fails_getters_that_were_promised_an_item() {
    simul::run(async {
        let q = Queue::new(0);
        let q2 = q.clone();
        let getter = simul::spawn(async move { q2.get().await });
        simul::yield_now().await;
        q.put_nowait(1).unwrap(); // promised to `getter`, which has not run
        q.shutdown(true); // ...and discarded
        assert_eq!(getter.await.unwrap(), Err(QueueShutDown));
        q.join().await; // the discarded item counts as done
    });
}

#[test]
fn queue_is_a_stream_that_ends_at_shutdown() {
    simul::run(async {
        let q = Queue::new(2);
        let producer = simul::spawn({
            let q = q.clone();
            async move {
                for i in 0..10 {
                    q.put(i).await.unwrap();
                }
                q.shutdown(false);
            }
        });
        let mut stream = q.clone();
        let mut got = vec![];
        while let Some(v) = stream.next().await {
            got.push(v);
        }
        producer.await.unwrap();
        assert_eq!(got, (0..10).collect::<Vec<_>>());
    });
}

#[test]
fn queue_handle_is_cheap_to_clone_and_debug() {
    let q = Queue::<u8>::new(4);
    let q2 = q.clone();
    q2.put_nowait(1).unwrap();
    assert_eq!(q.qsize(), 1);
    let s = format!("{q:?}");
    assert!(s.contains("qsize: 1") && s.contains("maxsize: 4"), "{s}");
}
