//! The one checked path to the OS: every libc call's return value goes through
//! [`syscall`], which turns the C convention (`-1` and `errno`) into an `io::Result`.
//!
//! Unsafe code that calls the OS stays in the `sys` files of the layers that need it
//! (`net/sys.rs`, `io/driver.rs`, the `sys` sections of `process` and `signal`); none of
//! them tests `errno` or `-1` by hand.

use std::io;

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

#[cfg(test)]
mod tests {
    use super::syscall;

    #[test]
    fn minus_one_is_errno_and_the_rest_pass_through() {
        // SAFETY: closing an fd that is certainly not open only sets errno (EBADF).
        let err = syscall(unsafe { libc::close(-5) }).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF));
        assert_eq!(syscall(7isize).unwrap(), 7);
        assert_eq!(syscall(0i64).unwrap(), 0);
    }
}
