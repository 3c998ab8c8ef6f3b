//! The one checked path to the OS: every libc call's return value goes through
//! [`syscall`], which turns the C convention (`-1` and `errno`) into an `io::Result`.
//!
//! Unsafe code that calls the OS stays in the `sys` files of the layers that need it
//! (`net/sys.rs`, `io/driver.rs`, the `sys` sections of `process` and `signal`); none of
//! them tests `errno` or `-1` by hand.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// A C return value where `-1` means "failed, see `errno`".
pub(crate) trait OsResult: Copy {
    /// Whether this value reports a failure.
    fn is_failure(self) -> bool;
}

macro_rules! os_result {
    ($($t:ty),*) => {$(
        impl OsResult for $t {
            fn is_failure(self) -> bool {
                self == -1
            }
        }
    )*};
}
os_result!(i32, i64, isize);

/// Checks a libc return value: `-1` becomes the thread's `errno` as an `io::Error`,
/// anything else is passed through.
///
/// Must be called right after the call, before anything else can change `errno`.
#[inline]
pub(crate) fn syscall<T: OsResult>(ret: T) -> io::Result<T> {
    if ret.is_failure() {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Switches `fd` into non-blocking mode (`on`) or back to blocking mode.
///
/// Every descriptor simul registers with a loop passes through here (or is created
/// non-blocking): the driver only watches descriptors, it never changes their mode.
pub(crate) fn set_nonblocking(fd: &impl AsRawFd, on: bool) -> io::Result<()> {
    let fd = fd.as_raw_fd();
    // SAFETY: fcntl with integer arguments; a bad descriptor yields EBADF, not UB.
    let flags = syscall(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    let next = if on {
        flags | libc::O_NONBLOCK
    } else {
        flags & !libc::O_NONBLOCK
    };
    if next != flags {
        // SAFETY: as above.
        syscall(unsafe { libc::fcntl(fd, libc::F_SETFL, next) })?;
    }
    Ok(())
}

/// Sets close-on-exec on `fd`.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn set_cloexec(fd: &impl AsRawFd) -> io::Result<()> {
    // SAFETY: fcntl with integer arguments; a bad descriptor yields EBADF, not UB.
    syscall(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) }).map(drop)
}

/// A pipe, both ends non-blocking and close-on-exec: `(read end, write end)`.
pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [-1 as libc::c_int; 2];
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        // SAFETY: `fds` is valid for writes of two ints, which is what pipe2 writes.
        syscall(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) })?;
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        // SAFETY: `fds` is valid for writes of two ints, which is what pipe writes.
        syscall(unsafe { libc::pipe(fds.as_mut_ptr()) })?;
    }
    // SAFETY: the call just returned these two descriptors and nothing else owns them.
    let (rx, tx) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    for fd in [&rx, &tx] {
        set_cloexec(fd)?;
        set_nonblocking(fd, true)?;
    }
    Ok((rx, tx))
}

/// The CPU the calling thread runs on (`sched_getcpu`: glibc reads it from the thread's
/// rseq area, a plain load), `None` where unknown. It may change right after the call:
/// good for a heuristic, such as whether two loops share a CPU (`runtime/spin.rs`).
#[cfg(target_os = "linux")]
#[inline]
pub(crate) fn current_cpu() -> Option<u32> {
    // SAFETY: sched_getcpu takes no argument and only returns a number (or -1 and errno).
    let cpu = syscall(unsafe { libc::sched_getcpu() }).ok()?;
    u32::try_from(cpu).ok()
}

#[cfg(not(target_os = "linux"))]
#[inline]
pub(crate) fn current_cpu() -> Option<u32> {
    None
}

#[cfg(test)]
mod tests {
    use super::syscall;

    #[cfg(target_os = "linux")]
    #[test]
    fn the_current_cpu_is_the_one_a_pinned_thread_runs_on() {
        use crate::loops::sys::{allowed_cpus, pin_to_cpu};
        let last = *allowed_cpus().unwrap().last().unwrap();
        let seen = std::thread::spawn(move || {
            pin_to_cpu(last).unwrap();
            super::current_cpu()
        })
        .join()
        .unwrap();
        assert_eq!(seen, Some(last as u32));
    }

    #[test]
    fn minus_one_is_errno_and_the_rest_pass_through() {
        // SAFETY: closing an fd that is certainly not open only sets errno (EBADF).
        let err = syscall(unsafe { libc::close(-5) }).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF));
        assert_eq!(syscall(7isize).unwrap(), 7);
        assert_eq!(syscall(0i64).unwrap(), 0);
    }

    #[test]
    fn a_pipe_is_non_blocking_and_its_mode_can_be_switched_back() {
        use std::io::Read;
        let (rx, _tx) = super::pipe().unwrap();
        let mut rx = std::fs::File::from(rx);
        let mut buf = [0u8; 1];
        let err = rx.read(&mut buf).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
        super::set_nonblocking(&rx, false).unwrap();
        // SAFETY: F_GETFL on a descriptor we own.
        let flags =
            syscall(unsafe { libc::fcntl(std::os::fd::AsRawFd::as_raw_fd(&rx), libc::F_GETFL) })
                .unwrap();
        assert_eq!(flags & libc::O_NONBLOCK, 0);
    }
}
