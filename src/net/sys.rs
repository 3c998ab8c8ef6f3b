//! The one checked path from `simul::net` to the OS for what mio does not offer: socket
//! creation with options set before `bind`, `setsockopt`/`getsockopt`, and `read` into
//! uninitialised memory (for hyper's read cursor).
//!
//! Every `libc` call of the module lives here, each in its own small function with its
//! `// SAFETY:` reason; `-1` becomes `io::Error::last_os_error()`.

use std::io;
use std::mem::{size_of, MaybeUninit};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// Maps a `-1` result to the thread's `errno`.
fn check(res: libc::c_int) -> io::Result<libc::c_int> {
    if res == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(res)
    }
}

/// Plain-old-data option values `setsockopt` may read (sealed to the types below).
pub(crate) trait SockOptValue: Copy {}
impl SockOptValue for libc::c_int {}
impl SockOptValue for libc::linger {}

/// `setsockopt(fd, level, name, &value)`.
pub(crate) fn setsockopt<T: SockOptValue>(
    fd: &impl AsRawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: T,
) -> io::Result<()> {
    // SAFETY: `value` is a live, plain-old-data `T` and we pass its exact size, so the
    // kernel reads only initialised bytes we own; an invalid fd yields EBADF, not UB.
    check(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&value as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// `getsockopt(fd, level, name)` for an `int` option.
pub(crate) fn getsockopt_int(
    fd: &impl AsRawFd,
    level: libc::c_int,
    name: libc::c_int,
) -> io::Result<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` and `len` are valid for writes and `len` is the size of `value`, so
    // the kernel writes at most that many bytes into memory we own.
    check(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    })?;
    Ok(value)
}

/// Sets or clears a boolean option.
pub(crate) fn set_flag(
    fd: &impl AsRawFd,
    level: libc::c_int,
    name: libc::c_int,
    on: bool,
) -> io::Result<()> {
    setsockopt(fd, level, name, libc::c_int::from(on))
}

/// Reads a boolean option.
pub(crate) fn get_flag(
    fd: &impl AsRawFd,
    level: libc::c_int,
    name: libc::c_int,
) -> io::Result<bool> {
    Ok(getsockopt_int(fd, level, name)? != 0)
}

/// `SO_LINGER`: `None` turns lingering off; `Some(0)` makes `close` send a reset.
pub(crate) fn set_linger(fd: &impl AsRawFd, linger: Option<Duration>) -> io::Result<()> {
    let value = libc::linger {
        l_onoff: libc::c_int::from(linger.is_some()),
        l_linger: linger.map_or(0, |d| {
            d.as_secs().min(libc::c_int::MAX as u64) as libc::c_int
        }),
    };
    setsockopt(fd, libc::SOL_SOCKET, libc::SO_LINGER, value)
}

/// A new non-blocking, close-on-exec socket.
pub(crate) fn socket(domain: libc::c_int, ty: libc::c_int) -> io::Result<OwnedFd> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let fd = {
        // SAFETY: plain syscall with integer arguments.
        check(unsafe { libc::socket(domain, ty | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0) })?
    };
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let fd = {
        // SAFETY: plain syscall with integer arguments.
        check(unsafe { libc::socket(domain, ty, 0) })?
    };
    // SAFETY: `socket` just returned this descriptor and nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        set_nonblocking_cloexec(fd.as_raw_fd())?;
    }
    Ok(fd)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn set_nonblocking_cloexec(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl with integer arguments on a descriptor we own.
    check(unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) })?;
    // SAFETY: as above.
    let flags = check(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    // SAFETY: as above.
    check(unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) })?;
    Ok(())
}

/// A `sockaddr_storage` holding `addr`, and the length to pass with it.
fn sockaddr_of(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain old data for which all-zero bytes are valid.
    let mut storage: libc::sockaddr_storage = unsafe { MaybeUninit::zeroed().assume_init() };
    let len = match addr {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_storage is larger than and suitably aligned for
            // sockaddr_in; we write through a pointer into memory we own.
            let sin = unsafe {
                &mut *(&mut storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>()
            };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr = libc::in_addr {
                s_addr: u32::from_ne_bytes(a.ip().octets()),
            };
            size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe {
                &mut *(&mut storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_flowinfo = a.flowinfo();
            sin6.sin6_addr = libc::in6_addr {
                s6_addr: a.ip().octets(),
            };
            sin6.sin6_scope_id = a.scope_id();
            size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

/// `bind(fd, addr)`.
pub(crate) fn bind(fd: &OwnedFd, addr: &SocketAddr) -> io::Result<()> {
    let (storage, len) = sockaddr_of(addr);
    // SAFETY: `storage` holds a valid sockaddr of `len` bytes for the call's duration.
    check(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&storage as *const libc::sockaddr_storage).cast(),
            len,
        )
    })
    .map(drop)
}

/// `listen(fd, backlog)`.
pub(crate) fn listen(fd: &OwnedFd, backlog: u32) -> io::Result<()> {
    let backlog = backlog.min(libc::c_int::MAX as u32) as libc::c_int;
    // SAFETY: plain syscall on a descriptor we own.
    check(unsafe { libc::listen(fd.as_raw_fd(), backlog) }).map(drop)
}

/// The address family constant for `addr`.
pub(crate) fn domain_of(addr: &SocketAddr) -> libc::c_int {
    match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    }
}

/// `read(2)` of at most `max` bytes into the spare capacity of `out`, whose length grows by
/// what was read: a buffer grown for a large read is never zero-filled first.
pub(crate) fn read_append(fd: &impl AsRawFd, out: &mut Vec<u8>, max: usize) -> io::Result<usize> {
    let spare = out.spare_capacity_mut();
    let len = spare.len().min(max);
    // SAFETY: `spare` is memory `out` owns and we may write; the kernel writes at most
    // `len <= spare.len()` bytes into it and reads none of it.
    let n = unsafe { libc::read(fd.as_raw_fd(), spare.as_mut_ptr().cast(), len) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let n = n as usize;
    // SAFETY: the kernel initialised the first `n <= len` bytes of the spare capacity, so
    // the new length covers only initialised bytes.
    unsafe { out.set_len(out.len() + n) };
    Ok(n)
}

/// Whether an error means the process or system ran out of file descriptors.
pub(crate) fn is_fd_exhaustion(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE))
}

/// Raw fd of anything that has one (for diagnostics in `Debug` impls).
pub(crate) fn raw(fd: &impl AsRawFd) -> RawFd {
    fd.as_raw_fd()
}

#[cfg_attr(not(feature = "hyper"), allow(dead_code))]
/// `read(2)` into memory that may be uninitialised: the kernel only writes to `buf`, so no
/// zero-filling is needed first. On success the first `n` bytes of `buf` are initialised.
pub(crate) fn read_uninit(fd: &impl AsRawFd, buf: &mut [MaybeUninit<u8>]) -> io::Result<usize> {
    // SAFETY: `buf` is a valid, exclusively borrowed region of `buf.len()` bytes for the
    // duration of the call; `read` writes at most that many bytes into it and never reads
    // it, so its being uninitialised does not matter.
    let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}
