//! Observing a child's exit without blocking and without a thread per child.
//!
//! * **pidfd** (Linux ≥ 5.3): `pidfd_open(pid)` gives a close-on-exec descriptor that
//!   becomes readable when the child exits. It is registered with the loop's reactor; when
//!   it fires, `waitpid(pid, WNOHANG)` (through std's `Child::try_wait`) reaps the child.
//!   The pid cannot be reused before that, because an unreaped child stays a zombie.
//! * **SIGCHLD** fallback (no pidfd, or `SIMUL_PROCESS_NO_PIDFD=1` in the environment): each
//!   waiting child holds a [`Signals`] listener for SIGCHLD, subscribed *before* the child
//!   is spawned so no delivery can be missed, and re-checks itself with `WNOHANG` after
//!   every delivery (SIGCHLD coalesces, so every waiter re-checks on every delivery).
//!
//! # No zombies
//!
//! A [`Child`](super::Child) dropped while its process still runs (after `kill` when
//! `kill_on_drop` is set) hands the process to a detached reaper task on the running loop,
//! which reaps it when it exits. Without a loop, or if that task is cancelled because the
//! loop closes, the process goes to a process-wide orphan list served by the **orphan
//! reaper**, a thread that outlives every loop: it waits on the orphans' pidfds (or, in
//! SIGCHLD mode, wakes every [`ORPHAN_POLL`]) and reaps each as it exits, then ends once
//! the list is empty, so a program without orphans has no such thread. The list is also
//! swept with `WNOHANG` whenever a child is spawned or dropped.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::ExitStatus;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Mutex;
use std::task::{Context, Poll};

use mio::unix::SourceFd;
use mio::Interest;

use crate::io::driver::{Direction, Registration};
use crate::signal::{signal, SignalKind, Signals};

/// How exits are observed in this process: 0 = not probed yet, 1 = pidfd, 2 = SIGCHLD.
static MODE: AtomicU8 = AtomicU8::new(0);

fn use_pidfd() -> bool {
    match MODE.load(Ordering::Relaxed) {
        1 => true,
        2 => false,
        _ => {
            let forced_off = std::env::var_os("SIMUL_PROCESS_NO_PIDFD").is_some_and(|v| v == "1");
            // Probe with our own pid: ENOSYS means the kernel has no pidfd_open.
            let ok = !forced_off
                && match sys::pidfd_open(std::process::id()) {
                    Ok(_) => true,
                    Err(e) => e.raw_os_error() != Some(libc::ENOSYS),
                };
            MODE.store(if ok { 1 } else { 2 }, Ordering::Relaxed);
            ok
        }
    }
}

/// Whether exits are observed through pidfds (for tests and diagnostics).
pub(crate) fn uses_pidfd() -> bool {
    use_pidfd()
}

/// Prepared before spawning (the SIGCHLD listener must exist before the child does).
pub(super) enum PreWatch {
    Pidfd,
    Sigchld(Signals),
}

impl PreWatch {
    pub(super) fn new() -> io::Result<PreWatch> {
        if use_pidfd() {
            Ok(PreWatch::Pidfd)
        } else {
            Ok(PreWatch::Sigchld(signal(SignalKind::child())?))
        }
    }

    /// Completes the watch once the child exists.
    pub(super) fn attach(self, pid: u32) -> io::Result<Watch> {
        match self {
            PreWatch::Sigchld(s) => Ok(Watch::Sigchld(s)),
            PreWatch::Pidfd => {
                let fd = sys::pidfd_open(pid)?;
                let raw = fd.as_raw_fd();
                let reg = Registration::new(&mut SourceFd(&raw), Interest::READABLE)?;
                Ok(Watch::Pidfd { fd, reg })
            }
        }
    }
}

/// What a child's exit is awaited with.
pub(super) enum Watch {
    Pidfd { fd: OwnedFd, reg: Registration },
    Sigchld(Signals),
}

impl Watch {
    /// Waits until `child` has exited and reaps it.
    pub(super) fn poll_exit(
        &mut self,
        cx: &mut Context<'_>,
        child: &mut std::process::Child,
    ) -> Poll<io::Result<ExitStatus>> {
        match self {
            Watch::Pidfd { reg, .. } => loop {
                let ev = match reg.poll_ready(cx, Direction::Read) {
                    Poll::Ready(Ok(ev)) => ev,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => return Poll::Pending,
                };
                match child.try_wait() {
                    Ok(Some(st)) => return Poll::Ready(Ok(st)),
                    Ok(None) => reg.clear_readiness(ev, Direction::Read),
                    Err(e) => return Poll::Ready(Err(e)),
                }
            },
            Watch::Sigchld(sigs) => loop {
                match child.try_wait() {
                    Ok(Some(st)) => return Poll::Ready(Ok(st)),
                    Ok(None) => {}
                    Err(e) => return Poll::Ready(Err(e)),
                }
                match sigs.poll_recv(cx) {
                    Poll::Ready(Some(())) => continue,
                    Poll::Ready(None) => {
                        return Poll::Ready(Err(io::Error::other(
                            "simul::process: the loop cannot watch SIGCHLD",
                        )))
                    }
                    Poll::Pending => return Poll::Pending,
                }
            },
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Watch::Pidfd { fd, reg } = self {
            // Deregister before the fd closes (explicit, so no stale epoll entry is left).
            let raw = fd.as_raw_fd();
            let _ = reg.deregister(&mut SourceFd(&raw));
        }
    }
}

/// How often the orphan reaper re-checks its list when it cannot wait on pidfds (and the
/// longest it waits before it notices a newly added orphan).
const ORPHAN_POLL: std::time::Duration = std::time::Duration::from_millis(50);

/// A process whose `Child` is gone and that was still running, with its pidfd if any.
struct Orphan {
    child: std::process::Child,
    pidfd: Option<OwnedFd>,
}

struct Orphans {
    list: Vec<Orphan>,
    /// Whether the reaper thread is running (it clears this as it ends).
    reaper: bool,
}

/// The orphan list (see the module doc).
static ORPHANS: Mutex<Orphans> = Mutex::new(Orphans {
    list: Vec::new(),
    reaper: false,
});

fn orphans() -> std::sync::MutexGuard<'static, Orphans> {
    ORPHANS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Reaps the orphans that have exited.
pub(super) fn sweep_orphans() {
    let mut o = orphans();
    if o.list.is_empty() {
        return;
    }
    o.list
        .retain_mut(|c| matches!(c.child.try_wait(), Ok(None)));
}

/// Puts `child` on the orphan list and makes sure the reaper thread serves it.
fn orphan(child: std::process::Child) {
    let pidfd = if use_pidfd() {
        sys::pidfd_open(child.id()).ok()
    } else {
        None
    };
    let mut o = orphans();
    o.list.push(Orphan { child, pidfd });
    if o.reaper {
        return;
    }
    let started = std::thread::Builder::new()
        .name("simul-reaper".into())
        .spawn(reap_orphans);
    // If no thread can be made, the list is still swept at every spawn and drop.
    o.reaper = started.is_ok();
}

/// The orphan reaper thread's body: reap exits until no orphan is left.
fn reap_orphans() {
    let mut fds: Vec<libc::pollfd> = Vec::new();
    loop {
        {
            let mut o = orphans();
            o.list
                .retain_mut(|c| matches!(c.child.try_wait(), Ok(None)));
            if o.list.is_empty() {
                o.reaper = false;
                return;
            }
            fds.clear();
            for c in &o.list {
                if let Some(fd) = &c.pidfd {
                    fds.push(libc::pollfd {
                        fd: fd.as_raw_fd(),
                        events: libc::POLLIN,
                        revents: 0,
                    });
                }
            }
        }
        // The pidfds stay open while we wait: only this thread removes orphans, and it
        // does so under the lock above, not now.
        sys::poll(&mut fds, ORPHAN_POLL);
    }
}

/// Takes over a still-running process whose `Child` was dropped.
pub(super) fn adopt(mut child: std::process::Child, watch: Option<Watch>) {
    sweep_orphans();
    if let Ok(Some(_)) | Err(_) = child.try_wait() {
        return;
    }
    let in_loop = crate::runtime::try_with_core(|_| ()).is_some();
    match watch {
        Some(watch) if in_loop => {
            let mut reaper = Reaper {
                child: Some(child),
                watch,
            };
            let t = crate::spawn(std::future::poll_fn(move |cx| reaper.poll(cx)));
            drop(t); // detached
        }
        _ => orphan(child),
    }
}

/// Reaps one process on the loop; hands it to the orphan list if cancelled first.
struct Reaper {
    child: Option<std::process::Child>,
    watch: Watch,
}

impl Reaper {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(child) = self.child.as_mut() else {
            return Poll::Ready(());
        };
        match self.watch.poll_exit(cx, child) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(_) => {
                self.child = None;
                Poll::Ready(())
            }
        }
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        if let Some(c) = self.child.take() {
            orphan(c);
        }
    }
}

/// The module's only unsafe code.
mod sys {
    use super::*;

    /// `pidfd_open(pid, 0)`: a close-on-exec descriptor for the process.
    pub(super) fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
        let pid = libc::pid_t::try_from(pid)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "pid out of range"))?;
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1; it
        // touches no memory of ours.
        let rc = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = i32::try_from(rc).map_err(|_| io::Error::other("pidfd out of range"))?;
        // SAFETY: the kernel just returned this descriptor to us; nobody else owns it.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    /// `poll(2)` on `fds` for at most `timeout` (just a sleep when `fds` is empty); the
    /// outcome does not matter to the caller, which re-checks its processes either way.
    pub(super) fn poll(fds: &mut [libc::pollfd], timeout: std::time::Duration) {
        let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: `fds` is a valid, writable array of `fds.len()` pollfd structures for the
        // duration of the call.
        let _ = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    }
}
