//! Raw task memory behind safe handles: the only place where a task's bytes are touched
//! through pointers. It knows nothing of the event loop: a task is allocated with a
//! scheduler (anything implementing [`Schedule`]), and waking the task hands a
//! [`Runnable`] to that scheduler.
//!
//! # Layout
//!
//! A task is one heap allocation, a `Cell<F, S>`: a [`Header`] first (so a pointer to the
//! cell is a pointer to its header), then the scheduler `S`, then the stage (the future
//! while it runs, its output once it has finished). The header holds the state word, a
//! `'static` vtable of functions monomorphised for `(F, S)` and the task's bookkeeping
//! ([`Local`]); everything outside this file sees only the handles below and never needs
//! to know `F` or `S`.
//!
//! # Handles
//!
//! Every handle owns one counted reference (the count lives in the state word, see
//! `state.rs`); the thread that drops the count to zero frees the task.
//!
//! | handle | `Send` | held by | what it may do |
//! |---|---|---|---|
//! | [`OwnedTask`] | no | the loop's registry | everything a [`TaskRef`] may; dropping it drops a future still alive |
//! | [`JoinRef<T>`] | no | the `Task<T>` handle | take the output (typed), detach |
//! | [`TaskRef`] | no | anyone on the owner thread | read the state and [`Local`], wake, cancel, drop the future in place |
//! | [`LocalRunnable`] | no | the owner loop's ready queue | [`LocalRunnable::run`] |
//! | [`Runnable`] | yes | an injection queue | [`Runnable::accept`] (owner thread), drop |
//! | `Waker` | yes, `Sync` | anyone | wake (schedule a `Runnable` or a `LocalRunnable`) |
//!
//! # Two kinds of queue entry
//!
//! A wake on the task's owner thread, while its scheduler runs there
//! ([`Schedule::schedule_local`]), makes a [`LocalRunnable`]: it holds **no** counted
//! reference and touches no atomic. The task's `queued` flag (owner-thread, in `Local`)
//! says one exists, so there is at most one. While the task is not complete the owner's
//! reference (the registry's) keeps it alive; completing a task that has one queued takes
//! a reference on the entry's behalf, which the entry drops when it is run or dropped.
//! Any other wake makes a counted [`Runnable`] (the `SCHEDULED` bit, one reference): it
//! may travel to the owner thread through an injection queue, where
//! [`Runnable::accept`] turns it into a local entry (or drops it, if one is queued
//! already or the task is complete). So a task has at most one entry in its ready queue,
//! and a ping-pong between two tasks on one loop costs no atomic operation on either
//! state word.
//!
//! # Invariants the `unsafe` blocks rely on
//!
//! 1. **Owner thread.** The thread that calls [`spawn_unstarted`] owns the task: the
//!    future is polled and dropped only there, the output written and dropped only there, and
//!    [`Local`] (plain `Cell`s) touched only there. The `!Send` handles stay on it by
//!    their type; [`Runnable::accept`] checks it (a cheap per-thread token) and panics
//!    elsewhere rather than poll a `!Send` future on the wrong thread.
//! 2. **One access to the stage at a time.** The future is touched only while the
//!    owner-thread `RUNNING` flag is set, and a run or an in-place cancel refuses to start
//!    if it is already set (so a destructor or a poll can never re-enter the same task's
//!    future). The output is touched only once `COMPLETE` is set, which happens after the
//!    future is gone.
//! 3. **Nothing `!Send` outlives the owner's handles.** A foreign thread may drop the
//!    last reference (a `Waker` or a `Runnable`), and then frees only `Send` data: the
//!    future is gone once the task completed, and [`OwnedTask`]'s drop completes it
//!    (dropping the future in place, or — if it is being polled right now — marking it
//!    `ORPHAN` and handing its reference to the poll, which drops the future as soon as it
//!    returns); the output is dropped on the
//!    owner thread as soon as the task is both complete and detached ([`JoinRef::detach`]);
//!    done callbacks are only accepted before completion and cleared when it happens or
//!    when the owner's handle goes.
//! 4. **The scheduler is `Send + Sync`**: wakes call it from any thread, and it is dropped
//!    with the memory, wherever that happens.

use std::cell::{Cell, UnsafeCell};
use std::future::Future;
use std::marker::PhantomData;
use std::mem::{ManuallyDrop, MaybeUninit};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use super::state::{State, Wake};
use super::state::{CANCEL, COMPLETE, ORPHAN, SCHEDULED};

/// Owner-thread flag (in `Local::flags`): a [`LocalRunnable`] of the task exists.
const QUEUED: u8 = 1 << 0;
/// Owner-thread flag: the future is being polled or dropped.
const RUNNING: u8 = 1 << 1;
use super::{Callbacks, Local, TaskError, TaskState};

/// Where a woken task goes: the seam between task memory and whatever runs tasks.
///
/// [`Schedule::schedule`] is called on whichever thread woke the task, with the queue
/// entry's reference; the scheduler queues it and, sooner or later, calls
/// [`Runnable::accept`] and [`LocalRunnable::run`] on the task's owner thread (or drops it,
/// if it is shutting down).
pub(crate) trait Schedule: Send + Sync + 'static {
    /// Queues a woken task (a counted entry, from any thread).
    fn schedule(&self, task: Runnable);

    /// A wake that may be local: if the scheduler runs on the task's owner thread and
    /// right now (so the calling thread is the owner), calls `make` — there, and only
    /// there — and queues the entry it returns, if any; returns `false` without calling
    /// `make` otherwise (the wake then goes through [`Schedule::schedule`]).
    fn schedule_local(&self, make: impl FnOnce() -> Option<LocalRunnable>) -> bool {
        let _ = make;
        false
    }
}

/// Functions specialised for one future type and one scheduler type.
struct VTable {
    /// Polls the future once (panics caught). Ready when it finished and the output has
    /// been stored.
    poll: unsafe fn(NonNull<Header>, &mut Context<'_>) -> Poll<TaskState>,
    /// Drops the future (panics in its destructors caught) and stores `Err(Cancelled)`.
    cancel: unsafe fn(NonNull<Header>) -> TaskState,
    /// Moves the output into `*mut Option<Result<T, TaskError>>`.
    take_output: unsafe fn(NonNull<Header>, *mut ()),
    /// Drops the output if it is still stored; returns the panic message if the output
    /// was a panic nobody retrieved.
    drop_output: unsafe fn(NonNull<Header>) -> Option<String>,
    /// Hands a new queue entry (its reference already counted) to the scheduler.
    schedule: unsafe fn(NonNull<Header>),
    /// A wake through the scheduler's local path ([`Schedule::schedule_local`]): `true`
    /// if it is dealt with (a local entry queued, or nothing to do), `false` if the wake
    /// must go the counted way.
    wake_local: unsafe fn(NonNull<Header>) -> bool,
    /// Frees the allocation.
    dealloc: unsafe fn(NonNull<Header>),
}

/// The first field of every task allocation.
struct Header {
    state: State,
    vtable: &'static VTable,
    /// Owner-thread bookkeeping (see the module doc); `local.owner` is written once at
    /// spawn and only read afterwards, from any thread.
    local: Local,
}

enum Stage<F: Future> {
    Running(F),
    Finished(Result<F::Output, TaskError>),
    Consumed,
}

#[repr(C)]
struct TaskCell<F: Future, S> {
    header: Header,
    scheduler: S,
    stage: UnsafeCell<Stage<F>>,
}

// ---------------------------------------------------------------------------------------
// The owner-thread token and the task being polled.

/// Per-thread state: the token that identifies the thread as a task owner (0: not handed
/// out yet) and the task being polled on it.
struct ThreadCx {
    token: Cell<u32>,
    current: Cell<Option<NonNull<Header>>>,
}

#[cfg(not(loom))]
thread_local! {
    static THREAD: ThreadCx = const {
        ThreadCx { token: Cell::new(0), current: Cell::new(None) }
    };
}
#[cfg(loom)]
loom::thread_local! {
    static THREAD: ThreadCx = ThreadCx { token: Cell::new(0), current: Cell::new(None) };
}

/// Tokens handed out so far (never reused: a task's owner is never confused with a later
/// thread).
static TOKENS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// This thread's owner token.
fn thread_token() -> u32 {
    THREAD.with(|t| match t.token.get() {
        0 => {
            use std::sync::atomic::Ordering;
            let n = TOKENS
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_add(1))
                .unwrap_or_else(|_| panic!("simul: more than 2^32 threads spawned tasks"))
                + 1;
            t.token.set(n);
            n
        }
        n => n,
    })
}

/// Runs `f` with the task being polled on this thread, if any.
pub(crate) fn with_current<R>(f: impl FnOnce(&TaskRef) -> R) -> Option<R> {
    let ptr = THREAD.with(|t| t.current.get())?;
    // The `Runnable` being run holds a reference for the whole poll, and `current` is
    // restored before it lets go; a borrowed handle takes no reference of its own.
    let task = ManuallyDrop::new(TaskRef::from_ptr(ptr));
    Some(f(&task))
}

// ---------------------------------------------------------------------------------------
// Allocation.

/// A task's allocation with only its future in it: the first half of a spawn, done
/// where the future is made (before `with_core`), so the future is copied once, into the
/// heap, rather than once per call it is handed through on its way to the allocation (a
/// `memcpy` of the whole future each: hyper's HTTP/2 stream future is large).
pub(crate) struct Unstarted<F: Future, S> {
    /// The stage is initialised; the header and scheduler are not, until
    /// [`spawn_unstarted`].
    cell: Box<MaybeUninit<TaskCell<F, S>>>,
}

impl<F: Future, S> Unstarted<F, S> {
    #[inline]
    pub(crate) fn new(future: F) -> Unstarted<F, S> {
        let mut cell = Box::<TaskCell<F, S>>::new_uninit();
        let p = cell.as_mut_ptr();
        // SAFETY: `p` points to an allocation with the cell's layout; the stage is written
        // through a raw pointer (no reference to uninitialised memory), once.
        unsafe {
            std::ptr::addr_of_mut!((*p).stage).write(UnsafeCell::new(Stage::Running(future)))
        };
        Unstarted { cell }
    }
}

impl<F: Future, S> Drop for Unstarted<F, S> {
    fn drop(&mut self) {
        // Never spawned (say, no loop to spawn on): the future goes, the allocation is
        // freed by the box (`MaybeUninit` drops nothing else).
        let p = self.cell.as_mut_ptr();
        // SAFETY: the stage is initialised (`new`), and dropped once, here.
        unsafe { std::ptr::drop_in_place(std::ptr::addr_of_mut!((*p).stage)) };
    }
}

/// Allocates a task running `future` on the calling thread (its owner), scheduled by
/// `scheduler`, already queued. Returns the owner's handle, the join handle's and the
/// (local) queue entry, created together, so a spawn costs no atomic operation on the
/// state word. The caller queues or runs the entry. (The loop spawns through
/// [`spawn_unstarted`]; this is the one-step form its unit tests use.)
#[cfg(test)]
pub(crate) fn spawn<F, S>(
    future: F,
    scheduler: S,
    local: Local,
) -> (OwnedTask, JoinRef<F::Output>, LocalRunnable)
where
    F: Future + 'static,
    S: Schedule,
{
    spawn_unstarted(Unstarted::new(future), scheduler, local)
}

/// Completes a spawn of a future already in its allocation ([`Unstarted`]): see `spawn`,
/// the one-step form.
#[inline]
pub(crate) fn spawn_unstarted<F, S>(
    unstarted: Unstarted<F, S>,
    scheduler: S,
    mut local: Local,
) -> (OwnedTask, JoinRef<F::Output>, LocalRunnable)
where
    F: Future + 'static,
    S: Schedule,
{
    local.owner = thread_token();
    local.flags.set(QUEUED);
    // Out of the guard without running its drop (the stage now belongs to the task).
    let unstarted = ManuallyDrop::new(unstarted);
    // SAFETY: read once from a `ManuallyDrop` that is never used again, so the box has
    // exactly one owner.
    let mut cell = unsafe { std::ptr::read(&unstarted.cell) };
    let p = cell.as_mut_ptr();
    // SAFETY: `p` points to the cell's allocation, whose stage `Unstarted::new` wrote;
    // the header and the scheduler are written here, once each, through raw pointers,
    // so every field is initialised before `assume_init`.
    let cell = unsafe {
        std::ptr::addr_of_mut!((*p).header).write(Header {
            // Two references: the owner's and the join handle's (the local entry holds
            // none).
            state: State::new(2),
            vtable: vtable::<F, S>(),
            local,
        });
        std::ptr::addr_of_mut!((*p).scheduler).write(scheduler);
        cell.assume_init()
    };
    // `header` is the first field of the repr(C) cell, so the pointers coincide.
    let ptr = NonNull::from(Box::leak(cell)).cast::<Header>();
    (
        OwnedTask(ManuallyDrop::new(TaskRef::from_ptr(ptr))),
        JoinRef {
            task: TaskRef::from_ptr(ptr),
            _output: PhantomData,
        },
        LocalRunnable::from_ptr(ptr),
    )
}

fn vtable<F: Future + 'static, S: Schedule>() -> &'static VTable {
    struct Of<F, S>(PhantomData<(F, S)>);
    impl<F: Future + 'static, S: Schedule> Of<F, S> {
        const VTABLE: VTable = VTable {
            poll: poll::<F, S>,
            cancel: cancel::<F, S>,
            take_output: take_output::<F, S>,
            drop_output: drop_output::<F, S>,
            schedule: schedule::<F, S>,
            wake_local: wake_local::<F, S>,
            dealloc: dealloc::<F, S>,
        };
    }
    &Of::<F, S>::VTABLE
}

// ---------------------------------------------------------------------------------------
// The vtable's functions. Each is `unsafe` with the same contract: `ptr` points to a live
// `TaskCell<F, S>` of exactly these types, and the caller holds a reference. The ones
// that touch the stage are further called on the owner thread with the access rule of
// invariant 2 (the `RUNNING` or `COMPLETE` bit) checked by the caller.

/// # Safety
/// See above; no other access to the stage is live for the result's lifetime.
unsafe fn stage<'a, F: Future, S>(ptr: NonNull<Header>) -> &'a mut Stage<F> {
    // SAFETY: the header is the first field of a repr(C) TaskCell<F, S> (caller's
    // contract), and only the owner thread touches the stage, one access at a time.
    unsafe { &mut *(*ptr.cast::<TaskCell<F, S>>().as_ptr()).stage.get() }
}

unsafe fn poll<F: Future, S>(ptr: NonNull<Header>, cx: &mut Context<'_>) -> Poll<TaskState> {
    // SAFETY: vtable contract: live cell, owner thread, RUNNING held by the caller.
    let stage = unsafe { stage::<F, S>(ptr) };
    let Stage::Running(fut) = stage else {
        return Poll::Ready(TaskState::Finished);
    };
    // SAFETY: the future lives inside a heap cell that never moves until it is freed,
    // and it is dropped in place (never moved out) below.
    let fut = unsafe { Pin::new_unchecked(fut) };
    let res = catch_unwind(AssertUnwindSafe(|| fut.poll(cx)));
    let out = match res {
        Ok(Poll::Pending) => return Poll::Pending,
        Ok(Poll::Ready(v)) => Ok(v),
        Err(payload) => Err(TaskError::from_panic(payload)),
    };
    Poll::Ready(store_output(stage, out))
}

/// The end of a poll that finished: drops the future in place (a panicking destructor is
/// contained too) and stores the output. Out of line, so the poll that returns `Pending`
/// — every step but the last — stays small.
#[cold]
#[inline(never)]
fn store_output<F: Future>(stage: &mut Stage<F>, out: Result<F::Output, TaskError>) -> TaskState {
    let dropped = catch_unwind(AssertUnwindSafe(|| *stage = Stage::Consumed));
    let out = match (out, dropped) {
        (Ok(v), Ok(())) => Ok(v),
        (Err(e), _) => Err(e),
        (Ok(_), Err(payload)) => Err(TaskError::from_panic(payload)),
    };
    let state = if out.is_ok() {
        TaskState::Finished
    } else {
        TaskState::Panicked
    };
    *stage = Stage::Finished(out);
    state
}

unsafe fn cancel<F: Future, S>(ptr: NonNull<Header>) -> TaskState {
    // SAFETY: vtable contract (RUNNING held by the caller).
    let stage = unsafe { stage::<F, S>(ptr) };
    if let Stage::Running(_) = stage {
        // A destructor that panics must not unwind into the loop.
        let dropped = catch_unwind(AssertUnwindSafe(|| *stage = Stage::Consumed));
        let (out, state) = match dropped {
            Ok(()) => (Err(TaskError::Cancelled), TaskState::Cancelled),
            Err(payload) => (Err(TaskError::from_panic(payload)), TaskState::Panicked),
        };
        *stage = Stage::Finished(out);
        state
    } else {
        TaskState::Cancelled
    }
}

unsafe fn take_output<F: Future, S>(ptr: NonNull<Header>, dst: *mut ()) {
    // SAFETY: vtable contract (COMPLETE checked by the caller).
    let stage = unsafe { stage::<F, S>(ptr) };
    if let Stage::Finished(out) = stage {
        // Moved out field by field, not by `mem::replace` of the whole stage (as large as
        // the future: a `memcpy` of all of it per join).
        // SAFETY: `out` is read bitwise and its place overwritten at once, without a drop
        // in between or of the old value, so the output is owned exactly once.
        let out = unsafe { std::ptr::read(out) };
        // SAFETY: see above; `stage` is a valid, exclusive place.
        unsafe { std::ptr::write(stage, Stage::Consumed) };
        // SAFETY: the caller (`JoinRef<F::Output>`) passes a pointer to its own
        // `Option<Result<F::Output, TaskError>>`.
        unsafe { *(dst as *mut Option<Result<F::Output, TaskError>>) = Some(out) };
    }
}

unsafe fn drop_output<F: Future, S>(ptr: NonNull<Header>) -> Option<String> {
    // SAFETY: vtable contract (COMPLETE checked by the caller).
    let stage = unsafe { stage::<F, S>(ptr) };
    // In place, never `mem::replace`: the stage is as large as the future, and moving it
    // out to drop a small output would copy all of it (one `memcpy` per detached task).
    let unread = match stage {
        Stage::Finished(Err(TaskError::Panicked(p))) => Some(p.message_unread().to_string()),
        _ => None,
    };
    // Dropping a user value may panic; keep the loop alive (the assignment happens even
    // then, as in `store_output`).
    let _ = catch_unwind(AssertUnwindSafe(|| *stage = Stage::Consumed));
    unread
}

unsafe fn schedule<F: Future, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: vtable contract; the scheduler is Sync (invariant 4), so a shared
    // reference to it is fine on any thread.
    let scheduler = unsafe { &(*ptr.cast::<TaskCell<F, S>>().as_ptr()).scheduler };
    scheduler.schedule(Runnable { ptr });
}

unsafe fn wake_local<F: Future, S: Schedule>(ptr: NonNull<Header>) -> bool {
    // SAFETY: vtable contract; the scheduler is Sync (invariant 4).
    let scheduler = unsafe { &(*ptr.cast::<TaskCell<F, S>>().as_ptr()).scheduler };
    scheduler.schedule_local(|| {
        // SAFETY: the caller's reference keeps the cell live.
        let header = unsafe { ptr.as_ref() };
        // The scheduler calls this on the owner thread only, so the flags are ours.
        debug_assert!(on_owner_thread(header));
        let flags = &header.local.flags;
        let f = flags.get();
        // Queued already, a counted entry on its way, or complete: nothing to do.
        if f & QUEUED != 0 || header.state.load() & (SCHEDULED | COMPLETE) != 0 {
            return None;
        }
        flags.set(f | QUEUED);
        Some(LocalRunnable::from_ptr(ptr))
    })
}

unsafe fn dealloc<F: Future, S>(ptr: NonNull<Header>) {
    // SAFETY: the pointer came from Box::leak of a TaskCell<F, S> and this is the last
    // reference. Only Send data is left in it (invariant 3), so this is fine on any
    // thread.
    drop(unsafe { Box::from_raw(ptr.cast::<TaskCell<F, S>>().as_ptr()) });
}

// ---------------------------------------------------------------------------------------
// Handles.

/// A counted reference to a task, on its owner thread (`!Send`).
pub(crate) struct TaskRef {
    ptr: NonNull<Header>,
    _owner_thread: PhantomData<*const ()>,
}

/// How a run of the task ended for good (see [`LocalRunnable::run`] and
/// [`TaskRef::cancel_in_place`]): the future is gone and the task is complete.
pub(crate) struct Done {
    /// The task (a reference of its own: see `finish`).
    pub(crate) task: TaskRef,
    /// How it ended.
    pub(crate) state: TaskState,
    /// The message of a panic nobody can retrieve any more (the task was detached).
    pub(crate) unretrieved: Option<String>,
    /// The done callbacks, taken out of the task (it accepts none from now on).
    pub(crate) callbacks: Callbacks,
}

impl TaskRef {
    /// Takes ownership of one counted reference.
    fn from_ptr(ptr: NonNull<Header>) -> TaskRef {
        TaskRef {
            ptr,
            _owner_thread: PhantomData,
        }
    }

    fn header(&self) -> &Header {
        // SAFETY: we hold a reference, so the allocation is live.
        unsafe { self.ptr.as_ref() }
    }

    /// The owner-thread bookkeeping (a `TaskRef` is only ever on the owner thread).
    pub(crate) fn local(&self) -> &Local {
        &self.header().local
    }

    /// The state word (see `state.rs` for the bits).
    fn state(&self) -> usize {
        self.header().state.load()
    }

    /// The future is gone: finished, cancelled or panicked.
    pub(crate) fn is_complete(&self) -> bool {
        self.state() & COMPLETE != 0
    }

    /// The future is being polled (or dropped) right now.
    pub(crate) fn is_running(&self) -> bool {
        self.local().flags.get() & RUNNING != 0
    }

    /// The task is due to run: it sits in a ready queue, or a wake from another thread is
    /// on its way there.
    pub(crate) fn is_scheduled(&self) -> bool {
        let st = self.state();
        st & COMPLETE == 0 && (st & SCHEDULED != 0 || self.local().flags.get() & QUEUED != 0)
    }

    /// Whether both refer to the same task.
    pub(crate) fn ptr_eq(&self, other: &TaskRef) -> bool {
        self.ptr == other.ptr
    }

    /// Schedules the task (through its scheduler) unless it is already queued or complete.
    pub(crate) fn wake(&self) {
        // SAFETY: we hold a reference.
        if unsafe { (self.header().vtable.wake_local)(self.ptr) } {
            return;
        }
        if self.header().state.schedule_with_ref() {
            // SAFETY: we hold a reference (the cell is live) and the new one just taken
            // goes to the queue entry.
            unsafe { (self.header().vtable.schedule)(self.ptr) }
        }
    }

    /// Sets the cancel flag: the future is dropped instead of polled the next time the
    /// task runs. Returns `false` if the task had already completed.
    pub(crate) fn request_cancel(&self) -> bool {
        self.header().state.request_cancel()
    }

    /// Drops the future right now, on this stack, and completes the task. `None` (and
    /// nothing done) if the task is complete or its future is being polled or dropped
    /// right now (by this very stack, as this is the owner thread).
    pub(crate) fn cancel_in_place(&self) -> Option<Done> {
        let flags = &self.local().flags;
        if flags.get() & RUNNING != 0 || self.is_complete() {
            return None;
        }
        flags.set(flags.get() | RUNNING);
        // SAFETY: live cell, owner thread, RUNNING now held (invariant 2).
        let state = unsafe { (self.header().vtable.cancel)(self.ptr) };
        Some(finish(self.ptr, state))
    }
}

/// Marks the task complete after its future is gone (RUNNING held by the caller, on the
/// owner thread), and drops the output at once if nobody can take it any more. The
/// returned `Done` holds a reference: the owner's, if it was handed to this run
/// (`ORPHAN`), else a new one, taken in the same atomic step as `COMPLETE` (with one more
/// for a local entry still queued, which drops it when it is run or dropped).
fn finish(ptr: NonNull<Header>, state: TaskState) -> Done {
    // SAFETY: the caller's reference (or the owner's, still held) keeps the cell live.
    let header = unsafe { ptr.as_ref() };
    let local = &header.local;
    let flags = local.flags.get();
    let handed = header.state.load() & ORPHAN != 0;
    let refs = usize::from(!handed) + usize::from(flags & QUEUED != 0);
    header.state.complete_with_refs(refs);
    local.flags.set(flags & !RUNNING);
    let task = TaskRef::from_ptr(ptr);
    task.done(state)
}

impl TaskRef {
    /// The rest of [`finish`]: outcome, callbacks, output.
    fn done(self, state: TaskState) -> Done {
        let local = self.local();
        local.outcome.set(Some(state));
        // Callbacks are accepted only before completion (invariant 3): these are all.
        let callbacks = local.take_callbacks();
        let unretrieved = if local.detached.get() {
            // SAFETY: owner thread, COMPLETE set (invariant 2).
            unsafe { (self.header().vtable.drop_output)(self.ptr) }
        } else {
            None
        };
        Done {
            task: self,
            state,
            unretrieved,
            callbacks,
        }
    }

    /// A waker borrowing this reference (no refcount change); valid while `self` lives.
    /// Cloning it takes a real reference.
    fn borrowed_waker(&self) -> ManuallyDrop<Waker> {
        // SAFETY: the data pointer is a live task header and the vtable's functions keep
        // the waker contract (clone takes a reference, wake/drop release one);
        // ManuallyDrop keeps this one from releasing a reference it never took.
        ManuallyDrop::new(unsafe { Waker::from_raw(raw_waker(self.ptr)) })
    }
}

/// Whether the calling thread owns the task (a thread never handed a token has 0, which
/// is no task's owner, so this needs no lazy initialisation).
#[inline]
fn on_owner_thread(header: &Header) -> bool {
    let owner = header.local.owner;
    THREAD.with(|t| t.token.get() == owner)
}

impl Clone for TaskRef {
    fn clone(&self) -> TaskRef {
        self.header().state.ref_inc();
        TaskRef::from_ptr(self.ptr)
    }
}

impl Drop for TaskRef {
    fn drop(&mut self) {
        release(self.ptr);
    }
}

/// Drops one reference to the task at `ptr`, freeing it if that was the last.
fn release(ptr: NonNull<Header>) {
    // SAFETY: the caller gives up a reference it held, so the cell is live until the
    // count says otherwise.
    let header = unsafe { ptr.as_ref() };
    if header.state.ref_dec() {
        // SAFETY: that was the last reference; nobody else can reach the memory.
        unsafe { (header.vtable.dealloc)(ptr) }
    }
}

/// The owner's reference (the loop's registry holds it until the task completes).
/// Dropping it drops a future that is still alive (invariant 3).
///
/// While the task is not complete this reference is what keeps it alive for its local
/// queue entry and for a run in progress (neither holds one of its own).
pub(crate) struct OwnedTask(ManuallyDrop<TaskRef>);

impl std::ops::Deref for OwnedTask {
    type Target = TaskRef;
    fn deref(&self) -> &TaskRef {
        &self.0
    }
}

impl Drop for OwnedTask {
    fn drop(&mut self) {
        if !self.0.is_complete() {
            if let Some(done) = self.0.cancel_in_place() {
                drop(done);
            } else {
                // Being polled (or dropped) by this very thread: the reference goes to
                // that run, which drops the future when it returns and then lets go.
                self.0.header().state.orphan();
                return;
            }
        }
        // SAFETY: dropped once, here; the field is not used afterwards.
        unsafe { ManuallyDrop::drop(&mut self.0) }
    }
}

impl OwnedTask {
    /// Drops the owner's reference and `other` (another reference to the same task, which
    /// must be complete) in one atomic step instead of two: the loop lets go of both when
    /// a task completes. Falls back to two drops if `other` is another task or this one
    /// is not complete.
    pub(crate) fn release_with(self, other: TaskRef) {
        if !self.0.ptr_eq(&other) || !self.0.is_complete() {
            return;
        }
        // Neither handle's own drop runs: the two references are released together below
        // (a complete task's `OwnedTask` drop does nothing but release its reference).
        let ptr = ManuallyDrop::new(self).0.ptr;
        let _ = ManuallyDrop::new(other);
        // SAFETY: both references were held until now, so the cell is live.
        let header = unsafe { ptr.as_ref() };
        if header.state.ref_dec_by(2) {
            // SAFETY: those were the last references; nobody else can reach the memory.
            unsafe { (header.vtable.dealloc)(ptr) }
        }
    }
}

/// The join handle's reference, typed by the task's output.
pub(crate) struct JoinRef<T> {
    task: TaskRef,
    _output: PhantomData<T>,
}

impl<T> std::ops::Deref for JoinRef<T> {
    type Target = TaskRef;
    fn deref(&self) -> &TaskRef {
        &self.task
    }
}

impl<T> JoinRef<T> {
    /// Moves the output out, once the task is complete (`None` before, or once taken).
    pub(crate) fn take_output(&self) -> Option<Result<T, TaskError>> {
        if !self.task.is_complete() {
            return None;
        }
        let mut out: Option<Result<T, TaskError>> = None;
        // SAFETY: owner thread (JoinRef is !Send), COMPLETE set (invariant 2), and `T` is
        // the task's output type by construction in `spawn`.
        unsafe {
            (self.task.header().vtable.take_output)(self.task.ptr, &mut out as *mut _ as *mut ())
        };
        out
    }

    /// Gives up interest in the output: drops it now if the task is complete (else the
    /// task drops it when it completes). Returns the message of a panic nobody retrieved.
    /// Idempotent.
    pub(crate) fn detach(&self) -> Option<String> {
        let local = self.task.local();
        if local.detached.replace(true) || !self.task.is_complete() {
            return None;
        }
        // SAFETY: owner thread (JoinRef is !Send), COMPLETE set (invariant 2).
        unsafe { (self.task.header().vtable.drop_output)(self.task.ptr) }
    }
}

impl<T> Drop for JoinRef<T> {
    fn drop(&mut self) {
        self.detach();
    }
}

/// A counted queue entry: one reference to a task that is due to run (the `SCHEDULED`
/// bit). `Send`, so wakes on any thread can queue it; on the owner thread,
/// [`Runnable::accept`] turns it into a [`LocalRunnable`], or drop it.
pub(crate) struct Runnable {
    ptr: NonNull<Header>,
}

// SAFETY: from a foreign thread a Runnable only touches the atomic state word and, when it
// drops the last reference, frees Send data (invariant 3). Accepting it checks the thread.
unsafe impl Send for Runnable {}

/// What a run did.
pub(crate) enum Step {
    /// The future returned `Pending`; the task waits for a wake.
    Pending,
    /// The task is complete now.
    Done(Done),
    /// The task had already completed, or is queued already (a stale entry); nothing ran.
    Stale,
}

impl Runnable {
    fn header(&self) -> &Header {
        // SAFETY: we hold a reference, so the allocation is live.
        unsafe { self.ptr.as_ref() }
    }

    /// On the owner thread: takes the entry (its reference and the `SCHEDULED` bit go in
    /// one atomic step) and returns the local entry to queue, or `None` if the task is
    /// complete or has a local entry queued already (this wake is merged into it).
    ///
    /// # Panics
    /// Off the task's owner thread (a scheduler bug).
    pub(crate) fn accept(self) -> Option<LocalRunnable> {
        assert!(
            on_owner_thread(self.header()),
            "simul: a task was run on a thread other than its loop's"
        );
        let ptr = ManuallyDrop::new(self).ptr;
        // SAFETY: the entry's reference kept the cell live until the accept below.
        let header = unsafe { ptr.as_ref() };
        let prev = header.state.accept();
        if prev & COMPLETE != 0 {
            if State::was_last(prev) {
                // SAFETY: that was the last reference; nobody else can reach the memory.
                unsafe { (header.vtable.dealloc)(ptr) }
            }
            return None;
        }
        // Not complete: the owner's reference keeps the cell live from here on.
        let flags = &header.local.flags;
        if flags.get() & QUEUED != 0 {
            return None;
        }
        flags.set(flags.get() | QUEUED);
        Some(LocalRunnable::from_ptr(ptr))
    }

    /// Accepts the entry and runs it (see [`LocalRunnable::run`]); [`Step::Stale`] if
    /// there is nothing to run.
    #[cfg(test)]
    pub(crate) fn run<E>(
        self,
        enter: impl FnOnce(&TaskRef) -> E,
        exit: impl FnOnce(&TaskRef, E),
    ) -> Step {
        match self.accept() {
            Some(local) => local.run(enter, exit),
            None => Step::Stale,
        }
    }
}

impl Drop for Runnable {
    fn drop(&mut self) {
        let header = self.header();
        let prev = header.state.accept();
        if State::was_last(prev) {
            // SAFETY: that was the last reference; nobody else can reach the memory.
            unsafe { (header.vtable.dealloc)(self.ptr) }
        }
    }
}

/// A local queue entry, on the owner thread (`!Send`), holding no counted reference (see
/// the module doc): the task's `QUEUED` flag is set while it exists.
pub(crate) struct LocalRunnable {
    ptr: NonNull<Header>,
    _owner_thread: PhantomData<*const ()>,
}

impl LocalRunnable {
    fn from_ptr(ptr: NonNull<Header>) -> LocalRunnable {
        LocalRunnable {
            ptr,
            _owner_thread: PhantomData,
        }
    }

    fn header(&self) -> &Header {
        // SAFETY: the owner's reference (task not complete) or the one taken for this
        // entry at completion keeps the allocation live while the entry exists.
        unsafe { self.ptr.as_ref() }
    }

    /// Runs `f` with the task.
    pub(crate) fn with_task<R>(&self, f: impl FnOnce(&TaskRef) -> R) -> R {
        let task = ManuallyDrop::new(TaskRef::from_ptr(self.ptr));
        f(&task)
    }

    /// Runs the task one step: drops its future if it was cancelled, else polls it once,
    /// with `enter` called right before the poll and `exit` right after (their value
    /// passed along). While polling, [`with_current`] sees the task. A step of a task
    /// that is not complete touches no atomic (unless it completes).
    ///
    /// # Panics
    /// If the task is already being run further up this stack.
    #[inline]
    pub(crate) fn run<E>(
        self,
        enter: impl FnOnce(&TaskRef) -> E,
        exit: impl FnOnce(&TaskRef, E),
    ) -> Step {
        let ptr = ManuallyDrop::new(self).ptr;
        // SAFETY: as in `header` above.
        let header = unsafe { ptr.as_ref() };
        let flags = &header.local.flags;
        let f = flags.get() & !QUEUED;
        flags.set(f);
        let st = header.state.load();
        if st & COMPLETE != 0 {
            // The reference taken for this entry at completion.
            release(ptr);
            return Step::Stale;
        }
        if f & RUNNING != 0 {
            panic!("simul: a task was run while it was already running");
        }
        flags.set(f | RUNNING);
        let vtable = header.vtable;
        if st & CANCEL != 0 {
            // SAFETY: live cell, owner thread, RUNNING held (invariant 2).
            let state = unsafe { (vtable.cancel)(ptr) };
            return Step::Done(finish(ptr, state));
        }
        // A borrowed handle: the owner's reference (or, once the owner lets go during the
        // poll, the one it hands to this run) keeps the cell live.
        let task = ManuallyDrop::new(TaskRef::from_ptr(ptr));
        let waker = task.borrowed_waker();
        let mut cx = Context::from_waker(&waker);
        let saved = THREAD.with(|t| t.current.replace(Some(ptr)));
        let cookie = enter(&task);
        // SAFETY: live cell, owner thread, RUNNING held (invariant 2).
        let res = unsafe { (vtable.poll)(ptr, &mut cx) };
        THREAD.with(|t| t.current.set(saved));
        let local = &header.local;
        local.polls.set(local.polls.get().saturating_add(1));
        exit(&task, cookie);
        match res {
            Poll::Pending if header.state.load() & ORPHAN != 0 => {
                // The owner let go during the poll (invariant 3): drop the future now.
                // SAFETY: as for the poll; RUNNING is still held.
                let state = unsafe { (vtable.cancel)(ptr) };
                Step::Done(finish(ptr, state))
            }
            Poll::Pending => {
                flags.set(flags.get() & !RUNNING);
                Step::Pending
            }
            Poll::Ready(state) => Step::Done(finish(ptr, state)),
        }
    }
}

impl Drop for LocalRunnable {
    fn drop(&mut self) {
        let header = self.header();
        let flags = &header.local.flags;
        flags.set(flags.get() & !QUEUED);
        if header.state.load() & COMPLETE != 0 {
            // The reference taken for this entry at completion.
            release(self.ptr);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Wakers: the data pointer is the header, carrying one reference.

static WAKER_VTABLE: RawWakerVTable =
    RawWakerVTable::new(clone_waker, wake_waker, wake_by_ref_waker, drop_waker);

fn raw_waker(ptr: NonNull<Header>) -> RawWaker {
    RawWaker::new(ptr.as_ptr() as *const (), &WAKER_VTABLE)
}

/// # Safety
/// `data` is a waker's data pointer: a live header on which the waker holds a reference.
unsafe fn header_of<'a>(data: *const ()) -> (NonNull<Header>, &'a Header) {
    // SAFETY: waker data pointers come from a NonNull header (raw_waker).
    let ptr = unsafe { NonNull::new_unchecked(data as *mut Header) };
    // SAFETY: the waker's reference keeps the cell live.
    (ptr, unsafe { ptr.as_ref() })
}

unsafe fn clone_waker(data: *const ()) -> RawWaker {
    // SAFETY: waker contract.
    let (ptr, header) = unsafe { header_of(data) };
    header.state.ref_inc();
    raw_waker(ptr)
}

unsafe fn wake_waker(data: *const ()) {
    // SAFETY: waker contract; this consumes the waker's reference.
    let (ptr, header) = unsafe { header_of(data) };
    // SAFETY: the waker's reference is held until the release below.
    if unsafe { (header.vtable.wake_local)(ptr) } {
        release(ptr);
        return;
    }
    match header.state.schedule_consuming_ref() {
        // SAFETY: the waker's reference became the queue entry's.
        Wake::Queue => unsafe { (header.vtable.schedule)(ptr) },
        // SAFETY: that was the last reference; nobody else can reach the memory.
        Wake::Dropped(true) => unsafe { (header.vtable.dealloc)(ptr) },
        Wake::Dropped(false) => {}
    }
}

unsafe fn wake_by_ref_waker(data: *const ()) {
    // SAFETY: waker contract; the waker keeps its reference.
    let (ptr, header) = unsafe { header_of(data) };
    // SAFETY: the waker's reference is held.
    if unsafe { (header.vtable.wake_local)(ptr) } {
        return;
    }
    if header.state.schedule_with_ref() {
        // SAFETY: the reference just taken goes to the queue entry.
        unsafe { (header.vtable.schedule)(ptr) }
    }
}

unsafe fn drop_waker(data: *const ()) {
    // SAFETY: waker contract; this releases the waker's reference.
    let (ptr, _) = unsafe { header_of(data) };
    release(ptr);
}

#[cfg(all(test, not(loom)))]
#[path = "raw_tests.rs"]
mod tests;

#[cfg(all(test, loom))]
#[path = "raw_loom.rs"]
mod loom_tests;

// ---------------------------------------------------------------------------------------
// Thin callback entries
// ---------------------------------------------------------------------------------------

/// A callback that is one pointer to something its caller already reference-counts, so
/// the loop can queue it without an allocation of its own (see [`crate::call_soon_thin`]).
///
/// Not for general use (`call_soon` is): it exists for embedders such as the Python face,
/// whose `Handle` object is allocated anyway and whose reference is the whole callback.
///
/// # Safety
/// [`ThinCallback::into_ptr`] hands the value's ownership to the pointer it returns, and
/// [`ThinCallback::from_ptr`] given that pointer (once) must give back an equal owner: the
/// loop calls `from_ptr` exactly once per `into_ptr`, on the thread that queued it, then
/// runs or drops the value it gets.
#[doc(hidden)]
pub unsafe trait ThinCallback: 'static {
    /// Gives up ownership of `self` to a non-null pointer.
    fn into_ptr(self) -> NonNull<()>;
    /// Takes ownership back from a pointer [`ThinCallback::into_ptr`] returned.
    ///
    /// # Safety
    /// `ptr` came from `into_ptr` of this type and has not been taken back yet.
    unsafe fn from_ptr(ptr: NonNull<()>) -> Self;
    /// Runs the callback (on the loop's thread, inside its iteration).
    fn run(self);
}

/// The two functions a thin entry needs, monomorphised for its [`ThinCallback`] type.
struct ThinVTable {
    run: unsafe fn(NonNull<()>),
    drop: unsafe fn(NonNull<()>),
}

struct ThinVTableOf<T>(PhantomData<T>);

impl<T: ThinCallback> ThinVTableOf<T> {
    const VTABLE: ThinVTable = ThinVTable {
        run: thin_run::<T>,
        drop: thin_drop::<T>,
    };
}

/// # Safety
/// `ptr` came from `T::into_ptr` and is taken back here once.
unsafe fn thin_run<T: ThinCallback>(ptr: NonNull<()>) {
    // SAFETY: the caller's contract: `ptr` is `T`'s and not taken back yet.
    unsafe { T::from_ptr(ptr) }.run();
}

/// # Safety
/// As [`thin_run`].
unsafe fn thin_drop<T: ThinCallback>(ptr: NonNull<()>) {
    // SAFETY: the caller's contract: `ptr` is `T`'s and not taken back yet.
    drop(unsafe { T::from_ptr(ptr) });
}

/// A ready-queue entry for a [`ThinCallback`]: its pointer and a `'static` vtable, two
/// words, no allocation. It owns the callback: running it consumes it, dropping it (a
/// loop that shuts down with it queued) drops the callback, so either happens once.
///
/// `!Send`: the callback is taken back on the thread that queued it.
pub(crate) struct ThinCall {
    vtable: &'static ThinVTable,
    ptr: NonNull<()>,
}

impl ThinCall {
    pub(crate) fn new<T: ThinCallback>(cb: T) -> ThinCall {
        ThinCall {
            vtable: &ThinVTableOf::<T>::VTABLE,
            ptr: cb.into_ptr(),
        }
    }

    /// Runs the callback (a panic unwinds out of here, the callback dropped on the way).
    pub(crate) fn run(self) {
        let this = ManuallyDrop::new(self);
        // SAFETY: `ptr` came from the vtable's type's `into_ptr` (`new` pairs them), and
        // `ManuallyDrop` keeps `Drop` from taking it back a second time.
        unsafe { (this.vtable.run)(this.ptr) }
    }
}

impl Drop for ThinCall {
    fn drop(&mut self) {
        // SAFETY: as in `run`: the pointer is the vtable type's, and a `ThinCall` is either
        // run (which skips this) or dropped, once.
        unsafe { (self.vtable.drop)(self.ptr) }
    }
}

/// A [`ThinCallback`] for tests: an `Rc` of counters (runs, drops) that records its run
/// and its drop, so a test can check each entry is released exactly once.
#[cfg(test)]
pub(crate) mod thin_probe {
    use std::cell::Cell;
    use std::ptr::NonNull;
    use std::rc::Rc;

    #[derive(Default)]
    pub(crate) struct Counts {
        pub(crate) runs: Cell<u32>,
        pub(crate) drops: Cell<u32>,
        /// Appended to by each run (its tag), for order checks.
        pub(crate) order: std::cell::RefCell<Vec<u32>>,
    }

    pub(crate) struct Probe {
        pub(crate) counts: Rc<Counts>,
        pub(crate) tag: u32,
        pub(crate) panics: bool,
    }

    impl Drop for Probe {
        fn drop(&mut self) {
            self.counts.drops.set(self.counts.drops.get() + 1);
        }
    }

    // SAFETY: `into_ptr` moves the probe into a `Box` and gives up the box; `from_ptr`
    // takes that box back, once per `into_ptr` (the trait's contract on the caller).
    unsafe impl super::ThinCallback for Probe {
        fn into_ptr(self) -> NonNull<()> {
            NonNull::from(Box::leak(Box::new(self))).cast()
        }
        unsafe fn from_ptr(ptr: NonNull<()>) -> Self {
            // SAFETY: `ptr` is a leaked `Box<Probe>` not taken back yet (caller's contract).
            *unsafe { Box::from_raw(ptr.cast::<Probe>().as_ptr()) }
        }
        fn run(self) {
            self.counts.runs.set(self.counts.runs.get() + 1);
            self.counts.order.borrow_mut().push(self.tag);
            if self.panics {
                panic!("probe {} panics", self.tag);
            }
        }
    }
}
