//! [`HyperIo`]: a simul byte stream as hyper's `rt::Read + rt::Write`.
//!
//! hyper reads into a cursor over memory that may be uninitialised. The adapter fills it
//! without zero-filling it first: a TCP or Unix socket reads straight from the kernel into
//! the cursor (one `read(2)` on the raw descriptor, the crate's only unsafe read, in
//! `net/sys.rs`), and a [`TlsStream`](crate::tls::TlsStream) copies from rustls' own
//! plaintext buffer. The one `unsafe` block of this file hands the cursor's memory to
//! those readers and advances it by what they report written; the [`ReadUninit`] contract
//! is what makes that sound.
//!
//! Writes forward to `futures_io::AsyncWrite`, vectored when the stream has a real
//! vectored write (sockets do), so hyper's HTTP/1 encoder hands over headers and body in
//! one call instead of flattening them into its own buffer. The socket then sends a small
//! response (at most 1 KiB) as one `send` of the joined bytes and a large one with
//! `writev` (see `net/stream.rs`).

use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_io::AsyncWrite;

/// A byte stream that can read into uninitialised memory.
///
/// # Safety contract (for implementors)
/// `poll_read_uninit` returning `Ready(Ok(n))` promises that it wrote the first `n`
/// bytes of `buf` (so `n <= buf.len()`) and wrote nothing else of it uninitialised. The
/// trait is sealed: it is implemented by simul's own streams only.
pub trait ReadUninit: sealed::Sealed {
    /// Reads into `buf`; `Ok(0)` is end of stream.
    fn poll_read_uninit(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [MaybeUninit<u8>],
    ) -> Poll<io::Result<usize>>;

    /// Whether `poll_write_vectored` is a real vectored write (not one buffer at a time).
    fn is_write_vectored(&self) -> bool {
        false
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for crate::net::TcpStream {}
    impl Sealed for crate::net::UnixStream {}
    #[cfg(feature = "tls")]
    impl<IO> Sealed for crate::tls::TlsStream<IO> {}
}

impl ReadUninit for crate::net::TcpStream {
    fn poll_read_uninit(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [MaybeUninit<u8>],
    ) -> Poll<io::Result<usize>> {
        crate::net::TcpStream::poll_read_uninit(&self, cx, buf)
    }
    fn is_write_vectored(&self) -> bool {
        true
    }
}

impl ReadUninit for crate::net::UnixStream {
    fn poll_read_uninit(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [MaybeUninit<u8>],
    ) -> Poll<io::Result<usize>> {
        crate::net::UnixStream::poll_read_uninit(&self, cx, buf)
    }
    fn is_write_vectored(&self) -> bool {
        true
    }
}

#[cfg(feature = "tls")]
impl<IO> ReadUninit for crate::tls::TlsStream<IO>
where
    IO: futures_io::AsyncRead + AsyncWrite + Unpin,
{
    fn poll_read_uninit(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [MaybeUninit<u8>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_read_uninit(cx, buf)
    }
}

/// A simul stream as hyper's I/O: `hyper::rt::Read` and `hyper::rt::Write` (hyper-util's
/// `TokioIo`, for simul). Wrap a [`TcpStream`](crate::net::TcpStream),
/// [`UnixStream`](crate::net::UnixStream) or [`TlsStream`](crate::tls::TlsStream) to hand
/// it to hyper's `serve_connection` or `handshake`.
///
/// # Examples
/// ```
/// use http_body_util::{BodyExt, Empty, Full};
/// use hyper::body::{Bytes, Incoming};
/// use simul::http::{HyperIo, LocalExecutor, HyperTimer};
///
/// simul::run(async {
///     let listener = simul::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
///     let addr = listener.local_addr().unwrap();
///     simul::spawn(async move {
///         let (tcp, _) = listener.accept().await.unwrap();
///         let svc = hyper::service::service_fn(|_req: hyper::Request<Incoming>| async {
///             Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::from("hi"))))
///         });
///         hyper::server::conn::http1::Builder::new()
///             .timer(HyperTimer)
///             .serve_connection(HyperIo::new(tcp), svc)
///             .await
///             .unwrap();
///     });
///     let tcp = simul::net::TcpStream::connect(addr).await.unwrap();
///     let (mut send, conn) = hyper::client::conn::http1::handshake(HyperIo::new(tcp)).await.unwrap();
///     simul::spawn(conn);
///     let req = hyper::Request::get("/").body(Empty::<Bytes>::new()).unwrap();
///     let resp = send.send_request(req).await.unwrap();
///     let body = resp.into_body().collect().await.unwrap().to_bytes();
///     assert_eq!(body, "hi");
/// # let _ = LocalExecutor;
/// });
/// ```
#[derive(Debug)]
pub struct HyperIo<T> {
    inner: T,
}

impl<T> HyperIo<T> {
    /// Wraps `inner`.
    ///
    /// # Examples
    /// See [`HyperIo`].
    pub fn new(inner: T) -> HyperIo<T> {
        HyperIo { inner }
    }

    /// The wrapped stream.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let (a, _b) = simul::net::UnixStream::pair().unwrap();
    ///     let io = simul::http::HyperIo::new(a);
    ///     assert!(io.get_ref().peer_addr().is_ok());
    /// });
    /// ```
    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    /// The wrapped stream, back.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let (a, _b) = simul::net::UnixStream::pair().unwrap();
    ///     let a = simul::http::HyperIo::new(a).into_inner();
    ///     # drop(a);
    /// });
    /// ```
    pub fn into_inner(self) -> T {
        self.inner
    }
}

impl<T: ReadUninit + Unpin> hyper::rt::Read for HyperIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        // SAFETY: `as_mut` requires that no initialised byte be de-initialised: the
        // reader only writes bytes (`ReadUninit`'s contract), never `MaybeUninit::uninit()`.
        // `advance(n)` requires that the next `n` bytes are initialised: the contract says
        // `Ok(n)` means exactly that (and the `min` keeps a broken count in bounds).
        unsafe {
            let room = buf.as_mut();
            let len = room.len();
            match Pin::new(&mut self.get_mut().inner).poll_read_uninit(cx, room) {
                Poll::Ready(Ok(n)) => {
                    buf.advance(n.min(len));
                    Poll::Ready(Ok(()))
                }
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            }
        }
    }
}

impl<T: ReadUninit + AsyncWrite + Unpin> hyper::rt::Write for HyperIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }
}
