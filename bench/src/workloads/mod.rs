//! One module per workload. A workload is a name, a one-line description and a function
//! that runs it once on a given runtime and returns the time it took (measured inside the
//! runtime, so building and dropping the runtime is not counted).
//!
//! To add one: write `NAME.rs` with `pub const W: Workload`, and list it in [`ALL`]. A
//! workload that compares different primitives per runtime (simul's `Queue` against
//! tokio's `mpsc`, say) matches on [`Rt`] itself and returns `None` for a runtime that has
//! no counterpart; the table then shows `-`.

use std::time::Duration;

use crate::rt::Rt;

mod chained_spawn;
mod cross_loop;
mod gather;
mod lock_handoff;
mod ping_pong;
mod queue;
mod spawn_many;
mod taskgroup;
mod timers;
mod timers_cancel;
mod yield_many;

/// Settings every workload sees.
pub struct Opts {
    /// `--quick`: a tenth of the work.
    pub quick: bool,
}

impl Opts {
    /// `n`, or a tenth of it under `--quick`.
    pub fn n(&self, n: usize) -> usize {
        if self.quick {
            (n / 10).max(1)
        } else {
            n
        }
    }
}

pub struct Workload {
    pub name: &'static str,
    pub what: &'static str,
    pub run: fn(Rt, &Opts) -> Option<Duration>,
}

pub const ALL: &[Workload] = &[
    spawn_many::W,
    yield_many::W,
    ping_pong::W,
    chained_spawn::W,
    timers::W,
    timers_cancel::W,
    gather::W,
    taskgroup::W,
    queue::W_1TO1_BOUNDED,
    queue::W_1TO1_UNBOUNDED,
    queue::W_4TO4_BOUNDED,
    lock_handoff::W,
    cross_loop::W_SPAWN,
    cross_loop::W_SPAWN_1CPU,
    cross_loop::W_SPAWN_MT,
    cross_loop::W_CHANNEL,
    cross_loop::W_CHANNEL_MT,
];
