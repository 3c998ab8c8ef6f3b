//! `add_reader` / `add_writer`: asyncio's level-triggered descriptor callbacks on simul's
//! edge-triggered selector.
//!
//! Each watched descriptor has one [`simul::net::AsyncFd`] (registered for both
//! directions: epoll takes a descriptor once) and one simul task that runs its reader and
//! writer callbacks. In each iteration where a direction is ready the task runs that
//! direction's callback once, then asks the kernel (`poll(2)`, zero timeout) whether the
//! direction is still ready: if so it runs again next iteration, as a level-triggered
//! selector would; if not it clears all of the readiness, an error or hang-up state
//! included (`poll(2)` reports those whatever it is asked; a newer edge is never lost, see
//! `AsyncFd`), and waits for the next event.
//!
//! Removing the last callback of a descriptor deregisters it at once (so the descriptor
//! may be closed, or watched again, right away) and cancels its task.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use pyo3::prelude::*;
use pyo3::types::{PyTuple, PyWeakrefMethods, PyWeakrefReference};

use crate::core::{Engine, FdWatch, Flags, LoopCore};
use crate::handle::{self, Call, Handle};
use crate::sys;

/// One watched descriptor (see the module doc).
pub(crate) struct FdEntry {
    fd: RefCell<Option<simul::net::AsyncFd>>,
    raw: RawFd,
    reader: RefCell<Option<Py<Handle>>>,
    writer: RefCell<Option<Py<Handle>>>,
    /// The watcher task's waker, to make it poll a direction added later.
    waker: RefCell<Option<Waker>>,
    /// Set by `_watch_drained` while a callback runs (to its direction, `write`): it saw
    /// `EAGAIN`, so no `poll(2)`
    /// needs to say the direction is no longer ready.
    drained: Cell<Option<bool>>,
    flags: Arc<Flags>,
}

impl FdEntry {
    fn slot(&self, write: bool) -> &RefCell<Option<Py<Handle>>> {
        if write {
            &self.writer
        } else {
            &self.reader
        }
    }

    pub(crate) fn has(&self, write: bool) -> bool {
        self.slot(write)
            .borrow()
            .as_ref()
            .is_some_and(|h| !h.get().is_cancelled())
    }

    /// Deregisters the descriptor and drops both callbacks.
    pub(crate) fn release(&self) {
        drop(self.take_fd());
        self.drop_callbacks();
    }

    /// The registration, taken out: the watcher task ends at its next poll.
    fn take_fd(&self) -> Option<simul::net::AsyncFd> {
        self.fd.borrow_mut().take()
    }

    fn drop_callbacks(&self) {
        drop(self.reader.borrow_mut().take());
        drop(self.writer.borrow_mut().take());
        drop(self.waker.borrow_mut().take());
    }

    fn poll(&self, cx: &mut Context<'_>) -> Poll<()> {
        {
            let mut w = self.waker.borrow_mut();
            match w.as_ref() {
                Some(old) if old.will_wake(cx.waker()) => {}
                _ => *w = Some(cx.waker().clone()),
            }
        }
        crate::sys::in_loop_callback(|py| {
            let mut again = false;
            for write in [false, true] {
                let h = self.slot(write).borrow().as_ref().map(|h| h.clone_ref(py));
                let Some(h) = h else { continue };
                if h.get().is_cancelled() {
                    continue;
                }
                let ready = {
                    let fd = self.fd.borrow();
                    let Some(fd) = fd.as_ref() else {
                        return Poll::Ready(());
                    };
                    if write {
                        fd.poll_write_ready(cx)
                    } else {
                        fd.poll_read_ready(cx)
                    }
                };
                let Poll::Ready(Ok(r)) = ready else { continue };
                self.drained.set(None);
                handle::run_py(py, h.bind(py), &self.flags);
                // The callback may have removed this watcher or closed the descriptor.
                let fd = self.fd.borrow();
                if let Some(fd) = fd.as_ref() {
                    // Not ready, not in error, not hung up (poll(2) reports those two
                    // whatever it is asked): forget all of `r`, the error state included,
                    // or a socket whose ICMP error was read would run its callback forever.
                    // A callback that saw EAGAIN said so (`_watch_drained`): no probe.
                    if self.drained.replace(None) == Some(write) || !sys::ready_now(self.raw, write)
                    {
                        if write {
                            fd.clear_write_blocked(r);
                        } else {
                            fd.clear_read_blocked(r);
                        }
                    }
                    again = true; // run again if still ready, or re-poll to register
                }
            }
            if self.fd.borrow().is_none() {
                return Poll::Ready(());
            }
            if again {
                cx.waker().wake_by_ref();
            }
            Poll::Pending
        })
    }
}

impl LoopCore {
    pub(crate) fn add_watch(
        &self,
        py: Python<'_>,
        fd: RawFd,
        callback: Bound<'_, PyAny>,
        args: Bound<'_, PyTuple>,
        write: bool,
    ) -> PyResult<Py<Handle>> {
        let engine = self.engine(py)?;
        let handle = Py::new(
            py,
            Handle::new(Call {
                callback: callback.unbind(),
                args: crate::handle::Args::Tuple(args.unbind()),
                context: py.None(),
            }),
        )?;
        let mut fds = engine.fds.borrow_mut();
        if let Some(w) = fds.get(&fd) {
            let old = w.entry.slot(write).replace(Some(handle.clone_ref(py)));
            if let Some(old) = old {
                old.get().cancel_quietly();
            }
            // Wake the task so it polls the new direction.
            w.task_waker();
            return Ok(handle);
        }
        discard_spare(py, &engine, fd);
        let flags = self.flags.clone();
        let entry = engine.with_loop(|lp| -> PyResult<Rc<FdEntry>> {
            let afd = simul::net::AsyncFd::with_loop(lp, fd).map_err(PyErr::from)?;
            Ok(Rc::new(FdEntry {
                fd: RefCell::new(Some(afd)),
                raw: fd,
                reader: RefCell::new(None),
                writer: RefCell::new(None),
                waker: RefCell::new(None),
                drained: Cell::new(None),
                flags,
            }))
        })??;
        entry.slot(write).replace(Some(handle.clone_ref(py)));
        let e = entry.clone();
        let task =
            engine.with_loop(|lp| lp.spawn(async move { poll_fn(|cx| e.poll(cx)).await }))?;
        fds.insert(fd, FdWatch { entry, task });
        Ok(handle)
    }

    pub(crate) fn remove_watch(&self, py: Python<'_>, fd: RawFd, write: bool) -> PyResult<bool> {
        let engine = self.engine(py)?;
        let mut fds = engine.fds.borrow_mut();
        let Some(w) = fds.get(&fd) else {
            return Ok(false);
        };
        let old = w.entry.slot(write).borrow_mut().take();
        let had = match old {
            Some(h) => {
                let live = !h.get().is_cancelled();
                h.get().cancel_quietly();
                live
            }
            None => false,
        };
        if w.entry.slot(!write).borrow().is_none() {
            if let Some(w) = fds.remove(&fd) {
                w.entry.release();
                w.task.cancel();
            }
        }
        Ok(had)
    }
}

/// A registration kept after the connect watch of `sock` ended (`_hand_over_writer`), for
/// the transport about to take the socket over: it is handed on instead of deregistered
/// and registered again (two `epoll_ctl` calls saved). At most one per loop; any other
/// registration of the same descriptor number through this extension discards it first.
pub(crate) struct Spare {
    fd: RawFd,
    /// The socket, weakly: a spare must not keep a dropped socket open.
    sock: Py<PyWeakrefReference>,
    afd: simul::net::AsyncFd,
}

impl Spare {
    /// Whether `sock` is the socket this spare was kept for, still open on `fd`.
    fn is_for(&self, py: Python<'_>, sock: &Bound<'_, PyAny>) -> bool {
        self.sock.bind(py).upgrade().is_some_and(|s| s.is(sock)) && self.still_open(py)
    }

    fn still_open(&self, py: Python<'_>) -> bool {
        let Some(s) = self.sock.bind(py).upgrade() else {
            return false;
        };
        s.call_method0(pyo3::intern!(py, "fileno"))
            .and_then(|f| f.extract::<RawFd>())
            .is_ok_and(|f| f == self.fd)
    }

    /// Ends the registration: deregisters it while the socket is open on `fd`; once the
    /// socket was closed, the number may name another descriptor, whose registration a
    /// deregistration by number would end, so it is only forgotten.
    fn discard(self, py: Python<'_>) {
        if self.still_open(py) {
            drop(self.afd);
        } else {
            self.afd.forget_closed();
        }
    }
}

/// Drops the loop's spare registration if it is for descriptor number `fd` (see
/// [`Spare`]); before any new registration of `fd`.
pub(crate) fn discard_spare(py: Python<'_>, engine: &Engine, fd: RawFd) {
    let spare = engine.spare.borrow_mut().take_if(|s| s.fd == fd);
    if let Some(s) = spare {
        s.discard(py);
    }
}

/// Drops the loop's spare registration, whatever its descriptor (at `close()`).
pub(crate) fn discard_any_spare(py: Python<'_>, engine: &Engine) {
    let spare = engine.spare.borrow_mut().take();
    if let Some(s) = spare {
        s.discard(py);
    }
}

/// Watches the socket `sock` (descriptor `fd`) of a transport made on `loop_`: with the
/// registration its connect watch left (see [`Spare`]) when there is one, else a new one.
pub(crate) fn register_transport(
    py: Python<'_>,
    loop_: &Bound<'_, PyAny>,
    fd: RawFd,
    sock: Option<&Bound<'_, PyAny>>,
) -> PyResult<simul::net::AsyncFd> {
    if let Ok(core) = loop_.cast::<LoopCore>() {
        if let Ok(engine) = core.get().engine(py) {
            let spare = engine.spare.borrow_mut().take_if(|s| s.fd == fd);
            if let Some(s) = spare {
                if sock.is_some_and(|k| s.is_for(py, k)) {
                    return Ok(s.afd);
                }
                s.discard(py);
            }
        }
    }
    simul::net::AsyncFd::new(fd).map_err(PyErr::from)
}

impl LoopCore {
    /// Ends the writer watch of `fd` (the connect watch of `sock`, whose connect is done);
    /// when no reader watches `fd` either, its registration is kept as the loop's spare for
    /// the transport that takes `sock` over (see [`Spare`]) rather than deregistered.
    pub(crate) fn hand_over_writer(
        &self,
        py: Python<'_>,
        fd: RawFd,
        sock: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let engine = self.engine(py)?;
        let mut fds = engine.fds.borrow_mut();
        let Some(w) = fds.get(&fd) else {
            return Ok(());
        };
        if let Some(h) = w.entry.writer.borrow_mut().take() {
            h.get().cancel_quietly();
        }
        if w.entry.reader.borrow().is_some() {
            return Ok(()); // the reader's watch goes on
        }
        let Some(w) = fds.remove(&fd) else {
            return Ok(());
        };
        drop(fds);
        let afd = w.entry.take_fd();
        w.entry.drop_callbacks();
        w.task.cancel();
        let Some(afd) = afd else { return Ok(()) };
        let spare = Spare {
            fd,
            sock: PyWeakrefReference::new(sock)?.unbind(),
            afd,
        };
        let old = engine.spare.borrow_mut().replace(spare);
        if let Some(old) = old {
            old.discard(py);
        }
        Ok(())
    }

    /// See `_watch_drained`: a watch of `fd` in direction `write` not being watched is
    /// no error (the callback may have removed it).
    pub(crate) fn mark_drained(&self, py: Python<'_>, fd: RawFd, write: bool) -> PyResult<()> {
        let engine = self.engine(py)?;
        let fds = engine.fds.borrow();
        if let Some(w) = fds.get(&fd) {
            if w.entry.has(write) {
                w.entry.drained.set(Some(write));
            }
        }
        Ok(())
    }
}

impl FdWatch {
    /// Makes the watcher task poll again (after a direction was added).
    fn task_waker(&self) {
        if let Some(w) = self.entry.waker.borrow().as_ref() {
            w.wake_by_ref();
        }
    }
}
