//! The only unsafe code of the extension: releasing the GIL around the selector wait, the
//! few system calls the transports and descriptor watchers make on descriptors that
//! Python's `socket` objects own (some of them straight into Python memory: a fresh
//! `bytes` object, a protocol's buffer; the I/O ones as plain `syscall(2)`s on Linux,
//! not libc's cancellation-point wrappers: see `raw`; and the accept loop's `accept4`, the
//! one through libc's wrapper, once per connection, with `inet_ntop` naming an IPv6
//! peer), and the hot path of `call_soon`: a raw
//! `METH_FASTCALL` entry point, a callback run inside `PyContext_Enter`/`PyContext_Exit`
//! (C functions outside the 3.11 limited API, declared here; the transports' I/O steps
//! enter their context with them too, and take it with `PyContext_CopyCurrent`), and
//! `SoonEntry`, the `Handle` reference queued as a thin engine entry; `get_debug`/
//! `create_future` as raw `METH_NOARGS` methods (every `Future` asks the first, every
//! stream wait the second); and the socket transport's `write`/`is_closing` as raw
//! methods (every stream write calls both); and `call_soon`'s handle type, built by hand
//! as a type the cycle collector does not count (`SoonObject`).
//!
//! The TLS feed's memory views, at the end: a chunk of the read buffer lent to
//! `ssl.MemoryBIO.write` (`BioWriter`), and a `bytes` object filled in place by
//! `_ssl._SSLSocket.read` and cut to size with `_PyBytes_Resize` (`NewBytes`, outside the
//! limited API too); a `MemoryBIO`'s `pending` read through its getset's `__get__` slot
//! (`BioPending`).
//!
//! Calls by the vectorcall protocol (`call`, `call_method`, `CallMethod0`:
//! `PyObject_Vectorcall`/`PyObject_VectorcallMethod`, outside the 3.11 limited API): no
//! argument tuple and no bound method per call. A TCP transport's set-up names
//! (`sock_name`: `getsockname`/`getpeername`, and `set_nodelay`).
//!
//! Each function is a safe front: it checks its preconditions or documents why the caller
//! cannot break them.

use std::io;
use std::os::fd::RawFd;

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

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

/// Runs the system call `call` (a `-1`/`errno` result) until it is not interrupted by a
/// signal (`EINTR`): the retry every I/O call of this file makes.
#[inline(always)]
fn retry(mut call: impl FnMut() -> isize) -> io::Result<usize> {
    loop {
        match cvt(call()) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// The I/O system calls as plain `syscall(2)`s on Linux.
///
/// Not through libc's wrappers: glibc's `recv`, `send`, `read`, `write`, `sendmsg` and
/// `recvfrom` are thread cancellation points, and in a process with a second thread (any
/// `run_in_executor` or `to_thread` call starts one) each call then pays
/// `__pthread_enable_asynccancel`/`__pthread_disable_asynccancel` around the system call,
/// ~50 instructions. The extension never cancels a thread (nor does CPython), so the
/// calls go straight to the kernel, which costs the same whatever the thread count. The
/// result contract is libc's: `-1` with `errno` set on failure (`libc::syscall` sets it),
/// so [`cvt`] reads the error as before. On x86-64 the call is the `syscall` instruction
/// itself (libc's `syscall` function only moves registers: ~11 instructions a call, which
/// made the plain call dearer than libc's wrapper in a single-threaded process); on other
/// Linux targets libc's `syscall`; elsewhere libc's wrappers.
///
/// Each function is `unsafe` with the contract of the call it stands for: the pointers
/// describe memory valid for the call (writable where the kernel writes).
mod raw {
    use std::os::fd::RawFd;

    #[cfg(all(
        any(target_os = "linux", target_os = "android"),
        not(target_arch = "x86_64")
    ))]
    #[inline(always)]
    unsafe fn call6(nr: libc::c_long, a: [libc::c_long; 6]) -> isize {
        // SAFETY: the callers below pass the arguments of system call `nr` in its order,
        // each widened to a full register; the memory contract is theirs (see above).
        unsafe { libc::syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]) as isize }
    }

    /// On x86-64 the `syscall` instruction itself (libc's `syscall` function only moves
    /// the registers around it); a failure (`-4095..=-1`) is stored in `errno` and
    /// returned as `-1`, libc's contract.
    #[cfg(all(
        any(target_os = "linux", target_os = "android"),
        target_arch = "x86_64"
    ))]
    #[inline(always)]
    unsafe fn call6(nr: libc::c_long, a: [libc::c_long; 6]) -> isize {
        let ret: isize;
        // SAFETY: the x86-64 Linux system call convention: number in rax, arguments in
        // rdi, rsi, rdx, r10, r8, r9, result in rax, rcx and r11 clobbered, the user stack
        // untouched; memory may be read and written (no `nomem`), as the kernel does
        // through the callers' pointers, whose contract is theirs (see above).
        unsafe {
            std::arch::asm!(
                "syscall",
                inlateout("rax") nr as isize => ret,
                in("rdi") a[0],
                in("rsi") a[1],
                in("rdx") a[2],
                in("r10") a[3],
                in("r8") a[4],
                in("r9") a[5],
                lateout("rcx") _,
                lateout("r11") _,
                options(nostack),
            );
        }
        if (-4095..0).contains(&ret) {
            // SAFETY: `__errno_location` returns this thread's `errno`, valid to write.
            unsafe { *libc::__errno_location() = -ret as libc::c_int };
            return -1;
        }
        ret
    }

    /// `recvfrom(fd, ptr, len, flags, addr, alen)` (`recv` with null `addr`/`alen`).
    #[inline(always)]
    pub(super) unsafe fn recvfrom(
        fd: RawFd,
        ptr: *mut libc::c_void,
        len: usize,
        flags: libc::c_int,
        addr: *mut libc::sockaddr,
        alen: *mut libc::socklen_t,
    ) -> isize {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        // SAFETY: recvfrom(2)'s arguments in order; the caller vouches for the memory.
        return unsafe {
            call6(
                libc::SYS_recvfrom,
                [
                    fd.into(),
                    ptr as _,
                    len as _,
                    flags.into(),
                    addr as _,
                    alen as _,
                ],
            )
        };
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        // SAFETY: the caller vouches for the memory.
        return unsafe { libc::recvfrom(fd, ptr, len, flags, addr, alen) };
    }

    /// `send(fd, ptr, len, flags)`.
    #[inline(always)]
    pub(super) unsafe fn send(
        fd: RawFd,
        ptr: *const libc::c_void,
        len: usize,
        flags: libc::c_int,
    ) -> isize {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        // SAFETY: sendto(fd, ptr, len, flags, NULL, 0) is send(2); the caller vouches for
        // the memory.
        return unsafe {
            call6(
                libc::SYS_sendto,
                [fd.into(), ptr as _, len as _, flags.into(), 0, 0],
            )
        };
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        // SAFETY: the caller vouches for the memory.
        return unsafe { libc::send(fd, ptr, len, flags) };
    }

    /// `sendmsg(fd, msg, flags)`.
    #[inline(always)]
    pub(super) unsafe fn sendmsg(fd: RawFd, msg: *const libc::msghdr, flags: libc::c_int) -> isize {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        // SAFETY: sendmsg(2)'s arguments in order; the caller vouches for `msg`.
        return unsafe {
            call6(
                libc::SYS_sendmsg,
                [fd.into(), msg as _, flags.into(), 0, 0, 0],
            )
        };
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        // SAFETY: the caller vouches for `msg`.
        return unsafe { libc::sendmsg(fd, msg, flags) };
    }

    /// `read(fd, ptr, len)`.
    #[inline(always)]
    pub(super) unsafe fn read(fd: RawFd, ptr: *mut libc::c_void, len: usize) -> isize {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        // SAFETY: read(2)'s arguments in order; the caller vouches for the memory.
        return unsafe { call6(libc::SYS_read, [fd.into(), ptr as _, len as _, 0, 0, 0]) };
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        // SAFETY: the caller vouches for the memory.
        return unsafe { libc::read(fd, ptr, len) };
    }

    /// `write(fd, ptr, len)`.
    #[inline(always)]
    pub(super) unsafe fn write(fd: RawFd, ptr: *const libc::c_void, len: usize) -> isize {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        // SAFETY: write(2)'s arguments in order; the caller vouches for the memory.
        return unsafe { call6(libc::SYS_write, [fd.into(), ptr as _, len as _, 0, 0, 0]) };
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        // SAFETY: the caller vouches for the memory.
        return unsafe { libc::write(fd, ptr, len) };
    }
}

/// `recv(fd, buf)`, retried on `EINTR`.
pub(crate) fn recv(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    let (ptr, len) = (buf.as_mut_ptr().cast(), buf.len());
    // SAFETY: `buf` is a valid writable region of `len` bytes for the call; a bad
    // descriptor makes the call fail with EBADF, never undefined behaviour.
    retry(|| unsafe { raw::recvfrom(fd, ptr, len, 0, std::ptr::null_mut(), std::ptr::null_mut()) })
}

/// `recv(fd, ...)` straight into a Python buffer (a `BufferedProtocol`'s `get_buffer()`),
/// retried on `EINTR`; `None` when the buffer is not a writable C-contiguous buffer
/// (the caller then lets Python's `socket.recv_into` take it, errors and all).
pub(crate) fn recv_into_buffer(
    fd: RawFd,
    buf: &pyo3::buffer::PyUntypedBuffer,
) -> Option<io::Result<usize>> {
    if buf.readonly() || !buf.is_c_contiguous() {
        return None;
    }
    let len = buf.len_bytes();
    let ptr = buf.buf_ptr();
    // SAFETY: `buf` holds the exporter's buffer (`PyObject_GetBuffer`) for as long as it
    // lives: `ptr` stays valid for writes of `len` bytes (a `bytearray` cannot resize
    // while exported), the buffer is writable and contiguous (checked above), and the
    // GIL stays held across the call, so no Python code touches the memory meanwhile.
    Some(retry(|| unsafe {
        raw::recvfrom(fd, ptr, len, 0, std::ptr::null_mut(), std::ptr::null_mut())
    }))
}

/// `send(fd, buf, MSG_NOSIGNAL)`, retried on `EINTR`.
pub(crate) fn send(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    let (ptr, len) = (buf.as_ptr().cast(), buf.len());
    // SAFETY: `buf` is valid for reads of `len` bytes; MSG_NOSIGNAL turns a broken pipe
    // into EPIPE instead of SIGPIPE.
    retry(|| unsafe { raw::send(fd, ptr, len, libc::MSG_NOSIGNAL) })
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

/// `read(fd, buf)`, retried on `EINTR`: the pipe transports' read (pipes and character
/// devices have no `recv`).
pub(crate) fn read(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    let (ptr, len) = (buf.as_mut_ptr().cast(), buf.len());
    // SAFETY: `buf` is a valid writable region of `len` bytes for the call; a bad
    // descriptor makes the call fail with EBADF, never undefined behaviour.
    retry(|| unsafe { raw::read(fd, ptr, len) })
}

/// `write(fd, buf)`, retried on `EINTR`. A pipe whose reader is gone gives `EPIPE`:
/// Python ignores `SIGPIPE` at start-up, as the stock loop relies on too.
pub(crate) fn write(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    let (ptr, len) = (buf.as_ptr().cast(), buf.len());
    // SAFETY: `buf` is valid for reads of `len` bytes for the call.
    retry(|| unsafe { raw::write(fd, ptr, len) })
}

/// Takes `obj` out of the cycle collector's lists.
///
/// For the callback handles: their classes report no references to the collector (no
/// `__traverse__`), so tracking them finds no cycle and only costs a visit in every
/// collection, which dominated `call_soon` with many handles pending.
pub(crate) fn untrack_gc(obj: &pyo3::Bound<'_, pyo3::PyAny>) {
    let p = obj.as_ptr();
    // SAFETY: `p` is a live object (borrowed under the GIL, which `Bound` proves). Both
    // calls accept any object: `PyObject_GC_IsTracked` is 0 for one the collector does not
    // track, and untracking a tracked object only unlinks it (its deallocator's own
    // untrack is then a no-op).
    unsafe {
        if ffi::PyObject_GC_IsTracked(p) == 1 {
            ffi::PyObject_GC_UnTrack(p.cast());
        }
    }
}

/// The most buffers one [`send_vectored`] call passes (well under `IOV_MAX`).
pub(crate) const MAX_IOV: usize = 64;

/// `sendmsg(fd, bufs, MSG_NOSIGNAL)`: sends from several buffers in one call (at most
/// [`MAX_IOV`] of them are used), retried on `EINTR`.
pub(crate) fn send_vectored(fd: RawFd, bufs: &[&[u8]]) -> io::Result<usize> {
    let mut iov = [libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    }; MAX_IOV];
    let k = bufs.len().min(MAX_IOV);
    for (v, b) in iov.iter_mut().zip(bufs) {
        v.iov_base = b.as_ptr() as *mut libc::c_void;
        v.iov_len = b.len();
    }
    // SAFETY: a zeroed msghdr is a valid empty one (no address, no control data).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov.as_mut_ptr();
    msg.msg_iovlen = k as _;
    // SAFETY: `msg` points at `k` iovecs, each describing a live slice of `bufs` valid
    // for reads for the call (the kernel only reads through them); MSG_NOSIGNAL turns a
    // broken pipe into EPIPE instead of SIGPIPE.
    retry(|| unsafe { raw::sendmsg(fd, &msg, libc::MSG_NOSIGNAL) })
}

/// `recvfrom(fd, buf)` on an IPv4 datagram socket, retried on `EINTR`: the byte count
/// and the sender (`None` when the kernel gave no IPv4 address).
pub(crate) fn recvfrom_v4(
    fd: RawFd,
    buf: &mut [u8],
) -> io::Result<(usize, Option<std::net::SocketAddrV4>)> {
    // SAFETY: all-zero bytes are a valid `sockaddr_in` (plain integers).
    let mut addr: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    let (ptr, cap) = (buf.as_mut_ptr().cast(), buf.len());
    let n = retry(|| {
        let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        // SAFETY: `buf` is valid for writes of `cap` bytes; `addr` and `len` describe a
        // writable `sockaddr_in`, which the kernel fills up to `len` bytes.
        unsafe {
            raw::recvfrom(
                fd,
                ptr,
                cap,
                0,
                (&mut addr as *mut libc::sockaddr_in).cast(),
                &mut len,
            )
        }
    })?;
    let from = (addr.sin_family == libc::AF_INET as libc::sa_family_t).then(|| {
        std::net::SocketAddrV4::new(
            u32::from_be(addr.sin_addr.s_addr).into(),
            u16::from_be(addr.sin_port),
        )
    });
    Ok((n, from))
}

/// The peer of a connection [`accept_nonblocking`] took: an IPv4 address, or an IPv6
/// one as CPython's `socket.accept` gives it (the host as `inet_ntop(3)` writes it, the
/// port, flow info and scope id), or none for another family.
pub(crate) enum Peer {
    V4(std::net::SocketAddrV4),
    V6 {
        host: String,
        port: u16,
        flowinfo: u32,
        scope_id: u32,
    },
    Other,
}

/// `accept4(fd, SOCK_NONBLOCK | SOCK_CLOEXEC)`, retried on `EINTR` (as CPython's
/// `socket._accept` retries): the new descriptor, already non-blocking (no `ioctl`
/// afterwards, where CPython's accepts with `SOCK_CLOEXEC` only and `setblocking(False)`
/// costs a second system call), and its peer.
pub(crate) fn accept_nonblocking(fd: RawFd) -> io::Result<(std::os::fd::OwnedFd, Peer)> {
    // SAFETY: all-zero bytes are a valid `sockaddr_storage` (plain integers).
    let mut addr: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    let new = retry(|| {
        len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        // SAFETY: `addr` and `len` describe a writable `sockaddr_storage`, which the kernel
        // fills up to `len` bytes; a bad descriptor makes the call fail, never undefined
        // behaviour.
        unsafe {
            libc::accept4(
                fd,
                (&mut addr as *mut libc::sockaddr_storage).cast(),
                &mut len,
                libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            ) as isize
        }
    })? as RawFd;
    // SAFETY: `accept4` just returned `new`, a descriptor nothing else owns.
    let new = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(new) };
    let peer = peer_of(&addr, len)?; // on an error `new` is closed as it drops
    Ok((new, peer))
}

/// The address the kernel wrote into `addr` (`len` bytes of it), as [`Peer`] names it.
fn peer_of(addr: &libc::sockaddr_storage, len: libc::socklen_t) -> io::Result<Peer> {
    let family = libc::c_int::from(addr.ss_family);
    Ok(
        if family == libc::AF_INET && len as usize >= std::mem::size_of::<libc::sockaddr_in>() {
            // SAFETY: the kernel wrote a `sockaddr_in` (its family says so, and `len` covers
            // it) into `addr`, which is larger and at least as aligned.
            let a =
                unsafe { &*(addr as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Peer::V4(std::net::SocketAddrV4::new(
                u32::from_be(a.sin_addr.s_addr).into(),
                u16::from_be(a.sin_port),
            ))
        } else if family == libc::AF_INET6
            && len as usize >= std::mem::size_of::<libc::sockaddr_in6>()
        {
            // SAFETY: as above, for a `sockaddr_in6`.
            let a =
                unsafe { &*(addr as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            let mut buf = [0 as libc::c_char; INET6_ADDRSTRLEN];
            // SAFETY: `a.sin6_addr` is an `in6_addr`, what `AF_INET6` asks for, and `buf` holds
            // `INET6_ADDRSTRLEN` bytes, the longest text form with its NUL.
            let text = unsafe {
                inet_ntop(
                    libc::AF_INET6,
                    (&a.sin6_addr as *const libc::in6_addr).cast(),
                    buf.as_mut_ptr(),
                    buf.len() as libc::socklen_t,
                )
            };
            if text.is_null() {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: on success `inet_ntop` wrote a NUL-terminated string into `buf`.
            let host = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
            Peer::V6 {
                host: host.to_string_lossy().into_owned(),
                port: u16::from_be(a.sin6_port),
                flowinfo: u32::from_be(a.sin6_flowinfo),
                scope_id: a.sin6_scope_id,
            }
        } else {
            Peer::Other
        },
    )
}

/// `getsockname(2)` (`peer` false) or `getpeername(2)` (`peer` true) of `fd`, named as
/// CPython's `socket.getsockname`/`getpeername` name an IPv4 or IPv6 address.
pub(crate) fn sock_name(fd: RawFd, peer: bool) -> io::Result<Peer> {
    // SAFETY: all-zero bytes are a valid `sockaddr_storage` (plain integers).
    let mut addr: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    let p = (&mut addr as *mut libc::sockaddr_storage).cast();
    // SAFETY: `addr` and `len` describe a writable `sockaddr_storage`, which the kernel
    // fills up to `len` bytes; a bad descriptor makes the call fail, never undefined
    // behaviour.
    let r = unsafe {
        if peer {
            libc::getpeername(fd, p, &mut len)
        } else {
            libc::getsockname(fd, p, &mut len)
        }
    };
    cvt(r as isize)?;
    peer_of(&addr, len)
}

/// `setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, 1)` (`base_events._set_nodelay`).
pub(crate) fn set_nodelay(fd: RawFd) -> io::Result<()> {
    let one: libc::c_int = 1;
    // SAFETY: the option value is one `c_int`, pointed at by a live local, with its size;
    // a bad descriptor makes the call fail, never undefined behaviour.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    cvt(r as isize).map(drop)
}

/// `<netinet/in.h>`'s longest IPv6 text form, with its NUL (not in the `libc` crate).
const INET6_ADDRSTRLEN: usize = 46;

extern "C" {
    /// `<arpa/inet.h>`'s `inet_ntop(3)` (not in the `libc` crate): CPython's
    /// `socket.accept` names an IPv6 peer with it, so the text is the same.
    fn inet_ntop(
        af: libc::c_int,
        src: *const libc::c_void,
        dst: *mut libc::c_char,
        size: libc::socklen_t,
    ) -> *const libc::c_char;
}

/// How many bytes wait in `fd`'s receive queue (`ioctl(FIONREAD)`).
pub(crate) fn bytes_available(fd: RawFd) -> io::Result<usize> {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one `c_int` through the pointer, which points at `n`; a bad
    // descriptor makes the call fail, never undefined behaviour.
    let r = unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n as *mut libc::c_int) };
    cvt(r as isize)?;
    Ok(n.max(0) as usize)
}

/// `recv` of up to `len` bytes straight into a new `bytes` object, without the copy out
/// of a read buffer: `Ok(None)` at end of stream. A short read (fewer bytes than `len`)
/// is copied into a `bytes` of its own size. `len` must not be 0.
pub(crate) fn recv_bytes(py: Python<'_>, fd: RawFd, len: usize) -> io::Result<Option<Py<PyBytes>>> {
    debug_assert!(len > 0);
    let size = ffi::Py_ssize_t::try_from(len).map_err(|_| io::ErrorKind::InvalidInput)?;
    // SAFETY: with a null source, `PyBytes_FromStringAndSize` returns a new bytes object
    // of `size` uninitialised bytes (or null with an exception set); the GIL is held.
    let raw = unsafe { ffi::PyBytes_FromStringAndSize(std::ptr::null(), size) };
    if raw.is_null() {
        drop(PyErr::take(py));
        return Err(io::ErrorKind::OutOfMemory.into());
    }
    // SAFETY: `raw` is a new, owned reference to a bytes object.
    let obj = unsafe { Bound::from_owned_ptr(py, raw) };
    // SAFETY: `raw` is a bytes object of `len` bytes that nothing else references yet,
    // so writing its contents before handing it out is allowed (its hash is not computed
    // yet); the slice lives only while `obj` holds the object.
    let buf =
        unsafe { std::slice::from_raw_parts_mut(ffi::PyBytes_AsString(raw).cast::<u8>(), len) };
    let n = recv(fd, buf)?;
    if n == 0 {
        return Ok(None);
    }
    if n == len {
        return Ok(Some(
            obj.cast_into::<PyBytes>()
                .map_err(|_| io::ErrorKind::Other)?
                .unbind(),
        ));
    }
    Ok(Some(PyBytes::new(py, &buf[..n]).unbind()))
}

// C entry points exported by every CPython 3.x but outside the limited API that pyo3's
// `abi3` bindings cover: `contextvars`' (`cpython/context.h`) and the GIL check.
extern "C" {
    fn PyContext_Enter(ctx: *mut ffi::PyObject) -> std::os::raw::c_int;
    fn PyContext_Exit(ctx: *mut ffi::PyObject) -> std::os::raw::c_int;
    fn PyContext_CopyCurrent() -> *mut ffi::PyObject;
    fn PyGILState_Check() -> std::os::raw::c_int;
}

/// `context.run(callback, *args)` without building `Context.run`'s argument tuple:
/// enters `context`, calls `callback` with the `args` tuple as it is (or with its one
/// argument, through the vectorcall protocol, no tuple made for a callable that takes
/// it), and exits, as `Context.run` does in C. A `context` that is not a
/// `contextvars.Context` raises `TypeError`; one already entered (on any thread) raises
/// `RuntimeError`, both from `PyContext_Enter`, as `Context.run` does.
pub(crate) fn run_in_context(
    context: &Bound<'_, PyAny>,
    callback: &Bound<'_, PyAny>,
    args: &crate::handle::Args,
) -> PyResult<()> {
    let py = context.py();
    let ctx = context.as_ptr();
    // SAFETY: the GIL is held (`Bound` proves it) and `ctx` is a live object;
    // `PyContext_Enter` type-checks it and returns -1 with an exception set on failure.
    if unsafe { PyContext_Enter(ctx) } < 0 {
        return Err(PyErr::fetch(py));
    }
    let res = match args {
        // SAFETY: `callback` and the tuple are live (owned by the caller's `Call`); a
        // null `kwargs` means none. The result is a new reference or null with an
        // exception set.
        crate::handle::Args::Tuple(t) => unsafe {
            ffi::PyObject_Call(callback.as_ptr(), t.as_ptr(), std::ptr::null_mut())
        },
        // SAFETY: `callback` and `a` are live (owned by the caller's `Call`); the stack
        // holds a free slot before the one argument (`ARGUMENTS_OFFSET`), no keyword
        // names. Same result contract as above.
        crate::handle::Args::One(a) => unsafe {
            let stack = [std::ptr::null_mut(), a.as_ptr()];
            PyObject_Vectorcall(
                callback.as_ptr(),
                stack.as_ptr().add(1),
                1 | ARGUMENTS_OFFSET,
                std::ptr::null_mut(),
            )
        },
    };
    // SAFETY: taking the new reference (if any) at once, so it is released on every path.
    let res = unsafe { Bound::from_owned_ptr_or_err(py, res) };
    // SAFETY: `ctx` is the context entered above on this thread, still alive (`context`
    // borrows it); exiting it once is `PyContext_Enter`'s contract. It fails only if the
    // callback left the context in another state (then an exception is set).
    if unsafe { PyContext_Exit(ctx) } < 0 {
        return Err(PyErr::fetch(py));
    }
    res.map(drop)
}

// The vectorcall entry points, exported by every CPython from 3.9 on (in the limited API
// from 3.12; `abi3-py311` bindings do not declare them).
extern "C" {
    fn PyObject_Vectorcall(
        callable: *mut ffi::PyObject,
        args: *const *mut ffi::PyObject,
        nargsf: usize,
        kwnames: *mut ffi::PyObject,
    ) -> *mut ffi::PyObject;
    fn PyObject_VectorcallMethod(
        name: *mut ffi::PyObject,
        args: *const *mut ffi::PyObject,
        nargsf: usize,
        kwnames: *mut ffi::PyObject,
    ) -> *mut ffi::PyObject;
}

/// `PY_VECTORCALL_ARGUMENTS_OFFSET`: the callee may use the slot before `args[0]`.
const ARGUMENTS_OFFSET: usize = 1 << (usize::BITS - 1);

/// The most positional arguments [`call`] and [`call_method`] take.
const MAX_ARGS: usize = 3;

/// `f(*args)` through the vectorcall protocol: no argument tuple (pyo3's `call1` builds
/// one under `abi3` for 3.11). At most [`MAX_ARGS`] arguments.
pub(crate) fn call<'py>(
    f: &Bound<'py, PyAny>,
    args: &[&Bound<'py, PyAny>],
) -> PyResult<Bound<'py, PyAny>> {
    assert!(args.len() <= MAX_ARGS, "too many arguments");
    let mut stack = [std::ptr::null_mut::<ffi::PyObject>(); MAX_ARGS + 1];
    for (slot, a) in stack[1..].iter_mut().zip(args) {
        *slot = a.as_ptr();
    }
    // SAFETY: the GIL is held (`Bound` proves it); `f` and the arguments are live
    // references borrowed for the call; `stack[1..=len]` holds them, and `stack[0]` is
    // ours for the callee to use (`ARGUMENTS_OFFSET`); no keyword names. The result is a
    // new reference or null with an exception set.
    let r = unsafe {
        PyObject_Vectorcall(
            f.as_ptr(),
            stack.as_ptr().add(1),
            args.len() | ARGUMENTS_OFFSET,
            std::ptr::null_mut(),
        )
    };
    // SAFETY: taking that new reference (if any) at once.
    unsafe { Bound::from_owned_ptr_or_err(f.py(), r) }
}

/// `obj.name(*args)` through `PyObject_VectorcallMethod`: the method is found as
/// attribute lookup finds it, but a function or method descriptor of the class is called
/// with `obj` as its first argument, without a bound method (pyo3's `call_method1` makes
/// one, and an argument tuple, under `abi3` for 3.11). At most [`MAX_ARGS`] arguments.
pub(crate) fn call_method<'py>(
    obj: &Bound<'py, PyAny>,
    name: &Bound<'py, pyo3::types::PyString>,
    args: &[&Bound<'py, PyAny>],
) -> PyResult<Bound<'py, PyAny>> {
    assert!(args.len() <= MAX_ARGS, "too many arguments");
    let mut stack = [std::ptr::null_mut::<ffi::PyObject>(); MAX_ARGS + 1];
    stack[0] = obj.as_ptr();
    for (slot, a) in stack[1..].iter_mut().zip(args) {
        *slot = a.as_ptr();
    }
    // SAFETY: the GIL is held (`Bound` proves it); `name` is a `str`, and `obj` and the
    // arguments are live references borrowed for the call, in `stack[0..=len]` as the
    // call expects (the receiver first); no keyword names. The result is a new reference
    // or null with an exception set.
    let r = unsafe {
        PyObject_VectorcallMethod(
            name.as_ptr(),
            stack.as_ptr(),
            1 + args.len(),
            std::ptr::null_mut(),
        )
    };
    // SAFETY: taking that new reference (if any) at once.
    unsafe { Bound::from_owned_ptr_or_err(obj.py(), r) }
}

/// `obj.name()` through `PyObject_VectorcallMethod` ([`call_method`] with no arguments):
/// pyo3's `call_method0` under `abi3` for 3.11 goes through `PyObject_CallMethodObjArgs`,
/// which builds the same call from a C variadic list first.
pub(crate) trait CallMethod0<'py> {
    fn vcall_method0(
        &self,
        name: &Bound<'py, pyo3::types::PyString>,
    ) -> PyResult<Bound<'py, PyAny>>;
}

impl<'py, T> CallMethod0<'py> for Bound<'py, T> {
    #[inline]
    fn vcall_method0(
        &self,
        name: &Bound<'py, pyo3::types::PyString>,
    ) -> PyResult<Bound<'py, PyAny>> {
        call_method(self.as_any(), name, &[])
    }
}

/// `contextvars.copy_context()`: a new `Context` holding the current one's variables.
pub(crate) fn copy_context(py: Python<'_>) -> PyResult<Py<PyAny>> {
    // SAFETY: the GIL is held (`py` proves it); the result is a new reference, or null
    // with an exception set (out of memory).
    let ctx = unsafe { PyContext_CopyCurrent() };
    // SAFETY: taking that new reference (if any) at once.
    unsafe { Bound::from_owned_ptr_or_err(py, ctx) }.map(Bound::unbind)
}

/// Runs `f` inside `context` (a `contextvars.Context`), as `Context.run` does: entered
/// before, exited after, also if `f` panics. A context that cannot be entered (already
/// entered: a transport's callback running its own transport's I/O, which the loop never
/// does) is reported as unraisable and `f` runs in the current context.
pub(crate) fn in_context<R>(context: &Bound<'_, PyAny>, f: impl FnOnce() -> R) -> R {
    struct Exit<'a, 'py>(&'a Bound<'py, PyAny>);
    impl Drop for Exit<'_, '_> {
        fn drop(&mut self) {
            // SAFETY: `self.0` is the context entered below on this thread, still alive
            // (borrowed); exiting it once is `PyContext_Enter`'s contract. It fails only
            // if `f` left another context entered (then an exception is set).
            if unsafe { PyContext_Exit(self.0.as_ptr()) } < 0 {
                PyErr::fetch(self.0.py()).write_unraisable(self.0.py(), Some(self.0));
            }
        }
    }
    // SAFETY: the GIL is held (`Bound` proves it) and the object is live;
    // `PyContext_Enter` type-checks it and returns -1 with an exception set on failure.
    if unsafe { PyContext_Enter(context.as_ptr()) } < 0 {
        PyErr::fetch(context.py()).write_unraisable(context.py(), Some(context));
        return f();
    }
    let _exit = Exit(context);
    f()
}

/// The receiver of a raw method of the pyo3 class `T` (`LoopCore`, `SocketTransport`), as
/// CPython hands it to the `extern "C"` entry points below: the one preamble they share.
///
/// # Safety
/// Called only from such an entry point, which CPython calls through the method descriptor
/// [`install_method`] made on `T`'s type: the GIL is held (so the token is sound for the
/// call) and the descriptor checked that `slf` is an instance of `T` (or of a subclass),
/// a live reference borrowed for the call, which the returned `Bound` does not outlive.
#[inline(always)]
unsafe fn slf_as<'py, T: pyo3::PyClass>(slf: *mut ffi::PyObject) -> (Python<'py>, Bound<'py, T>) {
    // SAFETY: CPython holds the GIL across a method call (see above).
    let py = unsafe { Python::assume_attached() };
    // SAFETY: `slf` is a live borrowed reference (see above).
    let this = unsafe { Bound::from_borrowed_ptr(py, slf) };
    // SAFETY: the descriptor checked the type (see above).
    (py, unsafe { this.cast_into_unchecked::<T>() })
}

/// `LoopCore.call_soon(callback, *args, context=None)` as a raw `METH_FASTCALL |
/// METH_KEYWORDS` method: the hottest call of every asyncio program (each task step, each
/// future's done callback goes through it), where pyo3's general argument parser cost a
/// third of the call. This one reads the positional arguments straight from the vector
/// and matches the one keyword by identity with the interned name first.
///
/// # Safety
/// Called by CPython only, through the method descriptor `install_loop_methods` makes: the
/// GIL is held, `slf` is an instance of `LoopCore` (the descriptor checks it), `args`
/// holds `nargs` positional arguments followed by one value per name in `kwnames` (a tuple
/// of strings, or null).
unsafe extern "C" fn call_soon_fastcall(
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: CPython holds the GIL across a method call (see above).
    let py = unsafe { Python::assume_attached() };
    let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: the argument vector's contract (see above): `nargs` positional entries
        // and one per keyword name, each a live borrowed reference for the call.
        unsafe { call_soon_args(py, slf, args, nargs, kwnames) }
    }));
    let res = match res {
        Ok(r) => r,
        Err(_) => Err(pyo3::exceptions::PyRuntimeError::new_err(
            "call_soon panicked",
        )),
    };
    match res {
        Ok(h) => h.into_ptr(),
        Err(e) => {
            e.restore(py);
            std::ptr::null_mut()
        }
    }
}

/// The parsing half of [`call_soon_fastcall`].
///
/// # Safety
/// As [`call_soon_fastcall`].
unsafe fn call_soon_args(
    py: Python<'_>,
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> PyResult<Py<PyAny>> {
    use pyo3::exceptions::PyTypeError;
    use pyo3::types::PyTuple;
    let nargs = usize::try_from(nargs).unwrap_or(0);
    // SAFETY: `slf` is `call_soon_fastcall`'s receiver, a `LoopCore` (see above).
    let (_, this) = unsafe { slf_as::<crate::core::LoopCore>(slf) };
    let nkw = if kwnames.is_null() {
        0
    } else {
        // SAFETY: a non-null `kwnames` is a live tuple of strings.
        let names = unsafe { Bound::from_borrowed_ptr(py, kwnames) };
        names.cast::<PyTuple>()?.len()
    };
    // An empty vector may be a dangling pointer: no slice is made of it.
    let all: &[*mut ffi::PyObject] = if nargs + nkw == 0 {
        &[]
    } else {
        // SAFETY: `args` holds `nargs + nkw` live borrowed references (see above).
        unsafe { std::slice::from_raw_parts(args, nargs + nkw) }
    };
    let Some((&cb, rest)) = all[..nargs].split_first() else {
        return Err(PyTypeError::new_err(
            "call_soon() missing 1 required positional argument: 'callback'",
        ));
    };
    let mut context = None;
    if nkw > 0 {
        // SAFETY: checked non-null above (`nkw > 0`); a live tuple of strings.
        let names = unsafe { Bound::from_borrowed_ptr(py, kwnames) };
        let names = names.cast_into::<PyTuple>()?;
        for (i, name) in names.iter().enumerate() {
            if !is_context_name(&name) {
                return Err(PyTypeError::new_err(format!(
                    "call_soon() got an unexpected keyword argument '{name}'"
                )));
            }
            // SAFETY: the value of keyword `i` follows the positional arguments.
            context = Some(unsafe { Bound::from_borrowed_ptr(py, all[nargs + i]) });
        }
    }
    // SAFETY: `cb` is a live borrowed reference (the first positional argument).
    let callback = unsafe { Bound::from_borrowed_ptr(py, cb) };
    let args = match rest {
        [] => crate::handle::Args::Tuple(PyTuple::empty(py).unbind()),
        // SAFETY: a live borrowed reference; the handle takes a new one.
        [one] => crate::handle::Args::One(unsafe { Bound::from_borrowed_ptr(py, *one) }.unbind()),
        _ => crate::handle::Args::Tuple(
            PyTuple::new(
                py,
                rest.iter().map(|&p| {
                    // SAFETY: each entry is a live borrowed reference; the tuple takes new
                    // ones.
                    unsafe { pyo3::Borrowed::from_ptr(py, p) }
                }),
            )?
            .unbind(),
        ),
    };
    this.get().schedule_soon(py, callback, args, context)
}

/// The other string object spelled `context` that callers pass as a keyword name (C
/// code's static one: `_asyncio`'s tasks and futures), kept alive so its address stays
/// its own.
static CONTEXT_NAME: pyo3::sync::PyOnceLock<Py<PyAny>> = pyo3::sync::PyOnceLock::new();

/// Whether keyword name `name` is `context`: by identity with the interned name (Python
/// callers) or the one remembered in [`CONTEXT_NAME`], else by its characters.
fn is_context_name(name: &Bound<'_, PyAny>) -> bool {
    let py = name.py();
    if name.is(pyo3::intern!(py, "context")) || CONTEXT_NAME.get(py).is_some_and(|n| name.is(n)) {
        return true;
    }
    let Ok(s) = name.cast::<pyo3::types::PyString>() else {
        return false;
    };
    if s.to_str().ok() != Some("context") {
        return false;
    }
    let _ = CONTEXT_NAME.get_or_init(py, || name.clone().unbind());
    true
}

/// Puts the raw method `def` (leaked: a method table entry must outlive its type) on the
/// type `ty` under `def.ml_name`, in place of any method of that name pyo3 made.
fn install_method(
    ty: &Bound<'_, pyo3::types::PyType>,
    name: &str,
    def: ffi::PyMethodDef,
) -> PyResult<()> {
    let py = ty.py();
    let def: &'static mut ffi::PyMethodDef = Box::leak(Box::new(def));
    // SAFETY: `ty` is a live type object (the GIL is held: `Bound`), and `def` lives
    // forever; the result is a new reference or null with an exception set.
    let descr = unsafe { ffi::PyDescr_NewMethod(ty.as_ptr().cast(), def) };
    // SAFETY: taking the new reference at once.
    let descr = unsafe { Bound::from_owned_ptr_or_err(py, descr) }?;
    ty.setattr(name, descr)
}

/// Replaces `LoopCore.call_soon` (pyo3's method) by [`call_soon_fastcall`], which takes
/// the same arguments and does the same work, with a cheaper argument parser; and puts
/// `get_debug` and `create_future` on the class as raw `METH_NOARGS` methods (every
/// `Future` and `Task` asks the loop's `get_debug`, every stream read waits on a
/// `create_future`), without pyo3's call bookkeeping.
pub(crate) fn install_loop_methods(ty: &Bound<'_, pyo3::types::PyType>) -> PyResult<()> {
    install_method(
        ty,
        "call_soon",
        ffi::PyMethodDef {
            ml_name: c"call_soon".as_ptr(),
            ml_meth: ffi::PyMethodDefPointer {
                PyCFunctionFastWithKeywords: call_soon_fastcall,
            },
            ml_flags: ffi::METH_FASTCALL | ffi::METH_KEYWORDS,
            ml_doc: c"call_soon($self, callback, *args, context=None)\n--\n\nSchedules `callback(*args)` for the next iteration; returns an `asyncio.Handle`-like\nhandle.".as_ptr(),
        },
    )?;
    install_method(
        ty,
        "get_debug",
        ffi::PyMethodDef {
            ml_name: c"get_debug".as_ptr(),
            ml_meth: ffi::PyMethodDefPointer {
                PyCFunction: get_debug_noargs,
            },
            ml_flags: ffi::METH_NOARGS,
            ml_doc: c"get_debug($self)\n--\n\nWhether debug mode is on.".as_ptr(),
        },
    )?;
    install_method(
        ty,
        "create_future",
        ffi::PyMethodDef {
            ml_name: c"create_future".as_ptr(),
            ml_meth: ffi::PyMethodDefPointer {
                PyCFunction: create_future_noargs,
            },
            ml_flags: ffi::METH_NOARGS,
            ml_doc: c"create_future($self)\n--\n\n`asyncio.futures.Future(loop=self)`, as asyncio's `create_future` makes it.".as_ptr(),
        },
    )
}

/// `LoopCore.get_debug()` as a raw `METH_NOARGS` method (see [`install_loop_methods`]).
///
/// # Safety
/// Called by CPython only, through the method descriptor `install_loop_methods` makes: the
/// GIL is held and `slf` is an instance of `LoopCore` (the descriptor checks it).
unsafe extern "C" fn get_debug_noargs(
    slf: *mut ffi::PyObject,
    _args: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: a raw method of `LoopCore` called by CPython (see above).
    let (py, this) = unsafe { slf_as::<crate::core::LoopCore>(slf) };
    pyo3::types::PyBool::new(py, this.get().flags.debug())
        .to_owned()
        .into_ptr()
}

/// `LoopCore.create_future()` as a raw `METH_NOARGS` method (see
/// [`install_loop_methods`] and `core::new_future`).
///
/// # Safety
/// As [`get_debug_noargs`].
unsafe extern "C" fn create_future_noargs(
    slf: *mut ffi::PyObject,
    _args: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: a raw method of `LoopCore` called by CPython (see above).
    let (py, this) = unsafe { slf_as::<crate::core::LoopCore>(slf) };
    raw_return(py, "create_future", || {
        crate::core::new_future(this.as_any()).map(Bound::unbind)
    })
}

/// Runs a raw method's body `f` and hands its outcome to CPython: a new reference, or
/// null with the exception set (a panic becomes a `RuntimeError` naming the method `what`,
/// with the panic's message when it has one, as pyo3's methods report it).
fn raw_return(
    py: Python<'_>,
    what: &str,
    f: impl FnOnce() -> PyResult<Py<PyAny>>,
) -> *mut ffi::PyObject {
    let res = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned());
            Err(pyo3::exceptions::PyRuntimeError::new_err(match msg {
                Some(m) => format!("{what} panicked: {m}"),
                None => format!("{what} panicked"),
            }))
        }
    };
    match res {
        Ok(r) => r.into_ptr(),
        Err(e) => {
            e.restore(py);
            std::ptr::null_mut()
        }
    }
}

/// Puts `write` (`METH_FASTCALL | METH_KEYWORDS`) and `is_closing` (`METH_NOARGS`) on the Rust `SocketTransport`
/// class as raw methods in place of pyo3's: every stream write calls both (`write`, then
/// `drain`'s `is_closing`), and pyo3's trampoline and argument parser cost more than the
/// work. The Python wrapper binds them once per transport (`simul._loop.SocketTransport`),
/// so a call is a plain C call of a bound builtin.
pub(crate) fn install_transport_methods(ty: &Bound<'_, pyo3::types::PyType>) -> PyResult<()> {
    install_method(
        ty,
        "write",
        ffi::PyMethodDef {
            ml_name: c"write".as_ptr(),
            ml_meth: ffi::PyMethodDefPointer {
                PyCFunctionFastWithKeywords: transport_write_fastcall,
            },
            ml_flags: ffi::METH_FASTCALL | ffi::METH_KEYWORDS,
            ml_doc: c"write($self, data)\n--\n\nQueues `data` for sending (sends at once when nothing is queued).".as_ptr(),
        },
    )?;
    install_method(
        ty,
        "is_closing",
        ffi::PyMethodDef {
            ml_name: c"is_closing".as_ptr(),
            ml_meth: ffi::PyMethodDefPointer {
                PyCFunction: transport_is_closing_noargs,
            },
            ml_flags: ffi::METH_NOARGS,
            ml_doc: c"is_closing($self)\n--\n\nWhether the transport is closing or closed."
                .as_ptr(),
        },
    )
}

/// `SocketTransport.write(data)` as a raw `METH_FASTCALL | METH_KEYWORDS` method (see
/// [`install_transport_methods`]): `data` by position or by name, as the stock loop's
/// Python `write(self, data)` takes it.
///
/// # Safety
/// Called by CPython only, through the method descriptor `install_transport_methods`
/// makes: the GIL is held, `slf` is an instance of `SocketTransport` (the descriptor
/// checks it), `args` holds `nargs` positional arguments followed by one value per name in
/// `kwnames` (a tuple of strings, or null), all borrowed for the call.
unsafe extern "C" fn transport_write_fastcall(
    slf: *mut ffi::PyObject,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: a raw method of `SocketTransport` called by CPython (see above).
    let (py, this) = unsafe { slf_as::<crate::transport::SocketTransport>(slf) };
    // SAFETY: the argument vector's contract (see above).
    let data = unsafe { one_argument(py, "write", "data", args, nargs, kwnames) };
    raw_return(py, "write", || {
        // `borrow` checks the thread (the class is unsendable).
        this.borrow().write(py, &data?).map(|()| py.None())
    })
}

/// The one argument `name` of the method `what`, given by position or by name, from a
/// fastcall argument vector; a `TypeError` worded as Python's for any other shape.
///
/// # Safety
/// `args` holds `nargs` positional arguments followed by one value per name in `kwnames`
/// (a tuple of strings, or null), each a live reference borrowed for the call.
unsafe fn one_argument<'py>(
    py: Python<'py>,
    what: &str,
    name: &str,
    args: *const *mut ffi::PyObject,
    nargs: ffi::Py_ssize_t,
    kwnames: *mut ffi::PyObject,
) -> PyResult<Bound<'py, PyAny>> {
    use pyo3::exceptions::PyTypeError;
    let nargs = usize::try_from(nargs).unwrap_or(0);
    if nargs == 1 && kwnames.is_null() {
        // SAFETY: one positional argument (see above).
        return Ok(unsafe { Bound::from_borrowed_ptr(py, *args) });
    }
    let names = if kwnames.is_null() {
        None
    } else {
        // SAFETY: a non-null `kwnames` is a live tuple of strings.
        Some(unsafe { Bound::from_borrowed_ptr(py, kwnames) }.cast_into::<pyo3::types::PyTuple>()?)
    };
    let nkw = names.as_ref().map_or(0, |n| n.len());
    if nargs == 1 && nkw == 0 {
        // SAFETY: one positional argument (see above).
        return Ok(unsafe { Bound::from_borrowed_ptr(py, *args) });
    }
    if nargs + nkw > 1 {
        return Err(PyTypeError::new_err(format!(
            "{what}() takes 1 argument ({} given)",
            nargs + nkw
        )));
    }
    let Some(names) = names.filter(|_| nkw == 1) else {
        return Err(PyTypeError::new_err(format!(
            "{what}() missing 1 required positional argument: '{name}'"
        )));
    };
    let key = names.get_item(0)?;
    if key.cast::<pyo3::types::PyString>()?.to_str()? != name {
        return Err(PyTypeError::new_err(format!(
            "{what}() got an unexpected keyword argument '{key}'"
        )));
    }
    // SAFETY: the keyword's value is the vector's only entry (no positional ones).
    Ok(unsafe { Bound::from_borrowed_ptr(py, *args) })
}

/// `SocketTransport.is_closing()` as a raw `METH_NOARGS` method (see
/// [`install_transport_methods`]).
///
/// # Safety
/// Called by CPython only, through the method descriptor `install_transport_methods`
/// makes: the GIL is held and `slf` is an instance of `SocketTransport` (the descriptor
/// checks it), borrowed for the call.
unsafe extern "C" fn transport_is_closing_noargs(
    slf: *mut ffi::PyObject,
    _args: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: a raw method of `SocketTransport` called by CPython (see above).
    let (py, this) = unsafe { slf_as::<crate::transport::SocketTransport>(slf) };
    raw_return(py, "is_closing", || {
        let closing = this.borrow().is_closing();
        Ok(pyo3::types::PyBool::new(py, closing)
            .to_owned()
            .into_any()
            .unbind())
    })
}

/// Runs a loop callback's body `f` with the GIL token, without pyo3's attach bookkeeping
/// (thread-local counters read and written twice per callback).
///
/// Only for the closures `LoopCore` puts into simul's ready queue and timer wheel
/// (`call_soon`, `call_at`, `call_soon_threadsafe`), `call_soon`'s [`SoonEntry`], and the
/// polls of the tasks the
/// transports and descriptor watchers spawn: simul's loop runs callbacks and polls tasks
/// only inside `EventLoop::run_forever`, on the loop's thread, which `LoopCore._run` (a
/// Python method: the GIL is held) calls; the park hook gives the GIL up only around the
/// selector wait, where nothing runs. Dropping a closure or a task without running it
/// (cancel, close) does not come here.
#[inline(always)]
pub(crate) fn in_loop_callback<R>(f: impl FnOnce(Python<'_>) -> R) -> R {
    // SAFETY: see above: the thread holds the GIL whenever simul runs a loop callback.
    debug_assert!(unsafe { PyGILState_Check() } == 1);
    // SAFETY: as above; the token does not outlive `f`.
    let py = unsafe { Python::assume_attached() };
    f(py)
}

/// `call_soon`'s entry in simul's ready queue: the handle object's reference itself (a
/// [`SoonObject`]), one pointer, so simul queues it with no allocation of its own
/// (`simul::call_soon_thin`). Running it runs the handle (which knows whether it was
/// cancelled) with the flags of the loop running callbacks (`core::callback_flags`);
/// dropping it unrun (the loop shut down) releases the reference.
pub(crate) struct SoonEntry(std::ptr::NonNull<ffi::PyObject>);

impl SoonEntry {
    /// The entry of `handle`, a handle object from [`new_soon_handle`].
    pub(crate) fn new(handle: Py<PyAny>) -> SoonEntry {
        let ptr = handle.into_ptr();
        SoonEntry(std::ptr::NonNull::new(ptr).expect("a Python object pointer is not null"))
    }
}

// SAFETY: `into_ptr` gives up the entry's strong reference to the pointer (the entry is
// forgotten, not dropped), and `from_ptr` wraps that pointer again, owning the reference
// once more; simul calls `from_ptr` once per `into_ptr`.
unsafe impl simul::ThinCallback for SoonEntry {
    fn into_ptr(self) -> std::ptr::NonNull<()> {
        std::mem::ManuallyDrop::new(self).0.cast()
    }

    unsafe fn from_ptr(ptr: std::ptr::NonNull<()>) -> SoonEntry {
        SoonEntry(ptr.cast())
    }

    fn run(self) {
        let ptr = std::mem::ManuallyDrop::new(self).0;
        in_loop_callback(|py| {
            // SAFETY: `ptr` is the strong reference `new` took from a handle object, and
            // `ManuallyDrop` hands it to this `Bound` alone.
            let obj = unsafe { Bound::from_owned_ptr(py, ptr.as_ptr()) };
            // SAFETY: `new`'s objects are `SoonObject`s (made by `new_soon_handle`: the
            // only caller is `LoopCore::schedule_soon`), alive while `obj` holds them.
            let h = unsafe { soon_handle_unchecked(ptr.as_ptr()) };
            crate::handle::run(py, h, &obj, &crate::core::callback_flags());
        })
    }
}

impl Drop for SoonEntry {
    fn drop(&mut self) {
        // Cold: a loop closed with the entry queued (the GIL is held there; `attach` only
        // makes sure of it).
        Python::attach(|py| {
            // SAFETY: the entry owns this strong reference (see `run`), released once here.
            drop(unsafe { Bound::<PyAny>::from_owned_ptr(py, self.0.as_ptr()) });
        });
    }
}

/// `call_soon`'s handle object: a [`Handle`](crate::handle::Handle) in a Python object of
/// a type of its own, built here without `Py_TPFLAGS_HAVE_GC` (pyo3 gives every class
/// that flag). Handles take no part in the cycle collector (see `handle.rs`), but an
/// object of a GC type still counts as an allocation towards the collector's next
/// collection: with 100,000 tasks' steps queued, their handles alone brought on a seventh
/// of the young collections, and with them one of the full ones that walk every live
/// object. This type's objects do not count. The type is named `Handle`, as asyncio's,
/// and has the methods of the pyo3 `Handle` (`cancel`, `cancelled`, `get_context`,
/// `_run`, the repr); it cannot be instantiated from Python.
#[repr(C)]
struct SoonObject {
    ob_base: ffi::PyObject,
    handle: crate::handle::Handle,
}

static SOON_TYPE: pyo3::sync::PyOnceLock<Py<pyo3::types::PyType>> = pyo3::sync::PyOnceLock::new();

/// Builds `call_soon`'s handle type (see [`SoonObject`]); once, at module set-up.
pub(crate) fn install_soon_type(py: Python<'_>) -> PyResult<()> {
    let def =
        |name: &'static std::ffi::CStr,
         f: unsafe extern "C" fn(*mut ffi::PyObject, *mut ffi::PyObject) -> *mut ffi::PyObject,
         doc: &'static std::ffi::CStr| ffi::PyMethodDef {
            ml_name: name.as_ptr(),
            ml_meth: ffi::PyMethodDefPointer { PyCFunction: f },
            ml_flags: ffi::METH_NOARGS,
            ml_doc: doc.as_ptr(),
        };
    // Leaked: a type's method table and slots must outlive it (it lives until exit).
    let methods: &'static mut [ffi::PyMethodDef; 5] = Box::leak(Box::new([
        def(
            c"cancel",
            soon_cancel,
            c"Keeps the callback from running (if it has not run yet) and drops it.",
        ),
        def(
            c"cancelled",
            soon_cancelled,
            c"Whether `cancel()` was called.",
        ),
        def(
            c"get_context",
            soon_get_context,
            c"The `contextvars.Context` the callback runs in (`None` once it is gone).",
        ),
        def(
            c"_run",
            soon_run_by_hand,
            c"Runs the callback now, as the loop would (asyncio's `Handle._run`).",
        ),
        ffi::PyMethodDef::zeroed(),
    ]));
    let slots: &'static mut [ffi::PyType_Slot; 5] = Box::leak(Box::new([
        ffi::PyType_Slot {
            slot: ffi::Py_tp_dealloc,
            pfunc: soon_dealloc as *mut std::ffi::c_void,
        },
        ffi::PyType_Slot {
            slot: ffi::Py_tp_repr,
            pfunc: soon_repr as *mut std::ffi::c_void,
        },
        ffi::PyType_Slot {
            slot: ffi::Py_tp_methods,
            pfunc: methods.as_mut_ptr().cast(),
        },
        ffi::PyType_Slot {
            slot: ffi::Py_tp_doc,
            pfunc: c"asyncio's `Handle`: a callback scheduled by `call_soon`."
                .as_ptr()
                .cast_mut()
                .cast(),
        },
        ffi::PyType_Slot {
            slot: 0,
            pfunc: std::ptr::null_mut(),
        },
    ]));
    let spec: &'static mut ffi::PyType_Spec = Box::leak(Box::new(ffi::PyType_Spec {
        name: c"simul._simul.Handle".as_ptr(),
        basicsize: std::mem::size_of::<SoonObject>() as std::os::raw::c_int,
        itemsize: 0,
        flags: (ffi::Py_TPFLAGS_DEFAULT | ffi::Py_TPFLAGS_DISALLOW_INSTANTIATION)
            as std::os::raw::c_uint,
        slots: slots.as_mut_ptr(),
    }));
    // SAFETY: `spec` and everything it points to live forever (leaked above); the GIL is
    // held (`py`). The result is a new reference to the type, or null with an exception.
    let ty = unsafe { ffi::PyType_FromSpec(spec) };
    // SAFETY: taking that new reference (if any) at once.
    let ty = unsafe { Bound::from_owned_ptr_or_err(py, ty) }?;
    let ty = ty.cast_into::<pyo3::types::PyType>()?;
    let _ = SOON_TYPE.set(py, ty.unbind());
    Ok(())
}

/// A new `call_soon` handle object holding `call`.
pub(crate) fn new_soon_handle(py: Python<'_>, call: crate::handle::Call) -> PyResult<Py<PyAny>> {
    let Some(ty) = SOON_TYPE.get(py) else {
        return Err(pyo3::exceptions::PyRuntimeError::new_err(
            "simul's handle type is not set up",
        ));
    };
    // SAFETY: `ty` is the live type `install_soon_type` built, whose instances are
    // `SoonObject`s (`basicsize`); `PyType_GenericAlloc` returns a zeroed object with its
    // header set (a new reference), or null with an exception set.
    let obj = unsafe { ffi::PyType_GenericAlloc(ty.as_ptr().cast(), 0) };
    if obj.is_null() {
        return Err(PyErr::fetch(py));
    }
    // SAFETY: `obj` is a fresh `SoonObject` whose `handle` field is zeroed memory, not a
    // value: it is written once here, without dropping the zeroes.
    unsafe {
        std::ptr::addr_of_mut!((*obj.cast::<SoonObject>()).handle)
            .write(crate::handle::Handle::new(call));
    }
    // SAFETY: `obj` is the new reference taken above.
    Ok(unsafe { Bound::from_owned_ptr(py, obj) }.unbind())
}

/// The handle inside `obj`, when `obj` is a `call_soon` handle object.
pub(crate) fn soon_handle<'a>(obj: &'a Bound<'_, PyAny>) -> Option<&'a crate::handle::Handle> {
    let ty = SOON_TYPE.get(obj.py())?;
    if !obj.get_type().is(ty.bind(obj.py())) {
        return None;
    }
    // SAFETY: the object is a `SoonObject` (its type is exactly the one built for them),
    // alive for as long as `obj` borrows it; its `handle` was written at creation.
    Some(unsafe { soon_handle_unchecked(obj.as_ptr()) })
}

/// # Safety
/// `obj` must be a live `SoonObject`, and stay alive for `'a`.
unsafe fn soon_handle_unchecked<'a>(obj: *mut ffi::PyObject) -> &'a crate::handle::Handle {
    // SAFETY: as the caller promises; `handle` is initialised and only read through `&`.
    unsafe { &(*obj.cast::<SoonObject>()).handle }
}

/// Runs a `call_soon` handle object `obj` (see `handle::run`); another object is ignored.
pub(crate) fn run_soon(py: Python<'_>, obj: &Bound<'_, PyAny>, flags: &crate::core::Flags) {
    if let Some(h) = soon_handle(obj) {
        crate::handle::run(py, h, obj, flags);
    }
}

/// `tp_dealloc` of the `call_soon` handle type.
///
/// # Safety
/// Called by CPython only, with the GIL held, for a `SoonObject` whose count dropped to
/// zero.
unsafe extern "C" fn soon_dealloc(obj: *mut ffi::PyObject) {
    // SAFETY: `obj` is a dying `SoonObject` (see above), ours alone now.
    let this = unsafe { &mut (*obj.cast::<SoonObject>()).handle };
    // The callback's references (still there if it never ran) are released straight with
    // `Py_DECREF`: pyo3 would defer them, not knowing the GIL is held here.
    if let Some(call) = this.take_call_mut() {
        let args = match call.args {
            crate::handle::Args::One(a) => a.into_ptr(),
            crate::handle::Args::Tuple(t) => t.into_ptr(),
        };
        for p in [call.callback.into_ptr(), args, call.context.into_ptr()] {
            // SAFETY: each is a strong reference the handle owned, released once.
            unsafe { ffi::Py_DECREF(p) };
        }
    }
    // SAFETY: the handle holds no Python reference any more; dropped once, in place.
    unsafe { std::ptr::drop_in_place(this) };
    // SAFETY: `obj`'s type is a heap type: its `tp_free` frees the object's memory, and
    // the instance's reference to its type is released after (as CPython's own heap
    // types' deallocators do).
    unsafe {
        let ty = ffi::Py_TYPE(obj);
        let free = ffi::PyType_GetSlot(ty, ffi::Py_tp_free);
        if !free.is_null() {
            let free: ffi::freefunc = std::mem::transmute(free);
            free(obj.cast());
        }
        ffi::Py_DECREF(ty.cast());
    }
}

/// Runs `f` on the `call_soon` handle `slf` (a method of its type), attached to the
/// interpreter as pyo3 expects, and hands its outcome to CPython.
///
/// # Safety
/// `slf` is a live `SoonObject` borrowed for the call (the method descriptor checked its
/// type), and the GIL is held.
unsafe fn soon_method(
    slf: *mut ffi::PyObject,
    what: &str,
    f: impl FnOnce(Python<'_>, &crate::handle::Handle, &Bound<'_, PyAny>) -> PyResult<Py<PyAny>>,
) -> *mut ffi::PyObject {
    Python::attach(|py| {
        // SAFETY: as the caller promises.
        let obj = unsafe { Bound::from_borrowed_ptr(py, slf) };
        // SAFETY: as the caller promises: a live `SoonObject`, alive while `obj` is.
        let this = unsafe { soon_handle_unchecked(slf) };
        raw_return(py, what, || f(py, this, &obj))
    })
}

/// # Safety
/// A `METH_NOARGS` method of the `call_soon` handle type (see [`soon_method`]).
unsafe extern "C" fn soon_cancel(
    slf: *mut ffi::PyObject,
    _args: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: see above.
    unsafe {
        soon_method(slf, "cancel", |py, h, _| {
            h.cancel_quietly();
            Ok(py.None())
        })
    }
}

/// # Safety
/// As [`soon_cancel`].
unsafe extern "C" fn soon_cancelled(
    slf: *mut ffi::PyObject,
    _args: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: see above.
    unsafe {
        soon_method(slf, "cancelled", |py, h, _| {
            Ok(pyo3::types::PyBool::new(py, h.cancelled_py())
                .to_owned()
                .into_any()
                .unbind())
        })
    }
}

/// # Safety
/// As [`soon_cancel`].
unsafe extern "C" fn soon_get_context(
    slf: *mut ffi::PyObject,
    _args: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: see above.
    unsafe { soon_method(slf, "get_context", |py, h, _| Ok(h.context_py(py))) }
}

/// # Safety
/// As [`soon_cancel`].
unsafe extern "C" fn soon_run_by_hand(
    slf: *mut ffi::PyObject,
    _args: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: see above.
    unsafe {
        soon_method(slf, "_run", |py, h, obj| {
            h.run_by_hand(py, obj).map(|()| py.None())
        })
    }
}

/// `tp_repr` of the `call_soon` handle type.
///
/// # Safety
/// Called by CPython only, with the GIL held, for a live `SoonObject`.
unsafe extern "C" fn soon_repr(slf: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: see above.
    unsafe {
        soon_method(slf, "__repr__", |py, h, obj| {
            Ok(pyo3::types::PyString::new(py, &h.repr(py, obj, None))
                .into_any()
                .unbind())
        })
    }
}

/// `ssl.MemoryBIO`, for [`BioWriter::new`]'s type check.
static MEMORY_BIO: pyo3::sync::PyOnceLock<Py<pyo3::types::PyType>> = pyo3::sync::PyOnceLock::new();

/// `ssl.MemoryBIO`'s `pending` descriptor (a C getset) and its type's `__get__` slot.
struct PendingGetter {
    descr: Py<PyAny>,
    get: ffi::descrgetfunc,
}

static BIO_PENDING: pyo3::sync::PyOnceLock<PendingGetter> = pyo3::sync::PyOnceLock::new();

fn memory_bio(py: Python<'_>) -> PyResult<&Py<pyo3::types::PyType>> {
    MEMORY_BIO.get_or_try_init(py, || {
        py.import("ssl")?
            .getattr("MemoryBIO")?
            .cast_into::<pyo3::types::PyType>()
            .map(Bound::unbind)
            .map_err(PyErr::from)
    })
}

/// `bio.pending` read the shortest way [`BioPending::new`] found for `bio`.
pub(crate) struct BioPending {
    /// For an object of exactly `ssl.MemoryBIO`'s type (a C type, not subclassable: its
    /// `pending` is always its class's getset): that descriptor's `__get__` slot, called
    /// as attribute lookup would after finding it, without the name lookup in the type's
    /// MRO at each read. `None`: by name.
    get: Option<(ffi::descrgetfunc, *mut ffi::PyObject, *mut ffi::PyObject)>,
}

impl BioPending {
    pub(crate) fn new(bio: &Bound<'_, PyAny>) -> PyResult<Self> {
        let py = bio.py();
        let memory_bio = memory_bio(py)?.bind(py);
        if !bio.get_type().is(memory_bio) {
            return Ok(BioPending { get: None });
        }
        let getter = BIO_PENDING.get_or_try_init(py, || -> PyResult<PendingGetter> {
            let descr = memory_bio
                .getattr(pyo3::intern!(py, "__dict__"))?
                .get_item(pyo3::intern!(py, "pending"))?;
            // SAFETY: `descr`'s type is a live type object; `PyType_GetSlot` accepts
            // static types since 3.10 and returns null when the slot is empty.
            let slot = unsafe {
                ffi::PyType_GetSlot(descr.get_type().as_ptr().cast(), ffi::Py_tp_descr_get)
            };
            if slot.is_null() {
                return Err(pyo3::exceptions::PyTypeError::new_err(
                    "MemoryBIO.pending is not a descriptor",
                ));
            }
            Ok(PendingGetter {
                descr: descr.unbind(),
                // SAFETY: the `Py_tp_descr_get` slot holds a `descrgetfunc`.
                get: unsafe {
                    std::mem::transmute::<*mut std::ffi::c_void, ffi::descrgetfunc>(slot)
                },
            })
        })?;
        Ok(BioPending {
            get: Some((getter.get, getter.descr.as_ptr(), memory_bio.as_ptr())),
        })
    }

    /// `bio.pending` as an `i64`, for the `bio` this was made for.
    pub(crate) fn read(&self, bio: &Bound<'_, PyAny>) -> PyResult<i64> {
        let py = bio.py();
        let Some((get, descr, memory_bio)) = self.get else {
            return bio.getattr(pyo3::intern!(py, "pending"))?.extract();
        };
        // SAFETY: the GIL is held; `descr` and `memory_bio` are kept alive by the statics
        // `BIO_PENDING` and `MEMORY_BIO` (never emptied); `bio` is a live instance of
        // exactly `memory_bio` (checked in `new`; its type cannot change since, being
        // `Py_TPFLAGS_IMMUTABLETYPE`, it refuses `__class__` assignment), which is what the
        // descriptor's `tp_descr_get` expects.
        // The result is a new reference or null with an exception set.
        let value = unsafe { get(descr, bio.as_ptr(), memory_bio) };
        // SAFETY: taking that new reference (if any) at once.
        unsafe { Bound::from_owned_ptr_or_err(py, value) }?.extract()
    }
}

/// A BIO's bound `write`, called with bytes lent rather than copied when it can be.
pub(crate) struct BioWriter {
    write: Py<PyAny>,
    /// `bio` is exactly an `ssl.MemoryBIO`.
    lend: bool,
}

impl BioWriter {
    /// The smallest chunk lent: below it a `bytes` copy costs less than the view's two
    /// objects (callgrind, 1 KiB TLS echo).
    const LEND_MIN: usize = 16 * 1024;

    pub(crate) fn new(bio: &Bound<'_, PyAny>) -> PyResult<Self> {
        let py = bio.py();
        let memory_bio = memory_bio(py)?;
        Ok(BioWriter {
            write: bio.getattr(pyo3::intern!(py, "write"))?.unbind(),
            lend: bio.get_type().is(memory_bio.bind(py)),
        })
    }

    /// The bound method, for the cycle collector.
    pub(crate) fn method(&self) -> &Py<PyAny> {
        &self.write
    }

    /// `bio.write(data)`: from [`BioWriter::LEND_MIN`] bytes on, an `ssl.MemoryBIO`
    /// reads `data` through a read-only `memoryview` of it that is released before this
    /// returns (no `bytes` made); anything else is given a `bytes` copy.
    pub(crate) fn write(&self, py: Python<'_>, data: &[u8]) -> PyResult<()> {
        let write = self.write.bind(py);
        if !self.lend || data.len() < Self::LEND_MIN {
            call(write, &[PyBytes::new(py, data).as_any()])?;
            return Ok(());
        }
        let len = ffi::Py_ssize_t::try_from(data.len())
            .map_err(|_| pyo3::exceptions::PyOverflowError::new_err("chunk too large"))?;
        // SAFETY: the view reads `len` bytes from `data`, which outlives it: `write` is
        // `MemoryBIO.write` (bound in `new` from an object of exactly that type, which
        // cannot be subclassed nor its instances' methods replaced), a C method that
        // copies the bytes into the BIO and releases its buffer before returning; the view
        // is released (or freed) below, so nothing reads through it once this returns.
        // Read-only (`PyBUF_READ`): nothing writes through the `*mut` the call takes.
        let raw = unsafe {
            ffi::PyMemoryView_FromMemory(data.as_ptr().cast_mut().cast(), len, ffi::PyBUF_READ)
        };
        // SAFETY: a new reference, or null with an exception set; the GIL is held.
        let view = unsafe { Bound::from_owned_ptr_or_err(py, raw) }?;
        let res = call(write, &[&view]);
        // Freed with its last reference (which releases it); kept elsewhere, released.
        // SAFETY: reads the reference count of a live object; the GIL is held.
        if unsafe { ffi::Py_REFCNT(view.as_ptr()) } > 1 {
            view.call_method0(pyo3::intern!(py, "release"))?;
        }
        res.map(drop)
    }
}

extern "C" {
    // `cpython/bytesobject.h`: shrinks (or grows) a `bytes` object nothing else references
    // yet, in place when the allocator can; on failure frees it, sets `*bytes` to null and
    // raises. Exported by every CPython 3.x (`_ssl`'s `read` ends with it).
    fn _PyBytes_Resize(
        bytes: *mut *mut ffi::PyObject,
        newsize: ffi::Py_ssize_t,
    ) -> std::os::raw::c_int;
}

/// A `bytes` object being filled in place, which nothing else references until
/// [`NewBytes::finish`] hands it out: made with room for `cap` bytes, filled from the start
/// by [`NewBytes::fill_with`] calls, and cut to the filled size at the end.
pub(crate) struct NewBytes<'py> {
    /// The object (`None` once leaked, see `fill_with`).
    obj: Option<Bound<'py, PyAny>>,
    len: usize,
    cap: usize,
}

impl<'py> NewBytes<'py> {
    pub(crate) fn with_capacity(py: Python<'py>, cap: usize) -> PyResult<Self> {
        let size = ffi::Py_ssize_t::try_from(cap.max(1))
            .map_err(|_| pyo3::exceptions::PyOverflowError::new_err("bytes too large"))?;
        // SAFETY: with a null source, `PyBytes_FromStringAndSize` returns a new bytes object
        // of `size` uninitialised bytes (or null with an exception set); the GIL is held.
        let raw = unsafe { ffi::PyBytes_FromStringAndSize(std::ptr::null(), size) };
        // SAFETY: a new reference, or null with an exception set.
        let obj = unsafe { Bound::from_owned_ptr_or_err(py, raw) }?;
        Ok(NewBytes {
            obj: Some(obj),
            len: 0,
            cap: cap.max(1),
        })
    }

    /// Room left.
    pub(crate) fn spare(&self) -> usize {
        self.cap - self.len
    }

    /// Calls `fill` with a writable `memoryview` of the [`spare`](Self::spare) bytes not
    /// filled yet; `fill` returns how many it wrote at the view's start (more than the
    /// view holds is an error), and those count as filled. `fill` must not keep an
    /// export of the view: when it does, the view cannot be released, and the object is
    /// leaked (never freed under it) and the call fails.
    pub(crate) fn fill_with(
        &mut self,
        fill: impl FnOnce(&Bound<'py, PyAny>) -> PyResult<usize>,
    ) -> PyResult<usize> {
        let Some(obj) = self.obj.as_ref() else {
            return Err(pyo3::exceptions::PyBufferError::new_err("bytes leaked"));
        };
        let py = obj.py();
        let spare = self.spare();
        // SAFETY: `obj` is a bytes object of `cap` bytes, `len <= cap`: the view covers
        // its last `spare` bytes, inside the object, which `self` keeps alive until the
        // view is gone or released below. Nothing else references the object, so writing
        // its contents is allowed (its hash is not computed yet; `_PyBytes_Resize` resets
        // it anyway). `spare` fits a `Py_ssize_t`, as `cap` does.
        let raw = unsafe {
            let start = ffi::PyBytes_AsString(obj.as_ptr()).add(self.len);
            ffi::PyMemoryView_FromMemory(start, spare as ffi::Py_ssize_t, ffi::PyBUF_WRITE)
        };
        // SAFETY: a new reference, or null with an exception set; the GIL is held.
        let view = unsafe { Bound::from_owned_ptr_or_err(py, raw) }?;
        let res = fill(&view);
        // SAFETY: reads the reference count of a live object; the GIL is held.
        if unsafe { ffi::Py_REFCNT(view.as_ptr()) } > 1 {
            // Kept somewhere: released, so that nothing reaches the object through it.
            if let Err(e) = view.call_method0(pyo3::intern!(py, "release")) {
                // Still exported: the memory must outlive the export.
                if let Some(obj) = self.obj.take() {
                    std::mem::forget(obj);
                }
                return Err(e);
            }
        }
        drop(view);
        let n = res?;
        if n > spare {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "more bytes written than the buffer holds",
            ));
        }
        self.len += n;
        Ok(n)
    }

    /// The object, cut to the bytes filled; `None` if none were.
    pub(crate) fn finish(mut self) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let Some(obj) = self.obj.take() else {
            return Err(pyo3::exceptions::PyBufferError::new_err("bytes leaked"));
        };
        if self.len == 0 {
            return Ok(None);
        }
        let py = obj.py();
        if self.len < self.cap {
            let mut raw = obj.into_ptr();
            // SAFETY: `raw` is the one reference to a bytes object nothing else has seen
            // (every view of it is gone or released, see `fill_with`), as `_PyBytes_Resize`
            // requires; it takes the reference and puts the resized object's (or null, with
            // the object freed and an exception set) in its place. `len < cap` fits.
            let r = unsafe { _PyBytes_Resize(&mut raw, self.len as ffi::Py_ssize_t) };
            if r != 0 {
                return Err(PyErr::fetch(py));
            }
            // SAFETY: `raw` is an owned reference to the resized bytes object.
            let obj = unsafe { Bound::from_owned_ptr(py, raw) };
            return Ok(Some(obj.cast_into::<PyBytes>()?));
        }
        Ok(Some(obj.cast_into::<PyBytes>()?))
    }
}
