//! # simul — Python's asyncio, as a Rust async runtime
//!
//! One event loop per thread runs many tasks cooperatively, suspending each at its
//! `.await` points while it waits on timers, sockets, child processes or other tasks —
//! like a chess master in a simultaneous exhibition, who plays many boards and never waits
//! for a single opponent.
//!
//! ```
//! use std::time::Duration;
//!
//! async fn say_after(delay: Duration, what: &str) -> String {
//!     simul::sleep(delay).await;
//!     what.to_string()
//! }
//!
//! simul::run(async {
//!     let a = simul::spawn(say_after(Duration::from_millis(10), "hello"));
//!     let b = simul::spawn(say_after(Duration::from_millis(20), "world"));
//!     assert_eq!(a.await.unwrap() + " " + &b.await.unwrap(), "hello world");
//! });
//! ```
//!
//! asyncio's names are kept where they fit Rust (`run`, `sleep`, `wait_for`, `gather`,
//! `call_soon`, ...) and searchable as doc aliases where Rust's conventions rename them
//! (`create_task` is [`spawn`], `done()` is [`Task::is_done`]).
//!
//! ## Layers
//! | module | what it owns |
//! |---|---|
//! | `sys` | the one checked path to the OS |
//! | `io` (driver) | the OS selector (mio) and readiness |
//! | [`mod@time`] | the clock, the timer wheel and the driver stack; `sleep`, timeouts |
//! | [`runtime`] | [`EventLoop`], the ready queue, `call_soon`, thread-safe injection |
//! | [`run`] | asyncio.run: a loop, the main task, Ctrl-C, close |
//! | [`net`] | TCP, UDP and Unix sockets, `lookup_host` |
//! | [`blocking`] | [`to_thread`]: the pool for blocking calls |
//! | [`sync`] | [`Lock`], [`Event`], [`Condition`], [`Semaphore`], [`Barrier`], [`Promise`], [`Queue`] |
//! | [`task`] | task memory, [`Task`], cancellation, [`TaskGroup`] |
//! | [`combinators`] | [`gather()`], [`gather!`], [`try_gather`], [`wait()`], [`as_completed()`], [`shield()`], [`dump_tasks`] |
//! | [`process`], [`signal`] | child processes with async pipes; signal streams and handlers |
//! | `debug`, [`trace`] | slow-poll reports, the stall watchdog, traces and timelines |
//! | [`stream`] | asyncio streams: [`StreamReader`], [`StreamWriter`], servers |
//! | [`loops`] | [`Loops`]: one event loop per thread (per core), work and sockets between them |
//! | `tls` (feature `tls`) | rustls sessions: `TlsStream`, TLS `open_connection`/`start_server`/`start_tls` |
//! | `http` (feature `hyper`) | hyper 1.x on simul: I/O adapter, executor, timer, `serve` (HTTP/1.1 + HTTP/2, axum routers) |

#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod blocking;
pub mod combinators;
mod debug;
#[cfg(feature = "hyper")]
pub mod http;
mod io;
pub mod loops;
pub mod net;
pub mod process;
mod runner;
pub mod runtime;
pub mod signal;
pub mod stream;
pub mod sync;
mod sys;
pub mod task;
pub mod time;
#[cfg(feature = "tls")]
pub mod tls;
pub mod trace;

pub use blocking::to_thread;
pub use combinators::{
    as_completed, dump_tasks, dump_tasks_to, gather, shield, try_gather, wait, wait_timeout,
    AsCompleted, Gather, ReturnWhen, Shield, TryGather, Wait, Waitable,
};
pub use io::fault::faults_enabled;
pub use io::BUDGET;
pub use loops::{Loops, LoopsBuilder};
pub use runner::run;
#[doc(hidden)]
pub use runtime::call_soon_thin;
pub use runtime::{
    call_at, call_later, call_soon, time, Builder, CallbackHandle, EventLoop, ExceptionContext,
    ExceptionKind, LoopHandle, RemoteTask, TimerHandle, TimerId,
};
#[allow(deprecated)]
pub use runtime::{Handle, JoinHandle};
pub use stream::{
    open_connection, open_unix_connection, split, start_server, start_unix_server, Separators,
    Server, ServerBuilder, SockAddr, StreamError, StreamReader, StreamWriter,
};
pub use sync::{
    Barrier, BoundedSemaphore, BrokenBarrier, Condition, Event, LifoQueue, Lock, PriorityQueue,
    Promise, PromiseError, Queue, QueueShutDown, Semaphore,
};
#[doc(hidden)]
pub use task::raw::ThinCallback;
pub use task::{
    all_tasks, current_task, spawn, CancelOnDrop, GroupClosed, GroupError, GroupHandle, GroupTask,
    PanicPayload, SharedTask, Task, TaskBuilder, TaskError, TaskGroup, TaskInfo, TaskState,
};
pub use time::{
    interval, sleep, sleep_until, timeout_at, wait_for, yield_now, Interval, Sleep, Timeout,
    TimeoutError, YieldNow,
};

/// Runs an `async fn main()` on a new event loop: `#[simul::main]` turns it into a plain
/// `fn main()` that calls [`run`] (asyncio's `asyncio.run(main())`).
///
/// The return type is kept, so `main` may return a `Result` and use `?`. Options:
/// `virtual_time` (see [`Builder::virtual_time`]) and `debug` (see [`Builder::debug`];
/// without it the `SIMUL_DEBUG` environment variable decides), also spelled
/// `virtual_time = true` / `debug = false`. With options the loop is built with
/// [`EventLoop::builder`] instead of [`run`].
///
/// # Examples
/// ```
/// use std::time::Duration;
///
/// #[simul::main]
/// async fn main() -> Result<(), simul::TaskError> {
///     let greeter = simul::spawn(async {
///         simul::sleep(Duration::from_millis(1)).await;
///         "hello"
///     });
///     println!("{}", greeter.await?);
///     Ok(())
/// }
/// ```
///
/// A simulation that advances a virtual clock instead of waiting:
/// ```
/// use std::time::Duration;
///
/// #[simul::main(virtual_time)]
/// async fn main() {
///     let start = simul::time();
///     simul::sleep(Duration::from_secs(3600)).await; // an hour, in no time
///     assert!(simul::time() - start >= Duration::from_secs(3600));
/// }
/// ```
///
/// The function must be `async` and take no arguments; anything else is a compile error:
/// ```compile_fail
/// #[simul::main]
/// fn main() {} // error: #[simul::main] requires an `async fn`
/// ```
#[doc(alias = "asyncio.run")]
pub use simul_macros::main;

/// Runs an `async fn` test on a fresh event loop: `#[simul::test]` adds `#[test]` and
/// builds a new [`EventLoop`] for each test, which is closed (every task left behind is
/// cancelled) when the test returns.
///
/// Options: `virtual_time` (the loop's clock jumps over idle waits, so timing logic can be
/// tested without waiting, see [`Builder::virtual_time`]) and `debug` (see
/// [`Builder::debug`]; without it the `SIMUL_DEBUG` environment variable decides), also
/// spelled `virtual_time = true` / `debug = false`. Other attributes (`#[should_panic]`,
/// `#[ignore]`) and a `Result` return type work as with `#[test]`.
///
/// # Examples
/// ```
/// use std::time::Duration;
///
/// #[simul::test]
/// async fn spawned_task_returns_its_value() {
///     let t = simul::spawn(async { 6 * 7 });
///     assert_eq!(t.await.unwrap(), 42);
/// }
///
/// #[simul::test(virtual_time)]
/// async fn a_minute_passes_at_once() {
///     let start = simul::time();
///     simul::sleep(Duration::from_secs(60)).await;
///     assert_eq!(simul::time() - start, Duration::from_secs(60));
/// }
/// ```
///
/// Unknown options and non-`async` functions are compile errors:
/// ```compile_fail
/// #[simul::test(virtual_tme)] // error: unknown option `virtual_tme`
/// async fn typo() {}
/// ```
/// ```compile_fail
/// #[simul::test]
/// fn not_async() {} // error: #[simul::test] requires an `async fn`
/// ```
pub use simul_macros::test;

#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
