//! Messages between loops: `bounded_channel` backpressure under a fast producer loop and
//! a slow consumer loop, cancel-safety of a waiting send, and the `Send` one-shot.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[test]
fn backpressure_holds_between_a_fast_producer_loop_and_a_slow_consumer_loop() {
    const CAP: usize = 4;
    const N: usize = 200;
    let loops = simul::Loops::builder().count(2).build().unwrap();
    let (tx, mut rx) = simul::sync::bounded_channel(CAP);
    let sent = Arc::new(AtomicUsize::new(0));
    let taken = Arc::new(AtomicUsize::new(0));
    let (s, t) = (sent.clone(), taken.clone());
    let max_ahead = Arc::new(AtomicUsize::new(0));
    let m = max_ahead.clone();
    let producer = loops.spawn_on(0, async move {
        for i in 0..N {
            tx.send(i).await.unwrap();
            let ahead = s.fetch_add(1, Ordering::SeqCst) + 1 - t.load(Ordering::SeqCst);
            m.fetch_max(ahead, Ordering::SeqCst);
        }
    });
    let t = taken.clone();
    let consumer = loops.spawn_on(1, async move {
        let mut got = Vec::new();
        while let Some(i) = rx.recv().await {
            assert!(rx.len() <= CAP, "queued {} > capacity", rx.len());
            t.fetch_add(1, Ordering::SeqCst);
            got.push(i);
            if i % 10 == 0 {
                simul::sleep(Duration::from_millis(1)).await; // a slow consumer
            }
        }
        got
    });
    simul::run(async {
        producer.await.unwrap();
        assert_eq!(consumer.await.unwrap(), (0..N).collect::<Vec<_>>());
    });
    // sent-but-not-taken never exceeds the capacity (+1: the item in the consumer's hand)
    let ahead = max_ahead.load(Ordering::SeqCst);
    assert!(ahead <= CAP + 1, "the producer ran {ahead} items ahead");
    assert!(
        ahead >= CAP,
        "the producer never filled the channel: {ahead}"
    );
}

#[test]
fn a_cancelled_send_queues_nothing_and_passes_its_turn_on() {
    simul::run(async {
        let (tx, mut rx) = simul::sync::bounded_channel(1);
        let tx = std::rc::Rc::new(tx);
        tx.send(0).await.unwrap();
        let (a, b) = (tx.clone(), tx.clone());
        let first = simul::spawn(async move { a.send(1).await });
        let second = simul::spawn(async move { b.send(2).await });
        simul::yield_now().await; // both wait for room
        assert_eq!(rx.recv().await, Some(0)); // room: wakes `first`...
        first.cancel(); // ...which is cancelled before it runs
        assert!(first.await.unwrap_err().is_cancelled());
        simul::wait_for(Duration::from_secs(10), second)
            .await
            .expect("the turn went on to `second`")
            .unwrap()
            .unwrap();
        assert_eq!(rx.recv().await, Some(2));
        assert!(rx.try_recv().is_err());
    });
}

#[test]
fn dropping_the_receiver_fails_waiting_senders_with_their_item() {
    let loops = simul::Loops::builder().count(2).build().unwrap();
    let (tx, rx) = simul::sync::bounded_channel(1);
    tx.try_send("kept").unwrap();
    let waiting = loops.spawn_on(0, async move {
        tx.send("back").await.map_err(|e| e.into_inner())
    });
    std::thread::sleep(Duration::from_millis(20));
    loops.spawn_on(1, async move { drop(rx) });
    assert_eq!(simul::run(waiting).unwrap(), Err("back"));
}

#[test]
fn a_oneshot_carries_one_value_between_loops() {
    let loops = simul::Loops::builder().count(2).build().unwrap();
    let (tx, rx) = simul::sync::oneshot::channel::<String>();
    let waiter = loops.spawn_on(0, rx);
    loops.spawn_on(1, async move {
        simul::sleep(Duration::from_millis(5)).await;
        tx.send(format!("from {:?}", simul::loops::current_index()))
            .unwrap();
    });
    assert_eq!(simul::run(waiter).unwrap().unwrap(), "from Some(1)");
    // a sender dropped unsent resolves the receiver with an error instead of hanging
    let (tx, rx) = simul::sync::oneshot::channel::<()>();
    let waiter = loops.spawn_on(0, rx);
    loops.spawn_on(1, async move { drop(tx) });
    assert_eq!(
        simul::run(waiter).unwrap(),
        Err(simul::sync::oneshot::RecvError)
    );
}
