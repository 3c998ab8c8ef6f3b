//! Intervals whose next tick is too far away to represent never tick again (and never
//! panic); missed ticks are skipped on the original grid whatever the period.

use std::time::Duration;

#[path = "common/mod.rs"]
mod common;
use common::{secs, vrun};

#[test]
fn interval_of_duration_max_ticks_once_then_waits_forever() {
    vrun(async {
        let mut iv = simul::interval(Duration::MAX);
        iv.tick().await; // immediate
        assert!(simul::wait_for(secs(3600), iv.tick()).await.is_err());
        assert!(simul::wait_for(secs(1), iv.tick()).await.is_err());
        assert_eq!(iv.period(), Duration::MAX);
    });
}

#[test]
fn interval_with_a_period_near_the_limit_of_instant_does_not_panic() {
    for period in [
        Duration::from_secs(u64::MAX / 2),
        Duration::from_secs(u64::MAX / 1000),
        Duration::MAX - Duration::from_nanos(1),
    ] {
        vrun(async move {
            let mut iv = simul::interval(period);
            iv.tick().await;
            assert!(simul::wait_for(secs(10), iv.tick()).await.is_err());
        });
    }
}

#[test]
fn missed_ticks_of_a_long_busy_stretch_are_skipped_on_the_grid() {
    vrun(async {
        let period = Duration::from_nanos(3);
        let mut iv = simul::interval(period);
        let t0 = iv.tick().await;
        // Far more missed periods than fit in a u32.
        simul::sleep(secs(100)).await;
        let t1 = iv.tick().await; // the missed tick, late
        let t2 = iv.tick().await;
        assert!(t1 > t0);
        assert_eq!((t2 - t0).as_nanos() % 3, 0, "t2 is off the grid");
        assert!(t2 - t0 > secs(100), "the missed ticks were not skipped");
        assert!(t2 > t1);
    });
}
