//! The event loop: asyncio's `run`, `EventLoop`, `call_soon`, `call_later`, and friends.
//!
//! # One iteration
//!
//! Like asyncio's `_run_once`, each iteration of the loop:
//!
//! 1. polls the main future if it was woken;
//! 2. runs the entries that were in the ready queue when the iteration started (task steps
//!    and `call_soon` callbacks, in FIFO order — so a task that yields goes behind every
//!    other ready task, and callbacks run in the order they were scheduled);
//! 3. moves work handed in from other threads (wakes, `call_soon_threadsafe`, remote
//!    spawns) from the injection queue into the ready queue;
//! 4. parks the driver stack (`time::driver`: the time driver over the I/O driver): not at
//!    all if something is ready (and then it only looks at the selector, every
//!    [`IO_INTERVAL`] iterations, to keep the busy path free of syscalls), else until the
//!    earliest timer or an external wake-up — or, under virtual time, by jumping the
//!    clock to that timer;
//! 5. fires the timers whose deadline has passed, in deadline order.
//!
//! # Threads
//!
//! The loop and everything in `Core` belong to one thread: `Core` is reached through a
//! thread-local pointer that is set while the loop runs. Other threads only see
//! `Shared`: the injection queue (a mutex-guarded `Vec`) and the driver's `Unparker` that breaks
//! the loop out of `epoll_wait`. A remote wake pushes to the queue, then wakes the
//! selector only if the loop announced it is parked (the handshake in `park.rs`,
//! model-checked with loom), so a busy loop pays no syscalls.
//!
//! # Shutdown
//!
//! [`crate::run`] (and closing or dropping an [`EventLoop`]) shuts the loop down once:
//! spawns are refused from then on, every task still alive is cancelled on the loop's
//! thread with the loop current, pending callbacks and timers are dropped and the
//! injection queue is closed (see `shutdown.rs`). A closed loop refuses to run or spawn
//! ("Event loop is closed").
//!
//! # Files
//!
//! | file | its one job |
//! |---|---|
//! | `context.rs` | the thread's current loop (`with_core`, `try_with_core`, `Enter`) |
//! | `inject.rs` | `Shared`: what other threads touch (injection queue, stop, selector waker) |
//! | `park.rs` | the park/notify handshake between the loop and other threads (loom-checked) |
//! | `spin.rs` | when a loop of a `Loops` set spins before parking, and its bounds |
//! | `handle.rs` | `LoopHandle` and `RemoteTask` (remote spawns) |
//! | `hold.rs` | holds on the virtual clock for work outside the loop |
//! | `callback.rs` | `call_soon`/`call_later`/`call_at`, `CallbackHandle`, `TimerHandle`, `time()` |
//! | `exception.rs` | `ExceptionContext`, `ExceptionKind`, the exception handler |
//! | `builder.rs` | `Builder` and the environment variables, `Config` |
//! | `iteration.rs` | `Core` and one iteration: ready queue, inject drain, park, timers |
//! | `tasks.rs` | spawn, waker routing, one task step, completion, task introspection |
//! | `registry.rs` | the registry of live tasks |
//! | `shutdown.rs` | cancelling what is left, shutdown hooks, closing the queue |
//! | `event_loop.rs` | `EventLoop`: the main task, running, stopping, closing |
//! | `hooks.rs` | for a second front end (Python): scheduling on a loop not running, the park hook |
//!
//! The clock, the timer wheel and the driver stack under the loop are in `time/`
//! (`clock.rs`, `wheel.rs`, `driver.rs`); `simul::run` is in `runner.rs`, above `signal`.

mod builder;
mod callback;
mod context;
mod event_loop;
mod exception;
mod handle;
mod hold;
mod hooks;
pub use hooks::TimerId;
mod inject;
mod iteration;
mod park;
mod registry;
mod shutdown;
pub(crate) mod spin;
mod tasks;

pub use builder::Builder;
pub(crate) use builder::Config;
#[doc(hidden)]
pub use callback::call_soon_thin;
#[allow(deprecated)]
pub use callback::Handle;
pub(crate) use callback::TimerPayload;
pub use callback::{call_at, call_later, call_soon, time, CallbackHandle, TimerHandle};
pub(crate) use context::{try_with_core, with_core};
pub use event_loop::EventLoop;
pub(crate) use exception::{report_unread_gathered_panic, report_unretrieved};
pub use exception::{ExceptionContext, ExceptionKind};
#[allow(deprecated)]
pub use handle::JoinHandle;
pub use handle::{LoopHandle, RemoteTask};
pub(crate) use hold::VirtualTimeHold;
pub(crate) use inject::Shared;
pub(crate) use iteration::Core;
use iteration::Runnable;
pub use iteration::IO_INTERVAL;
pub(crate) use tasks::NewTask;
