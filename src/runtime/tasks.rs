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
use super::iteration::{Lifecycle, MainTask};
use super::{report_unretrieved, Core, ExceptionContext, ExceptionKind, Runnable, Shared};
use crate::task::raw::{self, Done, Schedule, Step, TaskRef};
use crate::task::{Local, TaskInfo, TaskState};
use crate::trace::TracerCell;

/// Task ids handed out to threads so far, in blocks of [`ID_BLOCK`].
static TASK_IDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// How many ids a thread takes from [`TASK_IDS`] at a time.
const ID_BLOCK: u64 = 1024;

thread_local! {
    /// The thread's current block of ids: the next one to hand out and the block's end.
    static THREAD_IDS: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

/// A new task id: unique in the process and increasing on each thread (so one loop's
/// tasks sort by creation). Ids come from a per-thread block, so a spawn costs no atomic
/// operation on a shared counter; consecutive on one thread, with a gap between threads.
pub(super) fn next_task_id() -> u64 {
    THREAD_IDS.with(|ids| {
        let (next, end) = ids.get();
        let (id, end) = if next < end {
            (next, end)
        } else {
            let start = TASK_IDS.fetch_add(ID_BLOCK, Ordering::Relaxed);
            (start, start + ID_BLOCK)
        };
        ids.set((id + 1, end));
        id
    })
}

/// The loop's side of the schedule seam: each task carries one, pointing at the loop
/// that spawned it. A wake on the loop's own thread (while it runs) goes straight to the
/// ready queue; any other goes through the injection queue.
///
/// # Why each task holds its loop's shared half
///
/// A waker can be woken on any thread, at any time, even after its loop has closed and
/// been dropped (a channel on another thread may keep it for ever). From the task alone it
/// must find the loop's injection queue and unparker, or learn that the loop is gone. The
/// counted pointer does both for 8 bytes per task and one reference-count increment per
/// spawn (the decrement happens when the cell is freed); a local wake reads it once (the
/// `ptr_eq` against the running loop) and adds no locked operation. The alternatives,
/// each tried or costed by earlier work on issue 12:
/// - a loop id in the header and a process-wide table of loops: every cross-thread wake
///   then takes the table's lock (or an atomic read plus a generation check so a reused
///   slot is not mistaken for the dead loop's), which is the path `cross_spawn` and
///   `cross_channel` measure;
/// - an uncounted pointer: it dangles once the loop is dropped while a waker is still
///   alive elsewhere, unless loops' shared halves are never freed (leaked per loop) or freed
///   through an epoch scheme, which costs more than the count it saves;
/// - the thread's current loop alone: right for a wake on the owner thread, but a remote
///   wake has no current loop to ask.
///
/// tokio makes the same choice (its task cell stores the scheduler, an `Arc` of the
/// runtime handle), as do async-task's executors (the schedule closure captures one). What
/// would change the answer: a loop that cannot outlive its wakers (not asyncio's model),
/// or a cross-thread wake path that already takes a shared lock for another reason.
pub(crate) struct LoopSchedule(Arc<Shared>);

/// A task allocation made ahead of the spawn, with its future in place (see
/// [`raw::Unstarted`]).
pub(crate) type NewTask<F> = raw::Unstarted<F, LoopSchedule>;

impl Schedule for LoopSchedule {
    /// A counted entry: on the loop's own thread (a wake that could not be local, e.g.
    /// while another loop runs there) it is accepted into the ready queue at once; from
    /// anywhere else it goes through the injection queue.
    #[inline]
    fn schedule(&self, task: raw::Runnable) {
        let mut task = Some(task);
        try_with_core(|core| {
            if Arc::ptr_eq(core.shared(), &self.0) {
                if let Some(t) = task.take() {
                    if let Some(t) = t.accept() {
                        core.push_local(t, false);
                    }
                }
            }
        });
        if let Some(t) = task {
            self.0.push_task(t);
        }
    }

    /// A wake while this loop runs on the calling thread: straight into the ready queue.
    /// Every task of a loop is spawned on the loop's thread (`Core::spawn_raw`), so the
    /// loop running here means this is the task's owner thread, as `make` requires.
    #[inline]
    fn schedule_local(&self, make: impl FnOnce() -> Option<raw::LocalRunnable>) -> bool {
        try_with_core(|core| {
            if !Arc::ptr_eq(core.shared(), &self.0) {
                return false;
            }
            if let Some(t) = make() {
                core.push_local(t, false);
            }
            true
        })
        .unwrap_or(false)
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
        self.spawn_unstarted(raw::Unstarted::new(future), name, location, eager)
    }

    /// [`Core::spawn_raw`] for a future already in its task allocation ([`NewTask`]), so
    /// it is not copied again on its way here.
    pub(crate) fn spawn_unstarted<F>(
        &self,
        future: NewTask<F>,
        name: Option<String>,
        location: &'static Location<'static>,
        eager: bool,
    ) -> raw::JoinRef<F::Output>
    where
        F: Future + 'static,
    {
        let id = next_task_id();
        let created = match self.spawn_time.get() {
            Some(t) => t,
            None => {
                let t = crate::task::creation_stamp(self.clock().coarse_instant());
                self.spawn_time.set(Some(t));
                t
            }
        };
        let (registry_ref, handle_ref, queue_ref) = raw::spawn_unstarted(
            future,
            LoopSchedule(self.shared().clone()),
            Local::new(id, name, location, created),
        );
        let slot = self.tasks.borrow_mut().insert(registry_ref);
        handle_ref
            .local()
            .slot
            .set(u32::try_from(slot).expect("more than 2^32 live tasks"));
        let life = self.life.get();
        if life != Lifecycle::Open {
            self.refuse(&handle_ref, life);
            drop(queue_ref); // never queued: the task never runs
        } else if eager {
            // Run the first step right here, as if it had been popped from the queue.
            self.run_task(queue_ref);
        } else {
            self.ready.borrow_mut().push_back(Runnable::Task(queue_ref));
        }
        handle_ref
    }

    /// A spawn on a closing (or closed) loop: the task never runs. While closing, it stays
    /// in the registry, and shutdown's next round drops its future (one at a time, so a
    /// destructor that spawns again is not recursion); once closed, it is cancelled here.
    /// Reported in debug mode.
    #[cold]
    fn refuse(&self, task: &TaskRef, life: Lifecycle) {
        if self.is_debug() {
            let local = task.local();
            let name = crate::task::task_name(local);
            self.call_exception_handler(&ExceptionContext::new(
                ExceptionKind::SpawnRefused,
                format!(
                    "Task was destroyed but it is pending: task spawned at {}:{} while its \
                     loop was closing never runs",
                    local.location.file(),
                    local.location.line()
                ),
                Some(name),
            ));
        }
        if life == Lifecycle::Closed {
            self.cancel_now(task);
        }
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

    /// Queues a task's local entry at the back of the ready queue (`remote`: the wake came
    /// from another thread, for the trace).
    #[inline(always)]
    pub(super) fn push_local(&self, t: raw::LocalRunnable, remote: bool) {
        if let Some(tr) = &self.tracer {
            t.with_task(|t| tr.borrow_mut().wake(t.local().id, remote));
        }
        self.ready.borrow_mut().push_back(Runnable::Task(t));
    }

    pub(crate) fn call_soon_rc(&self, cb: Rc<dyn Callback>) {
        self.ready.borrow_mut().push_back(Runnable::Call(cb));
    }

    pub(super) fn run_task(&self, task: raw::LocalRunnable) {
        let step = task.run(
            |t| {
                let budget = self.fresh_budget();
                let started = self.instrumented.then(|| {
                    let local = t.local();
                    self.before_poll(local.id, local.location)
                });
                (budget, started)
            },
            |t, (budget, started)| {
                self.restore_budget(budget);
                if let Some(t0) = started {
                    let local = t.local();
                    let polled = Polled {
                        id: local.id,
                        location: local.location,
                        polls: u64::from(local.polls.get()),
                        name: &|| crate::task::task_name(local),
                    };
                    self.after_poll(&polled, t0);
                }
            },
        );
        if let Step::Done(done) = step {
            self.complete(done);
        }
    }

    /// Instrumentation before a poll (debug, trace or watchdog on).
    #[cold]
    pub(super) fn before_poll(&self, id: u64, location: &'static Location<'static>) -> Instant {
        if let Some(w) = &self.watch {
            w.enter(id, location);
        }
        Instant::now()
    }

    /// Instrumentation after a poll.
    #[cold]
    pub(super) fn after_poll(&self, p: &Polled<'_>, t0: Instant) {
        let took = t0.elapsed();
        if let Some(w) = &self.watch {
            if let Some(stuck) = w.exit() {
                crate::debug::report_stall(self, &(p.name)(), p.location, stuck.max(took));
            }
        }
        if self.is_debug() && took >= self.slow_poll_threshold() {
            crate::debug::report_slow_poll(self, &(p.name)(), p.location, took);
        }
        if let Some(tr) = &self.tracer {
            tr.borrow_mut().poll(p.id, p.name, t0, took, p.polls);
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
        match registry_ref {
            Some(owned) => owned.release_with(task),
            None => drop(task),
        }
    }

    /// The load figure the loop publishes (ready-queue length plus live tasks), read now
    /// on its own thread, less the task being polled if there is one: a task that asks
    /// where to spawn does not count against its own loop.
    pub(crate) fn load_without_caller(&self) -> usize {
        let caller = usize::from(raw::with_current(|_| ()).is_some());
        let live = self.tasks.borrow().len;
        self.ready.borrow().len() + live.saturating_sub(caller)
    }

    pub(crate) fn current_task_info(&self) -> Option<TaskInfo> {
        if let Some(info) = raw::with_current(TaskInfo::of) {
            return Some(info);
        }
        let main = self.main.borrow();
        main.as_ref()
            .filter(|m| m.running.get())
            .map(|m| self.main_info(m))
    }

    fn main_info(&self, m: &MainTask) -> TaskInfo {
        let state = if m.running.get() {
            TaskState::Running
        } else if self.main_queued.get() || self.shared().signal.main_woken() {
            TaskState::Scheduled
        } else {
            TaskState::Waiting
        };
        TaskInfo::main(m.id, m.location, state, m.polls.get(), m.created)
    }

    pub(crate) fn all_task_infos(&self) -> Vec<TaskInfo> {
        let tasks = self.tasks.borrow();
        let mut v: Vec<TaskInfo> = tasks
            .slots
            .iter()
            .flatten()
            .map(|t| TaskInfo::of(t))
            .collect();
        if let Some(m) = self.main.borrow().as_ref() {
            v.push(self.main_info(m));
        }
        v.sort_by_key(|i| i.id());
        v
    }

    pub(crate) fn task_count(&self) -> usize {
        self.tasks.borrow().len
    }
}

/// What the instrumentation needs to know of the task just polled.
pub(super) struct Polled<'a> {
    pub(super) id: u64,
    pub(super) location: &'static Location<'static>,
    pub(super) polls: u64,
    pub(super) name: &'a dyn Fn() -> String,
}
