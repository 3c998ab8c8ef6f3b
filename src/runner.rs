//! `simul::run`, asyncio's `asyncio.run`: a new loop on this thread, the future run as
//! its main task, Ctrl-C handled as Python does, everything left cancelled, the loop
//! closed.
//!
//! This sits at the top of the layers: it composes the loop (`runtime`) with the Ctrl-C
//! watch of `signal`, so the loop core knows nothing of signals.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::EventLoop;

/// Runs `future` on a new event loop on this thread and returns its output (asyncio.run).
///
/// When `future` completes, every task still alive is cancelled (its future dropped, so
/// its destructors run), the blocking pool is shut down, and the loop is released.
///
/// # Ctrl-C
/// Like `asyncio.run`, the first SIGINT (Ctrl-C) drops `future` (its destructors run), the
/// loop shuts down as above and stdout/stderr are flushed; then, instead of returning, the
/// process ends by SIGINT, as Python does after an uncaught `KeyboardInterrupt` (shells
/// report exit status 130). A second SIGINT during that shutdown ends the process at once.
/// This applies only when SIGINT has its default disposition when `run` starts, to the
/// first `run` active in the process, and only while the program does not listen for
/// SIGINT itself (see [`crate::signal`]).
///
/// # Panics
/// Inside a running loop (spawn a task instead), or if the OS selector cannot be created.
/// A panic of `future` itself is re-raised after the shutdown.
///
/// # Examples
/// ```
/// let out = simul::run(async {
///     simul::sleep(std::time::Duration::from_millis(1)).await;
///     "done"
/// });
/// assert_eq!(out, "done");
/// ```
#[track_caller]
#[doc(alias = "asyncio.run")]
pub fn run<F: Future>(future: F) -> F::Output {
    if crate::runtime::try_with_core(|_| ()).is_some() {
        panic!(
            "simul::run() cannot be called from a running event loop \
             (asyncio: \"asyncio.run() cannot be called from a running event loop\")"
        );
    }
    let lp = EventLoop::new().expect("simul::run: cannot create the event loop");
    let mut sigint = crate::signal::RunInterrupt::arm();
    let location = std::panic::Location::caller();
    let out = catch_unwind(AssertUnwindSafe(|| {
        lp.run_main(sigint.watch(future), location)
    }));
    lp.close();
    match out {
        Ok(Some(v)) => v,
        Ok(None) => sigint.exit_interrupted(),
        Err(p) => std::panic::resume_unwind(p),
    }
}
