//! Exception reporting: what the loop tells its exception handler (asyncio's
//! `call_exception_handler` context) — unretrieved task panics, panicking callbacks,
//! debug-mode warnings — and the default of printing to stderr.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;

use super::context::try_with_core;
use super::Core;
use crate::task::raw::TaskRef;

pub(super) type ExceptionHandler = Rc<dyn Fn(&ExceptionContext)>;

/// What an exception handler is told (asyncio's `call_exception_handler` context).
///
/// # Examples
/// ```
/// use std::{cell::RefCell, rc::Rc};
/// let seen = Rc::new(RefCell::new(Vec::new()));
/// let lp = simul::EventLoop::new().unwrap();
/// let s = seen.clone();
/// lp.set_exception_handler(move |ctx| s.borrow_mut().push(ctx.message().to_string()));
/// lp.run_until_complete(async {
///     drop(simul::spawn(async { panic!("lost") }));
///     simul::yield_now().await;
/// });
/// assert!(seen.borrow()[0].contains("never retrieved"));
/// ```
#[derive(Clone, Debug)]
pub struct ExceptionContext {
    kind: ExceptionKind,
    message: String,
    task: Option<String>,
}

/// What kind of problem an [`ExceptionContext`] reports.
///
/// # Examples
/// ```
/// assert_ne!(simul::ExceptionKind::CallbackPanicked, simul::ExceptionKind::SlowPoll);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExceptionKind {
    /// A task panicked and nobody retrieved the panic.
    UnretrievedPanic,
    /// A `call_soon`/`call_later` callback panicked.
    CallbackPanicked,
    /// A poll took longer than the slow-poll threshold (debug mode).
    SlowPoll,
    /// A resource was dropped while still open (debug mode).
    ResourceWarning,
    /// The stall watchdog saw one poll hold the loop longer than its threshold.
    Stall,
    /// A server's connection handler returned an error (its connection is closed).
    HandlerFailed,
    /// A task was spawned while its loop was closing: it never runs, its future is
    /// dropped and its handle resolves as cancelled (reported in debug mode; asyncio's
    /// "Task was destroyed but it is pending").
    SpawnRefused,
}

impl ExceptionContext {
    pub(crate) fn new(kind: ExceptionKind, message: String, task: Option<String>) -> Self {
        ExceptionContext {
            kind,
            message,
            task,
        }
    }
    /// The report's kind.
    ///
    /// # Examples
    /// ```
    /// # let c = simul::ExceptionContext::example();
    /// let _ = c.kind();
    /// ```
    pub fn kind(&self) -> ExceptionKind {
        self.kind
    }
    /// The human-readable message.
    ///
    /// # Examples
    /// ```
    /// # let c = simul::ExceptionContext::example();
    /// assert!(!c.message().is_empty());
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }
    /// The task involved, if any (its name).
    ///
    /// # Examples
    /// ```
    /// # let c = simul::ExceptionContext::example();
    /// assert_eq!(c.task(), Some("Task-1"));
    /// ```
    pub fn task(&self) -> Option<&str> {
        self.task.as_deref()
    }
    #[doc(hidden)]
    pub fn example() -> Self {
        ExceptionContext::new(
            ExceptionKind::UnretrievedPanic,
            "example".into(),
            Some("Task-1".into()),
        )
    }
}

impl fmt::Display for ExceptionContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Reports that already name their task (slow polls, stalls: `task "Task-3"
        // (spawned at ..)`) are shown as they are, so the name is not said twice.
        match &self.task {
            Some(t) if !self.message.contains(&format!("{t:?}")) => {
                write!(f, "{} (task {t:?})", self.message)
            }
            _ => f.write_str(&self.message),
        }
    }
}

/// Reports an unretrieved task panic to the current loop (or stderr without one).
pub(crate) fn report_unretrieved(task: &TaskRef, msg: &str) {
    let local = task.local();
    if local.panic_retrieved.get() {
        return; // someone else (a TaskGroup) took charge of the panic
    }
    let name = crate::task::task_name(local);
    let loc = local.location;
    let ctx = ExceptionContext::new(
        ExceptionKind::UnretrievedPanic,
        format!(
            "Task exception was never retrieved: task spawned at {}:{} panicked: {msg}",
            loc.file(),
            loc.line()
        ),
        Some(name),
    );
    match try_with_core(|core| core.call_exception_handler(&ctx)) {
        Some(()) => {}
        None => eprintln!("simul: {ctx}"),
    }
}

impl Core {
    pub(crate) fn call_exception_handler(&self, ctx: &ExceptionContext) {
        let h = self.exception_handler.borrow().clone();
        match h {
            Some(h) => {
                if catch_unwind(AssertUnwindSafe(|| h(ctx))).is_err() {
                    eprintln!("simul: the exception handler panicked while handling: {ctx}");
                }
            }
            None => eprintln!("simul: {ctx}"),
        }
    }
}

/// Reports a task panic that `gather` returned and nobody read (see `PanicPayload`).
pub(crate) fn report_unread_gathered_panic(who: &str) {
    let ctx = ExceptionContext::new(
        ExceptionKind::UnretrievedPanic,
        format!(
            "Task exception was never retrieved: {who}; gather() returned it as \
             Err(TaskError::Panicked) and the result was dropped unread (asyncio's gather \
             would have raised it: use try_gather to stop at the first failure, or read \
             the results)"
        ),
        None,
    );
    match try_with_core(|core| core.call_exception_handler(&ctx)) {
        Some(()) => {}
        None => eprintln!("simul: {ctx}"),
    }
}
