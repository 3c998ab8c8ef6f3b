//! Tasks on the loop: the loop's side of the schedule seam (`LoopSchedule`: the local
//! ready queue on the loop's thread, the injection queue from anywhere else), spawning
//! into the registry and the ready queue, one task step with its instrumentation,
//! completion, and immediate cancellation. Task memory itself is `task::raw`'s; this file
//! only holds its safe handles.

use std::cell::Cell;
use std::future::Future;
use std::panic::Location;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use super::callback::{Callback, CallbackCell};
use super::context::try_with_core;
use super::{report_unretrieved, Core, Runnable, Shared};
use crate::task::raw::{self, Done, Schedule, Step, TaskRef};
use crate::task::{Local, TaskInfo};
use crate::trace::TracerCell;

pub(super) static TASK_IDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// The loop's side of the schedule seam: each task carries one, pointing at the loop
/// that spawned it. A wake on the loop's own thread (while it runs) goes straight to the
/// ready queue; any other goes through the injection queue.
pub(crate) struct LoopSchedule(Arc<Shared>);

impl Schedule for LoopSchedule {
    fn schedule(&self, task: raw::Runnable) {
        let mut task = Some(task);
        try_with_core(|core| {
            if Arc::ptr_eq(&core.shared, &self.0) {
                if let Some(t) = task.take() {
                    if let Some(tr) = &core.tracer {
                        t.with_task(|t| tr.borrow_mut().wake(t.local().id, false));
                    }
                    core.ready.borrow_mut().push_back(Runnable::Task(t));
                }
            }
        });
        if let Some(t) = task {
            self.0.push_task(t);
        }
    }
}

impl Core {
    pub(crate) fn spawn_raw<F>(
        &self,
        future: F,
        name: Option<String>,
        location: &'static Location<'static>,
        eager: bool,
    ) -> raw::JoinRef<F::Output>
    where
        F: Future + 'static,
    {
        let id = TASK_IDS.fetch_add(1, Ordering::Relaxed);
        let created = match self.spawn_time.get() {
            Some(t) => t,
            None => {
                let t = crate::task::creation_stamp(self.clock.coarse_instant());
                self.spawn_time.set(Some(t));
                t
            }
        };
        let (registry_ref, handle_ref, queue_ref) = raw::spawn(
            future,
            LoopSchedule(self.shared.clone()),
            Local::new(id, name, location, created),
        );
        let slot = self.tasks.borrow_mut().insert(registry_ref);
        handle_ref
            .local()
            .slot
            .set(u32::try_from(slot).expect("more than 2^32 live tasks"));
        if eager {
            // Run the first step right here, as if it had been popped from the queue.
            self.run_task(queue_ref);
        } else {
            self.ready.borrow_mut().push_back(Runnable::Task(queue_ref));
        }
        handle_ref
    }

    /// Cancels `task` right away, on this stack: its future is dropped in place (so its
    /// destructors have run when this returns) and the task completes as cancelled.
    /// A task that is being polled (only the caller's own task can be) is instead asked to
    /// cancel at its next suspension, like [`crate::Task::cancel`]. Returns `false` if the
    /// task had already finished. Used by `TaskGroup` so that inner work ends before the
    /// outer work that owns it (structured cancellation).
    pub(crate) fn cancel_now(&self, task: &TaskRef) -> bool {
        if !task.request_cancel() {
            return false;
        }
        // While the future is dropped the task counts as running, so a destructor that
        // tries to cancel it again only schedules it (and the queue entry then finds it
        // complete).
        match task.cancel_in_place() {
            Some(done) => self.complete(done),
            None => task.wake(), // being polled: it is cancelled when it next runs
        }
        true
    }

    pub(crate) fn call_soon_rc(&self, cb: Rc<dyn Callback>) {
        self.ready.borrow_mut().push_back(Runnable::Call(cb));
    }

    pub(super) fn run_task(&self, task: raw::Runnable) {
        let step = task.run(
            |t| {
                let budget = self.budget.replace(crate::io::BUDGET);
                (budget, self.instrumented.then(|| self.before_poll(t)))
            },
            |t, (budget, started)| {
                self.budget.set(budget);
                if let Some(t0) = started {
                    self.after_poll(t, t0);
                }
            },
        );
        if let Step::Done(done) = step {
            self.complete(done);
        }
    }

    /// Instrumentation before a poll (debug, trace or watchdog on).
    #[cold]
    fn before_poll(&self, task: &TaskRef) -> Instant {
        if let Some(w) = &self.watch {
            let local = task.local();
            w.enter(local.id, local.location);
        }
        Instant::now()
    }

    /// Instrumentation after a poll.
    #[cold]
    fn after_poll(&self, task: &TaskRef, t0: Instant) {
        let took = t0.elapsed();
        if let Some(w) = &self.watch {
            if let Some(stuck) = w.exit() {
                crate::debug::report_stall(self, task, stuck.max(took));
            }
        }
        if self.config.debug && took >= self.config.slow_poll_threshold {
            crate::debug::report_slow_poll(self, task, took);
        }
        if let Some(tr) = &self.tracer {
            let local = task.local();
            tr.borrow_mut().poll(
                local.id,
                || crate::task::task_name(local),
                t0,
                took,
                u64::from(local.polls.get()),
            );
        }
    }

    pub(crate) fn tracer(&self) -> Option<&TracerCell> {
        self.tracer.as_deref()
    }

    /// The loop's bookkeeping for a task that has just completed: out of the registry,
    /// its awaiter woken, its done callbacks scheduled, a lost panic reported.
    pub(super) fn complete(&self, done: Done) {
        let Done {
            task,
            state,
            unretrieved,
            callbacks,
        } = done;
        let local = task.local();
        let registry_ref = self
            .tasks
            .borrow_mut()
            .remove(local.slot.get() as usize, &task);
        for cb in callbacks {
            self.call_soon_rc(Rc::new(CallbackCell {
                f: Cell::new(Some(move || cb(state))),
                cancelled: Cell::new(false),
            }));
        }
        if let Some(w) = local.join_waker.take() {
            w.wake();
        }
        if let Some(msg) = unretrieved {
            report_unretrieved(&task, &msg);
        }
        drop(registry_ref);
    }

    pub(crate) fn current_task_info(&self) -> Option<TaskInfo> {
        if let Some(info) = raw::with_current(TaskInfo::of) {
            return Some(info);
        }
        self.main
            .get()
            .map(|(id, polls, created)| TaskInfo::main(id, polls, created))
    }

    pub(crate) fn all_task_infos(&self) -> Vec<TaskInfo> {
        let tasks = self.tasks.borrow();
        let mut v: Vec<TaskInfo> = tasks
            .slots
            .iter()
            .flatten()
            .map(|t| TaskInfo::of(t))
            .collect();
        v.sort_by_key(|i| i.id());
        v
    }

    pub(crate) fn task_count(&self) -> usize {
        self.tasks.borrow().len
    }
}
