//! `TaskGroup`: structured concurrency — tasks that end together.
//!
//! # Semantics
//!
//! A [`TaskGroup`] owns the tasks spawned through it:
//!
//! 1. [`TaskGroup::spawn`] starts a task (like [`crate::spawn`]) and returns its handle, a
//!    [`GroupTask`] (a [`Task`] that may be dropped without a warning: the group keeps
//!    the task), so results are read as with any task.
//! 2. [`TaskGroup::join`] waits until every task of the group has ended.
//! 3. The **first failure** — a task panicking, or, for [`TaskGroup::try_spawn`], a task
//!    returning `Err` — cancels every other task of the group; `join` still waits for them
//!    to end, then returns that first failure as a [`GroupError`]. Later failures (say, a
//!    sibling that panics while being cancelled) are dropped.
//! 4. Dropping a group that was not joined (or dropping the `join` future, because the
//!    task awaiting it was cancelled) cancels every task still running.
//!
//! # Cancellation is synchronous, so nesting unwinds inside-out
//!
//! A group does not merely *request* cancellation: it drops each member's future right
//! away, on the current stack (the core's `cancel_now`), so the member's destructors have
//! run when the cancelling call returns. A member that owns an inner group therefore
//! drops that inner group while it is being dropped, which cancels the inner tasks first:
//! **nested groups cancel inner before outer**, and when `join` returns, every task of the
//! group — and of the groups nested in it — is gone. (The member running at the moment of
//! failure is the one failing; it ends by itself.)
//!
//! # Panics are delivered once
//!
//! Each member runs inside a small wrapper that catches its panic, records it as the
//! group's failure (with the original payload: [`PanicPayload::resume`] re-raises it),
//! cancels the siblings, and then lets the task end as panicked, so its own [`Task`] handle
//! still yields [`TaskError::Panicked`] with the same message. Because the group took
//! charge of the panic, the loop does not also report it as "never retrieved" when the
//! handle was dropped. If the group itself is dropped without `join` retrieving a panic,
//! the panic is reported through the loop's exception handler.
//!
//! # Mapping to asyncio and trio
//!
//! | asyncio.TaskGroup | trio | simul |
//! |---|---|---|
//! | `async with TaskGroup() as tg:` | `async with open_nursery() as n:` | `let tg = TaskGroup::new();` |
//! | `tg.create_task(coro)` → Task | `n.start_soon(fn)` → None | `tg.spawn(fut)` → [`GroupTask`] |
//! | leaving the block waits for all | same | `tg.join().await` |
//! | first exception cancels the rest | same | first panic (or `Err` with `try_spawn`) cancels the rest |
//! | raises `ExceptionGroup` of all errors | raises `ExceptionGroup` | returns the first [`GroupError`] |
//! | `create_task` after abort: `RuntimeError` | new task starts cancelled | new task starts cancelled |
//! | `tg.create_task` from a member | pass the nursery | [`TaskGroup::handle`] → [`GroupHandle::spawn`] |
//! | `create_task` after the block: `RuntimeError` | `RuntimeError` | `Err(`[`GroupClosed`]`)` |
//! | — | `n.cancel_scope.cancel()` | [`TaskGroup::cancel`] |
//! | leaving via exception cancels children | same | dropping the group cancels them |
//!
//! Rust has no exception groups; one error is returned and the rest discarded, which is
//! what most callers of asyncio's `TaskGroup` do with `except*` anyway.

use std::cell::{Cell, RefCell};
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use super::raw::TaskRef;
use super::{PanicPayload, Task, TaskError};
use crate::runtime::{self, ExceptionContext, ExceptionKind};

/// Why a [`TaskGroup`] failed: the first failure among its tasks.
///
/// # Examples
/// ```
/// simul::run(async {
///     let tg = simul::TaskGroup::new();
///     let _t = tg.spawn(async { panic!("boom") });
///     match tg.join().await {
///         Err(simul::GroupError::Panicked(p)) => assert_eq!(p.message(), "boom"),
///         other => panic!("unexpected {other:?}"),
///     }
/// });
/// ```
pub enum GroupError<E> {
    /// A task panicked.
    Panicked(PanicPayload),
    /// A task spawned with [`TaskGroup::try_spawn`] returned this `Err`.
    Failed(E),
}

impl<E> GroupError<E> {
    /// The panic, if the failure was one.
    ///
    /// # Examples
    /// ```
    /// let e: simul::GroupError<()> = simul::GroupError::Failed(());
    /// assert!(e.into_panic().is_none());
    /// ```
    pub fn into_panic(self) -> Option<PanicPayload> {
        match self {
            GroupError::Panicked(p) => Some(p),
            GroupError::Failed(_) => None,
        }
    }

    /// The error, if a task returned one.
    ///
    /// # Examples
    /// ```
    /// let e: simul::GroupError<&str> = simul::GroupError::Failed("bad");
    /// assert_eq!(e.into_error(), Some("bad"));
    /// ```
    pub fn into_error(self) -> Option<E> {
        match self {
            GroupError::Panicked(_) => None,
            GroupError::Failed(e) => Some(e),
        }
    }
}

impl<E: fmt::Debug> fmt::Debug for GroupError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GroupError::Panicked(p) => f.debug_tuple("Panicked").field(p).finish(),
            GroupError::Failed(e) => f.debug_tuple("Failed").field(e).finish(),
        }
    }
}

impl<E: fmt::Display> fmt::Display for GroupError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GroupError::Panicked(p) => {
                write!(f, "a task of the group panicked: {}", p.message_unread())
            }
            GroupError::Failed(e) => write!(f, "a task of the group failed: {e}"),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for GroupError<E> {}

impl From<GroupError<Infallible>> for TaskError {
    fn from(e: GroupError<Infallible>) -> TaskError {
        match e {
            GroupError::Panicked(p) => TaskError::Panicked(p),
            GroupError::Failed(never) => match never {},
        }
    }
}

/// State shared by the group handle and the wrappers of its tasks.
struct Inner<E> {
    /// Each live member's task, for cancellation; `None` for free slots.
    members: RefCell<Vec<Option<TaskRef>>>,
    free: RefCell<Vec<usize>>,
    /// Members whose future has not been dropped yet.
    live: Cell<usize>,
    /// Set by the first failure or `cancel()`: new members start cancelled.
    aborting: Cell<bool>,
    /// The `TaskGroup` was joined or dropped: handles can no longer spawn.
    closed: Cell<bool>,
    failure: RefCell<Option<GroupError<E>>>,
    joiner: RefCell<Option<Waker>>,
}

impl<E> Inner<E> {
    fn reserve(&self) -> usize {
        self.live.set(self.live.get() + 1);
        match self.free.borrow_mut().pop() {
            Some(i) => i,
            None => {
                let mut m = self.members.borrow_mut();
                m.push(None);
                m.len() - 1
            }
        }
    }

    fn release(&self, slot: usize) {
        let task = self.members.borrow_mut()[slot].take();
        self.free.borrow_mut().push(slot);
        drop(task);
        self.live.set(self.live.get() - 1);
        if self.live.get() == 0 {
            if let Some(w) = self.joiner.borrow_mut().take() {
                w.wake();
            }
        }
    }

    /// Records `err` if it is the first failure, then cancels every member.
    fn fail(&self, err: GroupError<E>) {
        if self.aborting.get() {
            return; // a later failure, or one after cancel(): discarded
        }
        *self.failure.borrow_mut() = Some(err);
        self.abort();
    }

    /// Cancels every member now (see the module doc); new members start cancelled.
    fn abort(&self) {
        self.aborting.set(true);
        let tasks: Vec<TaskRef> = self
            .members
            .borrow()
            .iter()
            .flatten()
            .map(TaskRef::clone)
            .collect();
        if tasks.is_empty() {
            return;
        }
        runtime::try_with_core(|core| {
            for t in &tasks {
                core.cancel_now(t);
            }
        });
    }
}

/// Owns the group's bookkeeping for one member; dropped right after the member's future.
struct Guard<E> {
    group: Rc<Inner<E>>,
    slot: usize,
}

impl<E> Drop for Guard<E> {
    fn drop(&mut self) {
        self.group.release(self.slot);
    }
}

impl<E> Guard<E> {
    /// Polls a member's future, turning a panic into the group's failure (see the module
    /// doc) before letting the task end as panicked.
    fn poll_catching<F: Future>(&self, fut: Pin<&mut F>, cx: &mut Context<'_>) -> Poll<F::Output> {
        match catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
            Ok(p) => p,
            Err(payload) => {
                let msg = crate::task::panic_message(&*payload);
                if let Some(t) = &self.group.members.borrow()[self.slot] {
                    super::mark_panic_retrieved(t);
                }
                if let TaskError::Panicked(p) = TaskError::panicked(msg.clone(), payload) {
                    self.group.fail(GroupError::Panicked(p));
                }
                resume_unwind(Box::new(msg))
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// A member task's future: the user's future, then the guard (dropped after it).
    struct Member<F, E> {
        #[pin]
        fut: F,
        guard: Guard<E>,
    }
}

impl<F: Future, E> Future for Member<F, E> {
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        this.guard.poll_catching(this.fut, cx)
    }
}

pin_project_lite::pin_project! {
    /// A `try_spawn` member: an `Err` output is the group's failure.
    struct TryMember<F, E> {
        #[pin]
        fut: F,
        guard: Guard<E>,
    }
}

impl<F, E> Future for TryMember<F, E>
where
    F: Future,
    F::Output: TryOutput<E>,
{
    type Output = Option<<F::Output as TryOutput<E>>::Ok>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        match this.guard.poll_catching(this.fut, cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(out) => match out.into_result() {
                Ok(v) => Poll::Ready(Some(v)),
                Err(e) => {
                    this.guard.group.fail(GroupError::Failed(e));
                    Poll::Ready(None)
                }
            },
        }
    }
}

/// What a [`TaskGroup::try_spawn`] future returns: a `Result` whose error type is the
/// group's `E`. Only `Result<T, E>` implements it; the trait exists so that a mismatch
/// (most often a [`TaskGroup::new`] group, whose `E` is `Infallible`) is reported with a
/// message that says what to do instead of a bare type mismatch.
///
/// # Examples
/// ```
/// use simul::task::group::TryOutput;
/// let r: Result<u8, &str> = Err("no");
/// assert_eq!(TryOutput::<&str>::into_result(r), Err("no"));
/// ```
#[diagnostic::on_unimplemented(
    message = "`try_spawn` needs a future of `Result<_, {E}>`, the group's error type, but this one returns `{Self}`",
    label = "this future's output does not fail with the group's error type `{E}`",
    note = "a group made with `TaskGroup::new()` fails only by panicking (its error type is `Infallible`); for tasks that fail with `Err`, make the group with `TaskGroup::new_try()` (the error type is then inferred from the tasks) or `TaskGroup::<YourError>::new_try()`"
)]
pub trait TryOutput<E> {
    /// The success type.
    type Ok;
    /// The output as a `Result`.
    fn into_result(self) -> Result<Self::Ok, E>;
}

impl<T, E> TryOutput<E> for Result<T, E> {
    type Ok = T;
    fn into_result(self) -> Result<T, E> {
        self
    }
}

/// A set of tasks that end together: asyncio's `TaskGroup`, trio's nursery. See the
/// [module docs](self) for the semantics.
///
/// `E` is the error type of tasks spawned with [`TaskGroup::try_spawn`]; a plain
/// [`TaskGroup::new`] group has `E = Infallible` and fails only on panics. For a group
/// whose tasks fail with `Err`, use [`TaskGroup::new_try`]: its `E` is inferred from the
/// `try_spawn` calls (`let tg = TaskGroup::new_try();`), or named
/// (`TaskGroup::<MyError>::new_try()`). Calling `try_spawn` on a `new()` group is a compile
/// error that says so.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// let lp = simul::EventLoop::builder().virtual_time(true).build().unwrap();
/// lp.run_until_complete(async {
///     let tg = simul::TaskGroup::new();
///     let a = tg.spawn(async { simul::sleep(Duration::from_secs(1)).await; "a" });
///     let b = tg.spawn(async { simul::sleep(Duration::from_secs(2)).await; "b" });
///     tg.join().await.unwrap();
///     assert!(a.is_done() && b.is_done());
///     assert_eq!(a.await.unwrap(), "a");
///     assert_eq!(b.await.unwrap(), "b");
/// });
/// ```
#[must_use = "dropping a TaskGroup cancels its tasks; call .join().await"]
pub struct TaskGroup<E = Infallible> {
    inner: Rc<Inner<E>>,
}

impl TaskGroup<Infallible> {
    /// A new, empty group whose tasks fail only by panicking.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let tg = simul::TaskGroup::new();
    ///     assert!(tg.is_empty());
    ///     tg.join().await.unwrap();
    /// });
    /// ```
    pub fn new() -> TaskGroup<Infallible> {
        TaskGroup::new_try()
    }
}

impl Default for TaskGroup<Infallible> {
    fn default() -> Self {
        TaskGroup::new()
    }
}

impl<E: 'static> TaskGroup<E> {
    /// A new, empty group in which tasks spawned with [`TaskGroup::try_spawn`] fail the
    /// group by returning `Err(E)`.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let tg = simul::TaskGroup::<String>::new_try();
    ///     let ok = tg.try_spawn(async { Ok::<_, String>(1) });
    ///     tg.join().await.unwrap();
    ///     assert_eq!(ok.await.unwrap(), Some(1));
    /// });
    /// ```
    pub fn new_try() -> TaskGroup<E> {
        TaskGroup {
            inner: Rc::new(Inner {
                members: RefCell::new(Vec::new()),
                free: RefCell::new(Vec::new()),
                live: Cell::new(0),
                aborting: Cell::new(false),
                closed: Cell::new(false),
                failure: RefCell::new(None),
                joiner: RefCell::new(None),
            }),
        }
    }

    /// Spawns `future` as a task of the group (asyncio's `tg.create_task`). A panic in it
    /// fails the group. If the group is already failing or cancelled, the task starts
    /// cancelled: its future is dropped without being polled.
    ///
    /// # Panics
    /// Outside a running loop.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let tg = simul::TaskGroup::new();
    ///     let t = tg.spawn(async { 2 + 2 });
    ///     tg.join().await.unwrap();
    ///     assert_eq!(t.await.unwrap(), 4);
    /// });
    /// ```
    #[track_caller]
    #[doc(alias = "create_task")]
    #[doc(alias = "start_soon")]
    pub fn spawn<F>(&self, future: F) -> GroupTask<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        spawn_member(&self.inner, future)
    }

    /// Spawns a fallible task: if `future` returns `Err(e)`, `e` becomes the group's
    /// failure (the siblings are cancelled and [`join`](TaskGroup::join) returns
    /// [`GroupError::Failed`]`(e)`). The task's own handle yields `Some(value)` on success
    /// and `None` when its error went to the group.
    ///
    /// # Panics
    /// Outside a running loop.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// let lp = simul::EventLoop::builder().virtual_time(true).build().unwrap();
    /// lp.run_until_complete(async {
    ///     let tg = simul::TaskGroup::<&str>::new_try();
    ///     let slow = tg.try_spawn(async { simul::sleep(Duration::from_secs(60)).await; Ok(1) });
    ///     let bad = tg.try_spawn(async { Err::<i32, _>("refused") });
    ///     let err = tg.join().await.unwrap_err();
    ///     assert_eq!(err.into_error(), Some("refused"));
    ///     assert!(slow.await.unwrap_err().is_cancelled());
    ///     assert_eq!(bad.await.unwrap(), None);
    /// });
    /// ```
    #[track_caller]
    pub fn try_spawn<F>(&self, future: F) -> GroupTask<Option<<F::Output as TryOutput<E>>::Ok>>
    where
        F: Future + 'static,
        F::Output: TryOutput<E>,
    {
        try_spawn_member(&self.inner, future)
    }

    /// A handle that tasks can use to spawn more tasks into this group while it is alive
    /// (asyncio allows `tg.create_task` from inside the group's own tasks; trio passes the
    /// nursery around).
    ///
    /// # Examples
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// simul::run(async {
    ///     let count = Rc::new(Cell::new(0));
    ///     let tg = simul::TaskGroup::new();
    ///     let handle = tg.handle();
    ///     let c = count.clone();
    ///     let _t = tg.spawn(async move {
    ///         for _ in 0..3 {
    ///             let c = c.clone();
    ///             let _child = handle.spawn(async move { c.set(c.get() + 1) }).unwrap();
    ///         }
    ///     });
    ///     tg.join().await.unwrap(); // waits for the children spawned through the handle too
    ///     assert_eq!(count.get(), 3);
    /// });
    /// ```
    pub fn handle(&self) -> GroupHandle<E> {
        GroupHandle {
            inner: Rc::downgrade(&self.inner),
        }
    }

    /// How many tasks of the group are still running.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let tg = simul::TaskGroup::new();
    ///     let _t = tg.spawn(async {});
    ///     assert_eq!(tg.len(), 1);
    ///     simul::yield_now().await;
    ///     assert_eq!(tg.len(), 0);
    /// });
    /// ```
    pub fn len(&self) -> usize {
        self.inner.live.get()
    }

    /// `true` when no task of the group is running.
    ///
    /// # Examples
    /// ```
    /// simul::run(async { assert!(simul::TaskGroup::new().is_empty()) });
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Cancels every task of the group now (their futures are dropped before this returns)
    /// and makes tasks spawned later start cancelled; [`join`](TaskGroup::join) then returns
    /// `Ok(())` unless a failure happened first (trio's `nursery.cancel_scope.cancel()`).
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let tg = simul::TaskGroup::new();
    ///     let t = tg.spawn(std::future::pending::<()>());
    ///     tg.cancel();
    ///     assert!(t.is_done());
    ///     tg.join().await.unwrap();
    ///     assert!(t.await.unwrap_err().is_cancelled());
    /// });
    /// ```
    pub fn cancel(&self) {
        self.inner.abort();
    }

    /// Waits for every task of the group to end; returns the group's first failure, if
    /// any (leaving asyncio's `async with TaskGroup()` block). Dropping the returned
    /// future before it completes cancels the tasks still running.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let tg = simul::TaskGroup::new();
    ///     let _ok = tg.spawn(async {});
    ///     assert!(tg.join().await.is_ok());
    /// });
    /// ```
    #[doc(alias = "__aexit__")]
    pub fn join(self) -> Join<E> {
        Join { group: Some(self) }
    }
}

impl<E> Drop for TaskGroup<E> {
    fn drop(&mut self) {
        self.inner.closed.set(true);
        if self.inner.live.get() > 0 {
            self.inner.abort();
        }
        let failure = self.inner.failure.borrow_mut().take();
        if let Some(GroupError::Panicked(p)) = failure {
            let ctx = ExceptionContext::new(
                ExceptionKind::UnretrievedPanic,
                format!(
                    "TaskGroup dropped without join(): a task of the group panicked: {}",
                    p.message_unread()
                ),
                None,
            );
            match runtime::try_with_core(|core| core.call_exception_handler(&ctx)) {
                Some(()) => {}
                None => eprintln!("simul: {ctx}"),
            }
        }
    }
}

impl<E> fmt::Debug for TaskGroup<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskGroup")
            .field("running", &self.inner.live.get())
            .field("aborting", &self.inner.aborting.get())
            .finish()
    }
}

#[track_caller]
fn spawn_member<F, E>(inner: &Rc<Inner<E>>, future: F) -> GroupTask<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
    E: 'static,
{
    let guard = Guard {
        slot: inner.reserve(),
        group: inner.clone(),
    };
    let slot = guard.slot;
    let task = crate::task::spawn(Member { fut: future, guard });
    register(inner, slot, &task);
    GroupTask { task }
}

#[track_caller]
#[allow(clippy::type_complexity)]
fn try_spawn_member<F, E>(
    inner: &Rc<Inner<E>>,
    future: F,
) -> GroupTask<Option<<F::Output as TryOutput<E>>::Ok>>
where
    F: Future + 'static,
    F::Output: TryOutput<E>,
    E: 'static,
{
    let guard = Guard {
        slot: inner.reserve(),
        group: inner.clone(),
    };
    let slot = guard.slot;
    let task = crate::task::spawn(TryMember { fut: future, guard });
    register(inner, slot, &task);
    GroupTask { task }
}

/// Records a member's task for cancellation; cancels it at once if the group is already
/// aborting.
fn register<T, E>(inner: &Inner<E>, slot: usize, task: &Task<T>) {
    inner.members.borrow_mut()[slot] = Some(TaskRef::clone(&task.raw));
    if inner.aborting.get() {
        runtime::with_core("TaskGroup::spawn", |core| core.cancel_now(&task.raw));
    }
}

/// The handle of a task spawned into a [`TaskGroup`]: a [`Task`] (it derefs to one, and
/// awaiting it gives the task's result) that may be dropped without a warning, because the
/// group, not the handle, keeps the task: [`TaskGroup::join`] waits for it and a failure
/// cancels it whether or not the handle is kept (asyncio's `tg.create_task(coro)` is
/// often called without keeping the task). Dropping the handle only gives up its result.
///
/// # Examples
/// ```
/// simul::run(async {
///     let tg = simul::TaskGroup::new();
///     tg.spawn(async { /* fire and forget: the group still waits for it */ });
///     let t = tg.spawn(async { 5 });
///     assert_eq!(t.name(), format!("Task-{}", t.id())); // Task's methods
///     tg.join().await.unwrap();
///     assert_eq!(t.await.unwrap(), 5);
/// });
/// ```
pub struct GroupTask<T> {
    task: Task<T>,
}

impl<T> GroupTask<T> {
    /// The plain [`Task`] handle (e.g. for [`Task::shared`]).
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let tg = simul::TaskGroup::new();
    ///     let shared = tg.spawn(async { 1 }).into_task().shared();
    ///     tg.join().await.unwrap();
    ///     assert_eq!(shared.clone().await.unwrap() + shared.await.unwrap(), 2);
    /// });
    /// ```
    pub fn into_task(self) -> Task<T> {
        self.task
    }
}

impl<T> From<GroupTask<T>> for Task<T> {
    fn from(t: GroupTask<T>) -> Task<T> {
        t.task
    }
}

impl<T> std::ops::Deref for GroupTask<T> {
    type Target = Task<T>;
    fn deref(&self) -> &Task<T> {
        &self.task
    }
}

impl<T> Future for GroupTask<T> {
    type Output = Result<T, TaskError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.task).poll(cx)
    }
}

impl<T> fmt::Debug for GroupTask<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.task, f)
    }
}

/// The group a [`GroupHandle`] points to has been joined or dropped.
///
/// # Examples
/// ```
/// simul::run(async {
///     let tg = simul::TaskGroup::new();
///     let h = tg.handle();
///     tg.join().await.unwrap();
///     let err = h.spawn(async {}).unwrap_err();
///     assert_eq!(err.to_string(), "the TaskGroup is finished: it was joined or dropped");
/// });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupClosed;

impl fmt::Display for GroupClosed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the TaskGroup is finished: it was joined or dropped")
    }
}

impl std::error::Error for GroupClosed {}

/// A cloneable, non-owning handle for spawning into a [`TaskGroup`]; see
/// [`TaskGroup::handle`]. Holding one does not keep the group alive.
///
/// # Examples
/// ```
/// simul::run(async {
///     let tg = simul::TaskGroup::new();
///     let h = tg.handle();
///     let t = h.spawn(async { 1 }).unwrap();
///     tg.join().await.unwrap();
///     assert_eq!(t.await.unwrap(), 1);
/// });
/// ```
pub struct GroupHandle<E = Infallible> {
    inner: std::rc::Weak<Inner<E>>,
}

impl<E> Clone for GroupHandle<E> {
    fn clone(&self) -> Self {
        GroupHandle {
            inner: self.inner.clone(),
        }
    }
}

impl<E> fmt::Debug for GroupHandle<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupHandle")
            .field("open", &self.open().is_some())
            .finish()
    }
}

impl<E> GroupHandle<E> {
    fn open(&self) -> Option<Rc<Inner<E>>> {
        self.inner.upgrade().filter(|i| !i.closed.get())
    }
}

impl<E: 'static> GroupHandle<E> {
    /// Like [`TaskGroup::spawn`]; `Err(GroupClosed)` once the group was joined or dropped
    /// (asyncio raises `RuntimeError` there).
    ///
    /// # Errors
    /// [`GroupClosed`] when the group is finished.
    ///
    /// # Panics
    /// Outside a running loop.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let tg = simul::TaskGroup::new();
    ///     let h = tg.handle();
    ///     assert!(h.spawn(async {}).is_ok());
    ///     drop(tg);
    ///     assert!(h.spawn(async {}).is_err());
    /// });
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> Result<GroupTask<F::Output>, GroupClosed>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let inner = self.open().ok_or(GroupClosed)?;
        Ok(spawn_member(&inner, future))
    }

    /// Like [`TaskGroup::try_spawn`]; `Err(GroupClosed)` once the group was joined or
    /// dropped.
    ///
    /// # Errors
    /// [`GroupClosed`] when the group is finished.
    ///
    /// # Panics
    /// Outside a running loop.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let tg = simul::TaskGroup::<String>::new_try();
    ///     let h = tg.handle();
    ///     let t = h.try_spawn(async { Err::<(), _>("no".to_string()) }).unwrap();
    ///     assert_eq!(tg.join().await.unwrap_err().into_error().as_deref(), Some("no"));
    ///     assert_eq!(t.await.unwrap(), None);
    /// });
    /// ```
    #[track_caller]
    #[allow(clippy::type_complexity)]
    pub fn try_spawn<F>(
        &self,
        future: F,
    ) -> Result<GroupTask<Option<<F::Output as TryOutput<E>>::Ok>>, GroupClosed>
    where
        F: Future + 'static,
        F::Output: TryOutput<E>,
    {
        let inner = self.open().ok_or(GroupClosed)?;
        Ok(try_spawn_member(&inner, future))
    }
}

/// The future returned by [`TaskGroup::join`].
///
/// # Examples
/// ```
/// simul::run(async {
///     let join: simul::task::group::Join<std::convert::Infallible> = simul::TaskGroup::new().join();
///     join.await.unwrap();
/// });
/// ```
#[must_use = "dropping the join future cancels the group's tasks"]
pub struct Join<E> {
    group: Option<TaskGroup<E>>,
}

impl<E> Future for Join<E> {
    type Output = Result<(), GroupError<E>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let group = self
            .group
            .as_ref()
            .expect("`Join` polled after it completed");
        if group.inner.live.get() > 0 {
            let mut joiner = group.inner.joiner.borrow_mut();
            match &*joiner {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => *joiner = Some(cx.waker().clone()),
            }
            return Poll::Pending;
        }
        let failure = group.inner.failure.borrow_mut().take();
        self.group = None;
        Poll::Ready(match failure {
            Some(e) => Err(e),
            None => Ok(()),
        })
    }
}

impl<E> fmt::Debug for Join<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Join").field("group", &self.group).finish()
    }
}
