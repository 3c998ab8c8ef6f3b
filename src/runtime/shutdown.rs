//! Shutdown: cancel every task still alive (each future dropped on the loop's thread with
//! the loop still current, so destructors can use it), run the shutdown hooks, drop
//! pending callbacks and timers, and close the injection queue, which from then on refuses
//! what it is handed.

use super::{Core, Runnable};
use crate::task::raw::{self, TaskRef};

impl Core {
    /// Cancels every task, drops callbacks and timers, closes the injection queue.
    pub(super) fn shutdown(&self) {
        if self.closed.replace(true) {
            return;
        }
        for _round in 0..16 {
            let tasks: Vec<TaskRef> = {
                let reg = self.tasks.borrow();
                reg.slots.iter().flatten().map(|t| t.clone_ref()).collect()
            };
            if tasks.is_empty() {
                break;
            }
            for t in tasks {
                if t.state() & raw::COMPLETE != 0 {
                    continue;
                }
                if t.state() & raw::RUNNING != 0 {
                    continue; // shutdown from inside the task itself; it ends when it returns
                }
                // SAFETY: loop thread; the task is not being polled.
                let state = unsafe { t.cancel_future() };
                self.complete(&t, state);
            }
            // Run what cancellation scheduled (done callbacks), but no task steps.
            let pending: Vec<Runnable> = self.ready.borrow_mut().drain(..).collect();
            for r in pending {
                if let Runnable::Call(cb) = r {
                    self.run_callback(cb);
                }
            }
        }
        // Hooks may register more hooks: take them out before running any.
        loop {
            let hooks = std::mem::take(&mut *self.shutdown_hooks.borrow_mut());
            if hooks.is_empty() {
                break;
            }
            for hook in hooks {
                hook();
            }
        }
        let timers = self.timers.borrow_mut().drain();
        drop(timers);
        let leftover: Vec<Runnable> = self.ready.borrow_mut().drain(..).collect();
        drop(leftover);
        let inject = self.shared.close();
        drop(inject);
        if let Some(w) = &self.watch {
            w.stop();
        }
        if let Some(tr) = &self.tracer {
            tr.borrow().flush_to_file(self.loop_no);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::super::context::with_core;
    use super::super::EventLoop;
    use std::cell::Cell;
    use std::rc::Rc;

    #[test]
    fn shutdown_hooks_may_register_more_hooks() {
        let ran = Rc::new(Cell::new(0));
        let lp = EventLoop::new().unwrap();
        let r = ran.clone();
        lp.core.shutdown_hooks.borrow_mut().push(Box::new(move || {
            r.set(r.get() + 1);
            let r2 = r.clone();
            with_core("test", |core| {
                core.shutdown_hooks
                    .borrow_mut()
                    .push(Box::new(move || r2.set(r2.get() + 10)))
            });
        }));
        lp.close();
        assert_eq!(ran.get(), 11);
    }
}
