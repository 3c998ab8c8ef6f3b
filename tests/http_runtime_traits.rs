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
