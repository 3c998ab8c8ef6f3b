//! Synchronisation primitives and queues for tasks on one loop: asyncio's `asyncio.Lock`,
//! `Event`, `Condition`, `Semaphore`, `BoundedSemaphore`, `Barrier`, `Future` (here
//! [`Promise`]) and `Queue`, `PriorityQueue`, `LifoQueue` — plus [`channel`], the bridge
//! from plain threads.
//!
//! # Design
//!
//! A loop runs its tasks on one thread, so these primitives need no atomics: their state
//! lives in `Cell`s and `RefCell`s, and they are `!Send`. Every primitive is a cheap handle
//! (one `Rc` to its state): clone it to share it between tasks, as asyncio shares objects
//! by reference; clones are the same lock, event, semaphore, queue. Each file holds one
//! concern:
//!
//! | file | what |
//! |---|---|
//! | `waiters.rs` | the FIFO waiter list every primitive is built on: nodes in a slab, linked by index, reused — no allocation per wait in steady state |
//! | `lock.rs` | [`Lock`], guard-based |
//! | `event.rs` | [`Event`] |
//! | `condition.rs` | [`Condition`], with the mapping from asyncio's shape |
//! | `semaphore.rs` | [`Semaphore`], [`BoundedSemaphore`] |
//! | `barrier.rs` | [`Barrier`] |
//! | `promise.rs` | [`Promise`] |
//! | `queue.rs` | [`Queue`], [`PriorityQueue`], [`LifoQueue`] |
//! | `channel.rs` | [`channel`]: `Send` sender, async receiver |
//!
//! # Guarantees shared by every primitive
//!
//! - **FIFO**: waiters are served in the order they started waiting, and a newcomer
//!   never overtakes a queued waiter.
//! - **No thundering herd**: a release wakes only the tasks that can proceed — unlocking
//!   wakes one locker, a `put` one getter, a `get` one putter. What is released is
//!   *handed over* (the lock, a permit) or *reserved* (a queue item or slot) for the woken
//!   task, so it never wakes up to find it gone. Only [`Event::set`],
//!   [`Condition::notify_all`], a completing [`Promise`], a full [`Barrier`] and queue
//!   shutdown wake everybody, because that is their meaning.
//! - **Cancellation safety**: every future here may be dropped at any suspension point
//!   (a cancelled task drops its future): a dropped `lock`/`acquire` leaves the lock or
//!   permit count as if it had never been called, passing on what was already handed to
//!   it; a dropped `get` loses no item; a dropped `put` enqueues nothing; a dropped
//!   `Condition::wait` passes on a notification it received.
//! - **No panics from use**: errors are typed (`QueueShutDown`, `TryPutError`,
//!   `TaskDoneError`, `BrokenBarrier`, `ReleaseError`, `PromiseError`,
//!   `InvalidStateError`). The only panics are `Barrier::new(0)` (asyncio's `ValueError`)
//!   and polling a future again after it completed.

mod barrier;
mod channel;
mod condition;
mod event;
mod lock;
mod promise;
mod queue;
mod semaphore;
mod waiters;

pub use barrier::{Barrier, BarrierWait, BrokenBarrier};
pub use channel::{channel, Receiver, Recv, SendError, Sender, TryRecvError};
pub use condition::Condition;
pub use event::{Event, EventWait};
pub use lock::{Lock, LockFuture, LockGuard};
pub use promise::{InvalidStateError, Promise, PromiseError};
pub use queue::{
    Fifo, GenericQueue, Get, Heap, Join, Lifo, LifoQueue, PriorityQueue, Put, Queue, QueueShutDown,
    QueueStorage, TaskDoneError, TryGetError, TryPutError,
};
pub use semaphore::{Acquire, BoundedSemaphore, ReleaseError, Semaphore, SemaphorePermit};
