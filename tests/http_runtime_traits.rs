//! hyper's runtime traits on simul: the timer's sleeps run on the loop's wheel (so
//! virtual time drives them), `reset` re-arms a sleep in place, and the executor runs
//! `!Send` futures on the current loop.

#[path = "common/mod.rs"]
mod common;

use std::rc::Rc;
use std::time::Duration;

use hyper::rt::{Executor, Timer};
use simul::http::{HyperTimer, LocalExecutor};

#[test]
fn hyper_sleeps_follow_virtual_time_and_reset_rearms_them() {
    common::vrun(async {
        let t0 = simul::time();
        let mut s = HyperTimer.sleep(Duration::from_secs(10));
        HyperTimer.reset(&mut s, t0 + Duration::from_secs(1)); // earlier
        s.as_mut().await;
        assert_eq!(simul::time() - t0, Duration::from_secs(1));
        HyperTimer.reset(&mut s, t0 + Duration::from_secs(5)); // again, after firing
        s.as_mut().await;
        assert_eq!(simul::time() - t0, Duration::from_secs(5));
        assert_eq!(HyperTimer.now(), simul::time());
    });
}

#[test]
fn a_hyper_deadline_after_now_ends_at_it_under_virtual_time() {
    // hyper's header-read timeout: `sleep_until(now() + timeout)`, armed without a second
    // clock read.
    common::vrun(async {
        let t0 = HyperTimer.now();
        HyperTimer.sleep_until(t0 + Duration::from_secs(30)).await;
        assert_eq!(simul::time() - t0, Duration::from_secs(30));
    });
}

#[test]
fn a_hyper_deadline_after_now_never_ends_early_on_the_real_clock() {
    simul::run(async {
        for _ in 0..20 {
            let deadline = HyperTimer.now() + Duration::from_micros(300);
            HyperTimer.sleep_until(deadline).await;
            let now = std::time::Instant::now();
            assert!(now >= deadline, "woke {:?} early", deadline - now);
        }
    });
}

#[test]
fn a_hyper_deadline_passed_since_the_last_now_still_ends_at_once() {
    // The remembered `now()` is stale: the deadline is after it but already past when the
    // sleep is first polled. It must still end, at the wheel's next turn.
    simul::run(async {
        let deadline = HyperTimer.now() + Duration::from_millis(1);
        std::thread::sleep(Duration::from_millis(5)); // the loop is busy past the deadline
        let sleep = HyperTimer.sleep_until(deadline);
        let r = simul::wait_for(Duration::from_millis(500), sleep).await;
        assert!(r.is_ok(), "a past deadline did not end");
        // And one before the last `now()` takes the ordinary path.
        let now = HyperTimer.now();
        let past = HyperTimer.sleep_until(now - Duration::from_millis(1));
        assert!(simul::wait_for(Duration::from_millis(500), past)
            .await
            .is_ok());
    });
}

#[test]
fn hyper_sleeps_are_send_and_sync() {
    fn check<T: Send + Sync>(_: &T) {}
    common::vrun(async {
        let s = HyperTimer.sleep(Duration::from_millis(1));
        check(&s);
        s.await;
    });
}

#[test]
fn the_executor_runs_non_send_futures_on_the_current_loop() {
    simul::run(async {
        let here = std::thread::current().id();
        let seen = Rc::new(std::cell::Cell::new(None));
        let s = seen.clone();
        LocalExecutor.execute(async move {
            simul::yield_now().await;
            s.set(Some(std::thread::current().id()));
        });
        for _ in 0..10 {
            simul::yield_now().await;
        }
        assert_eq!(seen.get(), Some(here));
    });
}
