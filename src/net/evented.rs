//! [`Evented`]: a socket (a `std` type in non-blocking mode) registered with the current loop's selector, and the read and
//! write paths every socket type shares.
//!
//! # Readiness discipline
//!
//! Sources are registered edge-triggered. An operation first asks the [`Registration`]
//! whether its direction is ready (registering the task's waker if not), then runs the
//! syscall:
//! - `WouldBlock` clears the readiness it observed (unless a newer event arrived meanwhile)
//!   and waits again;
//! - on a stream, a read that returns less than the buffer means the socket is drained and
//!   a write that takes less than offered means the send buffer is full: the plain
//!   readiness bit is cleared at once (a hang-up seen with it stays), so the next call
//!   waits instead of paying a syscall just to be told `EAGAIN`;
//! - operations on sockets shared through `&self` (datagrams, accepts, peeks) wait through
//!   a [`Waiter`] of their own, so several tasks can wait at once and each is woken; the
//!   `poll_*` methods wait anonymously (one entry per task; see [`crate::io::driver`]);
//! - every completed operation spends one unit of the task's cooperative budget;
//! - an accepted connection starts out assumed readable and writable
//!   ([`Evented::new_accepted`]): its first operation tries the socket, and a wrong guess
//!   is one `WouldBlock` that clears it as above.
//!
//! # Ownership
//!
//! Dropping an `Evented` deregisters the source and then closes it: no descriptor outlives
//! its owner and no event for it is dispatched afterwards (a late one is recognised by its
//! token's generation and dropped by the driver).

use std::io;
use std::os::fd::AsRawFd;
use std::task::{Context, Poll};

use crate::io::driver::Interest;

use crate::io::driver::{
    Direction, ReadyEvent, Registration, Waiter, ERROR, WRITABLE, WRITE_CLOSED,
};
use crate::io::fault::{self, Fault};

/// How an operation's success bears on readiness.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Byte stream: a short transfer means drained (read) or full (write).
    Stream,
    /// Datagrams, accepts, connects: only `WouldBlock` says anything about readiness.
    Message,
}

/// A socket registered with the loop by its descriptor; see the module doc.
pub(crate) struct Evented<S: AsRawFd> {
    source: Option<S>,
    reg: Registration,
}

impl<S: AsRawFd> Evented<S> {
    /// Registers `source` with the current loop (panics outside a loop with a clear message).
    pub(crate) fn new(source: S, interest: Interest) -> io::Result<Evented<S>> {
        let reg = Registration::new(source.as_raw_fd(), interest)?;
        Ok(Evented {
            source: Some(source),
            reg,
        })
    }

    /// Registers `source`, a connection just accepted, for reading and writing, assumed
    /// ready both ways (see [`Registration::assume_ready`]): its first read takes the bytes
    /// the peer already sent without waiting for the selector's first event.
    pub(crate) fn new_accepted(source: S) -> io::Result<Evented<S>> {
        let e = Evented::new(source, Interest::READABLE | Interest::WRITABLE)?;
        e.reg.assume_ready(Interest::READABLE | Interest::WRITABLE);
        Ok(e)
    }

    /// Deregisters the source from the loop and hands it back (to move it to another loop
    /// or thread).
    pub(crate) fn into_inner(mut self) -> io::Result<S> {
        let source = self.source.take().expect("source present until drop");
        self.reg.deregister(source.as_raw_fd())?;
        Ok(source)
    }

    /// The source (present until drop).
    #[inline]
    pub(crate) fn get(&self) -> &S {
        self.source.as_ref().expect("source present until drop")
    }

    /// Waits until `dir` is ready; the returned event is what a `WouldBlock` must clear.
    #[inline]
    pub(crate) fn poll_ready(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
    ) -> Poll<io::Result<ReadyEvent>> {
        self.reg.poll_ready(cx, dir)
    }

    /// Readiness of `dir` as last reported, without registering a waker.
    #[inline]
    pub(crate) fn readiness(&self, dir: Direction) -> Option<ReadyEvent> {
        self.reg.readiness(dir)
    }

    /// Forgets readiness `ev` for `dir` (after `WouldBlock`).
    #[inline]
    pub(crate) fn clear(&self, ev: ReadyEvent, dir: Direction) {
        self.reg.clear_readiness(ev, dir)
    }

    /// Forgets the plain readiness bit of `dir` (after a short stream transfer).
    #[inline]
    pub(crate) fn clear_drained(&self, ev: ReadyEvent, dir: Direction) {
        self.reg.clear_drained(ev, dir)
    }

    /// A waiter of its own on `dir`, for an operation that may share the source with
    /// other tasks' (pass it to [`poll_op`](Self::poll_op)).
    #[inline]
    pub(crate) fn waiter(&self, dir: Direction) -> Waiter<'_> {
        self.reg.waiter(dir)
    }

    /// Runs `op` once `dir` is ready: the loop of the module doc. `len` is the size of the
    /// buffer offered, for the short-transfer rule of [`Kind::Stream`]. With `waiter`, the
    /// task waits in that waiter's own entry (which must be for `dir`); without, anonymously.
    #[inline]
    pub(crate) fn poll_op<R>(
        &self,
        cx: &mut Context<'_>,
        mut waiter: Option<&mut Waiter<'_>>,
        dir: Direction,
        kind: Kind,
        len: usize,
        mut op: impl FnMut(&S) -> io::Result<R>,
    ) -> Poll<io::Result<R>>
    where
        R: Transferred,
    {
        debug_assert!(waiter.as_ref().is_none_or(|w| w.direction() == dir));
        if crate::io::coop_exhausted(cx) {
            return Poll::Pending;
        }
        loop {
            let ready = match waiter.as_deref_mut() {
                Some(w) => w.poll_ready(cx),
                None => self.reg.poll_ready(cx, dir),
            };
            let ev = match ready {
                Poll::Ready(Ok(ev)) => ev,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            };
            let res = match fault::next() {
                Fault::None => op(self.get()),
                Fault::Interrupted => Err(io::ErrorKind::Interrupted.into()),
                Fault::NotReady => {
                    // A spurious "not ready": readiness stays, the task comes back.
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
            };
            match res {
                Ok(r) => {
                    if kind == Kind::Stream {
                        let n = r.transferred();
                        if n > 0 && n < len {
                            self.reg.clear_drained(ev, dir);
                        }
                    }
                    return Poll::Ready(Ok(r));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.reg.clear_readiness(ev, dir);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    /// Waits in a waiter of its own on `dir` and runs `op` as a [`Kind::Message`]
    /// operation: the whole body of a datagram send/receive or a peek on a socket that
    /// several tasks may share through `&self`.
    pub(crate) async fn message_op<R>(
        &self,
        dir: Direction,
        mut op: impl FnMut(&S) -> io::Result<R>,
    ) -> io::Result<R>
    where
        R: Transferred,
    {
        let mut w = self.reg.waiter(dir);
        std::future::poll_fn(|cx| self.poll_op(cx, Some(&mut w), dir, Kind::Message, 0, &mut op))
            .await
    }

    /// Runs `op` now, without waiting (the syscall is made even if no event announced
    /// readiness, as asyncio's transports write straight away). On `WouldBlock`, clears
    /// the readiness observed before the call so the next `poll_ready` waits.
    pub(crate) fn try_op<R>(
        &self,
        dir: Direction,
        op: impl FnOnce(&S) -> io::Result<R>,
    ) -> io::Result<R> {
        let ev = self.reg.readiness(dir);
        match op(self.get()) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if let Some(ev) = ev {
                    self.reg.clear_readiness(ev, dir);
                }
                Err(e)
            }
            r => r,
        }
    }
}

/// A connection-oriented socket whose non-blocking `connect` can be checked for completion.
pub(crate) trait Connecting: std::os::fd::AsRawFd {
    /// `SO_ERROR`: the connect's failure, if it failed.
    fn take_error(&self) -> io::Result<Option<io::Error>>;
    /// `Ok` once connected (`getpeername` succeeds), `NotConnected` while in progress
    /// (asked only when the writable event does not settle it: see `poll_connected`).
    fn check_connected(&self) -> io::Result<()>;
}

impl Connecting for std::net::TcpStream {
    fn take_error(&self) -> io::Result<Option<io::Error>> {
        std::net::TcpStream::take_error(self)
    }
    fn check_connected(&self) -> io::Result<()> {
        self.peer_addr().map(drop)
    }
}

impl Connecting for std::os::unix::net::UnixStream {
    fn take_error(&self) -> io::Result<Option<io::Error>> {
        std::os::unix::net::UnixStream::take_error(self)
    }
    fn check_connected(&self) -> io::Result<()> {
        self.peer_addr().map(drop)
    }
}

impl<S: Connecting> Evented<S> {
    /// Ready once a non-blocking connect has finished, with its outcome. A writable
    /// event without a connection (and without error or hang-up) is spurious: wait again.
    ///
    /// On Linux a plain writable event (no error, no hang-up) with `SO_ERROR` clear *is*
    /// the connection: the kernel reports a TCP socket writable only once it has left
    /// `SYN_SENT` (`tcp_poll`), and a Unix connect never stays in progress. So there the
    /// `getpeername` of [`Connecting::check_connected`] runs only when the event leaves
    /// the outcome open (an error or hang-up bit with no error code); elsewhere it always
    /// runs, as mio documents for kqueue.
    pub(crate) fn poll_connected(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            let ev = match self.poll_ready(cx, Direction::Write) {
                Poll::Ready(Ok(ev)) => ev,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            };
            if let Some(e) = self.get().take_error()? {
                return Poll::Ready(Err(e));
            }
            if cfg!(any(target_os = "linux", target_os = "android"))
                && ev.ready & (WRITABLE | ERROR | WRITE_CLOSED) == WRITABLE
            {
                return Poll::Ready(Ok(()));
            }
            match self.get().check_connected() {
                Ok(()) => return Poll::Ready(Ok(())),
                Err(e)
                    if e.kind() == io::ErrorKind::NotConnected
                        && ev.ready & (ERROR | WRITE_CLOSED) == 0 =>
                {
                    self.clear(ev, Direction::Write);
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl<S: AsRawFd> Drop for Evented<S> {
    fn drop(&mut self) {
        if let Some(source) = self.source.take() {
            // Deregistration fails only if the selector is gone; the close below still runs.
            let _ = self.reg.deregister(source.as_raw_fd());
            drop(source);
        }
    }
}

/// How many bytes an operation's result moved (for the short-transfer rule).
pub(crate) trait Transferred {
    fn transferred(&self) -> usize;
}

impl Transferred for usize {
    #[inline]
    fn transferred(&self) -> usize {
        *self
    }
}

impl Transferred for () {
    fn transferred(&self) -> usize {
        0
    }
}

impl<T> Transferred for (usize, T) {
    fn transferred(&self) -> usize {
        self.0
    }
}
