//! Tasks: asyncio's `Task`, as a Rust handle.
//!
//! A task is a future the loop drives on its own, interleaved with every other task at
//! their `.await` points. [`spawn`] (asyncio's `create_task`) allocates the task once
//! (see `raw.rs` for the memory layout and the state machine) and returns a [`Task<T>`]
//! handle, which is itself a future of `Result<T, TaskError>`:
//!
//! * awaiting it gives the output, or [`TaskError::Cancelled`], or
//!   [`TaskError::Panicked`] when the task panicked (the panic never leaves the task);
//! * dropping it **detaches** the task, which keeps running (asyncio keeps a task alive
//!   while the loop has it; so do we);
//! * [`Task::cancel`] asks the loop to drop the task's future the next time the task would
//!   run, so its destructors run at the suspension point (asyncio's `CancelledError`).
//!
//! Tasks need not be `Send`: they stay on the thread of the loop that spawned them, and
//! so does the `Task` handle (it is `!Send`). Wakers are `Send + Sync`: a wake from another
//! thread goes through the loop's injection queue and unparks it.
//!
//! A task that panics and is never awaited is reported once by the loop, like asyncio's
//! "Task exception was never retrieved".

pub mod group;
pub(crate) mod raw;
pub(crate) mod scope;
mod state;

use std::any::Any;
use std::cell::{Cell, OnceCell, RefCell};
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::runtime;
pub use group::{GroupClosed, GroupError, GroupHandle, GroupTask, TaskGroup};
use raw::{JoinRef, TaskRef};

/// Why a task produced no value.
///
/// # Examples
/// ```
/// let err = simul::run(async {
///     let t = simul::spawn(async { simul::sleep(std::time::Duration::from_secs(60)).await });
///     t.cancel();
///     t.await.unwrap_err()
/// });
/// assert!(err.is_cancelled());
/// ```
#[derive(Clone)]
#[doc(alias = "CancelledError")]
pub enum TaskError {
    /// The task was cancelled before it finished.
    Cancelled,
    /// The task panicked; the payload can be re-raised with [`PanicPayload::resume`].
    Panicked(PanicPayload),
}

/// The payload of a panic caught inside a task.
///
/// # Examples
/// ```
/// let err = simul::run(async { simul::spawn(async { panic!("boom") }).await.unwrap_err() });
/// match err {
///     simul::TaskError::Panicked(p) => assert_eq!(p.message(), "boom"),
///     _ => unreachable!(),
/// }
/// ```
///
/// # Never-read panics of `gather`
///
/// A task panic that [`gather`](crate::gather()) puts into its `Vec` (as
/// `Err(TaskError::Panicked(..))`) is *watched*: if every copy of it is dropped before
/// anyone reads it — its [`message`](Self::message), [`take`](Self::take),
/// [`resume`](Self::resume), its `Display` or `Debug`, or
/// [`TaskError::is_panic`] — the loop reports it as "Task exception was never retrieved",
/// naming the task and where it was spawned, so `gather(tasks).await;` cannot lose a panic
/// silently (asyncio's `gather` would have raised it).
#[derive(Clone)]
pub struct PanicPayload {
    message: Arc<str>,
    shared: Arc<PanicShared>,
}

/// What the clones of one [`PanicPayload`] share.
struct PanicShared {
    payload: Mutex<Option<Box<dyn Any + Send>>>,
    /// Someone read the panic (see the type's docs).
    read: AtomicBool,
    /// Set when the panic was delivered into a `gather`: who panicked, for the report.
    watched: Mutex<Option<String>>,
}

impl Drop for PanicShared {
    fn drop(&mut self) {
        let who = self
            .watched
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let (Some(who), false) = (who, *self.read.get_mut()) {
            runtime::report_unread_gathered_panic(&who);
        }
    }
}

impl PanicPayload {
    /// The panic message (`"Box<dyn Any>"` when the payload was not a string).
    ///
    /// # Examples
    /// ```
    /// # let err = simul::run(async { simul::spawn(async { panic!("x") }).await.unwrap_err() });
    /// if let simul::TaskError::Panicked(p) = err { assert_eq!(p.message(), "x"); }
    /// ```
    pub fn message(&self) -> &str {
        self.mark_read();
        &self.message
    }

    /// Takes the original payload (only the first call, across clones, gets it).
    ///
    /// # Examples
    /// ```
    /// # let err = simul::run(async { simul::spawn(async { panic!("x") }).await.unwrap_err() });
    /// if let simul::TaskError::Panicked(p) = err { assert!(p.take().is_some()); assert!(p.take().is_none()); }
    /// ```
    pub fn take(&self) -> Option<Box<dyn Any + Send>> {
        self.mark_read();
        self.shared
            .payload
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    fn mark_read(&self) {
        self.shared.read.store(true, Ordering::Relaxed);
    }

    /// The message, without counting as a read (for the runtime's own reports).
    pub(crate) fn message_unread(&self) -> &str {
        &self.message
    }

    /// Watches this panic from now on (it is being delivered into a `gather`): reported
    /// if dropped unread. `who` names the task.
    pub(crate) fn watch(&self, who: String) {
        self.shared.read.store(false, Ordering::Relaxed);
        *self
            .shared
            .watched
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(format!("{who} panicked: {}", self.message));
    }

    /// Re-raises the panic in the current thread (with the original payload if it is still
    /// here, else with the message).
    ///
    /// # Examples
    /// ```should_panic
    /// # let err = simul::run(async { simul::spawn(async { panic!("x") }).await.unwrap_err() });
    /// if let simul::TaskError::Panicked(p) = err { p.resume(); }
    /// ```
    pub fn resume(self) -> ! {
        match self.take() {
            Some(p) => std::panic::resume_unwind(p),
            None => std::panic::resume_unwind(Box::new(self.message.to_string())),
        }
    }
}

impl fmt::Debug for PanicPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PanicPayload")
            .field(&self.message())
            .finish()
    }
}

/// The message of a panic payload (`"Box<dyn Any>"` when it is not a string).
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any>".to_string()
    }
}

impl TaskError {
    /// A `Panicked` error from a caught panic's payload.
    pub(crate) fn from_panic(payload: Box<dyn Any + Send>) -> TaskError {
        TaskError::panicked(panic_message(&*payload), payload)
    }

    pub(crate) fn panicked(message: String, payload: Box<dyn Any + Send>) -> TaskError {
        TaskError::Panicked(PanicPayload {
            message: message.into(),
            shared: Arc::new(PanicShared {
                payload: Mutex::new(Some(payload)),
                read: AtomicBool::new(false),
                watched: Mutex::new(None),
            }),
        })
    }

    /// `true` for [`TaskError::Cancelled`].
    ///
    /// # Examples
    /// ```
    /// assert!(simul::TaskError::Cancelled.is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        matches!(self, TaskError::Cancelled)
    }

    /// `true` for [`TaskError::Panicked`].
    ///
    /// # Examples
    /// ```
    /// assert!(!simul::TaskError::Cancelled.is_panic());
    /// ```
    pub fn is_panic(&self) -> bool {
        match self {
            TaskError::Panicked(p) => {
                p.mark_read();
                true
            }
            TaskError::Cancelled => false,
        }
    }
}

impl fmt::Debug for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::Cancelled => f.write_str("Cancelled"),
            TaskError::Panicked(p) => write!(f, "Panicked({:?})", p.message()),
        }
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::Cancelled => f.write_str("task was cancelled"),
            TaskError::Panicked(p) => write!(f, "task panicked: {}", p.message()),
        }
    }
}

impl std::error::Error for TaskError {}

/// Where a task is in its life.
///
/// # Examples
/// ```
/// simul::run(async {
///     let me = simul::current_task().unwrap();
///     assert_eq!(me.state(), simul::TaskState::Running);
/// });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TaskState {
    /// In the ready queue, about to run.
    Scheduled,
    /// Being polled right now.
    Running,
    /// Suspended, waiting to be woken.
    Waiting,
    /// Finished with a value.
    Finished,
    /// Cancelled before it finished.
    Cancelled,
    /// Panicked.
    Panicked,
}

impl TaskState {
    /// `true` once the task has finished, been cancelled or panicked.
    ///
    /// # Examples
    /// ```
    /// assert!(simul::TaskState::Cancelled.is_done());
    /// assert!(!simul::TaskState::Waiting.is_done());
    /// ```
    pub fn is_done(self) -> bool {
        matches!(
            self,
            TaskState::Finished | TaskState::Cancelled | TaskState::Panicked
        )
    }
}

/// Done callbacks of a task.
pub(crate) type Callbacks = Vec<Box<dyn FnOnce(TaskState)>>;

/// A task's bookkeeping, stored in its header and touched only on its owner thread (the
/// loop's), through a `raw::TaskRef` (which is `!Send`); hence plain `Cell`s.
///
/// Kept small, as every task carries it: what only some tasks have (a name, done
/// callbacks) sits behind one pointer, allocated for those tasks only.
pub(crate) struct Local {
    pub(crate) id: u64,
    pub(crate) location: &'static Location<'static>,
    /// When it was spawned, in ns after [`process_origin`], to within a few ms: the loop
    /// reads the coarse clock (kernel tick resolution) once per iteration for all the
    /// tasks spawned in it.
    created_ns: u64,
    pub(crate) join_waker: Cell<Option<Waker>>,
    extra: OnceCell<Box<Extra>>,
    pub(crate) polls: Cell<u32>,
    /// Index in the loop's task registry.
    pub(crate) slot: Cell<u32>,
    /// The owner thread's token (set by `raw::spawn`, read from any thread).
    pub(super) owner: u32,
    /// The `Task` handle was dropped.
    pub(crate) detached: Cell<bool>,
    /// Set when the task completes.
    pub(crate) outcome: Cell<Option<TaskState>>,
    /// A panic of this task was delivered elsewhere (to a `TaskGroup`): do not report it
    /// as never retrieved.
    pub(crate) panic_retrieved: Cell<bool>,
    /// Owner-thread scheduling flags (`raw::QUEUED`, `raw::RUNNING`): kept out of the
    /// atomic state word so a local wake and a step cost no atomic operation.
    pub(super) flags: Cell<u8>,
}

/// What only some tasks have.
struct Extra {
    name: Option<Box<str>>,
    callbacks: RefCell<Callbacks>,
}

/// The instant task creation times count from (the first time it is asked for).
pub(crate) fn process_origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

/// `t` as a task creation stamp: ns after [`process_origin`] (0 if before it).
pub(crate) fn creation_stamp(t: Instant) -> u64 {
    u64::try_from(t.saturating_duration_since(process_origin()).as_nanos()).unwrap_or(u64::MAX)
}

impl Local {
    pub(crate) fn new(
        id: u64,
        name: Option<String>,
        location: &'static Location<'static>,
        created_ns: u64,
    ) -> Self {
        let extra = OnceCell::new();
        if let Some(name) = name {
            let _ = extra.set(Box::new(Extra {
                name: Some(name.into_boxed_str()),
                callbacks: RefCell::default(),
            }));
        }
        Local {
            id,
            location,
            created_ns,
            join_waker: Cell::new(None),
            extra,
            polls: Cell::new(0),
            slot: Cell::new(u32::MAX),
            owner: 0,
            detached: Cell::new(false),
            outcome: Cell::new(None),
            panic_retrieved: Cell::new(false),
            flags: Cell::new(0),
        }
    }

    /// The name given at spawn, if any.
    pub(crate) fn name(&self) -> Option<&str> {
        self.extra.get()?.name.as_deref()
    }

    /// When the task was spawned.
    pub(crate) fn created(&self) -> Instant {
        process_origin() + Duration::from_nanos(self.created_ns)
    }

    /// Adds a done callback; hands it back if the task has completed (it accepts none
    /// from then on, so none is left behind when the task is freed).
    pub(crate) fn add_callback(
        &self,
        f: Box<dyn FnOnce(TaskState)>,
    ) -> Result<(), Box<dyn FnOnce(TaskState)>> {
        if self.outcome.get().is_some() {
            return Err(f);
        }
        let extra = self.extra.get_or_init(|| {
            Box::new(Extra {
                name: None,
                callbacks: RefCell::default(),
            })
        });
        extra.callbacks.borrow_mut().push(f);
        Ok(())
    }

    /// Takes the done callbacks out.
    pub(crate) fn take_callbacks(&self) -> Callbacks {
        match self.extra.get() {
            Some(e) => e.callbacks.take(),
            None => Vec::new(),
        }
    }
}

/// A snapshot of a task for introspection ([`current_task`], [`all_tasks`]).
///
/// # Examples
/// ```
/// simul::run(async {
///     let t = simul::Task::builder().name("worker").spawn(async {});
///     let info = simul::all_tasks().into_iter().find(|i| i.name() == "worker").unwrap();
///     assert_eq!(info.id(), t.id());
///     assert_eq!(format!("{info:?}").contains("worker"), true);
/// });
/// ```
#[derive(Clone)]
pub struct TaskInfo {
    id: u64,
    name: String,
    state: TaskState,
    location: &'static Location<'static>,
    polls: u64,
    age: Duration,
}

impl TaskInfo {
    pub(crate) fn of(task: &TaskRef) -> TaskInfo {
        let local = task.local();
        let st = if let Some(o) = local.outcome.get() {
            o
        } else if task.is_running() {
            TaskState::Running
        } else if task.is_scheduled() {
            TaskState::Scheduled
        } else {
            TaskState::Waiting
        };
        TaskInfo {
            id: local.id,
            name: task_name(local),
            state: st,
            location: local.location,
            polls: u64::from(local.polls.get()),
            age: local.created().elapsed(),
        }
    }

    /// The task's unique id within the process.
    ///
    /// # Examples
    /// ```
    /// simul::run(async { assert!(simul::current_task().unwrap().id() > 0) });
    /// ```
    pub fn id(&self) -> u64 {
        self.id
    }
    /// The task's name (`Task-N` unless it was named).
    ///
    /// # Examples
    /// ```
    /// simul::run(async { assert_eq!(simul::current_task().unwrap().name(), "main") });
    /// ```
    #[doc(alias = "get_name")]
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Its state when the snapshot was taken.
    ///
    /// # Examples
    /// ```
    /// simul::run(async { assert!(!simul::current_task().unwrap().state().is_done()) });
    /// ```
    pub fn state(&self) -> TaskState {
        self.state
    }
    /// Where it was spawned.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let _t = simul::spawn(async {});
    ///     let infos = simul::all_tasks();
    ///     assert!(infos.iter().any(|i| i.location().file().ends_with(".rs")));
    /// });
    /// ```
    pub fn location(&self) -> &'static Location<'static> {
        self.location
    }
    /// How many times it has been polled.
    ///
    /// # Examples
    /// ```
    /// simul::run(async { assert_eq!(simul::current_task().unwrap().polls(), 0) });
    /// ```
    pub fn polls(&self) -> u64 {
        self.polls
    }
    /// How long ago it was spawned.
    ///
    /// # Examples
    /// ```
    /// simul::run(async { assert!(simul::current_task().unwrap().age() < std::time::Duration::from_secs(5)) });
    /// ```
    pub fn age(&self) -> Duration {
        self.age
    }

    pub(crate) fn main(
        id: u64,
        location: &'static Location<'static>,
        state: TaskState,
        polls: u64,
        created: Instant,
    ) -> TaskInfo {
        TaskInfo {
            id,
            name: "main".to_string(),
            state,
            location,
            polls,
            age: created.elapsed(),
        }
    }
}

impl fmt::Debug for TaskInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "<Task {:?} id={} {:?} polls={} spawned at {}:{}>",
            self.name,
            self.id,
            self.state,
            self.polls,
            self.location.file(),
            self.location.line()
        )
    }
}

/// Records that a panic of `task` was delivered elsewhere (to a `TaskGroup`), so the loop
/// does not also report it as never retrieved.
pub(crate) fn mark_panic_retrieved(task: &TaskRef) {
    task.local().panic_retrieved.set(true);
}

pub(crate) fn task_name(local: &Local) -> String {
    match local.name() {
        Some(n) => n.to_string(),
        None => format!("Task-{}", local.id),
    }
}

/// A handle to a spawned task: a future of its result, which it gives **once**.
///
/// Awaiting consumes the handle (`task.await`); to await the same task more than once, as
/// asyncio allows, call [`Task::shared`] and await (clones of) the [`SharedTask`]. Dropping
/// the handle detaches the task (it keeps running); [`Task::cancel`] stops it.
///
/// # Examples
/// ```
/// simul::run(async {
///     let t = simul::spawn(async { 6 * 7 });
///     assert_eq!(t.await.unwrap(), 42);
/// });
/// ```
#[must_use = "a Task is detached when dropped; await it or call .cancel()"]
pub struct Task<T> {
    raw: JoinRef<T>,
}

/// Implemented by the task handles that may cross threads, never by [`Task`] or
/// [`SharedTask`]: their `Send` and `Sync` impls require it, so they are `!Send` and
/// `!Sync` and the compiler says why in this trait's words (rather than "`*const ()`
/// cannot be sent between threads safely"). Never implement it for a loop-bound handle.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be sent to or shared with another thread: it belongs to the thread whose event loop runs the task",
    label = "`{Self}` must stay on its event loop's thread",
    note = "a task runs on the thread of the loop that spawned it, and so does its handle; send the task's result instead (e.g. over a channel), or start the work from the other thread with `LoopHandle::spawn`, whose handle is `Send`"
)]
pub(crate) trait SendableHandle {}

impl<T> SendableHandle for runtime::RemoteTask<T> {}

// SAFETY: the bound never holds (`SendableHandle` is crate-private and not implemented for
// `Task`): this impl replaces the auto impl only to make `Task` `!Send` with a message.
unsafe impl<T> Send for Task<T> where Task<T>: SendableHandle {}
// SAFETY: as for `Send`.
unsafe impl<T> Sync for Task<T> where Task<T>: SendableHandle {}
// SAFETY: as for `Task`.
unsafe impl<T> Send for SharedTask<T> where SharedTask<T>: SendableHandle {}
// SAFETY: as for `Task`.
unsafe impl<T> Sync for SharedTask<T> where SharedTask<T>: SendableHandle {}

impl<T> Unpin for Task<T> {}

impl Task<()> {
    /// A builder to name a task or start it eagerly.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let t = simul::Task::builder().name("fetcher").spawn(async { 1 });
    ///     assert_eq!(t.name(), "fetcher");
    ///     assert_eq!(t.await.unwrap(), 1);
    /// });
    /// ```
    pub fn builder() -> TaskBuilder {
        TaskBuilder {
            name: None,
            eager: false,
        }
    }
}

impl<T> Task<T> {
    pub(crate) fn from_raw(raw: JoinRef<T>) -> Task<T> {
        Task { raw }
    }

    /// Requests cancellation: the task's future is dropped the next time it would run,
    /// so its destructors run at its current suspension point. Returns `false` if the task
    /// had already finished. A task that completes in the step that is running when
    /// `cancel` is called keeps its result.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let t = simul::spawn(simul::sleep(std::time::Duration::from_secs(3600)));
    ///     assert!(t.cancel());
    ///     assert!(t.await.unwrap_err().is_cancelled());
    /// });
    /// ```
    pub fn cancel(&self) -> bool {
        if !self.raw.request_cancel() {
            return false;
        }
        self.raw.wake();
        true
    }

    /// `true` once the task finished, was cancelled or panicked.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let t = simul::spawn(async {});
    ///     assert!(!t.is_done());
    ///     simul::yield_now().await;
    ///     assert!(t.is_done());
    /// });
    /// ```
    #[doc(alias = "done")]
    pub fn is_done(&self) -> bool {
        self.raw.is_complete()
    }

    /// `true` if the task ended by cancellation.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let t = simul::spawn(simul::yield_now());
    ///     t.cancel();
    ///     simul::yield_now().await;
    ///     assert!(t.is_cancelled());
    /// });
    /// ```
    #[doc(alias = "cancelled")]
    pub fn is_cancelled(&self) -> bool {
        self.local_state() == Some(TaskState::Cancelled)
    }

    /// Marks a panic this handle delivers into a `gather` as watched (unless a
    /// `TaskGroup` already took charge of it).
    fn watch_panic(&self, p: &PanicPayload) {
        let local = self.raw.local();
        if !local.panic_retrieved.get() {
            let who = format!(
                "task {:?} (spawned at {}:{})",
                task_name(local),
                local.location.file(),
                local.location.line()
            );
            p.watch(who);
        }
    }

    /// Forgets the awaiter's waker: the handle is no longer "being awaited", so a
    /// timing-out `wait_for` that drops it detaches the task instead of cancelling it
    /// (for `shield`, whose point is that the work survives).
    pub(crate) fn stop_awaiting(&self) {
        drop(self.raw.local().join_waker.take());
    }

    fn local_state(&self) -> Option<TaskState> {
        self.raw.local().outcome.get()
    }

    /// The task's id, unique within the process.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let (a, b) = (simul::spawn(async {}), simul::spawn(async {}));
    ///     assert_ne!(a.id(), b.id());
    /// });
    /// ```
    pub fn id(&self) -> u64 {
        self.raw.local().id
    }

    /// The task's name: the one given to [`TaskBuilder::name`], else `Task-<id>`.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let t = simul::spawn(async {});
    ///     assert_eq!(t.name(), format!("Task-{}", t.id()));
    /// });
    /// ```
    #[doc(alias = "get_name")]
    pub fn name(&self) -> String {
        task_name(self.raw.local())
    }

    /// A snapshot of the task.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let t = simul::spawn(async {});
    ///     assert_eq!(t.info().state(), simul::TaskState::Scheduled);
    /// });
    /// ```
    pub fn info(&self) -> TaskInfo {
        TaskInfo::of(&self.raw)
    }

    /// Runs `f` (on the loop, soon after) when the task is done, with its final state.
    /// If it is already done, `f` is scheduled at once.
    ///
    /// # Examples
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// simul::run(async {
    ///     let seen = Rc::new(Cell::new(None));
    ///     let t = simul::spawn(async { 1 });
    ///     let s = seen.clone();
    ///     t.add_done_callback(move |state| s.set(Some(state)));
    ///     t.await.unwrap();
    ///     simul::yield_now().await;
    ///     assert_eq!(seen.get(), Some(simul::TaskState::Finished));
    /// });
    /// ```
    pub fn add_done_callback(&self, f: impl FnOnce(TaskState) + 'static) {
        if let Err(f) = self.raw.local().add_callback(Box::new(f)) {
            let state = self
                .local_state()
                .expect("a task refuses callbacks once done");
            runtime::call_soon(move || f(state));
        }
    }

    /// A cloneable handle that many can await, each getting the same result
    /// (asyncio's "await a task twice"). The task still runs once.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let shared = simul::spawn(async { String::from("once") }).shared();
    ///     let other = shared.clone();
    ///     assert_eq!(shared.await.unwrap(), "once");
    ///     assert_eq!(other.await.unwrap(), "once");
    /// });
    /// ```
    pub fn shared(self) -> SharedTask<T>
    where
        T: Clone + 'static,
    {
        SharedTask::new(self)
    }

    /// Wraps the handle so that dropping it cancels the task instead of detaching it
    /// (useful with [`crate::gather()`] and other combinators that drop
    /// their children; [`crate::wait_for`] cancels a task on timeout by itself).
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// simul::run(async {
    ///     let t = simul::spawn(simul::sleep(Duration::from_secs(3600)));
    ///     let id = t.id();
    ///     let r = simul::gather([t.cancel_on_drop()]);
    ///     drop(r); // the gather was dropped: the task is cancelled, not detached
    ///     simul::yield_now().await;
    ///     assert!(simul::all_tasks().iter().all(|i| i.id() != id));
    /// });
    /// ```
    pub fn cancel_on_drop(self) -> CancelOnDrop<T> {
        CancelOnDrop { task: self }
    }
}

impl<T> Future for Task<T> {
    type Output = Result<T, TaskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.raw.is_complete() {
            return match self.raw.take_output() {
                Some(Err(TaskError::Panicked(p))) => {
                    if scope::Gathering::active() {
                        self.watch_panic(&p);
                    }
                    Poll::Ready(Err(TaskError::Panicked(p)))
                }
                Some(v) => Poll::Ready(v),
                None => panic!(
                    "`Task` awaited after it returned its result: a `Task` gives its result \
                     once; to await one task more than once (as asyncio allows), make a \
                     cloneable handle with `task.shared()` and await its clones"
                ),
            };
        }
        let slot = &self.raw.local().join_waker;
        let waker = match slot.take() {
            Some(w) if w.will_wake(cx.waker()) => w,
            _ => cx.waker().clone(),
        };
        slot.set(Some(waker));
        Poll::Pending
    }
}

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        let awaited = self.raw.local().join_waker.take().is_some();
        // Awaited by work that timed out: cancel, as asyncio's wait_for does (scope.rs).
        if awaited && !self.raw.is_complete() && scope::TimedOut::active() {
            self.cancel();
        }
        if let Some(msg) = self.raw.detach() {
            runtime::report_unretrieved(&self.raw, &msg);
        }
    }
}

impl<T> fmt::Debug for Task<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.info(), f)
    }
}

/// A [`Task`] that is cancelled, not detached, when dropped. See [`Task::cancel_on_drop`].
///
/// # Examples
/// ```
/// simul::run(async {
///     let t = simul::spawn(async { 5 }).cancel_on_drop();
///     assert_eq!(t.await.unwrap(), 5);
/// });
/// ```
#[must_use = "dropping it cancels the task"]
pub struct CancelOnDrop<T> {
    task: Task<T>,
}

impl<T> CancelOnDrop<T> {
    /// The task inside.
    ///
    /// # Examples
    /// ```
    /// simul::run(async { let t = simul::spawn(async {}).cancel_on_drop(); assert!(!t.task().is_done()); });
    /// ```
    pub fn task(&self) -> &Task<T> {
        &self.task
    }
}

impl<T> Future for CancelOnDrop<T> {
    type Output = Result<T, TaskError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.task).poll(cx)
    }
}

impl<T> Drop for CancelOnDrop<T> {
    fn drop(&mut self) {
        self.task.cancel();
    }
}

/// Builds a task with options. Obtained from [`Task::builder`].
///
/// # Examples
/// ```
/// simul::run(async {
///     let t = simul::Task::builder().name("eager").eager(true).spawn(async { 3 });
///     assert!(t.is_done()); // ran to completion inside spawn
///     assert_eq!(t.await.unwrap(), 3);
/// });
/// ```
#[derive(Debug, Clone)]
pub struct TaskBuilder {
    name: Option<String>,
    eager: bool,
}

/// The old name of [`TaskBuilder`] (kept for one release).
#[deprecated(
    since = "0.2.0",
    note = "renamed `TaskBuilder`, so it is not confused with the loop's `simul::Builder`"
)]
pub type Builder = TaskBuilder;

impl TaskBuilder {
    /// Names the task (shown by [`TaskInfo`], debug reports and task dumps).
    ///
    /// # Examples
    /// ```
    /// simul::run(async { assert_eq!(simul::Task::builder().name("n").spawn(async {}).name(), "n") });
    /// ```
    #[doc(alias = "set_name")]
    pub fn name(mut self, name: impl Into<String>) -> TaskBuilder {
        self.name = Some(name.into());
        self
    }

    /// Runs the task's first step inside `spawn` (asyncio 3.12's eager tasks): a task that
    /// finishes without suspending never touches the ready queue.
    ///
    /// # Examples
    /// ```
    /// simul::run(async { assert!(simul::Task::builder().eager(true).spawn(async {}).is_done()) });
    /// ```
    pub fn eager(mut self, eager: bool) -> TaskBuilder {
        self.eager = eager;
        self
    }

    /// Spawns the task on the current loop.
    ///
    /// # Panics
    /// Outside a running loop.
    ///
    /// # Examples
    /// ```
    /// simul::run(async { assert_eq!(simul::Task::builder().spawn(async { 1 }).await.unwrap(), 1) });
    /// ```
    #[track_caller]
    pub fn spawn<F>(self, future: F) -> Task<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let location = Location::caller();
        let future = runtime::NewTask::new(future); // into the heap once, here
        runtime::with_core("spawn", |core| {
            Task::from_raw(core.spawn_unstarted(future, self.name, location, self.eager))
        })
    }
}

/// Spawns `future` as a task on the current loop (asyncio's `create_task`).
///
/// The future need not be `Send`. The returned [`Task`] is awaited for the result; dropping
/// it detaches the task.
///
/// # Panics
/// Outside a running loop.
///
/// # Examples
/// ```
/// simul::run(async {
///     let a = simul::spawn(async { 1 });
///     let b = simul::spawn(async { 2 });
///     assert_eq!(a.await.unwrap() + b.await.unwrap(), 3);
/// });
/// ```
#[track_caller]
#[doc(alias = "create_task")]
#[doc(alias = "ensure_future")]
pub fn spawn<F>(future: F) -> Task<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let location = Location::caller();
    let future = runtime::NewTask::new(future); // into the heap once, here
    runtime::with_core("spawn", |core| {
        Task::from_raw(core.spawn_unstarted(future, None, location, false))
    })
}

/// The task being polled right now (the main future of [`crate::run`] reports as `main`).
///
/// # Examples
/// ```
/// simul::run(async {
///     let t = simul::Task::builder().name("me").spawn(async { simul::current_task().unwrap().name().to_string() });
///     assert_eq!(t.await.unwrap(), "me");
/// });
/// ```
pub fn current_task() -> Option<TaskInfo> {
    runtime::try_with_core(|core| core.current_task_info()).flatten()
}

/// Every task alive on the current loop (not yet done), in spawn order, the main future
/// of `run`/`run_until_complete` included (as asyncio's `all_tasks()` includes the main
/// task).
///
/// # Examples
/// ```
/// simul::run(async {
///     let _a = simul::spawn(async {});
///     let all = simul::all_tasks();
///     assert_eq!(all.len(), 2);
///     assert_eq!(all[0].name(), "main");
/// });
/// ```
pub fn all_tasks() -> Vec<TaskInfo> {
    runtime::try_with_core(|core| core.all_task_infos()).unwrap_or_default()
}

/// A cloneable handle to a task's result. See [`Task::shared`].
///
/// # Examples
/// ```
/// simul::run(async {
///     let s = simul::spawn(async { 7 }).shared();
///     let (a, b) = (s.clone(), s);
///     assert_eq!(a.await.unwrap() + b.await.unwrap(), 14);
/// });
/// ```
pub struct SharedTask<T> {
    inner: Rc<SharedInner<T>>,
    /// This handle has been polled and is waiting (see `Drop`).
    awaited: bool,
}

struct SharedInner<T> {
    task: RefCell<Option<Task<T>>>,
    result: RefCell<Option<Result<T, TaskError>>>,
    waiters: RefCell<Vec<Waker>>,
}

impl<T: Clone + 'static> SharedTask<T> {
    fn new(task: Task<T>) -> Self {
        let inner = Rc::new(SharedInner {
            task: RefCell::new(None),
            result: RefCell::new(None),
            waiters: RefCell::new(Vec::new()),
        });
        let weak = Rc::downgrade(&inner);
        task.add_done_callback(move |_| {
            if let Some(inner) = weak.upgrade() {
                for w in inner.waiters.borrow_mut().drain(..) {
                    w.wake();
                }
            }
        });
        *inner.task.borrow_mut() = Some(task);
        SharedTask {
            inner,
            awaited: false,
        }
    }

    /// `true` once the task is done.
    ///
    /// # Examples
    /// ```
    /// simul::run(async { let s = simul::spawn(async {}).shared(); assert!(!s.is_done()); s.await.unwrap(); });
    /// ```
    pub fn is_done(&self) -> bool {
        self.inner.result.borrow().is_some()
            || self
                .inner
                .task
                .borrow()
                .as_ref()
                .is_some_and(|t| t.is_done())
    }

    /// Cancels the underlying task (every awaiter sees `Cancelled`).
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let s = simul::spawn(simul::sleep(std::time::Duration::from_secs(9))).shared();
    ///     s.cancel();
    ///     assert!(s.await.unwrap_err().is_cancelled());
    /// });
    /// ```
    pub fn cancel(&self) -> bool {
        self.inner
            .task
            .borrow()
            .as_ref()
            .is_some_and(|t| t.cancel())
    }
}

impl<T> Clone for SharedTask<T> {
    fn clone(&self) -> Self {
        SharedTask {
            inner: self.inner.clone(),
            awaited: false,
        }
    }
}

impl<T: Clone + 'static> Future for SharedTask<T> {
    type Output = Result<T, TaskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = &self.inner;
        if let Some(r) = inner.result.borrow().as_ref() {
            return Poll::Ready(r.clone());
        }
        let mut slot = inner.task.borrow_mut();
        if let Some(task) = slot.as_mut() {
            if task.is_done() {
                let noop = Waker::noop();
                let mut ncx = Context::from_waker(noop);
                if let Poll::Ready(r) = Pin::new(task).poll(&mut ncx) {
                    *slot = None;
                    *inner.result.borrow_mut() = Some(r.clone());
                    return Poll::Ready(r);
                }
            }
        }
        let mut waiters = inner.waiters.borrow_mut();
        if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
            waiters.push(cx.waker().clone());
        }
        drop(waiters);
        drop(slot);
        self.get_mut().awaited = true;
        Poll::Pending
    }
}

impl<T> SharedTask<T> {
    /// This handle no longer counts as being awaited (see [`Task::stop_awaiting`]).
    pub(crate) fn stop_awaiting(&mut self) {
        self.awaited = false;
    }
}

impl<T> Drop for SharedTask<T> {
    fn drop(&mut self) {
        // Awaited by work that timed out: cancel the task, as asyncio's wait_for does
        // (scope.rs). Every other clone then sees `Cancelled`, as in asyncio.
        if self.awaited && scope::TimedOut::active() {
            if let Some(t) = self.inner.task.borrow().as_ref() {
                t.cancel();
            }
        }
    }
}

impl<T> fmt::Debug for SharedTask<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedTask").finish_non_exhaustive()
    }
}
