//! The receiver of `channel`/`bounded_channel` takes items from the senders' queue in
//! batches: what a user sees must not change — room is exact item by item, order is kept,
//! `len` counts every item not yet received, and close/drop treat batched items like
//! queued ones.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use simul::sync::{bounded_channel, TryRecvError, TrySendError};

#[test]
fn room_appears_item_by_item_while_the_receiver_holds_a_batch() {
    let (tx, rx) = bounded_channel(4);
    for i in 0..4 {
        tx.try_send(i).unwrap();
    }
    assert_eq!(tx.try_send(9), Err(TrySendError::Full(9)));
    // The first receive takes all four into the receiver's batch and hands out one.
    assert_eq!(rx.try_recv(), Ok(0));
    assert_eq!(rx.len(), 3);
    tx.try_send(4).unwrap(); // exactly one slot came free
    assert_eq!(tx.try_send(5), Err(TrySendError::Full(5)));
    assert_eq!(rx.len(), 4);
    let got: Vec<_> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
    assert_eq!(
        got,
        [1, 2, 3, 4],
        "batched items first, then the newer ones"
    );
    assert!(rx.is_empty());
}

#[test]
fn a_sender_waiting_for_room_is_woken_by_an_item_handed_out_of_the_batch() {
    simul::run(async {
        let (tx, mut rx) = bounded_channel(2);
        tx.send(0).await.unwrap();
        tx.send(1).await.unwrap();
        let waiting = simul::spawn(async move {
            tx.send(2).await.unwrap();
            tx.send(3).await.unwrap();
        });
        simul::yield_now().await; // the sender now waits for room
        let mut got = Vec::new();
        let all = simul::wait_for(Duration::from_secs(10), async {
            while let Some(i) = rx.recv().await {
                assert!(rx.len() <= 2, "never more than capacity items wait");
                got.push(i);
            }
        })
        .await;
        assert!(all.is_ok(), "a waiting sender was never woken: got {got:?}");
        waiting.await.unwrap();
        assert_eq!(got, [0, 1, 2, 3]);
    });
}

#[test]
fn threads_blocked_on_a_small_channel_all_finish_and_every_item_arrives_once_in_order() {
    simul::run(async {
        let (tx, mut rx) = bounded_channel(3);
        let threads: Vec<_> = (0..3u64)
            .map(|t| {
                let tx = tx.clone();
                std::thread::spawn(move || {
                    for i in 0..20_000u64 {
                        tx.blocking_send((t, i)).unwrap();
                    }
                })
            })
            .collect();
        drop(tx);
        let mut next = [0u64; 3];
        let done = simul::wait_for(Duration::from_secs(60), async {
            while let Some((t, i)) = rx.recv().await {
                assert_eq!(next[t as usize], i, "thread {t} out of order");
                assert!(rx.len() <= 3, "capacity exceeded: {}", rx.len());
                next[t as usize] += 1;
            }
        })
        .await;
        assert!(done.is_ok(), "lost wake-up: stuck at {next:?}");
        assert_eq!(next, [20_000; 3]);
        for t in threads {
            t.join().unwrap();
        }
    });
}

struct Counted(Arc<AtomicUsize>);
impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn close_keeps_batched_items_and_drop_releases_them() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let (tx, mut rx) = simul::sync::channel();
    for _ in 0..5 {
        tx.send(Counted(dropped.clone())).unwrap();
    }
    drop(rx.try_recv().unwrap()); // four now wait in the receiver's batch
    tx.send(Counted(dropped.clone())).unwrap(); // one in the senders' queue
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
    rx.close();
    assert!(tx.send(Counted(dropped.clone())).is_err());
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        2,
        "the refused item is dropped"
    );
    assert_eq!(rx.len(), 5);
    drop(rx.try_recv().unwrap());
    drop(rx);
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        7,
        "every item is dropped once"
    );
    drop(tx);
}

#[test]
fn a_drained_closed_channel_reports_disconnected_only_after_the_batch() {
    let (tx, rx) = bounded_channel(8);
    for i in 0..3 {
        tx.try_send(i).unwrap();
    }
    drop(tx);
    assert_eq!(rx.try_recv(), Ok(0));
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(rx.try_recv(), Ok(2));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
}
