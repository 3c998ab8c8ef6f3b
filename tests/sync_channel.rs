//! The thread-safe channel: std threads feed a task on the loop.

use std::time::Duration;

use futures_util::StreamExt;
use simul::sync::{channel, TryRecvError};

#[test]
fn items_from_many_threads_all_arrive_in_per_thread_order() {
    simul::run(async {
        let (tx, mut rx) = channel();
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let tx = tx.clone();
                std::thread::spawn(move || {
                    for i in 0..10_000u64 {
                        tx.send((t, i)).unwrap();
                    }
                })
            })
            .collect();
        drop(tx);
        let mut next = [0u64; 4];
        let mut n = 0;
        while let Some((t, i)) = rx.recv().await {
            assert_eq!(next[t as usize], i, "thread {t} out of order");
            next[t as usize] += 1;
            n += 1;
        }
        assert_eq!(n, 40_000);
        for t in threads {
            t.join().unwrap();
        }
    });
}

#[test]
fn a_parked_loop_is_woken_by_a_send_from_a_thread() {
    simul::run(async {
        let (tx, mut rx) = channel();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            tx.send("late").unwrap();
            std::thread::sleep(Duration::from_millis(30));
        });
        assert_eq!(rx.recv().await, Some("late"));
        assert_eq!(rx.recv().await, None, "ends when the sender is dropped");
        t.join().unwrap();
    });
}

#[test]
fn send_fails_once_the_receiver_is_dropped_or_closed() {
    let (tx, mut rx) = channel();
    assert!(!tx.is_closed());
    tx.send(1).unwrap();
    rx.close();
    assert!(tx.is_closed());
    let err = tx.send(2).unwrap_err();
    assert_eq!(err.into_inner(), 2);
    assert_eq!(rx.try_recv(), Ok(1), "items sent before close are kept");
    drop(rx);
    assert!(tx.send(3).is_err());
}

#[test]
fn try_recv_len_and_disconnection() {
    let (tx, rx) = channel();
    assert!(rx.is_empty());
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    tx.send('a').unwrap();
    tx.send('b').unwrap();
    assert_eq!(rx.len(), 2);
    let tx2 = tx.clone();
    drop(tx);
    assert_eq!(rx.try_recv(), Ok('a'));
    drop(tx2);
    assert_eq!(rx.try_recv(), Ok('b'));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
}

#[test]
fn receiver_is_a_stream_and_can_move_to_a_loop_on_another_thread() {
    let (tx, rx) = channel::<u32>();
    let loop_thread =
        std::thread::spawn(move || simul::run(async move { rx.collect::<Vec<_>>().await }));
    for i in 0..100 {
        tx.send(i).unwrap();
    }
    drop(tx);
    assert_eq!(loop_thread.join().unwrap(), (0..100).collect::<Vec<_>>());
}

#[test]
fn dropping_the_receiver_drops_queued_items_once() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let drops = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = channel();
    for _ in 0..3 {
        tx.send(Counted(drops.clone())).unwrap();
    }
    drop(rx);
    assert_eq!(drops.load(Ordering::SeqCst), 3);
    let _ = tx.send(Counted(drops.clone())); // returned in the error, dropped with it
    assert_eq!(drops.load(Ordering::SeqCst), 4);
}

#[test]
fn cancelled_recv_takes_nothing() {
    simul::run(async {
        let (tx, mut rx) = channel();
        let r = simul::wait_for(Duration::from_millis(5), rx.recv()).await;
        assert!(r.is_err());
        tx.send(9).unwrap();
        assert_eq!(rx.recv().await, Some(9));
    });
}
