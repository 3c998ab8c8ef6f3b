//! Raw task memory: the only place where a task's bytes are touched through pointers.
//!
//! # Layout
//!
//! A task is one heap allocation, a [`Cell<F>`]: a [`Header`] first (so a pointer to the
//! cell is a pointer to its header), then the stage (the future while it runs, its output
//! once it has finished). The header holds a `'static` [`VTable`] of functions
//! monomorphised for the future's type; everything outside this file sees only
//! `NonNull<Header>` wrapped in the safe [`TaskRef`] and never needs to know `F`.
//!
//! # State word
//!
//! Scheduling flags and the refcount share one atomic word; its transitions live in
//! `state.rs` (model-checked with loom).
//!
//! # Who touches what (the invariants the `unsafe` blocks rely on)
//!
//! * The state word is atomic: wakers live on any thread.
//! * The stage and [`Local`] fields are only read or written on the thread that runs the
//!   task's loop. The future is polled and dropped only there; the output is written
//!   there and taken by the `Task` handle, which is `!Send` and so is also there.
//! * A foreign thread can only change the state word and, when it drops the last
//!   reference, free the memory. By then the future and the output are gone (the loop
//!   drops the future and the handle or the loop drops the output, all on the loop's
//!   thread), so freeing only drops `Send` data.

use std::cell::UnsafeCell;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::Arc;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use super::{Local, TaskError, TaskState};
use crate::runtime::Shared;

use super::state::State;
pub(crate) use super::state::{CANCEL, COMPLETE, RUNNING, SCHEDULED};

/// Functions specialised for one future type.
pub(crate) struct VTable {
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
    /// Frees the allocation.
    dealloc: unsafe fn(NonNull<Header>),
}

/// The first field of every task allocation.
#[repr(C)]
pub(crate) struct Header {
    state: State,
    vtable: &'static VTable,
    /// The loop the task belongs to; used to route wakes from other threads.
    pub(crate) shared: Arc<Shared>,
    /// Loop-thread-only bookkeeping (see the module doc).
    local: UnsafeCell<Local>,
}

enum Stage<F: Future> {
    Running(F),
    Finished(Result<F::Output, TaskError>),
    Consumed,
}

#[repr(C)]
struct Cell<F: Future> {
    header: Header,
    stage: UnsafeCell<Stage<F>>,
}

/// An owned, counted reference to a task. Safe to send: it only touches the state word
/// and the `Send` parts of the header from a foreign thread.
pub(crate) struct TaskRef {
    ptr: NonNull<Header>,
}

// SAFETY: a TaskRef only reads the atomic state word and `shared` (Send + Sync) unless it
// is used on the loop thread, where the loop-only accessors are called (module doc).
unsafe impl Send for TaskRef {}
// SAFETY: as above; shared access is through atomics only.
unsafe impl Sync for TaskRef {}

/// Allocates a task running `future`, already marked `SCHEDULED`. Returns the reference
/// held by the registry, the one held by the `Task` handle and the one for the ready
/// queue (created together, so a spawn costs no atomic operation on the state word).
pub(crate) fn allocate<F>(
    future: F,
    shared: Arc<Shared>,
    local: Local,
) -> (TaskRef, TaskRef, TaskRef)
where
    F: Future + 'static,
{
    let cell = Box::new(Cell {
        header: Header {
            // Three references: the registry's, the handle's and the queue entry's.
            state: State::new_scheduled(3),
            vtable: vtable::<F>(),
            shared,
            local: UnsafeCell::new(local),
        },
        stage: UnsafeCell::new(Stage::Running(future)),
    });
    // SAFETY: Box::into_raw never returns null.
    let ptr = unsafe { NonNull::new_unchecked(Box::into_raw(cell) as *mut Header) };
    (TaskRef { ptr }, TaskRef { ptr }, TaskRef { ptr })
}

fn vtable<F: Future + 'static>() -> &'static VTable {
    trait HasVTable {
        const VTABLE: VTable;
    }
    impl<F: Future + 'static> HasVTable for F {
        const VTABLE: VTable = VTable {
            poll: poll::<F>,
            cancel: cancel::<F>,
            take_output: take_output::<F>,
            drop_output: drop_output::<F>,
            dealloc: dealloc::<F>,
        };
    }
    &<F as HasVTable>::VTABLE
}

/// # Safety
/// `ptr` points to a live `Cell<F>`; called on the loop thread with no other access to
/// the stage in progress.
unsafe fn stage<'a, F: Future>(ptr: NonNull<Header>) -> &'a mut Stage<F> {
    // SAFETY: the header is the first field of a repr(C) Cell<F> (caller's contract), and
    // only the loop thread touches the stage, one access at a time.
    unsafe { &mut *(*ptr.cast::<Cell<F>>().as_ptr()).stage.get() }
}

unsafe fn poll<F: Future>(ptr: NonNull<Header>, cx: &mut Context<'_>) -> Poll<TaskState> {
    // SAFETY: vtable contract: live Cell<F>, loop thread.
    let stage = unsafe { stage::<F>(ptr) };
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
    // Drop the future in place before storing the output; a panicking destructor is
    // contained too.
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
    Poll::Ready(state)
}

unsafe fn cancel<F: Future>(ptr: NonNull<Header>) -> TaskState {
    // SAFETY: vtable contract.
    let stage = unsafe { stage::<F>(ptr) };
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

unsafe fn take_output<F: Future>(ptr: NonNull<Header>, dst: *mut ()) {
    // SAFETY: vtable contract.
    let stage = unsafe { stage::<F>(ptr) };
    if let Stage::Finished(_) = stage {
        let Stage::Finished(out) = std::mem::replace(stage, Stage::Consumed) else {
            unreachable!()
        };
        // SAFETY: the caller (`Task<F::Output>`) passes a pointer to its own
        // `Option<Result<F::Output, TaskError>>`.
        unsafe { *(dst as *mut Option<Result<F::Output, TaskError>>) = Some(out) };
    }
}

unsafe fn drop_output<F: Future>(ptr: NonNull<Header>) -> Option<String> {
    // SAFETY: vtable contract.
    let stage = unsafe { stage::<F>(ptr) };
    match std::mem::replace(stage, Stage::Consumed) {
        Stage::Finished(Err(TaskError::Panicked(p))) => Some(p.message_unread().to_string()),
        other => {
            // Dropping a user value may panic; keep the loop alive.
            let _ = catch_unwind(AssertUnwindSafe(|| drop(other)));
            None
        }
    }
}

unsafe fn dealloc<F: Future>(ptr: NonNull<Header>) {
    // SAFETY: the pointer came from Box::into_raw of a Cell<F> and this is the last
    // reference. The stage is Consumed/Finished-and-dropped by now (module doc), so
    // dropping the box drops only Send data even on a foreign thread.
    drop(unsafe { Box::from_raw(ptr.cast::<Cell<F>>().as_ptr()) });
}

impl TaskRef {
    fn header(&self) -> &Header {
        // SAFETY: we hold a reference, so the allocation is live.
        unsafe { self.ptr.as_ref() }
    }

    pub(crate) fn state(&self) -> usize {
        self.header().state.load()
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.header().shared
    }

    /// Another counted reference to the same task.
    pub(crate) fn clone_ref(&self) -> TaskRef {
        self.header().state.ref_inc();
        TaskRef { ptr: self.ptr }
    }

    /// Loop-thread-only bookkeeping.
    ///
    /// # Safety
    /// Call only on the loop thread, and do not hold the reference across a call that
    /// may re-enter the same task's `local` (polling, callbacks).
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn local(&self) -> &mut Local {
        // SAFETY: caller's contract: loop thread, no overlapping borrow.
        unsafe { &mut *self.header().local.get() }
    }

    /// Marks the task scheduled and takes the queue entry's reference in the same atomic
    /// step. Returns that reference if the caller must enqueue it (the task was not already
    /// queued and has not completed).
    pub(crate) fn schedule(&self) -> Option<TaskRef> {
        // `then`, not `then_some`: a TaskRef built and dropped on failure would release a
        // reference that was never taken.
        self.header()
            .state
            .schedule_with_ref()
            .then(|| TaskRef { ptr: self.ptr })
    }

    /// Sets the cancel flag. Returns `false` if the task had already completed.
    pub(crate) fn request_cancel(&self) -> bool {
        self.header().state.request_cancel()
    }

    /// Called by the loop when it picks the task from a queue: clears `SCHEDULED`, sets
    /// `RUNNING`. Returns the state before.
    pub(crate) fn transition_to_running(&self) -> usize {
        self.header().state.transition_to_running()
    }

    /// After a poll that returned pending: clears `RUNNING` and releases this reference
    /// (the queue entry's) in one atomic step.
    pub(crate) fn idle_and_release(self) {
        let this = ManuallyDrop::new(self);
        if this.header().state.idle_and_ref_dec() {
            // SAFETY: that was the last reference; nobody else can reach the memory.
            unsafe { (this.header().vtable.dealloc)(this.ptr) }
        }
    }

    /// Marks the task complete (clears `RUNNING` and `SCHEDULED`).
    pub(crate) fn transition_to_complete(&self) {
        self.header().state.transition_to_complete()
    }

    /// Polls the future once.
    ///
    /// # Safety
    /// Loop thread only, the task picked from a queue (`RUNNING` set).
    pub(crate) unsafe fn poll(&self, cx: &mut Context<'_>) -> Poll<TaskState> {
        // SAFETY: caller's contract matches the vtable's.
        unsafe { (self.header().vtable.poll)(self.ptr, cx) }
    }

    /// Drops the future and stores `Err(Cancelled)`.
    ///
    /// # Safety
    /// Loop thread only, the future not being polled.
    pub(crate) unsafe fn cancel_future(&self) -> TaskState {
        // SAFETY: caller's contract matches the vtable's.
        unsafe { (self.header().vtable.cancel)(self.ptr) }
    }

    /// Moves the output into `dst`, which must be `&mut Option<Result<T, TaskError>>` with
    /// `T` the task's output type.
    ///
    /// # Safety
    /// Loop thread only; `T` must be the task's output type.
    pub(crate) unsafe fn take_output<T>(&self, dst: &mut Option<Result<T, TaskError>>) {
        // SAFETY: caller's contract: the type matches, loop thread.
        unsafe { (self.header().vtable.take_output)(self.ptr, dst as *mut _ as *mut ()) }
    }

    /// Drops a stored output; returns the message of an unretrieved panic.
    ///
    /// # Safety
    /// Loop thread only.
    pub(crate) unsafe fn drop_output(&self) -> Option<String> {
        // SAFETY: caller's contract matches the vtable's.
        unsafe { (self.header().vtable.drop_output)(self.ptr) }
    }

    /// A waker borrowing this reference (no refcount change); valid while `self` lives.
    /// Cloning it takes a real reference.
    pub(crate) fn borrowed_waker(&self) -> ManuallyDrop<Waker> {
        // SAFETY: ManuallyDrop keeps the waker from releasing a reference it never took;
        // `clone` on it takes a proper one. The caller keeps `self` alive while using it.
        ManuallyDrop::new(unsafe {
            Waker::from_raw(RawWaker::new(self.ptr.as_ptr() as *const (), &WAKER_VTABLE))
        })
    }

    /// The raw identity pointer, for `TaskRef::borrow_raw`.
    pub(crate) fn as_raw(&self) -> NonNull<Header> {
        self.ptr
    }

    /// Borrows a task known to be alive by its raw pointer (no refcount change).
    ///
    /// # Safety
    /// Someone must hold a reference to the task for as long as the result is used.
    pub(crate) unsafe fn borrow_raw(ptr: NonNull<Header>) -> ManuallyDrop<TaskRef> {
        ManuallyDrop::new(TaskRef { ptr })
    }

    /// Rebuilds a reference from a raw waker pointer without changing the count.
    ///
    /// # Safety
    /// `data` must carry one reference (from `waker()` or `clone_waker`).
    unsafe fn from_raw(data: *const ()) -> TaskRef {
        TaskRef {
            // SAFETY: waker data pointers are never null (they come from a NonNull).
            ptr: unsafe { NonNull::new_unchecked(data as *mut Header) },
        }
    }
}

impl Drop for TaskRef {
    fn drop(&mut self) {
        if self.header().state.ref_dec() {
            // SAFETY: that was the last reference; nobody else can reach the memory.
            unsafe { (self.header().vtable.dealloc)(self.ptr) }
        }
    }
}

static WAKER_VTABLE: RawWakerVTable =
    RawWakerVTable::new(clone_waker, wake_waker, wake_by_ref_waker, drop_waker);

unsafe fn clone_waker(data: *const ()) -> RawWaker {
    // SAFETY: the data pointer carries a reference (waker contract), so the task is live.
    let me = ManuallyDrop::new(unsafe { TaskRef::from_raw(data) });
    std::mem::forget(me.clone_ref());
    RawWaker::new(data, &WAKER_VTABLE)
}

unsafe fn wake_waker(data: *const ()) {
    // SAFETY: consumes the waker's reference.
    let me = unsafe { TaskRef::from_raw(data) };
    crate::runtime::schedule_ref(&me);
}

unsafe fn wake_by_ref_waker(data: *const ()) {
    // SAFETY: borrows the waker's reference without consuming it.
    let me = ManuallyDrop::new(unsafe { TaskRef::from_raw(data) });
    crate::runtime::schedule_ref(&me);
}

unsafe fn drop_waker(data: *const ()) {
    // SAFETY: releases the waker's reference.
    drop(unsafe { TaskRef::from_raw(data) });
}
