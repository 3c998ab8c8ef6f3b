//! Helpers shared by the integration tests.
#![allow(dead_code)] // each test binary uses a different subset

use std::cell::Cell;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

/// Runs `f` on a fresh loop with virtual time.
pub fn vrun<F: Future>(f: F) -> F::Output {
    simul::EventLoop::builder()
        .virtual_time(true)
        .build()
        .unwrap()
        .run_until_complete(f)
}

/// `Duration::from_secs`.
pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Counts its drops in the shared cell.
pub struct Guard(pub Rc<Cell<usize>>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

/// Runs its closure when dropped.
pub struct OnDrop(pub Option<Box<dyn FnOnce()>>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}
