//! Seeing inside the loop: debug-mode reports.
//!
//! In debug mode ([`crate::Builder::debug`] or `SIMUL_DEBUG=1`) every task poll is timed;
//! a poll longer than the slow-poll threshold (default 100 ms, asyncio's
//! `slow_callback_duration`) is reported to the loop's exception handler with the task's
//! name, spawn location and duration. Off by default; when off, the only cost is one
//! branch per poll.

use std::time::Duration;

use crate::runtime::{Core, ExceptionContext, ExceptionKind};
use crate::task::raw::TaskRef;

pub(crate) fn report_slow_poll(core: &Core, task: &TaskRef, took: Duration) {
    // SAFETY: called by the loop right after polling the task, on the loop thread.
    let local = unsafe { task.local() };
    let name = crate::task::task_name(local);
    let msg = format!(
        "Executing task {:?} (spawned at {}:{}) took {:.3} seconds",
        name,
        local.location.file(),
        local.location.line(),
        took.as_secs_f64()
    );
    core.call_exception_handler(&ExceptionContext::new(
        ExceptionKind::SlowPoll,
        msg,
        Some(name),
    ));
}
