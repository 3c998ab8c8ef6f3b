//! The parent's ends of a child's standard streams, as non-blocking pipes registered with
//! the loop's reactor.
//!
//! std's `Command` creates the pipes close-on-exec; here they are switched to non-blocking
//! mode and registered (edge-triggered) with the loop that spawned the child. Each end is
//! explicitly deregistered before it is closed: another child forked at the same moment
//! may briefly hold a copy of the pipe, and epoll keys its registrations by open file
//! description, not by descriptor.

use std::fmt;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::process::Stdio;
use std::task::{Context, Poll};

use crate::io::driver::Interest;
use crate::sys::set_nonblocking;

use crate::io::driver::{Direction, Registration};

/// A registered read end.
struct ReadEnd {
    rx: std::fs::File,
    reg: Registration,
}

impl ReadEnd {
    fn new(rx: OwnedFd) -> io::Result<ReadEnd> {
        let rx = std::fs::File::from(rx);
        set_nonblocking(&rx, true)?;
        let reg = Registration::new(rx.as_raw_fd(), Interest::READABLE)?;
        Ok(ReadEnd { rx, reg })
    }

    fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let short = crate::io::fault::short(buf.len());
        let buf = &mut buf[..short];
        self.reg
            .poll_io(cx, Direction::Read, || (&self.rx).read(buf))
    }

    fn into_owned_fd(mut self) -> io::Result<OwnedFd> {
        self.reg.deregister(self.rx.as_raw_fd())?;
        set_nonblocking(&self.rx, false)?;
        // A close-on-exec duplicate outlives `self`, whose drop closes the original.
        self.rx.as_fd().try_clone_to_owned()
    }
}

impl Drop for ReadEnd {
    fn drop(&mut self) {
        let _ = self.reg.deregister(self.rx.as_raw_fd());
    }
}

/// A registered write end.
struct WriteEnd {
    tx: std::fs::File,
    reg: Registration,
}

impl WriteEnd {
    fn new(tx: OwnedFd) -> io::Result<WriteEnd> {
        let tx = std::fs::File::from(tx);
        set_nonblocking(&tx, true)?;
        let reg = Registration::new(tx.as_raw_fd(), Interest::WRITABLE)?;
        Ok(WriteEnd { tx, reg })
    }
}

impl Drop for WriteEnd {
    fn drop(&mut self) {
        let _ = self.reg.deregister(self.tx.as_raw_fd());
    }
}

fn closed() -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        "simul::process: the child's stdin was already closed",
    )
}

/// The writing end of a child's stdin (`Child::stdin`). Closing it (drop, `close`, or
/// `AsyncWrite::poll_close`) sends end-of-file to the child.
///
/// Writing after the child closed its end (for example, because it exited) fails with
/// [`io::ErrorKind::BrokenPipe`]; Rust programs ignore SIGPIPE, so this never kills the
/// parent.
///
/// # Examples
/// ```
/// use simul::process::{Command, Stdio};
/// simul::run(async {
///     let mut child = Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
///     let mut stdin = child.stdin.take().unwrap();
///     stdin.write_all(b"meow").await.unwrap();
///     drop(stdin); // EOF for cat
///     let out = child.communicate(None).await.unwrap();
///     assert_eq!(out.stdout, b"meow");
/// });
/// ```
pub struct ChildStdin {
    inner: Option<WriteEnd>,
}

impl ChildStdin {
    pub(super) fn new(s: std::process::ChildStdin) -> io::Result<ChildStdin> {
        Ok(ChildStdin {
            inner: Some(WriteEnd::new(OwnedFd::from(s))?),
        })
    }

    /// Polls a write of `buf`: the bytes written, once the pipe has room.
    ///
    /// # Examples
    /// ```
    /// use simul::process::{Command, Stdio};
    /// simul::run(async {
    ///     let mut c = Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
    ///     let stdin = c.stdin.as_mut().unwrap();
    ///     let n = std::future::poll_fn(|cx| stdin.poll_write_buf(cx, b"x")).await.unwrap();
    ///     assert_eq!(n, 1);
    ///     c.wait().await.unwrap();
    /// });
    /// ```
    pub fn poll_write_buf(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match &self.inner {
            Some(w) => {
                let buf = &buf[..crate::io::fault::short(buf.len())];
                w.reg.poll_io(cx, Direction::Write, || (&w.tx).write(buf))
            }
            None => Poll::Ready(Err(closed())),
        }
    }

    /// Writes some of `buf`, waiting until the pipe has room; returns how much was written.
    ///
    /// # Errors
    /// `BrokenPipe` when the child no longer reads its stdin (or after [`close`](Self::close)).
    ///
    /// # Examples
    /// ```
    /// use simul::process::{Command, Stdio};
    /// simul::run(async {
    ///     let mut c = Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
    ///     assert_eq!(c.stdin.as_mut().unwrap().write(b"hi").await.unwrap(), 2);
    ///     c.wait().await.unwrap();
    /// });
    /// ```
    pub async fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        std::future::poll_fn(|cx| self.poll_write_buf(cx, buf)).await
    }

    /// Writes all of `buf`.
    ///
    /// # Errors
    /// As [`write`](Self::write); some bytes may have been written before the error.
    ///
    /// # Examples
    /// ```
    /// use simul::process::{Command, Stdio};
    /// simul::run(async {
    ///     let mut c = Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
    ///     c.stdin.as_mut().unwrap().write_all(&[7; 1000]).await.unwrap();
    ///     assert!(c.wait().await.unwrap().success());
    /// });
    /// ```
    pub async fn write_all(&mut self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            let n = self.write(buf).await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            buf = &buf[n..];
        }
        Ok(())
    }

    /// Closes the pipe: the child reads end-of-file. Idempotent.
    ///
    /// # Examples
    /// ```
    /// use simul::process::{Command, Stdio};
    /// simul::run(async {
    ///     let mut c = Command::new("cat").stdin(Stdio::piped()).spawn().unwrap();
    ///     c.stdin.as_mut().unwrap().close();
    ///     assert!(c.wait().await.unwrap().success()); // cat saw EOF and exited
    /// });
    /// ```
    pub fn close(&mut self) {
        self.inner = None;
    }

    /// Turns this end into a blocking `OwnedFd` (for instance, to hand to another process).
    ///
    /// # Errors
    /// `BrokenPipe` if it was closed; an OS error if it cannot be made blocking.
    ///
    /// # Examples
    /// ```
    /// use simul::process::{Command, Stdio};
    /// simul::run(async {
    ///     let mut c = Command::new("cat").stdin(Stdio::piped()).spawn().unwrap();
    ///     let fd = c.stdin.take().unwrap().into_owned_fd().unwrap();
    ///     drop(fd);
    ///     c.wait().await.unwrap();
    /// });
    /// ```
    pub fn into_owned_fd(mut self) -> io::Result<OwnedFd> {
        let Some(w) = self.inner.take() else {
            return Err(closed());
        };
        let mut w = w;
        w.reg.deregister(w.tx.as_raw_fd())?;
        set_nonblocking(&w.tx, false)?;
        // A close-on-exec duplicate outlives `w`, whose drop closes the original.
        w.tx.as_fd().try_clone_to_owned()
    }
}

impl futures_io::AsyncWrite for ChildStdin {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_buf(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(())) // a pipe has no user-space buffer
    }
    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().close();
        Poll::Ready(Ok(()))
    }
}

impl fmt::Debug for ChildStdin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildStdin")
            .field("fd", &self.inner.as_ref().map(|w| w.tx.as_raw_fd()))
            .finish()
    }
}

macro_rules! read_half {
    ($name:ident, $std:ty, $what:literal, $field:ident, $piped:literal) => {
        #[doc = concat!("The reading end of a child's ", $what, " (`Child::", stringify!($field), "`),")]
        /// implementing [`futures_io::AsyncRead`]. A read of 0 bytes means end-of-file.
        ///
        /// # Examples
        /// ```
        /// use simul::process::{Command, Stdio};
        /// simul::run(async {
        #[doc = concat!("    let mut c = Command::new(\"sh\").args([\"-c\", \"echo hi >&", $piped, "\"])")]
        #[doc = concat!("        .", stringify!($field), "(Stdio::piped()).spawn().unwrap();")]
        #[doc = concat!("    let mut pipe = c.", stringify!($field), ".take().unwrap();")]
        ///     let mut buf = Vec::new();
        ///     pipe.read_to_end(&mut buf).await.unwrap();
        ///     assert_eq!(buf, b"hi\n");
        ///     c.wait().await.unwrap();
        /// });
        /// ```
        pub struct $name {
            inner: ReadEnd,
        }

        impl $name {
            pub(super) fn new(s: $std) -> io::Result<$name> {
                Ok($name {
                    inner: ReadEnd::new(OwnedFd::from(s))?,
                })
            }

            /// Polls a read into `buf` (0 = end-of-file).
            ///
            /// # Examples
            /// ```
            /// use simul::process::{Command, Stdio};
            /// simul::run(async {
            #[doc = concat!("    let mut c = Command::new(\"true\").", stringify!($field), "(Stdio::piped()).spawn().unwrap();")]
            #[doc = concat!("    let p = c.", stringify!($field), ".as_mut().unwrap();")]
            ///     let mut buf = [0; 16];
            ///     let n = std::future::poll_fn(|cx| p.poll_read_buf(cx, &mut buf)).await.unwrap();
            ///     assert_eq!(n, 0);
            ///     c.wait().await.unwrap();
            /// });
            /// ```
            pub fn poll_read_buf(
                &mut self,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                self.inner.poll_read(cx, buf)
            }

            /// Reads what is available into `buf`, waiting for data; 0 means end-of-file.
            ///
            /// # Examples
            /// ```
            /// use simul::process::{Command, Stdio};
            /// simul::run(async {
            #[doc = concat!("    let mut c = Command::new(\"sh\").args([\"-c\", \"printf ab >&", $piped, "\"])")]
            #[doc = concat!("        .", stringify!($field), "(Stdio::piped()).spawn().unwrap();")]
            ///     let mut buf = [0; 16];
            #[doc = concat!("    let n = c.", stringify!($field), ".as_mut().unwrap().read(&mut buf).await.unwrap();")]
            ///     assert!(n >= 1 && buf[0] == b'a');
            ///     c.wait().await.unwrap();
            /// });
            /// ```
            pub async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                std::future::poll_fn(|cx| self.inner.poll_read(cx, buf)).await
            }

            /// Reads until end-of-file, appending to `buf`; returns the number of bytes read.
            ///
            /// # Examples
            /// ```
            /// use simul::process::{Command, Stdio};
            /// simul::run(async {
            #[doc = concat!("    let mut c = Command::new(\"sh\").args([\"-c\", \"printf abc >&", $piped, "\"])")]
            #[doc = concat!("        .", stringify!($field), "(Stdio::piped()).spawn().unwrap();")]
            ///     let mut v = Vec::new();
            #[doc = concat!("    c.", stringify!($field), ".as_mut().unwrap().read_to_end(&mut v).await.unwrap();")]
            ///     assert_eq!(v, b"abc");
            ///     c.wait().await.unwrap();
            /// });
            /// ```
            pub async fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
                let start = buf.len();
                std::future::poll_fn(|cx| read_some_to_end(&self.inner, cx, buf)).await?;
                Ok(buf.len() - start)
            }

            /// Turns this end into a blocking `OwnedFd`, for instance to make it the stdin
            /// of another process (see also `Stdio::try_from`).
            ///
            /// # Errors
            /// An OS error if it cannot be made blocking.
            ///
            /// # Examples
            /// ```
            /// use simul::process::{Command, Stdio};
            /// simul::run(async {
            #[doc = concat!("    let mut c = Command::new(\"true\").", stringify!($field), "(Stdio::piped()).spawn().unwrap();")]
            #[doc = concat!("    let fd = c.", stringify!($field), ".take().unwrap().into_owned_fd().unwrap();")]
            ///     drop(fd);
            ///     c.wait().await.unwrap();
            /// });
            /// ```
            pub fn into_owned_fd(self) -> io::Result<OwnedFd> {
                self.inner.into_owned_fd()
            }
        }

        impl futures_io::AsyncRead for $name {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                self.get_mut().inner.poll_read(cx, buf)
            }
        }

        impl TryFrom<$name> for Stdio {
            type Error = io::Error;
            fn try_from(p: $name) -> io::Result<Stdio> {
                Ok(Stdio::from(p.into_owned_fd()?))
            }
        }

        impl AsRawFd for $name {
            fn as_raw_fd(&self) -> RawFd {
                self.inner.rx.as_raw_fd()
            }
        }

        impl AsFd for $name {
            fn as_fd(&self) -> BorrowedFd<'_> {
                self.inner.rx.as_fd()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("fd", &self.inner.rx.as_raw_fd())
                    .finish()
            }
        }
    };
}

read_half!(
    ChildStdout,
    std::process::ChildStdout,
    "stdout",
    stdout,
    "1"
);
read_half!(
    ChildStderr,
    std::process::ChildStderr,
    "stderr",
    stderr,
    "2"
);

/// Reads into the spare capacity of `buf` until end-of-file (`Ready(Ok)`) or until the
/// pipe is empty (`Pending`).
fn read_some_to_end(
    end: &ReadEnd,
    cx: &mut Context<'_>,
    buf: &mut Vec<u8>,
) -> Poll<io::Result<()>> {
    const CHUNK: usize = 64 * 1024;
    loop {
        let len = buf.len();
        buf.resize(len + CHUNK, 0);
        let res = end.poll_read(cx, &mut buf[len..]);
        match res {
            Poll::Ready(Ok(n)) => {
                buf.truncate(len + n);
                if n == 0 {
                    return Poll::Ready(Ok(()));
                }
            }
            Poll::Ready(Err(e)) => {
                buf.truncate(len);
                if e.kind() != io::ErrorKind::Interrupted {
                    return Poll::Ready(Err(e));
                }
            }
            Poll::Pending => {
                buf.truncate(len);
                return Poll::Pending;
            }
        }
    }
}

/// `read_some_to_end` for the `communicate` driver, on an optional stream.
pub(super) fn poll_drain_out(
    p: &mut ChildStdout,
    cx: &mut Context<'_>,
    buf: &mut Vec<u8>,
) -> Poll<io::Result<()>> {
    read_some_to_end(&p.inner, cx, buf)
}

/// As [`poll_drain_out`], for stderr.
pub(super) fn poll_drain_err(
    p: &mut ChildStderr,
    cx: &mut Context<'_>,
    buf: &mut Vec<u8>,
) -> Poll<io::Result<()>> {
    read_some_to_end(&p.inner, cx, buf)
}
