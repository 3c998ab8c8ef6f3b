//! The one checked path from `simul::net` to the OS for what `std`'s socket types do not
//! offer: socket creation non-blocking from the start with options set before `bind`, a
//! non-blocking `connect` (TCP and Unix), `accept4` (the new connection non-blocking in
//! the same call), `setsockopt`/`getsockopt`, `recv` into uninitialised memory (for
//! hyper's read cursor), and the streams' `recv`/`send` themselves, as plain system calls
//! on Linux: libc's wrappers are thread cancellation points, which cost ~50 instructions a
//! call in any process with a second thread (see `raw_recv`). Sockets are `std` types; switching one a caller hands in to
//! non-blocking mode goes through `crate::sys::set_nonblocking`.
//!
//! Every `libc` call of the module lives here, each in its own small function with its
//! `// SAFETY:` reason; every return value goes through `crate::sys::syscall`.

use std::io;
use std::mem::{size_of, MaybeUninit};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::time::Duration;

use crate::sys::syscall;

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
    syscall(unsafe {
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
    syscall(unsafe {
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
        syscall(unsafe { libc::socket(domain, ty | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0) })?
    };
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let fd = {
        // SAFETY: plain syscall with integer arguments.
        syscall(unsafe { libc::socket(domain, ty, 0) })?
    };
    // SAFETY: `socket` just returned this descriptor and nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        crate::sys::set_cloexec(&fd)?;
        crate::sys::set_nonblocking(&fd, true)?;
    }
    Ok(fd)
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
    syscall(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&storage as *const libc::sockaddr_storage).cast(),
            len,
        )
    })
    .map(drop)
}

/// `connect(fd, addr)` on a non-blocking socket: `Ok` when the connection is made or in
/// progress (`EINPROGRESS`; the socket turns writable when it is done).
pub(crate) fn connect(fd: &OwnedFd, addr: &SocketAddr) -> io::Result<()> {
    let (storage, len) = sockaddr_of(addr);
    // SAFETY: `storage` holds a valid sockaddr of `len` bytes for the call's duration.
    let res = syscall(unsafe {
        libc::connect(
            fd.as_raw_fd(),
            (&storage as *const libc::sockaddr_storage).cast(),
            len,
        )
    });
    connect_outcome(res)
}

/// What a non-blocking `connect`'s return means: `Ok` when the connection is made or in
/// progress. `EINPROGRESS` is in progress; so is `EINTR` (POSIX: an interrupted connect
/// completes asynchronously, and a second call would fail with `EALREADY`). Either way
/// the socket turns writable when it is done and `SO_ERROR` tells how it went.
fn connect_outcome(res: io::Result<libc::c_int>) -> io::Result<()> {
    match res {
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINPROGRESS | libc::EINTR)) => Ok(()),
        r => r.map(drop),
    }
}

/// The `sockaddr_un` for `path` and its length; a path starting with a NUL byte names an
/// abstract socket (Linux). An empty path gives the bare family (length
/// `offset_of!(sun_path)`): `bind` then picks a fresh abstract name (Linux autobind) and
/// `connect` fails with `EINVAL`, as with std and CPython. (Counting a terminating NUL for
/// it would name the empty abstract socket instead, one name shared by every caller.)
fn unix_sockaddr(path: &Path) -> io::Result<(libc::sockaddr_un, libc::socklen_t)> {
    use std::os::unix::ffi::OsStrExt;
    // SAFETY: sockaddr_un is plain old data for which all-zero bytes are valid.
    let mut addr: libc::sockaddr_un = unsafe { MaybeUninit::zeroed().assume_init() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let bytes = path.as_os_str().as_bytes();
    let abstract_name = bytes.first() == Some(&0);
    // A pathname needs room for its terminating NUL; an abstract name does not have one,
    // nor does the empty path (no name at all).
    let nul = usize::from(!abstract_name && !bytes.is_empty());
    let room = addr.sun_path.len() - nul;
    if bytes.len() > room {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "Unix socket path {path:?} is {} bytes; at most {room} fit",
                bytes.len()
            ),
        ));
    }
    if !abstract_name && bytes.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("Unix socket path {path:?} contains a NUL byte"),
        ));
    }
    for (dst, src) in addr.sun_path.iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    let base = std::mem::offset_of!(libc::sockaddr_un, sun_path);
    let len = base + bytes.len() + nul;
    Ok((addr, len as libc::socklen_t))
}

/// `bind(fd, path)` for a Unix-domain socket.
pub(crate) fn bind_unix(fd: &OwnedFd, path: &Path) -> io::Result<()> {
    let (addr, len) = unix_sockaddr(path)?;
    // SAFETY: `addr` is a valid sockaddr_un whose first `len` bytes are initialised.
    syscall(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_un).cast(),
            len,
        )
    })
    .map(drop)
}

/// `connect(fd, path)` for a non-blocking Unix-domain socket: `Ok` when connected or in
/// progress.
pub(crate) fn connect_unix(fd: &OwnedFd, path: &Path) -> io::Result<()> {
    let (addr, len) = unix_sockaddr(path)?;
    // SAFETY: `addr` is a valid sockaddr_un whose first `len` bytes are initialised.
    let res = syscall(unsafe {
        libc::connect(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_un).cast(),
            len,
        )
    });
    connect_outcome(res)
}

/// A connected pair of Unix-domain sockets of type `ty`, non-blocking and close-on-exec.
pub(crate) fn socketpair(ty: libc::c_int) -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [-1 as libc::c_int; 2];
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let ty = ty | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    // SAFETY: `fds` is valid for writes of two ints, which is what socketpair writes.
    syscall(unsafe { libc::socketpair(libc::AF_UNIX, ty, 0, fds.as_mut_ptr()) })?;
    // SAFETY: the call just returned these two descriptors and nothing else owns them.
    let (a, b) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    for fd in [&a, &b] {
        crate::sys::set_cloexec(fd)?;
        crate::sys::set_nonblocking(fd, true)?;
    }
    Ok((a, b))
}

/// Address buffers `accept` may fill: plain old data, for which any bytes are valid.
trait AddrBuf {}
impl AddrBuf for libc::sockaddr_storage {}
impl AddrBuf for libc::sockaddr_un {}

/// `accept(fd)` into the caller's address buffer: the new connection, already non-blocking
/// and close-on-exec (`accept4` on Linux, one call), and the address length the kernel
/// reported.
fn accept_into<A: AddrBuf>(
    fd: &impl AsRawFd,
    addr: &mut A,
) -> io::Result<(OwnedFd, libc::socklen_t)> {
    let mut len = size_of::<A>() as libc::socklen_t;
    let ptr = (addr as *mut A).cast::<libc::sockaddr>();
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let new = {
        // SAFETY: `ptr` is the caller's exclusive `&mut A`, valid for writes of `len` (its
        // size) bytes, and `A` is plain old data (`AddrBuf`), so whatever address the kernel
        // writes there leaves a valid value.
        syscall(unsafe {
            libc::accept4(
                fd.as_raw_fd(),
                ptr,
                &mut len,
                libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            )
        })?
    };
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let new = {
        // SAFETY: as above.
        syscall(unsafe { libc::accept(fd.as_raw_fd(), ptr, &mut len) })?
    };
    // SAFETY: `accept` just returned this descriptor and nothing else owns it.
    let new = unsafe { OwnedFd::from_raw_fd(new) };
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        crate::sys::set_cloexec(&new)?;
        crate::sys::set_nonblocking(&new, true)?;
    }
    Ok((new, len))
}

/// `accept(fd)` of an IP listener: the new connection, already non-blocking and
/// close-on-exec, and the peer's address.
pub(crate) fn accept_ip(fd: &impl AsRawFd) -> io::Result<(OwnedFd, SocketAddr)> {
    // SAFETY: sockaddr_storage is plain old data for which all-zero bytes are valid.
    let mut storage: libc::sockaddr_storage = unsafe { MaybeUninit::zeroed().assume_init() };
    let (new, _) = accept_into(fd, &mut storage)?;
    let addr = socket_addr_of(&storage).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "accept returned an address of family {}, not IPv4 or IPv6",
                storage.ss_family
            ),
        )
    })?;
    Ok((new, addr))
}

/// `accept(fd)` of a Unix-domain listener: the new connection, already non-blocking and
/// close-on-exec (`accept4` on Linux, one call), and the peer's address: unnamed (a client
/// that did not bind), a pathname, or (Linux) an abstract name.
pub(crate) fn accept_unix(
    fd: &impl AsRawFd,
) -> io::Result<(OwnedFd, std::os::unix::net::SocketAddr)> {
    // SAFETY: sockaddr_un is plain old data for which all-zero bytes are valid.
    let mut addr: libc::sockaddr_un = unsafe { MaybeUninit::zeroed().assume_init() };
    let (new, len) = accept_into(fd, &mut addr)?;
    Ok((new, unix_addr_of(&addr, len)?))
}

/// The address in the first `len` bytes of `addr`, as the kernel filled it in. `len` may
/// exceed the structure (a truncated address); only the bytes inside it are read.
fn unix_addr_of(
    addr: &libc::sockaddr_un,
    len: libc::socklen_t,
) -> io::Result<std::os::unix::net::SocketAddr> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::net::SocketAddr as UnixAddr;
    let base = std::mem::offset_of!(libc::sockaddr_un, sun_path);
    let n = (len as usize).saturating_sub(base).min(addr.sun_path.len());
    let bytes: Vec<u8> = addr.sun_path[..n].iter().map(|&c| c as u8).collect();
    match bytes.first() {
        // No name: a client that never bound (std's empty pathname is the unnamed address).
        None => UnixAddr::from_pathname(""),
        #[cfg(any(target_os = "linux", target_os = "android"))]
        Some(0) => {
            #[cfg(target_os = "android")]
            use std::os::android::net::SocketAddrExt;
            #[cfg(target_os = "linux")]
            use std::os::linux::net::SocketAddrExt;
            UnixAddr::from_abstract_name(&bytes[1..])
        }
        Some(_) => {
            // A pathname ends at its NUL (the kernel may or may not count it in `len`).
            let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
            UnixAddr::from_pathname(std::ffi::OsStr::from_bytes(&bytes[..end]))
        }
    }
}

/// The IP address in `storage`, or `None` for another family.
fn socket_addr_of(storage: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match libc::c_int::from(storage.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in, which it is large
            // enough for and aligned for.
            let sin =
                unsafe { &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = std::net::Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
            Some(SocketAddr::from((ip, u16::from_be(sin.sin_port))))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe {
                &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            let ip = std::net::Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            Some(SocketAddr::V6(std::net::SocketAddrV6::new(
                ip,
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// `listen(fd, backlog)`.
pub(crate) fn listen(fd: &OwnedFd, backlog: u32) -> io::Result<()> {
    let backlog = backlog.min(libc::c_int::MAX as u32) as libc::c_int;
    // SAFETY: plain syscall on a descriptor we own.
    syscall(unsafe { libc::listen(fd.as_raw_fd(), backlog) }).map(drop)
}

/// The address family constant for `addr`.
pub(crate) fn domain_of(addr: &SocketAddr) -> libc::c_int {
    match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    }
}

/// `recv(fd, ptr, len, flags)` as a plain system call.
///
/// Not through libc's `recv`: glibc's socket wrappers are thread cancellation points, and
/// in a process with more than one thread (every `Loops` set, every program with a
/// blocking pool thread) each call then pays `__pthread_enable_asynccancel` and
/// `__pthread_disable_asynccancel` around the system call, ~50 instructions, as much as
/// the rest of an echo round trip's user-space work on the socket. simul never cancels a
/// thread, so its stream reads and writes go to the kernel through `syscall(2)`, which is
/// no cancellation point and costs the same whatever the thread count.
///
/// # Safety
/// `ptr` must be valid for writes of `len` bytes for the duration of the call.
#[cfg(any(target_os = "linux", target_os = "android"))]
#[inline]
unsafe fn raw_recv(
    fd: RawFd,
    ptr: *mut libc::c_void,
    len: usize,
    flags: libc::c_int,
) -> libc::c_long {
    // SAFETY: recvfrom(fd, ptr, len, flags, NULL, NULL) is recv(2); the caller vouches for
    // `ptr`/`len`; every argument is passed as a full register-width value.
    unsafe {
        libc::syscall(
            libc::SYS_recvfrom,
            libc::c_long::from(fd),
            ptr,
            len,
            libc::c_long::from(flags),
            std::ptr::null_mut::<libc::sockaddr>(),
            std::ptr::null_mut::<libc::socklen_t>(),
        )
    }
}

/// `recv(fd, ptr, len, flags)` (elsewhere libc's wrapper: see the Linux one).
///
/// # Safety
/// `ptr` must be valid for writes of `len` bytes for the duration of the call.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
#[inline]
unsafe fn raw_recv(fd: RawFd, ptr: *mut libc::c_void, len: usize, flags: libc::c_int) -> isize {
    // SAFETY: the caller vouches for `ptr`/`len`.
    unsafe { libc::recv(fd, ptr, len, flags) }
}

/// `send(fd, ptr, len, flags)` as a plain system call (see [`raw_recv`] for why).
///
/// # Safety
/// `ptr` must be valid for reads of `len` bytes for the duration of the call.
#[cfg(any(target_os = "linux", target_os = "android"))]
#[inline]
unsafe fn raw_send(
    fd: RawFd,
    ptr: *const libc::c_void,
    len: usize,
    flags: libc::c_int,
) -> libc::c_long {
    // SAFETY: sendto(fd, ptr, len, flags, NULL, 0) is send(2); the caller vouches for
    // `ptr`/`len`; every argument is passed as a full register-width value.
    unsafe {
        libc::syscall(
            libc::SYS_sendto,
            libc::c_long::from(fd),
            ptr,
            len,
            libc::c_long::from(flags),
            std::ptr::null::<libc::sockaddr>(),
            0 as libc::c_long,
        )
    }
}

/// `send(fd, ptr, len, flags)` (elsewhere libc's wrapper).
///
/// # Safety
/// `ptr` must be valid for reads of `len` bytes for the duration of the call.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
#[inline]
unsafe fn raw_send(fd: RawFd, ptr: *const libc::c_void, len: usize, flags: libc::c_int) -> isize {
    // SAFETY: the caller vouches for `ptr`/`len`.
    unsafe { libc::send(fd, ptr, len, flags) }
}

/// `recv(2)` on a stream socket into `buf` (what `std`'s `read` on a socket does, without
/// the cancellation-point cost of libc's wrapper: see [`raw_recv`]).
#[inline]
pub(crate) fn recv(fd: &impl AsRawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is exclusively borrowed memory of `buf.len()` bytes; the kernel writes
    // at most that many bytes into it.
    let n = syscall(unsafe { raw_recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) })?;
    Ok(n as usize)
}

/// `send(2)` of `buf` with `MSG_NOSIGNAL`, as `std`'s sockets send (a closed peer is an
/// `EPIPE` error, not a signal), without the cancellation-point cost of libc's wrapper.
#[inline]
pub(crate) fn send(fd: &impl AsRawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is readable for `buf.len()` bytes; the kernel reads at most that many
    // and writes none.
    let n = syscall(unsafe {
        raw_send(
            fd.as_raw_fd(),
            buf.as_ptr().cast(),
            buf.len(),
            libc::MSG_NOSIGNAL,
        )
    })?;
    Ok(n as usize)
}

/// `recv(2)` of at most `max` bytes into the spare capacity of `out`, whose length grows by
/// what was read: a buffer grown for a large read is never zero-filled first. (`recv`, not
/// `read`: on a socket it is the same operation without the VFS layer's per-call checks,
/// and it is what `std`'s sockets use.)
pub(crate) fn read_append(fd: &impl AsRawFd, out: &mut Vec<u8>, max: usize) -> io::Result<usize> {
    let spare = out.spare_capacity_mut();
    let len = spare.len().min(max);
    // SAFETY: `spare` is memory `out` owns and we may write; the kernel writes at most
    // `len <= spare.len()` bytes into it and reads none of it.
    let n = syscall(unsafe { raw_recv(fd.as_raw_fd(), spare.as_mut_ptr().cast(), len, 0) })?;
    let n = n as usize;
    // SAFETY: the kernel initialised the first `n <= len` bytes of the spare capacity, so
    // the new length covers only initialised bytes.
    unsafe { out.set_len(out.len() + n) };
    Ok(n)
}

/// `shutdown(fd, SHUT_RDWR)` (for injected resets; see `crate::io::fault`).
#[cfg_attr(not(feature = "fault-injection"), allow(dead_code))]
pub(crate) fn shutdown_both(fd: &impl AsRawFd) -> io::Result<()> {
    // SAFETY: plain syscall on a descriptor we own; a bad fd yields EBADF, not UB.
    syscall(unsafe { libc::shutdown(fd.as_raw_fd(), libc::SHUT_RDWR) }).map(drop)
}

/// Whether an error means the process or system ran out of file descriptors.
pub(crate) fn is_fd_exhaustion(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE))
}

/// Raw fd of anything that has one (for diagnostics in `Debug` impls).
pub(crate) fn raw(fd: &impl AsRawFd) -> RawFd {
    fd.as_raw_fd()
}

/// `send(2)` of the bytes of `bufs` (`len` in all, at most
/// [`COALESCE_MAX`](super::stream::COALESCE_MAX)) joined in a buffer on the stack: one
/// plain send instead of a `writev` (see `Evented::poll_write_vectored_bytes`).
/// `MSG_NOSIGNAL`, as `std`'s sockets send: a closed peer is an `EPIPE` error, not a signal.
pub(crate) fn send_joined(
    fd: &impl AsRawFd,
    bufs: &[std::io::IoSlice<'_>],
    len: usize,
) -> io::Result<usize> {
    const MAX: usize = super::stream::COALESCE_MAX;
    let mut joined = [MaybeUninit::<u8>::uninit(); MAX];
    assert!(len <= MAX, "send_joined: {len} bytes do not fit");
    let mut at = 0;
    for b in bufs {
        let room = &mut joined[at..];
        assert!(b.len() <= room.len(), "send_joined: more than {len} bytes");
        // SAFETY: `room` is writable memory of at least `b.len()` bytes (checked above),
        // `b` is readable for `b.len()` bytes, and the two do not overlap (`joined` is ours).
        unsafe { std::ptr::copy_nonoverlapping(b.as_ptr(), room.as_mut_ptr().cast(), b.len()) };
        at += b.len();
    }
    assert_eq!(at, len, "send_joined: {at} bytes, {len} announced");
    // SAFETY: the first `len` bytes of `joined` were written above (`at == len <= MAX`);
    // `send` reads at most `len` bytes from the pointer and writes none.
    let n = syscall(unsafe {
        raw_send(
            fd.as_raw_fd(),
            joined.as_ptr().cast(),
            len,
            libc::MSG_NOSIGNAL,
        )
    })?;
    Ok(n as usize)
}

#[cfg_attr(not(feature = "hyper"), allow(dead_code))]
/// `recv(2)` on a socket into memory that may be uninitialised: the kernel only writes to
/// `buf`, so no zero-filling is needed first. On success the first `n` bytes of `buf` are
/// initialised. (`recv` rather than `read`, as in [`read_append`].)
pub(crate) fn read_uninit(fd: &impl AsRawFd, buf: &mut [MaybeUninit<u8>]) -> io::Result<usize> {
    // SAFETY: `buf` is a valid, exclusively borrowed region of `buf.len()` bytes for the
    // duration of the call; `recv` writes at most that many bytes into it and never reads
    // it, so its being uninitialised does not matter.
    let n = syscall(unsafe { raw_recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) })?;
    Ok(n as usize)
}

#[cfg(test)]
mod tests {
    use std::io;

    #[test]
    fn plain_recv_and_send_move_bytes_and_report_errors_as_std_does() {
        use std::os::unix::net::UnixStream;
        let (a, b) = UnixStream::pair().unwrap();
        b.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 8];
        // Nothing to read on a non-blocking socket: EAGAIN, as `WouldBlock`.
        let e = super::recv(&b, &mut buf).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        assert_eq!(super::send(&a, b"ping").unwrap(), 4);
        assert_eq!(super::recv(&b, &mut buf).unwrap(), 4);
        assert_eq!(&buf[..4], b"ping");
        // The peer gone: a read sees end of stream, a write fails with EPIPE (MSG_NOSIGNAL:
        // an error, not a signal).
        drop(a);
        assert_eq!(super::recv(&b, &mut buf).unwrap(), 0);
        let e = super::send(&b, b"late").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
        // A bad descriptor is EBADF from the kernel, not a crash.
        let e = super::recv(&-1, &mut buf).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EBADF));
    }

    #[test]
    fn an_interrupted_non_blocking_connect_is_in_progress_not_failed() {
        // POSIX: a connect interrupted by a signal goes on asynchronously, like EINPROGRESS;
        // calling connect again would fail with EALREADY, so the socket's writability (and
        // SO_ERROR) decides, as for EINPROGRESS.
        for errno in [libc::EINPROGRESS, libc::EINTR] {
            let r = super::connect_outcome(Err(io::Error::from_raw_os_error(errno)));
            assert!(r.is_ok(), "errno {errno}: {r:?}");
        }
        assert!(super::connect_outcome(Ok(0)).is_ok());
        let e = super::connect_outcome(Err(io::Error::from_raw_os_error(libc::ECONNREFUSED)))
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
    }

    #[test]
    fn ip_socket_addresses_round_trip_with_ipv6_flow_info_and_scope_id() {
        use std::net::{SocketAddr, SocketAddrV6};
        let v6 = SocketAddr::V6(SocketAddrV6::new(
            "fe80::1:2".parse().unwrap(),
            8443,
            0x000a_bcde,
            7,
        ));
        for addr in [v6, "192.0.2.9:53".parse().unwrap()] {
            let (storage, len) = super::sockaddr_of(&addr);
            let want = match addr {
                SocketAddr::V4(_) => std::mem::size_of::<libc::sockaddr_in>(),
                SocketAddr::V6(_) => std::mem::size_of::<libc::sockaddr_in6>(),
            };
            assert_eq!(len as usize, want);
            assert_eq!(super::socket_addr_of(&storage), Some(addr));
        }
    }

    #[test]
    fn unix_addresses_decode_unnamed_truncated_pathname_and_abstract() {
        use std::os::linux::net::SocketAddrExt;
        let base = std::mem::offset_of!(libc::sockaddr_un, sun_path) as libc::socklen_t;
        let (a, len) = super::unix_sockaddr(std::path::Path::new("/tmp/x.sock")).unwrap();
        let got = super::unix_addr_of(&a, len).unwrap();
        assert_eq!(got.as_pathname(), Some(std::path::Path::new("/tmp/x.sock")));
        // A length past the structure (a truncated address) reads only the structure.
        let got = super::unix_addr_of(&a, len + 4096).unwrap();
        assert_eq!(got.as_pathname(), Some(std::path::Path::new("/tmp/x.sock")));
        assert!(super::unix_addr_of(&a, base).unwrap().is_unnamed());
        let (a, len) = super::unix_sockaddr(std::path::Path::new("\0ab")).unwrap();
        assert_eq!(len, base + 3);
        let got = super::unix_addr_of(&a, len).unwrap();
        assert_eq!(got.as_abstract_name(), Some(&b"ab"[..]));
    }
}
