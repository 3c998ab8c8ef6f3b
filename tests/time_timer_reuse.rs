//! A sleep dropped while armed leaves its wheel entry as the loop's spare, which the next
//! sleep armed in the same iteration takes over by moving the deadline later in place;
//! `Sleep::reset` to a later deadline moves it in place too. Checked here: a taken-over or
//! moved timer fires at its new deadline (never at the old, earlier one), a deadline moved
//! earlier still fires on time, equal deadlines keep arming order, and the spare never
//! outlives the iteration (not counted as armed, never fired, never moves virtual time).

use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

fn vloop() -> simul::EventLoop {
    simul::EventLoop::builder()
        .virtual_time(true)
        .build()
        .unwrap()
}

/// Polls the sleep once, so that its timer is armed.
async fn arm(s: &mut simul::Sleep) {
    poll_fn(|cx| {
        assert!(Pin::new(&mut *s).poll(cx).is_pending());
        Poll::Ready(())
    })
    .await
}

#[test]
fn a_sleep_taking_over_a_dropped_sleeps_timer_fires_at_its_own_later_deadline() {
    let lp = vloop();
    lp.run_until_complete(async {
        let t0 = simul::time();
        let mut first = simul::sleep(Duration::from_secs(10));
        arm(&mut first).await;
        drop(first);
        simul::sleep(Duration::from_secs(20)).await; // takes over the 10 s entry
        assert_eq!(simul::time() - t0, Duration::from_secs(20));
    });
    assert_eq!(lp.armed_timers(), 0);
}

#[test]
fn a_sleep_after_a_dropped_later_one_fires_at_its_own_earlier_deadline() {
    let lp = vloop();
    lp.run_until_complete(async {
        let t0 = simul::time();
        let mut first = simul::sleep(Duration::from_secs(10));
        arm(&mut first).await;
        drop(first);
        simul::sleep(Duration::from_secs(3)).await; // cannot take over: earlier
        assert_eq!(simul::time() - t0, Duration::from_secs(3));
        // and the dropped 10 s timer is gone: nothing else moves the clock
        simul::sleep(Duration::from_secs(30)).await;
        assert_eq!(simul::time() - t0, Duration::from_secs(33));
    });
    assert_eq!(lp.armed_timers(), 0);
}

#[test]
fn reset_later_moves_in_place_and_reset_earlier_still_fires_on_time() {
    vloop().run_until_complete(async {
        let t0 = simul::time();
        let mut s = simul::sleep(Duration::from_secs(5));
        arm(&mut s).await;
        s.reset(t0 + Duration::from_secs(8)); // later: in place
        (&mut s).await;
        assert_eq!(simul::time() - t0, Duration::from_secs(8));
        let mut s = simul::sleep(Duration::from_secs(10));
        arm(&mut s).await;
        s.reset(t0 + Duration::from_secs(12)); // later, then
        s.reset(t0 + Duration::from_secs(9)); // earlier than the entry's slot
        (&mut s).await;
        assert_eq!(simul::time() - t0, Duration::from_secs(9));
    });
}

#[test]
fn a_dropped_armed_sleep_is_not_counted_and_does_not_outlive_the_iteration() {
    let lp = vloop();
    let lp = &lp;
    lp.run_until_complete(async move {
        let t0 = simul::time();
        let mut s = simul::sleep(Duration::from_secs(30));
        arm(&mut s).await;
        assert_eq!(lp.armed_timers(), 1);
        drop(s);
        assert_eq!(lp.armed_timers(), 0);
        simul::yield_now().await;
        assert_eq!(lp.armed_timers(), 0);
        // The idle loop has no timer to jump to but this one.
        simul::sleep(Duration::from_secs(1)).await;
        assert_eq!(simul::time() - t0, Duration::from_secs(1));
    });
}

#[test]
fn a_taken_over_timer_keeps_arming_order_among_equal_deadlines() {
    // `late` arms an earlier sleep first, `early` then arms the shared deadline, and `late`
    // drops its sleep and arms the shared deadline by taking over its older entry: at the
    // deadline `early` (armed first for it) must still wake first.
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    vloop().run_until_complete(async move {
        let at = simul::time() + Duration::from_secs(5);
        let (go_tx, go_rx) = simul::sync::oneshot::channel::<()>();
        let l1 = l.clone();
        let late = simul::spawn(async move {
            let mut s = simul::sleep_until(at - Duration::from_secs(1));
            arm(&mut s).await;
            go_rx.await.unwrap();
            drop(s);
            simul::sleep_until(at).await;
            l1.borrow_mut().push("late");
        });
        let early = simul::spawn(async move {
            simul::yield_now().await; // after `late` armed
            let mut s = simul::sleep_until(at);
            arm(&mut s).await;
            go_tx.send(()).unwrap();
            s.await;
            l.borrow_mut().push("early");
        });
        early.await.unwrap();
        late.await.unwrap();
    });
    assert_eq!(*log.borrow(), ["early", "late"]);
}

#[test]
fn a_dropped_armed_sleep_does_not_move_virtual_time_while_the_loop_waits_for_io() {
    // With no timer armed, an idle virtual-time loop waits for I/O without moving the
    // clock. A dropped 30 s sleep must not linger as an armed timer the clock jumps to.
    let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
    let peer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        std::io::Write::write_all(&mut b, b"x").unwrap();
    });
    vloop().run_until_complete(async move {
        let mut a = simul::net::UnixStream::from_std(a).unwrap();
        let t0 = simul::time();
        let mut s = simul::sleep(Duration::from_secs(30));
        arm(&mut s).await;
        drop(s);
        let mut buf = [0u8; 1];
        assert_eq!(a.read(&mut buf).await.unwrap(), 1);
        assert_eq!(simul::time(), t0);
    });
    peer.join().unwrap();
}
