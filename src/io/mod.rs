//! I/O plumbing: the selector ([`driver`]) and the cooperative budget.
//!
//! # Cooperative budget
//!
//! asyncio asks users to sprinkle `await asyncio.sleep(0)` into loops that keep finding
//! data ready; simul does it for them. Each task step starts with [`BUDGET`] units; every
//! I/O operation that completes without waiting spends one. When the budget runs out, the
//! next I/O operation wakes the task and returns `Pending`, so it goes to the back of the
//! ready queue and one busy connection cannot starve the others or the timers.
//!
//! # Fault injection
//!
//! [`fault`] holds the test-only switch (the `fault-injection` feature plus
//! `SIMUL_FAULT_SEED`) that makes operations short, interrupted, spuriously not ready or
//! reset; the hooks sit where every socket and pipe operation runs its syscall.

pub(crate) mod driver;
pub(crate) mod fault;

use std::task::Context;

/// Operations a task may complete in one step before it is made to yield.
pub const BUDGET: u32 = 128;

/// Spends one unit of the running task's budget. Returns `true` (after waking the task)
/// when the budget is exhausted and the caller must return `Pending`.
#[inline]
pub(crate) fn coop_exhausted(cx: &mut Context<'_>) -> bool {
    crate::runtime::try_with_core(|core| {
        if core.spend_budget() {
            false
        } else {
            cx.waker().wake_by_ref();
            true
        }
    })
    .unwrap_or(false)
}
