//! Composing tasks and futures: asyncio's `gather`, `wait`, `as_completed` and `shield`,
//! plus a task dump.
//!
//! | asyncio | simul | drives |
//! |---|---|---|
//! | `gather(a, b)` | [`gather!`](crate::gather!)`(a, b).await` → tuple | futures, in place |
//! | `gather(*aws)` | [`gather()`]`(iter).await` → `Vec` | futures, in place |
//! | `gather(*aws)` raising | [`try_gather`]`(iter).await` → `Result<Vec, E>` | futures, in place |
//! | `wait(aws, return_when=...)` | [`wait()`]`(tasks, ReturnWhen::..).await` → `(done, pending)` | task handles |
//! | `wait(aws, timeout=...)` | [`wait_timeout`] | task handles |
//! | `as_completed(aws)` | [`as_completed()`]`(iter)`: a `Stream` | futures, in place |
//! | `shield(aw)` | [`shield()`]`(fut).await` | a task it spawns |
//! | `TaskGroup` | [`crate::TaskGroup`] (in `task::group`) | tasks |
//! | — (`asyncio ps`) | [`dump_tasks`] | — |
//!
//! The combinators that drive futures in place (`gather`, `try_gather`, `gather!`,
//! `as_completed`) and `wait` share one mechanism, the ready list (`ready.rs`): each child
//! has its own waker that records the child's index, so a wake-up costs O(1) and only
//! woken children are polled. Dropping such a combinator drops the futures it still holds
//! (cancellation, with their destructors run once); handles it holds ([`crate::Task`]) are
//! detached as usual, not cancelled.

pub mod as_completed;
pub mod dump;
pub mod gather;
pub(crate) mod ready;
pub mod shield;
pub mod wait;

pub use as_completed::{as_completed, AsCompleted};
pub use dump::{dump_tasks, dump_tasks_to};
pub use gather::{gather, try_gather, Gather, TryGather};
pub use shield::{shield, Shield};
pub use wait::{wait, wait_timeout, ReturnWhen, Wait, Waitable};
