//! What TCP and Unix-domain streams share: the byte-stream read and write paths on
//! [`Evented`], and [`stream_api!`], which gives both stream types the same public surface
//! (inherent async `read`/`write`/`write_all`, `try_*`, readiness polling, `split`,
//! `into_split`, and the `futures_io` traits).

use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::task::{Context, Poll};

use super::evented::{Evented, Kind};
use crate::io::driver::Direction;
use crate::io::fault::{self, Fault};

/// Vectored stream writes of at most this many bytes in all are copied into one buffer and
/// sent with one `send` (see `Evented::poll_write_vectored_bytes`).
pub(crate) const COALESCE_MAX: usize = 1024;

impl<S> Evented<S>
where
    S: std::os::fd::AsRawFd,
    for<'a> &'a S: Read + Write,
{
    /// An injected `ECONNRESET` (see [`crate::io::fault`]): the socket is shut down both
    /// ways first, so the connection is as dead as after a real one.
    #[cold]
    fn injected_reset(&self) -> io::Error {
        let _ = super::sys::shutdown_both(self.get());
        io::ErrorKind::ConnectionReset.into()
    }

    #[inline]
    pub(crate) fn poll_read_bytes(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let len = buf.len();
        self.poll_op(cx, None, Direction::Read, Kind::Stream, len, |s| {
            super::sys::recv(s, buf)
        })
    }

    /// Reads at most `max` bytes onto the end of `out` (into its spare capacity, which
    /// must not be empty), without zero-filling it first.
    pub(crate) fn poll_read_append(
        &self,
        cx: &mut Context<'_>,
        out: &mut Vec<u8>,
        max: usize,
    ) -> Poll<io::Result<usize>>
    where
        S: std::os::fd::AsRawFd,
    {
        if fault::reset() {
            return Poll::Ready(Err(self.injected_reset()));
        }
        let len = fault::short((out.capacity() - out.len()).min(max));
        debug_assert!(len > 0, "no room to read into");
        self.poll_op(cx, None, Direction::Read, Kind::Stream, len, |s| {
            super::sys::read_append(s, out, len)
        })
    }

    /// Reads into memory that may be uninitialised (hyper's read cursor): the bytes go
    /// straight from the kernel into `buf`, with no zero-filling first. `Ok(n)`: the first
    /// `n` bytes of `buf` are initialised.
    #[cfg_attr(not(feature = "hyper"), allow(dead_code))]
    pub(crate) fn poll_read_uninit(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [std::mem::MaybeUninit<u8>],
    ) -> Poll<io::Result<usize>>
    where
        S: std::os::fd::AsRawFd,
    {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let len = fault::short(buf.len());
        let buf = &mut buf[..len];
        self.poll_op(cx, None, Direction::Read, Kind::Stream, len, |s| {
            super::sys::read_uninit(s, buf)
        })
    }

    pub(crate) fn poll_read_vectored_bytes(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        let len: usize = bufs.iter().map(|b| b.len()).sum();
        if len == 0 {
            return Poll::Ready(Ok(0));
        }
        self.poll_op(cx, None, Direction::Read, Kind::Stream, len, |mut s| {
            s.read_vectored(bufs)
        })
    }

    #[inline]
    pub(crate) fn poll_write_bytes(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        self.poll_op(cx, None, Direction::Write, Kind::Stream, buf.len(), |s| {
            super::sys::send(s, buf)
        })
    }

    /// Writes from several buffers in one call. A small write (at most [`COALESCE_MAX`]
    /// bytes in all: hyper's response head and a short body) is joined into one buffer and
    /// sent with one `send(2)`; a write whose bytes all lie in one buffer is sent from it.
    /// Only a large write spread over several buffers pays for `writev(2)`, whose iovec
    /// import and VFS checks cost more in the kernel than the copy does here.
    pub(crate) fn poll_write_vectored_bytes(
        &self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let mut len = 0;
        let mut nonempty = 0;
        let mut only: &[u8] = &[];
        for b in bufs {
            if !b.is_empty() {
                len += b.len();
                nonempty += 1;
                only = b;
            }
        }
        if len == 0 {
            return Poll::Ready(Ok(0));
        }
        self.poll_op(cx, None, Direction::Write, Kind::Stream, len, |mut s| {
            if nonempty == 1 {
                super::sys::send(s, only)
            } else if len <= COALESCE_MAX {
                super::sys::send_joined(s, bufs, len)
            } else {
                s.write_vectored(bufs)
            }
        })
    }

    pub(crate) fn try_read_bytes(&self, buf: &mut [u8]) -> io::Result<usize> {
        let short = fault::short(buf.len());
        let buf = &mut buf[..short];
        let len = buf.len();
        self.try_op_stream(Direction::Read, len, |s| super::sys::recv(s, buf))
    }

    pub(crate) fn try_read_vectored_bytes(&self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        let len: usize = bufs.iter().map(|b| b.len()).sum();
        self.try_op_stream(Direction::Read, len, |mut s| s.read_vectored(bufs))
    }

    pub(crate) fn try_write_bytes(&self, buf: &[u8]) -> io::Result<usize> {
        let buf = &buf[..fault::short(buf.len())];
        self.try_op_stream(Direction::Write, buf.len(), |s| super::sys::send(s, buf))
    }

    pub(crate) fn try_write_vectored_bytes(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let len: usize = bufs.iter().map(|b| b.len()).sum();
        self.try_op_stream(Direction::Write, len, |mut s| s.write_vectored(bufs))
    }

    /// `try_op` plus the short-transfer rule.
    fn try_op_stream(
        &self,
        dir: Direction,
        len: usize,
        op: impl FnOnce(&S) -> io::Result<usize>,
    ) -> io::Result<usize> {
        if fault::reset() {
            return Err(self.injected_reset());
        }
        match fault::next() {
            Fault::None => {}
            Fault::Interrupted => return Err(io::ErrorKind::Interrupted.into()),
            // Not ready, without clearing readiness (no edge was consumed).
            Fault::NotReady => return Err(io::ErrorKind::WouldBlock.into()),
        }
        let before = self.readiness(dir);
        let r = self.try_op(dir, op)?;
        if r > 0 && r < len {
            if let Some(ev) = before {
                self.clear_drained(ev, dir);
            }
        }
        Ok(r)
    }

    pub(crate) fn poll_ready_unit(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
    ) -> Poll<io::Result<()>> {
        self.poll_ready(cx, dir).map_ok(drop)
    }
}

/// The public surface shared by [`TcpStream`](super::TcpStream) and
/// [`UnixStream`](super::UnixStream). `$setup` is doc-test code that binds a connected pair
/// `(a, b)` inside `simul::run(async { ... })`.
macro_rules! stream_api {
    ($ty:ident, $setup:literal) => {
        impl $ty {
            #[doc = concat!("Reads into `buf`; `Ok(0)` means end of stream (or an empty `buf`).\n\n",
                "Waits until data arrives. Cancel-safe: if the future is dropped before it \
                 completes, no data was read.\n\n# Examples\n```\nsimul::run(async {\n",
                $setup, "\n    b.write_all(b\"ping\").await.unwrap();\n    let mut buf = [0u8; 16];\n    \
                let n = a.read(&mut buf).await.unwrap();\n    assert_eq!(&buf[..n], b\"ping\");\n});\n```")]
            #[doc(alias = "recv")]
            #[doc(alias = "sock_recv")]
            #[inline]
            pub async fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                std::future::poll_fn(|cx| self.io.poll_read_bytes(cx, buf)).await
            }

            #[doc = concat!("Reads into several buffers at once (`readv`).\n\n# Examples\n```\n\
                use std::io::IoSliceMut;\nsimul::run(async {\n", $setup,
                "\n    b.write_all(b\"abcdef\").await.unwrap();\n    let (mut x, mut y) = ([0u8; 2], [0u8; 4]);\n    \
                let mut n = 0;\n    while n < 6 {\n        let mut bufs = [IoSliceMut::new(&mut x[n.min(2)..]), IoSliceMut::new(&mut y[n.saturating_sub(2)..])];\n        \
                n += a.read_vectored(&mut bufs).await.unwrap();\n    }\n    assert_eq!((&x, &y), (b\"ab\", b\"cdef\"));\n});\n```")]
            #[doc(alias = "readv")]
            pub async fn read_vectored(
                &mut self,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::io::Result<usize> {
                std::future::poll_fn(|cx| self.io.poll_read_vectored_bytes(cx, bufs)).await
            }

            #[doc = concat!("Writes some of `buf`, waiting until the socket accepts at least one \
                byte; returns how many were written.\n\n# Examples\n```\nsimul::run(async {\n",
                $setup, "\n    let n = a.write(b\"hello\").await.unwrap();\n    assert!(n > 0 && n <= 5);\n});\n```")]
            #[doc(alias = "send")]
            #[inline]
            pub async fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                std::future::poll_fn(|cx| self.io.poll_write_bytes(cx, buf)).await
            }

            #[doc = concat!("Writes from several buffers at once: one `writev`, or, when they hold at most 1 KiB in all, one `send` of their bytes joined (cheaper in the kernel).\n\n# Examples\n```\n\
                use std::io::IoSlice;\nsimul::run(async {\n", $setup,
                "\n    let n = a.write_vectored(&[IoSlice::new(b\"ab\"), IoSlice::new(b\"cd\")]).await.unwrap();\n    \
                assert_eq!(n, 4);\n});\n```")]
            #[doc(alias = "writev")]
            pub async fn write_vectored(
                &mut self,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::io::Result<usize> {
                std::future::poll_fn(|cx| self.io.poll_write_vectored_bytes(cx, bufs)).await
            }

            #[doc = concat!("Writes all of `buf` (asyncio's `sock_sendall`).\n\nIf the future is \
                dropped part-way, an unknown prefix of `buf` has been written.\n\n# Examples\n```\n\
                simul::run(async {\n", $setup, "\n    a.write_all(&[7u8; 100_000]).await.unwrap_or_else(|_| unreachable!());\n    \
                # drop(b);\n});\n```")]
            #[doc(alias = "sendall")]
            #[doc(alias = "sock_sendall")]
            pub async fn write_all(&mut self, mut buf: &[u8]) -> std::io::Result<()> {
                while !buf.is_empty() {
                    let n = std::future::poll_fn(|cx| self.io.poll_write_bytes(cx, buf)).await?;
                    if n == 0 {
                        return Err(std::io::ErrorKind::WriteZero.into());
                    }
                    buf = &buf[n..];
                }
                Ok(())
            }

            #[doc = concat!("Waits until the socket is (probably) readable; pair with \
                [`try_read`](Self::try_read).\n\n# Examples\n```\nsimul::run(async {\n", $setup,
                "\n    b.write_all(b\"x\").await.unwrap();\n    a.readable().await.unwrap();\n    \
                let mut buf = [0u8; 4];\n    assert_eq!(a.try_read(&mut buf).unwrap(), 1);\n});\n```")]
            pub async fn readable(&self) -> std::io::Result<()> {
                std::future::poll_fn(|cx| self.poll_read_ready(cx)).await
            }

            #[doc = concat!("Waits until the socket is (probably) writable; pair with \
                [`try_write`](Self::try_write).\n\n# Examples\n```\nsimul::run(async {\n", $setup,
                "\n    a.writable().await.unwrap();\n    assert_eq!(a.try_write(b\"x\").unwrap(), 1);\n    # drop(b);\n});\n```")]
            pub async fn writable(&self) -> std::io::Result<()> {
                std::future::poll_fn(|cx| self.poll_write_ready(cx)).await
            }

            #[doc = concat!("`Ready` when the last event said readable (or closed) and no \
                `try_read` has since returned `WouldBlock`; otherwise registers `cx`'s waker.\n\n\
                Several tasks may wait at once: each is woken by the next event.\n\n# Examples\n```\n\
                simul::run(async {\n", $setup, "\n    b.write_all(b\"x\").await.unwrap();\n    \
                std::future::poll_fn(|cx| a.poll_read_ready(cx)).await.unwrap();\n});\n```")]
            pub fn poll_read_ready(
                &self,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                self.io.poll_ready_unit(cx, $crate::io::driver::Direction::Read)
            }

            #[doc = concat!("`Ready` when the socket can (probably) take data; otherwise registers \
                `cx`'s waker.\n\n# Examples\n```\nsimul::run(async {\n", $setup,
                "\n    std::future::poll_fn(|cx| a.poll_write_ready(cx)).await.unwrap();\n    # drop(b);\n});\n```")]
            pub fn poll_write_ready(
                &self,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                self.io.poll_ready_unit(cx, $crate::io::driver::Direction::Write)
            }

            #[doc = concat!("Reads without waiting: `Err(WouldBlock)` if no data is there \
                (and readiness is then cleared, so [`poll_read_ready`](Self::poll_read_ready) \
                waits for the next event).\n\n# Examples\n```\nsimul::run(async {\n", $setup,
                "\n    let mut buf = [0u8; 4];\n    let e = a.try_read(&mut buf).unwrap_err();\n    \
                assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock);\n    # drop(b);\n});\n```")]
            pub fn try_read(&self, buf: &mut [u8]) -> std::io::Result<usize> {
                self.io.try_read_bytes(buf)
            }

            #[doc = concat!("Vectored [`try_read`](Self::try_read).\n\n# Examples\n```\n\
                simul::run(async {\n", $setup, "\n    let mut x = [0u8; 4];\n    \
                let r = a.try_read_vectored(&mut [std::io::IoSliceMut::new(&mut x)]);\n    \
                assert!(r.is_err());\n    # drop(b);\n});\n```")]
            pub fn try_read_vectored(
                &self,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::io::Result<usize> {
                self.io.try_read_vectored_bytes(bufs)
            }

            #[doc = concat!("Writes without waiting, straight to the socket as asyncio's \
                transports do: `Err(WouldBlock)` if the send buffer is full.\n\n# Examples\n```\n\
                simul::run(async {\n", $setup, "\n    assert_eq!(a.try_write(b\"hi\").unwrap(), 2);\n    \
                let mut buf = [0u8; 2];\n    b.read(&mut buf).await.unwrap();\n});\n```")]
            pub fn try_write(&self, buf: &[u8]) -> std::io::Result<usize> {
                self.io.try_write_bytes(buf)
            }

            #[doc = concat!("Vectored [`try_write`](Self::try_write).\n\n# Examples\n```\n\
                simul::run(async {\n", $setup, "\n    let bufs = [std::io::IoSlice::new(b\"a\"), std::io::IoSlice::new(b\"b\")];\n    \
                assert_eq!(a.try_write_vectored(&bufs).unwrap(), 2);\n    # drop(b);\n});\n```")]
            pub fn try_write_vectored(&self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
                self.io.try_write_vectored_bytes(bufs)
            }

            #[doc = concat!("Shuts down the read side, the write side (sends EOF: asyncio's \
                `write_eof`) or both.\n\n# Examples\n```\nuse simul::net::Shutdown;\n\
                simul::run(async {\n", $setup, "\n    a.shutdown(Shutdown::Write).unwrap();\n    \
                let mut buf = [0u8; 4];\n    assert_eq!(b.read(&mut buf).await.unwrap(), 0);\n});\n```")]
            #[doc(alias = "write_eof")]
            pub fn shutdown(&self, how: std::net::Shutdown) -> std::io::Result<()> {
                self.io.get().shutdown(how)
            }

            #[doc = concat!("Borrows the stream as a read half and a write half, usable at the \
                same time (for instance in two futures joined in one task).\n\n# Examples\n```\n\
                simul::run(async {\n", $setup, "\n    let (mut r, mut w) = a.split();\n    \
                w.write_all(b\"x\").await.unwrap();\n    b.write_all(b\"y\").await.unwrap();\n    \
                let mut buf = [0u8; 1];\n    r.read(&mut buf).await.unwrap();\n    assert_eq!(&buf, b\"y\");\n});\n```")]
            pub fn split(&mut self) -> (ReadHalf<'_>, WriteHalf<'_>) {
                (ReadHalf(self), WriteHalf(self))
            }

            #[doc = concat!("Splits the stream into owned halves that may move to different \
                tasks. The socket closes when both halves are dropped.\n\n# Examples\n```\n\
                simul::run(async {\n", $setup, "\n    let (mut r, mut w) = a.into_split();\n    \
                let t = simul::spawn(async move { w.write_all(b\"x\").await });\n    \
                t.await.unwrap().unwrap();\n    let mut buf = [0u8; 1];\n    \
                b.read(&mut buf).await.unwrap();\n    b.write_all(b\"y\").await.unwrap();\n    \
                r.read(&mut buf).await.unwrap();\n    assert_eq!(&buf, b\"y\");\n});\n```")]
            pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
                let a = std::sync::Arc::new(self);
                (OwnedReadHalf(a.clone()), OwnedWriteHalf(a))
            }

            /// Reads at most `max` bytes onto the end of `out`, into its spare capacity
            /// (not zero-filled first).
            pub(crate) fn poll_read_append(
                &self,
                cx: &mut std::task::Context<'_>,
                out: &mut Vec<u8>,
                max: usize,
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.io.poll_read_append(cx, out, max)
            }
        }

        impl $ty {
            /// Reads into possibly uninitialised memory (see `Evented::poll_read_uninit`).
            #[cfg_attr(not(feature = "hyper"), allow(dead_code))]
            #[inline]
            pub(crate) fn poll_read_uninit(
                &self,
                cx: &mut std::task::Context<'_>,
                buf: &mut [std::mem::MaybeUninit<u8>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.io.poll_read_uninit(cx, buf)
            }
        }

        impl futures_io::AsyncRead for $ty {
            #[inline]
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.io.poll_read_bytes(cx, buf)
            }

            fn poll_read_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.io.poll_read_vectored_bytes(cx, bufs)
            }
        }

        impl futures_io::AsyncWrite for $ty {
            #[inline]
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.io.poll_write_bytes(cx, buf)
            }

            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.io.poll_write_vectored_bytes(cx, bufs)
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(Ok(()))
            }

            /// Shuts the write side down (sends EOF); the socket closes on drop.
            fn poll_close(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready($crate::net::stream::shutdown_write(self.io.get().shutdown(std::net::Shutdown::Write)))
            }
        }

        #[doc = concat!("The read half of a borrowed [`split`](", stringify!($ty), "::split).")]
        ///
        /// # Examples
        /// ```
        #[doc = concat!("simul::run(async {\n", $setup, "\n    let (mut r, _w) = a.split();\n    b.write_all(b\"x\").await.unwrap();\n    let mut buf = [0u8; 1];\n    r.read(&mut buf).await.unwrap();\n});")]
        /// ```
        #[derive(Debug)]
        pub struct ReadHalf<'a>(&'a $ty);

        #[doc = concat!("The write half of a borrowed [`split`](", stringify!($ty), "::split).")]
        ///
        /// # Examples
        /// ```
        #[doc = concat!("simul::run(async {\n", $setup, "\n    let (_r, mut w) = a.split();\n    w.write_all(b\"x\").await.unwrap();\n    # drop(b);\n});")]
        /// ```
        #[derive(Debug)]
        pub struct WriteHalf<'a>(&'a $ty);

        #[doc = concat!("The owned read half of [`into_split`](", stringify!($ty), "::into_split).")]
        ///
        /// # Examples
        /// ```
        #[doc = concat!("simul::run(async {\n", $setup, "\n    let (mut r, _w) = a.into_split();\n    b.write_all(b\"x\").await.unwrap();\n    let mut buf = [0u8; 1];\n    r.read(&mut buf).await.unwrap();\n});")]
        /// ```
        #[derive(Debug)]
        pub struct OwnedReadHalf(std::sync::Arc<$ty>);

        #[doc = concat!("The owned write half of [`into_split`](", stringify!($ty), "::into_split).")]
        ///
        /// # Examples
        /// ```
        #[doc = concat!("simul::run(async {\n", $setup, "\n    let (_r, mut w) = a.into_split();\n    w.write_all(b\"x\").await.unwrap();\n    # drop(b);\n});")]
        /// ```
        #[derive(Debug)]
        pub struct OwnedWriteHalf(std::sync::Arc<$ty>);

        $crate::net::stream::half_read!(ReadHalf<'_>, $ty, $setup, "let (mut r, _w) = a.split();");
        $crate::net::stream::half_read!(OwnedReadHalf, $ty, $setup, "let (mut r, _w) = a.into_split();");
        $crate::net::stream::half_write!(WriteHalf<'_>, $ty, $setup, "let (_r, mut w) = a.split();");
        $crate::net::stream::half_write!(OwnedWriteHalf, $ty, $setup, "let (_r, mut w) = a.into_split();");
    };
}

macro_rules! half_read {
    ($half:ty, $ty:ident, $setup:literal, $mk:literal) => {
        impl $half {
            #[doc = concat!("Reads into `buf`; `Ok(0)` at end of stream.\n\n# Examples\n```\n\
                simul::run(async {\n", $setup, "\n    ", $mk, "\n    b.write_all(b\"x\").await.unwrap();\n    \
                let mut buf = [0u8; 1];\n    assert_eq!(r.read(&mut buf).await.unwrap(), 1);\n});\n```")]
            pub async fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                std::future::poll_fn(|cx| self.0.io.poll_read_bytes(cx, buf)).await
            }
        }

        impl AsRef<$ty> for $half {
            fn as_ref(&self) -> &$ty {
                &self.0
            }
        }

        impl futures_io::AsyncRead for $half {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.0.io.poll_read_bytes(cx, buf)
            }
        }
    };
}

macro_rules! half_write {
    ($half:ty, $ty:ident, $setup:literal, $mk:literal) => {
        impl $half {
            #[doc = concat!("Writes some of `buf`.\n\n# Examples\n```\nsimul::run(async {\n", $setup,
                "\n    ", $mk, "\n    assert!(w.write(b\"x\").await.unwrap() == 1);\n    # drop(b);\n});\n```")]
            pub async fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                std::future::poll_fn(|cx| self.0.io.poll_write_bytes(cx, buf)).await
            }

            #[doc = concat!("Writes all of `buf`.\n\n# Examples\n```\nsimul::run(async {\n", $setup,
                "\n    ", $mk, "\n    w.write_all(b\"xyz\").await.unwrap();\n    # drop(b);\n});\n```")]
            pub async fn write_all(&mut self, mut buf: &[u8]) -> std::io::Result<()> {
                while !buf.is_empty() {
                    let n = std::future::poll_fn(|cx| self.0.io.poll_write_bytes(cx, buf)).await?;
                    if n == 0 {
                        return Err(std::io::ErrorKind::WriteZero.into());
                    }
                    buf = &buf[n..];
                }
                Ok(())
            }

            #[doc = concat!("Shuts the write side down (sends EOF).\n\n# Examples\n```\n\
                simul::run(async {\n", $setup, "\n    ", $mk, "\n    w.shutdown().unwrap();\n    \
                let mut buf = [0u8; 1];\n    assert_eq!(b.read(&mut buf).await.unwrap(), 0);\n});\n```")]
            #[doc(alias = "write_eof")]
            pub fn shutdown(&self) -> std::io::Result<()> {
                self.0.shutdown(std::net::Shutdown::Write)
            }
        }

        impl AsRef<$ty> for $half {
            fn as_ref(&self) -> &$ty {
                &self.0
            }
        }

        impl futures_io::AsyncWrite for $half {
            fn poll_write(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.0.io.poll_write_bytes(cx, buf)
            }

            fn poll_flush(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready(Ok(()))
            }

            fn poll_close(
                self: std::pin::Pin<&mut Self>,
                _cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::task::Poll::Ready($crate::net::stream::shutdown_write(self.0.shutdown(std::net::Shutdown::Write)))
            }
        }
    };
}

pub(crate) use {half_read, half_write, stream_api};

/// `poll_close` result: a socket the peer already reset counts as closed.
pub(crate) fn shutdown_write(r: io::Result<()>) -> io::Result<()> {
    match r {
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
        r => r,
    }
}
