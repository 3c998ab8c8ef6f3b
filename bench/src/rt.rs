//! The three runtimes behind one small trait, so a workload is written once.
//!
//! Every runtime is used the way its own documentation recommends for one thread:
//! simul's [`simul::run`], tokio's `current_thread` runtime (with its `spawn`, which needs
//! `Send` futures, so every workload is `Send`), and smol's `LocalExecutor` driven by
//! `async_io::block_on` (the reactor parks the thread when the executor is idle). Each
//! `block_on` builds a fresh runtime, so no run inherits another's warm caches.

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

/// Which runtime a row column belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rt {
    Simul,
    Tokio,
    Smol,
}

impl Rt {
    pub const ALL: [Rt; 3] = [Rt::Simul, Rt::Tokio, Rt::Smol];

    pub fn name(self) -> &'static str {
        match self {
            Rt::Simul => "simul",
            Rt::Tokio => "tokio",
            Rt::Smol => "smol",
        }
    }

    pub fn from_name(s: &str) -> Option<Rt> {
        Rt::ALL.into_iter().find(|r| r.name() == s)
    }
}

/// What a workload needs from a runtime.
pub trait Runtime: 'static {
    /// Runs `f` to completion on a fresh runtime on this thread.
    fn block_on<F: Future>(f: F) -> F::Output;
    /// Spawns a task; the returned future yields its output (panics if the task failed).
    fn spawn<F>(f: F) -> impl Future<Output = F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static;
    /// Spawns a task nobody awaits.
    fn spawn_detach<F>(f: F)
    where
        F: Future<Output = ()> + Send + 'static;
    fn sleep(d: Duration) -> impl Future<Output = ()> + Send + 'static;
    fn yield_now() -> impl Future<Output = ()> + Send + 'static;
}

pub struct Simul;

impl Runtime for Simul {
    fn block_on<F: Future>(f: F) -> F::Output {
        simul::run(f)
    }
    fn spawn<F>(f: F) -> impl Future<Output = F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let task = simul::spawn(f);
        async move { task.await.expect("simul task failed") }
    }
    fn spawn_detach<F>(f: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(simul::spawn(f)); // dropping a simul Task detaches it
    }
    fn sleep(d: Duration) -> impl Future<Output = ()> + Send + 'static {
        simul::sleep(d)
    }
    fn yield_now() -> impl Future<Output = ()> + Send + 'static {
        simul::yield_now()
    }
}

pub struct Tokio;

impl Runtime for Tokio {
    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime")
            .block_on(f)
    }
    fn spawn<F>(f: F) -> impl Future<Output = F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let handle = tokio::spawn(f);
        async move { handle.await.expect("tokio task failed") }
    }
    fn spawn_detach<F>(f: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(tokio::spawn(f)); // dropping a JoinHandle detaches the task
    }
    fn sleep(d: Duration) -> impl Future<Output = ()> + Send + 'static {
        tokio::time::sleep(d)
    }
    fn yield_now() -> impl Future<Output = ()> + Send + 'static {
        tokio::task::yield_now()
    }
}

pub struct Smol;

thread_local! {
    /// The executor `Smol::block_on` is running, for `spawn` from inside tasks.
    static SMOL_EX: RefCell<Option<Rc<smol::LocalExecutor<'static>>>> = const { RefCell::new(None) };
}

fn smol_spawn<T: 'static>(f: impl Future<Output = T> + 'static) -> smol::Task<T> {
    SMOL_EX.with_borrow(|ex| {
        ex.as_ref()
            .expect("Smol::spawn outside Smol::block_on")
            .spawn(f)
    })
}

impl Runtime for Smol {
    fn block_on<F: Future>(f: F) -> F::Output {
        let ex = Rc::new(smol::LocalExecutor::new());
        let prev = SMOL_EX.replace(Some(ex.clone()));
        let out = smol::block_on(ex.run(f));
        SMOL_EX.set(prev);
        out
    }
    fn spawn<F>(f: F) -> impl Future<Output = F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        smol_spawn(f) // a smol Task yields the output itself
    }
    fn spawn_detach<F>(f: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        smol_spawn(f).detach(); // dropping a smol Task would cancel it
    }
    fn sleep(d: Duration) -> impl Future<Output = ()> + Send + 'static {
        let timer = smol::Timer::after(d);
        async move {
            timer.await;
        }
    }
    fn yield_now() -> impl Future<Output = ()> + Send + 'static {
        smol::future::yield_now()
    }
}

/// Runs `body::<R>()` on the runtime `rt`.
pub fn on<T>(rt: Rt, body: impl Generic<T>) -> T {
    match rt {
        Rt::Simul => Simul::block_on(body.make::<Simul>()),
        Rt::Tokio => Tokio::block_on(body.make::<Tokio>()),
        Rt::Smol => Smol::block_on(body.make::<Smol>()),
    }
}

/// A future generic over the runtime (a closure cannot be generic, so a workload passes
/// a small value implementing this).
pub trait Generic<T> {
    fn make<R: Runtime>(self) -> impl Future<Output = T>;
}
