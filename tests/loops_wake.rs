//! A loop parked in its selector runs work handed in from another thread at once: each
//! hand-off ends the park (the remote side writes the loop's eventfd), never a timer.
//! The same holds for a task parked on a `bounded_channel` fed from another loop, in both
//! directions (an item for a waiting receiver, room for a waiting sender).
//! Checked by counting, not by wall time: the loop's parks (through its park hook) and
//! whether a far timer armed on it fired.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

/// Round trips handed to the parked loop.
const N: usize = 200;

#[test]
fn a_parked_loop_runs_injected_work_without_waiting_for_a_timer() {
    let parks = Arc::new(AtomicUsize::new(0));
    let (handle_tx, handle_rx) = mpsc::channel();
    let (stop_tx, stop_rx) = simul::sync::oneshot::channel::<()>();
    let counted = parks.clone();
    let target = std::thread::spawn(move || {
        let lp = simul::EventLoop::new().unwrap();
        lp.set_park_hook(move |wait| {
            counted.fetch_add(1, Ordering::Relaxed);
            wait();
        });
        handle_tx.send(lp.handle()).unwrap();
        lp.run_until_complete(async move {
            // The loop's every park has this timer as its deadline.
            let far = simul::spawn(simul::sleep(Duration::from_secs(60)));
            let _ = stop_rx.await;
            far.is_done()
        })
    });
    let remote = handle_rx.recv().unwrap();
    let served = simul::run(async move {
        let mut served = 0;
        for i in 0..N {
            served += usize::from(remote.spawn(async move { i }).await.unwrap() == i);
        }
        served
    });
    let parked = parks.load(Ordering::Relaxed);
    stop_tx.send(()).unwrap();
    let far_fired = target.join().unwrap();
    assert_eq!(served, N);
    assert!(
        !far_fired,
        "the loop waited for its 60 s timer to see handed-in work"
    );
    // At most one park per hand-off (the loop is idle between round trips), plus the
    // parks before the first spawn and while the stop is on its way: a loop that woke
    // on a tick to look for handed-in work would park many times more.
    assert!(
        parked <= N + 4,
        "{parked} parks for {N} hand-offs: the loop woke without being handed work"
    );
}

#[test]
fn a_parked_loop_sees_channel_items_and_room_without_waiting_for_a_timer() {
    let parks = Arc::new(AtomicUsize::new(0));
    let counted = parks.clone();
    // Requests into the parked loop, answers back out: capacity 1 each way, so every
    // round trip hands an item to a waiting receiver, and the answer's send may wait for
    // room the other side makes.
    let (req_tx, mut req_rx) = simul::sync::bounded_channel::<usize>(1);
    let (ans_tx, mut ans_rx) = simul::sync::bounded_channel::<usize>(1);
    let target = std::thread::spawn(move || {
        let lp = simul::EventLoop::new().unwrap();
        lp.set_park_hook(move |wait| {
            counted.fetch_add(1, Ordering::Relaxed);
            wait();
        });
        lp.run_until_complete(async move {
            let far = simul::spawn(simul::sleep(Duration::from_secs(60)));
            while let Some(i) = req_rx.recv().await {
                ans_tx.send(i).await.unwrap();
            }
            far.is_done()
        })
    });
    let served = simul::run(async move {
        let mut served = 0;
        for i in 0..N {
            req_tx.send(i).await.unwrap();
            served += usize::from(ans_rx.recv().await == Some(i));
        }
        served
    });
    let far_fired = target.join().unwrap();
    let parked = parks.load(Ordering::Relaxed);
    assert_eq!(served, N);
    assert!(
        !far_fired,
        "the loop waited for its 60 s timer to see a channel item"
    );
    assert!(
        parked <= N + 4,
        "{parked} parks for {N} channel round trips: the loop woke without an item"
    );
}
