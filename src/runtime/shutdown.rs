//! Shutdown, the one way a loop leaves `Open` (see `Lifecycle` in `iteration.rs`).
//!
//! 1. The loop becomes `Closing`: from now on every spawn is refused (the task never runs;
//!    see `Core::refuse`), so the set of tasks can only shrink.
//! 2. Rounds: every live task is cancelled — its future dropped on the loop's thread with
//!    the loop still current, so destructors can use it — and the done callbacks this
//!    schedules run (no task steps). A destructor that spawns adds a refused task, dropped
//!    by the next round: a chain of such destructors is unrolled one link per round, never
//!    as recursion. The rounds end when no task is left (or after [`MAX_ROUNDS`], when the
//!    tasks still left are leaked, never dropped off the loop's thread, and reported).
//! 3. The shutdown hooks run (the blocking pool's, ...); hooks may register hooks.
//! 4. Timers, leftover callbacks and the injection queue are dropped (the queue is closed:
//!    from then on it refuses what other threads hand it); what their destructors spawn is
//!    cancelled by a last set of rounds.
//! 5. The loop becomes `Closed`; the watchdog stops and the trace is written.
//!
//! Shutdown runs once; it always terminates and never panics on its own account.

use super::iteration::Lifecycle;
use super::{Core, ExceptionContext, ExceptionKind, Runnable};
use crate::task::raw::{OwnedTask, TaskRef};

/// Cancellation rounds before shutdown gives up on destructors that keep spawning.
pub(super) const MAX_ROUNDS: usize = 10_000;

impl Core {
    /// Shuts the loop down (see the module doc). Runs once; later calls do nothing.
    pub(super) fn shutdown(&self) {
        if self.life.get() != Lifecycle::Open {
            return;
        }
        self.life.set(Lifecycle::Closing);
        self.cancel_all();
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
        let timers = self.timers().drain_timers();
        drop(timers);
        let leftover: Vec<Runnable> = self.ready.borrow_mut().drain(..).collect();
        drop(leftover);
        let inject = self.shared().close();
        drop(inject);
        self.cancel_all();
        self.life.set(Lifecycle::Closed);
        if let Some(w) = &self.watch {
            w.stop();
        }
        if let Some(tr) = &self.tracer {
            tr.borrow().flush_to_file(self.id());
        }
    }

    /// Cancellation rounds until no task is left (step 2 of the module doc).
    fn cancel_all(&self) {
        for _round in 0..MAX_ROUNDS {
            let tasks: Vec<TaskRef> = {
                let reg = self.tasks.borrow();
                reg.slots
                    .iter()
                    .flatten()
                    .map(|t| TaskRef::clone(t))
                    .collect()
            };
            let mut progress = false;
            for t in tasks {
                // `None`: done already, or the caller's own task (it ends when it returns).
                if let Some(done) = t.cancel_in_place() {
                    self.complete(done);
                    progress = true;
                }
            }
            // Run what cancellation scheduled (done callbacks), but no task steps.
            let pending: Vec<Runnable> = self.ready.borrow_mut().drain(..).collect();
            for r in pending {
                match r {
                    Runnable::Call(cb) => self.run_callback(cb),
                    Runnable::Thin(cb) => self.run_thin(cb),
                    _ => {}
                }
            }
            if !progress {
                return;
            }
        }
        self.leak_leftovers();
    }

    /// Gives up on tasks that destructors keep spawning: they are leaked (their futures
    /// are never dropped, so never dropped off this thread) and reported.
    #[cold]
    fn leak_leftovers(&self) {
        let leaked: Vec<OwnedTask> = {
            let mut reg = self.tasks.borrow_mut();
            let all: Vec<TaskRef> = reg
                .slots
                .iter()
                .flatten()
                .map(|t| TaskRef::clone(t))
                .collect();
            all.iter()
                .filter_map(|t| reg.remove(t.local().slot.get() as usize, t))
                .collect()
        };
        let n = leaked.len();
        for t in leaked {
            std::mem::forget(t);
        }
        self.call_exception_handler(&ExceptionContext::new(
            ExceptionKind::SpawnRefused,
            format!(
                "shutdown gave up after {MAX_ROUNDS} rounds of destructors spawning tasks \
                 while the loop was closing: {n} task(s) leaked without being dropped"
            ),
            None,
        ));
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
        lp.core.add_shutdown_hook(move || {
            r.set(r.get() + 1);
            let r2 = r.clone();
            with_core("test", |core| {
                core.add_shutdown_hook(move || r2.set(r2.get() + 10))
            });
        });
        lp.close();
        assert_eq!(ran.get(), 11);
    }
}

#[cfg(all(test, not(loom)))]
mod thin_tests {
    use super::super::context::with_core;
    use super::super::EventLoop;
    use crate::task::raw::thin_probe::{Counts, Probe};
    use std::rc::Rc;

    fn probe(counts: &Rc<Counts>, tag: u32) -> Probe {
        Probe {
            counts: counts.clone(),
            tag,
            panics: false,
        }
    }

    #[test]
    fn thin_entry_left_queued_at_shutdown_is_dropped_once_unrun() {
        let counts = Rc::new(Counts::default());
        let lp = EventLoop::new().unwrap();
        let c = counts.clone();
        // A hook runs after the cancellation rounds (which run queued callbacks), so what
        // it queues is still in the ready queue when shutdown drops the leftovers.
        lp.core.add_shutdown_hook(move || {
            with_core("test", |_| crate::call_soon_thin(probe(&c, 1)));
        });
        lp.close();
        assert_eq!(counts.runs.get(), 0);
        assert_eq!(counts.drops.get(), 1);
    }

    #[test]
    fn thin_entry_queued_before_close_runs_in_the_cancel_round_once() {
        let counts = Rc::new(Counts::default());
        let lp = EventLoop::new().unwrap();
        let c = counts.clone();
        lp.run_until_complete(async move { crate::call_soon_thin(probe(&c, 1)) });
        lp.close();
        assert_eq!(counts.runs.get(), 1);
        assert_eq!(counts.drops.get(), 1);
    }
}
