//! The only unsafe code of the extension: releasing the GIL around the selector wait, and
//! the few system calls the transports and descriptor watchers make on descriptors that
//! Python's `socket` objects own.
//!
//! Each function is a safe front: it checks its preconditions or documents why the caller
//! cannot break them.

use std::io;
use std::os::fd::RawFd;

use pyo3::ffi;

/// Runs `wait` with the GIL released, and takes the GIL back afterwards (also if `wait`
/// panics).
///
/// Called only from the loop's park hook, which runs on the loop thread inside
/// `LoopCore._run`, a Python call: the thread holds the GIL on entry.
pub(crate) fn without_gil(wait: &mut dyn FnMut()) {
    struct Restore(*mut ffi::PyThreadState);
    impl Drop for Restore {
        fn drop(&mut self) {
            // SAFETY: `self.0` is the thread state `PyEval_SaveThread` returned on this
            // thread just before; restoring it once is its contract.
            unsafe { ffi::PyEval_RestoreThread(self.0) }
        }
    }
    // SAFETY: the loop thread holds the GIL here (see above). While it is released, `wait`
    // runs only simul's selector wait: it touches no Python object (wakers it fires only
    // enqueue tasks, whose Python references stay alive in the tasks).
    let _restore = Restore(unsafe { ffi::PyEval_SaveThread() });
    wait();
}

fn cvt(ret: isize) -> io::Result<usize> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as usize)
    }
}

/// `recv(fd, buf)`, retried on `EINTR`.
pub(crate) fn recv(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        // SAFETY: `buf` is a valid writable region of `buf.len()` bytes for the call; a
        // bad descriptor makes the call fail with EBADF, never undefined behaviour.
        let r = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
        match cvt(r) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// `send(fd, buf, MSG_NOSIGNAL)`, retried on `EINTR`.
pub(crate) fn send(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    loop {
        // SAFETY: `buf` is valid for reads of `buf.len()` bytes; MSG_NOSIGNAL turns a
        // broken pipe into EPIPE instead of SIGPIPE.
        let r = unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) };
        match cvt(r) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// `shutdown(fd, SHUT_WR)`.
pub(crate) fn shutdown_write(fd: RawFd) -> io::Result<()> {
    // SAFETY: plain syscall on an integer descriptor; the result is checked.
    let r = unsafe { libc::shutdown(fd, libc::SHUT_WR) };
    cvt(r as isize).map(drop)
}

/// Whether `fd` is readable (or writable) right now: `poll(2)` with a zero timeout. The
/// descriptor watchers use it to give `add_reader` asyncio's level-triggered meaning on
/// top of an edge-triggered selector.
pub(crate) fn ready_now(fd: RawFd, write: bool) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: if write { libc::POLLOUT } else { libc::POLLIN },
        revents: 0,
    };
    // SAFETY: one valid pollfd, count 1, no wait.
    let r = unsafe { libc::poll(&mut p, 1, 0) };
    r > 0 && p.revents != 0
}

/// `recvfrom(fd, buf)` on an IPv4 datagram socket, retried on `EINTR`: the byte count
/// and the sender (`None` when the kernel gave no IPv4 address).
pub(crate) fn recvfrom_v4(
    fd: RawFd,
    buf: &mut [u8],
) -> io::Result<(usize, Option<std::net::SocketAddrV4>)> {
    loop {
        // SAFETY: all-zero bytes are a valid `sockaddr_in` (plain integers).
        let mut addr: libc::sockaddr_in = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        // SAFETY: `buf` is valid for writes of `buf.len()` bytes; `addr` and `len`
        // describe a writable `sockaddr_in`, which the kernel fills up to `len` bytes.
        let r = unsafe {
            libc::recvfrom(
                fd,
                buf.as_mut_ptr().cast(),
                buf.len(),
                0,
                (&mut addr as *mut libc::sockaddr_in).cast(),
                &mut len,
            )
        };
        match cvt(r) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
            Ok(n) => {
                let from = (addr.sin_family == libc::AF_INET as libc::sa_family_t).then(|| {
                    std::net::SocketAddrV4::new(
                        u32::from_be(addr.sin_addr.s_addr).into(),
                        u16::from_be(addr.sin_port),
                    )
                });
                return Ok((n, from));
            }
        }
    }
}
