//! [`AsyncFd`]: readiness of a file descriptor that somebody else owns.
//!
//! asyncio's `loop.add_reader(fd, cb)` and `add_writer` watch a descriptor the caller owns
//! and keeps using with its own system calls (the `socket` module, a pipe, a device). An
//! `AsyncFd` registers such a descriptor with the loop's selector for both directions and
//! reports readiness; it never reads, writes or closes the descriptor.
//!
//! # Readiness discipline
//!
//! As for simul's own sockets (see [`crate::net`]), the registration is edge-triggered:
//! readiness, once reported, stays set until the owner of the descriptor finds it drained
//! (its call said `EAGAIN`, or a stream read or write moved less than offered) and calls
//! [`AsyncFd::clear_read_ready`] or [`AsyncFd::clear_write_ready`] with the
//! [`Readiness`] it acted on. A clear is ignored when a newer event arrived after that
//! readiness was observed, so no edge is lost; and it clears only the plain
//! readable/writable state: a hang-up or error seen in the same event stays reported
//! until the owner's own call meets it (a short read followed by EOF is common).
//!
//! # Lifetime
//!
//! Dropping an `AsyncFd` deregisters the descriptor. The owner must drop it before closing
//! the descriptor (a closed descriptor is removed from epoll by the kernel, and the late
//! deregistration error is ignored; a reused descriptor number must not be watched twice).

use std::io;
use std::os::fd::RawFd;
use std::task::{Context, Poll};

use crate::io::driver::{
    Direction, Interest, ReadyEvent, Registration, ERROR, READ_CLOSED, WRITE_CLOSED,
};
use crate::EventLoop;

/// Watches a descriptor it does not own; see the module doc.
///
/// # Examples
/// ```
/// use std::io::Write;
/// use std::os::fd::AsRawFd;
/// simul::run(async {
///     let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
///     a.set_nonblocking(true).unwrap();
///     let watch = simul::net::AsyncFd::new(a.as_raw_fd()).unwrap();
///     b.write_all(b"x").unwrap();
///     let ready = watch.readable().await.unwrap();
///     assert!(!ready.is_read_closed());
///     drop(watch); // before `a` is closed
/// });
/// ```
#[doc(alias = "add_reader")]
#[doc(alias = "add_writer")]
pub struct AsyncFd {
    fd: RawFd,
    reg: Registration,
}

/// A readiness report of an [`AsyncFd`], to hand back to `clear_*_ready` after `EAGAIN`.
///
/// # Examples
/// ```
/// # use std::os::fd::AsRawFd;
/// simul::run(async {
///     let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
///     let watch = simul::net::AsyncFd::new(a.as_raw_fd()).unwrap();
///     let r = watch.writable().await.unwrap(); // an empty socket buffer is writable
///     assert!(!r.is_error());
/// });
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Readiness(ReadyEvent);

impl Readiness {
    /// The peer closed its end for writing, or the descriptor hung up (a read sees EOF).
    ///
    /// # Examples
    /// ```
    /// # use std::os::fd::AsRawFd;
    /// simul::run(async {
    ///     let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    ///     let watch = simul::net::AsyncFd::new(a.as_raw_fd()).unwrap();
    ///     drop(b);
    ///     assert!(watch.readable().await.unwrap().is_read_closed());
    /// });
    /// ```
    pub fn is_read_closed(&self) -> bool {
        self.0.ready & READ_CLOSED != 0
    }

    /// The descriptor can no longer be written (the peer is gone).
    ///
    /// # Examples
    /// ```
    /// # use std::os::fd::AsRawFd;
    /// simul::run(async {
    ///     let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    ///     let watch = simul::net::AsyncFd::new(a.as_raw_fd()).unwrap();
    ///     assert!(!watch.writable().await.unwrap().is_write_closed());
    /// });
    /// ```
    pub fn is_write_closed(&self) -> bool {
        self.0.ready & WRITE_CLOSED != 0
    }

    /// The selector reported an error condition on the descriptor.
    ///
    /// # Examples
    /// ```
    /// # use std::os::fd::AsRawFd;
    /// simul::run(async {
    ///     let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    ///     let watch = simul::net::AsyncFd::new(a.as_raw_fd()).unwrap();
    ///     assert!(!watch.writable().await.unwrap().is_error());
    /// });
    /// ```
    pub fn is_error(&self) -> bool {
        self.0.ready & ERROR != 0
    }
}

impl AsyncFd {
    /// Watches `fd` (which should be in non-blocking mode) on the current loop.
    ///
    /// # Errors
    /// What epoll says: `EEXIST` when `fd` is already watched on this loop, `EPERM` for a
    /// regular file (which is always ready), `EBADF` for a closed descriptor.
    ///
    /// # Panics
    /// Outside a running loop (use [`AsyncFd::with_loop`] before the loop runs).
    ///
    /// # Examples
    /// ```
    /// # use std::os::fd::AsRawFd;
    /// simul::run(async {
    ///     let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    ///     let watch = simul::net::AsyncFd::new(a.as_raw_fd()).unwrap();
    ///     assert_eq!(watch.fd(), a.as_raw_fd());
    /// });
    /// ```
    pub fn new(fd: RawFd) -> io::Result<AsyncFd> {
        let reg = Registration::new(fd, Interest::READABLE | Interest::WRITABLE)?;
        Ok(AsyncFd { fd, reg })
    }

    /// Watches `fd` on `lp`, running or not.
    ///
    /// # Errors
    /// As [`AsyncFd::new`].
    ///
    /// # Examples
    /// ```
    /// # use std::os::fd::AsRawFd;
    /// let lp = simul::EventLoop::new().unwrap();
    /// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let watch = simul::net::AsyncFd::with_loop(&lp, a.as_raw_fd()).unwrap();
    /// lp.run_until_complete(async { watch.writable().await.unwrap() });
    /// ```
    pub fn with_loop(lp: &EventLoop, fd: RawFd) -> io::Result<AsyncFd> {
        let shared = lp.core.io_handle();
        let reg = Registration::new_in(shared, fd, Interest::READABLE | Interest::WRITABLE)?;
        Ok(AsyncFd { fd, reg })
    }

    /// The watched descriptor.
    ///
    /// # Examples
    /// See [`AsyncFd::new`].
    pub fn fd(&self) -> RawFd {
        self.fd
    }

    /// Ends the watch of a descriptor that was closed meanwhile, without telling the
    /// selector: the kernel dropped it from epoll at the close, and its number may name
    /// another descriptor by now, maybe watched too, whose watch a deregistration by
    /// number would end. (Dropping an `AsyncFd` deregisters its number.)
    ///
    /// # Examples
    /// ```
    /// # use std::os::fd::AsRawFd;
    /// let lp = simul::EventLoop::new().unwrap();
    /// let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    /// let watch = simul::net::AsyncFd::with_loop(&lp, a.as_raw_fd()).unwrap();
    /// drop(a);
    /// watch.forget_closed();
    /// ```
    pub fn forget_closed(mut self) {
        // No descriptor is -1: the deregistration in `drop` fails with EBADF and touches
        // nothing; the registration's slot is freed as for any drop.
        self.fd = -1;
    }

    /// Ready once the descriptor is readable (or at EOF, or in error); registers the task's
    /// waker otherwise.
    ///
    /// # Examples
    /// ```
    /// # use std::os::fd::AsRawFd;
    /// use std::task::Poll;
    /// simul::run(async {
    ///     let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    ///     let watch = simul::net::AsyncFd::new(a.as_raw_fd()).unwrap();
    ///     let first = std::future::poll_fn(|cx| Poll::Ready(watch.poll_read_ready(cx).is_ready())).await;
    ///     assert!(!first); // nothing to read yet
    /// });
    /// ```
    pub fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<Readiness>> {
        self.reg.poll_ready(cx, Direction::Read).map_ok(Readiness)
    }

    /// Ready once the descriptor is writable (or hung up, or in error).
    ///
    /// # Examples
    /// ```
    /// # use std::os::fd::AsRawFd;
    /// simul::run(async {
    ///     let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    ///     let watch = simul::net::AsyncFd::new(a.as_raw_fd()).unwrap();
    ///     std::future::poll_fn(|cx| watch.poll_write_ready(cx)).await.unwrap();
    /// });
    /// ```
    pub fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<Readiness>> {
        self.reg.poll_ready(cx, Direction::Write).map_ok(Readiness)
    }

    /// Waits until the descriptor is readable.
    ///
    /// # Errors
    /// None today (the signature leaves room for a selector error).
    ///
    /// # Examples
    /// See [`AsyncFd`].
    pub async fn readable(&self) -> io::Result<Readiness> {
        std::future::poll_fn(|cx| self.poll_read_ready(cx)).await
    }

    /// Waits until the descriptor is writable.
    ///
    /// # Errors
    /// None today (the signature leaves room for a selector error).
    ///
    /// # Examples
    /// See [`Readiness`].
    pub async fn writable(&self) -> io::Result<Readiness> {
        std::future::poll_fn(|cx| self.poll_write_ready(cx)).await
    }

    /// Forgets read readiness `r` after the owner's read said `EAGAIN` (or was short),
    /// unless a newer event arrived since `r` was reported. A hang-up or error in `r`
    /// stays reported.
    ///
    /// # Examples
    /// ```
    /// # use std::os::fd::AsRawFd;
    /// use std::io::{Read, Write};
    /// use std::task::Poll;
    /// simul::run(async {
    ///     let (mut a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
    ///     a.set_nonblocking(true).unwrap();
    ///     let watch = simul::net::AsyncFd::new(a.as_raw_fd()).unwrap();
    ///     b.write_all(b"x").unwrap();
    ///     let r = watch.readable().await.unwrap();
    ///     let mut buf = [0u8; 8];
    ///     assert_eq!(a.read(&mut buf).unwrap(), 1);
    ///     assert!(a.read(&mut buf).is_err()); // EAGAIN
    ///     watch.clear_read_ready(r);
    ///     let again = std::future::poll_fn(|cx| Poll::Ready(watch.poll_read_ready(cx).is_ready())).await;
    ///     assert!(!again);
    /// });
    /// ```
    pub fn clear_read_ready(&self, r: Readiness) {
        self.reg.clear_drained(r.0, Direction::Read)
    }

    /// Forgets write readiness `r` after the owner's write said `EAGAIN`.
    ///
    /// # Examples
    /// ```
    /// # use std::os::fd::AsRawFd;
    /// simul::run(async {
    ///     let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    ///     let watch = simul::net::AsyncFd::new(a.as_raw_fd()).unwrap();
    ///     let r = watch.writable().await.unwrap();
    ///     watch.clear_write_ready(r); // as if a write had said EAGAIN
    /// });
    /// ```
    pub fn clear_write_ready(&self, r: Readiness) {
        self.reg.clear_drained(r.0, Direction::Write)
    }

    /// Forgets all of read readiness `r` after the owner's read said `EAGAIN`: the plain
    /// readable state and the hang-up and error seen with it (a call that says `EAGAIN`
    /// has already met a pending error: for a datagram socket, `recvfrom` returns the
    /// ICMP error it carries once, then `EAGAIN`). Ignored when a newer event arrived
    /// since `r` was reported. [`clear_read_ready`](Self::clear_read_ready) is the variant
    /// for a short stream read, where a hang-up may follow the data.
    ///
    /// # Examples
    /// ```
    /// # use std::os::fd::AsRawFd;
    /// use std::task::Poll;
    /// simul::run(async {
    ///     let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    ///     let gone = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    ///     a.connect(gone.local_addr().unwrap()).unwrap();
    ///     drop(gone); // the peer's port is closed: the kernel answers with ICMP
    ///     a.set_nonblocking(true).unwrap();
    ///     let watch = simul::net::AsyncFd::new(a.as_raw_fd()).unwrap();
    ///     a.send(b"x").unwrap();
    ///     let r = watch.readable().await.unwrap(); // the error
    ///     let mut buf = [0u8; 8];
    ///     let refused = a.recv(&mut buf).unwrap_err(); // met once
    ///     assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    ///     let blocked = a.recv(&mut buf).unwrap_err();
    ///     assert_eq!(blocked.kind(), std::io::ErrorKind::WouldBlock);
    ///     watch.clear_read_blocked(r);
    ///     let again = std::future::poll_fn(|cx| Poll::Ready(watch.poll_read_ready(cx).is_ready())).await;
    ///     assert!(!again); // the error is forgotten too: no busy loop
    ///     drop(watch);
    /// });
    /// ```
    pub fn clear_read_blocked(&self, r: Readiness) {
        self.reg.clear_readiness(r.0, Direction::Read)
    }

    /// Forgets all of write readiness `r` after the owner's write said `EAGAIN` (the
    /// plain writable state, and the hang-up and error seen with it); see
    /// [`clear_read_blocked`](Self::clear_read_blocked).
    ///
    /// # Examples
    /// ```
    /// # use std::os::fd::AsRawFd;
    /// simul::run(async {
    ///     let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    ///     let watch = simul::net::AsyncFd::new(a.as_raw_fd()).unwrap();
    ///     let r = watch.writable().await.unwrap();
    ///     watch.clear_write_blocked(r); // as if a write had said EAGAIN
    /// });
    /// ```
    pub fn clear_write_blocked(&self, r: Readiness) {
        self.reg.clear_readiness(r.0, Direction::Write)
    }
}

impl std::fmt::Debug for AsyncFd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncFd").field("fd", &self.fd).finish()
    }
}

impl Drop for AsyncFd {
    fn drop(&mut self) {
        // Fails only when the descriptor was already closed (the kernel dropped it from
        // epoll then) or the selector is gone: nothing is left to undo either way.
        let _ = self.reg.deregister(self.fd);
    }
}
