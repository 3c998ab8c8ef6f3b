//! Holds on the virtual clock: work outside the loop that will finish on its own (a job on
//! the blocking pool, a running child process) keeps the virtual clock from jumping past
//! it (see `time::driver` for exactly when the clock jumps).
//!
//! A [`VirtualTimeHold`] is `Send`, because the futures that own one are: it is released
//! on its loop directly when dropped there, and through the loop's injection queue when
//! dropped on another thread (a closed loop needs no release).

use std::sync::Arc;

use super::context::try_with_core;
use super::Shared;

/// One hold on a loop's virtual clock, released on drop.
pub(crate) struct VirtualTimeHold {
    origin: Option<Arc<Shared>>,
}

impl VirtualTimeHold {
    /// Takes a hold on the current loop (an inert hold outside a loop).
    pub(crate) fn new() -> VirtualTimeHold {
        VirtualTimeHold {
            origin: try_with_core(|core| {
                core.hold_virtual_time();
                core.shared().clone()
            }),
        }
    }

    /// Gives the hold back now (also done on drop).
    pub(crate) fn release(&mut self) {
        let Some(origin) = self.origin.take() else {
            return;
        };
        let here = try_with_core(|core| {
            let mine = Arc::ptr_eq(core.shared(), &origin);
            if mine {
                core.release_virtual_time();
            }
            mine
        });
        if here != Some(true) {
            origin.push_call(Box::new(|| {
                try_with_core(|core| core.release_virtual_time());
            }));
        }
    }
}

impl Drop for VirtualTimeHold {
    fn drop(&mut self) {
        self.release();
    }
}
