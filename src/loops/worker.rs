//! One loop's thread: builds the loop there (an [`EventLoop`] is `!Send`), announces its
//! [`LoopHandle`], runs until the set shuts down, then closes the loop on its own thread —
//! so every `!Send` future is dropped where it lived and its destructors run there.

use std::cell::RefCell;
use std::io;
use std::sync::{mpsc, Arc};

use super::{sys, Set};
use crate::sync::oneshot;
use crate::{Builder, EventLoop, LoopHandle};

thread_local! {
    /// The set this thread's loop belongs to, and its index in it.
    static CURRENT: RefCell<Option<(Arc<Set>, usize)>> = const { RefCell::new(None) };
}

/// The set and index of the loop running on this thread, if it is one of a [`Loops`](super::Loops).
pub(crate) fn current() -> Option<(Arc<Set>, usize)> {
    CURRENT.with(|c| c.borrow().clone())
}

/// This thread's index in `set`, if its loop is one of `set`'s.
pub(crate) fn index_in(set: &Set) -> Option<usize> {
    CURRENT.with(|c| match &*c.borrow() {
        Some((s, i)) if std::ptr::eq(Arc::as_ptr(s), set) => Some(*i),
        _ => None,
    })
}

/// Called on the loop thread once the set exists.
pub(crate) fn enter(set: Arc<Set>, index: usize) {
    CURRENT.with(|c| *c.borrow_mut() = Some((set, index)));
}

/// What a worker announces when its loop is up.
pub(crate) type Started = io::Result<LoopHandle>;

/// The thread body of loop `index`.
pub(crate) fn main(
    index: usize,
    builder: Builder,
    cpu: Option<usize>,
    started: mpsc::Sender<Started>,
    shutdown: oneshot::Receiver<()>,
) {
    if let Some(cpu) = cpu {
        if let Err(e) = sys::pin_to_cpu(cpu) {
            let _ = started.send(Err(io::Error::new(
                e.kind(),
                format!("simul::Loops: cannot pin loop {index} to CPU {cpu}: {e}"),
            )));
            return;
        }
    }
    let lp = match builder
        .loop_name(format!("loop {index}"))
        .spin_before_park(true)
        .build()
    {
        Ok(lp) => lp,
        Err(e) => {
            let _ = started.send(Err(e));
            return;
        }
    };
    if started.send(Ok(lp.handle())).is_err() {
        return; // the builder gave up (another loop failed to start)
    }
    drop(started);
    run_until_shutdown(&lp, shutdown);
    // Cancel what is left while this thread's loop is still current (destructors may use
    // it), then forget the set: its handles must not outlive the loops.
    lp.close();
    CURRENT.with(|c| c.borrow_mut().take());
}

fn run_until_shutdown(lp: &EventLoop, shutdown: oneshot::Receiver<()>) {
    // Either a send or the sender's drop ends the wait: both mean "shut down".
    let _ = lp.run_until_complete(shutdown);
}
