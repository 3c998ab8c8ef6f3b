//! Tasks on the loop: spawning into the registry and the ready queue, waker routing
//! (`schedule_ref`: the local ready queue on the loop's thread, the injection queue from
//! anywhere else), one task step with its instrumentation, completion, and immediate
//! cancellation.

use std::cell::Cell;
use std::future::Future;
use std::panic::Location;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use super::callback::{Callback, CallbackCell};
use super::context::try_with_core;
use super::{report_unretrieved, Core, Runnable};
use crate::task::raw::{self, TaskRef};
use crate::task::{Local, TaskInfo, TaskState};
use crate::trace::TracerCell;

pub(super) static TASK_IDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Schedules a task from a waker or a `cancel()`, on whatever thread this runs.
pub(crate) fn schedule_ref(task: &TaskRef) {
    let Some(queued) = task.schedule() else {
        return;
    };
    let shared_ptr = Arc::as_ptr(task.shared());
    let mut queued = Some(queued);
    try_with_core(|core| {
        if Arc::as_ptr(&core.shared) == shared_ptr {
            if let Some(q) = queued.take() {
                if let Some(tr) = &core.tracer {
                    // SAFETY: loop thread; copy out the id.
                    tr.borrow_mut().wake(unsafe { q.local() }.id, false);
                }
                core.ready.borrow_mut().push_back(Runnable::Task(q));
            }
        }
    });
    if let Some(q) = queued {
        let shared = q.shared().clone();
        shared.push_task(q);
    }
}

impl Core {
    pub(crate) fn spawn_raw<F>(
        &self,
        future: F,
        name: Option<String>,
        location: &'static Location<'static>,
        eager: bool,
    ) -> TaskRef
    where
        F: Future + 'static,
    {
        let id = TASK_IDS.fetch_add(1, Ordering::Relaxed);
        let created = match self.spawn_time.get() {
            Some(t) => t,
            None => {
                let t = self.clock.coarse_instant();
                self.spawn_time.set(Some(t));
                t
            }
        };
        let (registry_ref, handle_ref, queue_ref) = raw::allocate(
            future,
            self.shared.clone(),
            Local::new(id, name, location, created),
        );
        let slot = self.tasks.borrow_mut().insert(registry_ref);
        // SAFETY: loop thread; nobody else has seen the task yet.
        unsafe { handle_ref.local() }.slot = slot;
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
        if task.state() & raw::RUNNING != 0 {
            schedule_ref(task);
            return true;
        }
        // Mark it running while its future is dropped, so that a destructor that tries to
        // cancel it again only schedules it (and the queue entry then finds it complete).
        task.transition_to_running();
        // SAFETY: loop thread (Core is thread-local) and the task is not being polled.
        let state = unsafe { task.cancel_future() };
        self.complete(task, state);
        true
    }

    pub(crate) fn call_soon_rc(&self, cb: Rc<dyn Callback>) {
        self.ready.borrow_mut().push_back(Runnable::Call(cb));
    }

    pub(super) fn run_task(&self, task: TaskRef) {
        let prev = task.transition_to_running();
        if prev & raw::COMPLETE != 0 {
            return;
        }
        if prev & raw::CANCEL != 0 {
            // SAFETY: loop thread, not being polled (we just took it from the queue).
            let state = unsafe { task.cancel_future() };
            self.complete(&task, state);
            return;
        }
        let waker = task.borrowed_waker();
        let mut cx = Context::from_waker(&waker);
        let saved = self.current.replace(Some(task.as_raw()));
        let saved_budget = self.budget.replace(crate::io::BUDGET);
        let started = self.instrumented.then(|| self.before_poll(&task));
        // SAFETY: loop thread; RUNNING is set; the queue's reference keeps it alive.
        let res = unsafe { task.poll(&mut cx) };
        self.current.set(saved);
        self.budget.set(saved_budget);
        // SAFETY: loop thread; the poll is over.
        unsafe { task.local() }.polls += 1;
        if let Some(t0) = started {
            self.after_poll(&task, t0);
        }
        match res {
            Poll::Pending => task.idle_and_release(),
            Poll::Ready(state) => self.complete(&task, state),
        }
    }

    /// Instrumentation before a poll (debug, trace or watchdog on).
    #[cold]
    fn before_poll(&self, task: &TaskRef) -> Instant {
        if let Some(w) = &self.watch {
            // SAFETY: loop thread; copy out.
            let local = unsafe { task.local() };
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
            // SAFETY: loop thread; the poll is over.
            let local = unsafe { task.local() };
            tr.borrow_mut().poll(
                local.id,
                || crate::task::task_name(local),
                t0,
                took,
                local.polls,
            );
        }
    }

    pub(crate) fn tracer(&self) -> Option<&TracerCell> {
        self.tracer.as_deref()
    }

    pub(super) fn complete(&self, task: &TaskRef, state: TaskState) {
        task.transition_to_complete();
        // SAFETY: loop thread; no other borrow of this task's Local is live.
        let local = unsafe { task.local() };
        local.outcome = Some(state);
        let registry_ref = self.tasks.borrow_mut().remove(local.slot);
        let join = local.join_waker.take();
        let callbacks = local.callbacks.take();
        let detached = local.detached;
        for cb in callbacks.into_iter().flat_map(|v| *v) {
            self.call_soon_rc(Rc::new(CallbackCell {
                f: Cell::new(Some(move || cb(state))),
                cancelled: Cell::new(false),
            }));
        }
        if let Some(w) = join {
            w.wake();
        }
        if detached {
            // SAFETY: loop thread.
            if let Some(msg) = unsafe { task.drop_output() } {
                report_unretrieved(task, &msg);
            }
        }
        drop(registry_ref);
    }

    pub(crate) fn current_task_info(&self) -> Option<TaskInfo> {
        if let Some(ptr) = self.current.get() {
            // SAFETY: `current` is set only while the task is polled, and the queue entry
            // being polled holds a reference.
            let t = unsafe { TaskRef::borrow_raw(ptr) };
            return Some(TaskInfo::of(&t));
        }
        self.main
            .get()
            .map(|(id, polls, created)| TaskInfo::main(id, polls, created))
    }

    pub(crate) fn all_task_infos(&self) -> Vec<TaskInfo> {
        let tasks = self.tasks.borrow();
        let mut v: Vec<TaskInfo> = tasks.slots.iter().flatten().map(TaskInfo::of).collect();
        v.sort_by_key(|i| i.id());
        v
    }

    pub(crate) fn task_count(&self) -> usize {
        self.tasks.borrow().len
    }
}
