//! Connecting and serving: [`open_connection`], [`start_server`], [`Server`], Unix variants.
//!
//! # Server design
//!
//! A [`Server`] owns one listening socket per bound address. Each socket sits in a shared
//! slot and has one *accept task* that accepts connections, wraps each in a
//! [`StreamReader`]/[`StreamWriter`] pair and spawns the handler as its own task.
//! [`Server::close`] empties the slots — the sockets close at once, before `close`
//! returns — and cancels the accept tasks; the connections and their handlers carry on.
//!
//! The server keeps a weak reference to every connection (for
//! [`close_clients`](Server::close_clients) / [`abort_clients`](Server::abort_clients)) and
//! counts live handler tasks with a guard that lives inside each task's future, so the
//! count drops whether the handler returns, fails, panics or is cancelled.
//! [`wait_closed`](Server::wait_closed) waits for `close` and for that count to reach zero.
//!
//! A handler's panic stays in its task (the loop reports it as an unretrieved task panic);
//! an `Err` it returns is reported to the loop's exception handler
//! ([`ExceptionKind::HandlerFailed`](crate::ExceptionKind::HandlerFailed)). Either way the
//! handler's reader and writer are dropped, so its connection is flushed and closed; no
//! other connection is touched.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::panic::Location;
use std::path::{Path, PathBuf};
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use super::conn::{register, wake_all, Conn};
use super::transport::{FuturesIo, SockAddr, SocketInfo, Transport};
use super::{StreamReader, StreamWriter};
use crate::net::{BindOptions, TcpListener, TcpStream, UnixListener, UnixStream};
use crate::task::Task;

/// `SocketInfo` for a socket type whose addresses are of one `SockAddr` variant.
macro_rules! socket_info {
    ($ty:ty, $variant:path) => {
        impl SocketInfo for $ty {
            fn local_addr(&self) -> io::Result<SockAddr> {
                <$ty>::local_addr(self).map($variant)
            }
            fn peer_addr(&self) -> io::Result<SockAddr> {
                <$ty>::peer_addr(self).map($variant)
            }
            fn buffers_writes(&self) -> bool {
                false
            }
            fn try_write_now(&self, buf: &[u8]) -> Option<io::Result<usize>> {
                Some(self.try_write(buf))
            }
            fn poll_read_append(
                &self,
                cx: &mut Context<'_>,
                out: &mut Vec<u8>,
                max: usize,
            ) -> Option<Poll<io::Result<usize>>> {
                Some(<$ty>::poll_read_append(self, cx, out, max))
            }
        }
    };
}

socket_info!(TcpStream, SockAddr::Inet);
socket_info!(UnixStream, SockAddr::Unix);

fn pair(io: Box<dyn Transport>) -> (Rc<Conn>, StreamReader, StreamWriter) {
    let conn = Conn::new(io);
    (
        conn.clone(),
        StreamReader::from_conn(conn.clone()),
        StreamWriter::from_conn(conn),
    )
}

fn tcp_transport(s: TcpStream) -> Box<dyn Transport> {
    // Streams are for request/response traffic: do not let Nagle hold small writes back.
    let _ = s.set_nodelay(true);
    Box::new(FuturesIo::new(s))
}

/// Connects to `host:port` over TCP and returns the stream's reader and writer (asyncio's
/// `open_connection`). `host` may be a name (resolved on the blocking pool) or an IP
/// literal; with several addresses they are tried Happy-Eyeballs style. `TCP_NODELAY` is
/// on.
///
/// # Examples
/// ```
/// simul::run(async {
///     let listener = simul::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
///     let port = listener.local_addr().unwrap().port();
///     let (reader, writer) = simul::open_connection("127.0.0.1", port).await.unwrap();
///     let (peer, _) = listener.accept().await.unwrap();
///     drop(peer); // the server hangs up
///     assert_eq!(reader.read(10).await.unwrap(), b"");
///     assert_eq!(writer.peer_addr().unwrap().port(), Some(port));
/// });
/// ```
pub async fn open_connection(host: &str, port: u16) -> io::Result<(StreamReader, StreamWriter)> {
    let s = TcpStream::connect((host, port)).await?;
    let (_, r, w) = pair(tcp_transport(s));
    Ok((r, w))
}

/// Connects to the Unix socket at `path` (asyncio's `open_unix_connection`).
///
/// # Examples
/// ```
/// simul::run(async {
///     let path = std::env::temp_dir().join(format!("simul-doc-ouc-{}", std::process::id()));
///     let server = simul::start_unix_server(
///         |r: simul::StreamReader, w: simul::StreamWriter| async move {
///             w.write(&r.readline().await.unwrap());
///         },
///         &path,
///     )
///     .await
///     .unwrap();
///     let (reader, writer) = simul::open_unix_connection(&path).await.unwrap();
///     writer.write(b"ping\n");
///     assert_eq!(reader.readline().await.unwrap(), b"ping\n");
///     server.close();
///     server.wait_closed().await;
/// });
/// ```
pub async fn open_unix_connection(
    path: impl AsRef<Path>,
) -> io::Result<(StreamReader, StreamWriter)> {
    let s = UnixStream::connect(path).await?;
    let (_, r, w) = pair(Box::new(FuturesIo::new(s)));
    Ok((r, w))
}

/// What a connection handler may return: `()`, or a `Result` whose `Err` is reported to
/// the loop's exception handler.
///
/// # Examples
/// ```
/// use simul::stream::HandlerOutput;
/// assert_eq!(().failure(), None);
/// assert_eq!(Err::<(), _>("bad request").failure().as_deref(), Some("bad request"));
/// ```
pub trait HandlerOutput {
    /// A description of the failure, if the handler failed.
    fn failure(self) -> Option<String>;
}

impl HandlerOutput for () {
    fn failure(self) -> Option<String> {
        None
    }
}

impl<T, E: fmt::Display> HandlerOutput for Result<T, E> {
    fn failure(self) -> Option<String> {
        self.err().map(|e| e.to_string())
    }
}

/// A listening socket, shared by the server (which closes it) and its accept task.
pub(super) trait Listen {
    fn poll_accept_conn(&self, cx: &mut Context<'_>) -> Poll<io::Result<Box<dyn Transport>>>;
}

impl Listen for TcpListener {
    fn poll_accept_conn(&self, cx: &mut Context<'_>) -> Poll<io::Result<Box<dyn Transport>>> {
        self.poll_accept(cx).map_ok(|(s, _)| tcp_transport(s))
    }
}

impl Listen for UnixListener {
    fn poll_accept_conn(&self, cx: &mut Context<'_>) -> Poll<io::Result<Box<dyn Transport>>> {
        self.poll_accept(cx)
            .map_ok(|(s, _)| Box::new(FuturesIo::new(s)) as Box<dyn Transport>)
    }
}

type Slot = Rc<RefCell<Option<Box<dyn Listen>>>>;

pub(super) type Spawner = dyn Fn(StreamReader, StreamWriter, Rc<Inner>);

pub(super) struct Inner {
    addrs: Vec<SockAddr>,
    slots: RefCell<Vec<Slot>>,
    accept_tasks: RefCell<Vec<Task<()>>>,
    closed: Cell<bool>,
    conns: RefCell<Vec<Weak<Conn>>>,
    pruned_at: Cell<usize>,
    handlers: Cell<usize>,
    waiters: RefCell<Vec<Waker>>,
    unix_path: Option<PathBuf>,
}

impl Inner {
    fn track(&self, conn: &Rc<Conn>) {
        let mut conns = self.conns.borrow_mut();
        if conns.len() >= 2 * self.pruned_at.get().max(16) {
            conns.retain(|c| c.strong_count() > 0);
            self.pruned_at.set(conns.len());
        }
        conns.push(Rc::downgrade(conn));
    }

    fn live_conns(&self) -> Vec<Rc<Conn>> {
        self.conns
            .borrow()
            .iter()
            .filter_map(Weak::upgrade)
            .collect()
    }

    fn close(&self) {
        if self.closed.replace(true) {
            return;
        }
        // Drop the listening sockets now; the accept tasks go at their next step.
        let slots = std::mem::take(&mut *self.slots.borrow_mut());
        for slot in slots {
            let listener = slot.borrow_mut().take();
            drop(listener);
        }
        for t in self.accept_tasks.borrow_mut().drain(..) {
            t.cancel();
        }
        if let Some(p) = &self.unix_path {
            let _ = std::fs::remove_file(p);
        }
        wake_all(&mut self.waiters.borrow_mut());
    }

    fn handler_done(&self) {
        let n = self.handlers.get() - 1;
        self.handlers.set(n);
        if n == 0 {
            wake_all(&mut self.waiters.borrow_mut());
        }
    }
}

/// Counts a handler task as live for as long as its future exists.
struct HandlerGuard(Rc<Inner>);

impl Drop for HandlerGuard {
    fn drop(&mut self) {
        self.0.handler_done();
    }
}

/// A running stream server (asyncio's `Server`), returned by [`start_server`] and
/// [`start_unix_server`].
///
/// It accepts connections from the moment it is created. Dropping it closes it like
/// [`close`](Self::close) (connections in progress carry on); keep it alive — e.g. by
/// awaiting [`serve_forever`](Self::serve_forever) — for as long as it should serve.
///
/// # Examples
/// ```
/// simul::run(async {
///     let server = simul::start_server(
///         |_r: simul::StreamReader, w: simul::StreamWriter| async move { w.write(b"hi\n") },
///         "127.0.0.1",
///         0,
///     )
///     .await
///     .unwrap();
///     assert!(server.is_serving());
///     let port = server.local_addrs()[0].port().unwrap();
///     let (r, _w) = simul::open_connection("127.0.0.1", port).await.unwrap();
///     assert_eq!(r.readline().await.unwrap(), b"hi\n");
///     server.close();
///     server.wait_closed().await;
///     assert!(!server.is_serving());
/// });
/// ```
#[must_use = "dropping a Server closes it: keep it (e.g. await serve_forever) while it should serve"]
pub struct Server {
    inner: Rc<Inner>,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("addrs", &self.inner.addrs)
            .field("serving", &!self.inner.closed.get())
            .field("handlers", &self.inner.handlers.get())
            .finish()
    }
}

impl Server {
    pub(super) fn start(
        listeners: Vec<Box<dyn Listen>>,
        addrs: Vec<SockAddr>,
        spawner: Rc<Spawner>,
        unix_path: Option<PathBuf>,
    ) -> Server {
        let inner = Rc::new(Inner {
            addrs,
            slots: RefCell::new(Vec::new()),
            accept_tasks: RefCell::new(Vec::new()),
            closed: Cell::new(false),
            conns: RefCell::new(Vec::new()),
            pruned_at: Cell::new(0),
            handlers: Cell::new(0),
            waiters: RefCell::new(Vec::new()),
            unix_path,
        });
        for l in listeners {
            let slot: Slot = Rc::new(RefCell::new(Some(l)));
            inner.slots.borrow_mut().push(slot.clone());
            let task = crate::task::Task::builder()
                .name("stream-server-accept")
                .spawn(accept_loop(slot, Rc::downgrade(&inner), spawner.clone()));
            inner.accept_tasks.borrow_mut().push(task);
        }
        Server { inner }
    }

    /// The addresses the server listens on (asyncio's `sockets[i].getsockname()`).
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let s = simul::start_server(|_r, _w| async {}, "127.0.0.1", 0).await.unwrap();
    ///     assert!(s.local_addrs()[0].port().unwrap() > 0);
    /// });
    /// ```
    #[doc(alias = "sockets")]
    pub fn local_addrs(&self) -> Vec<SockAddr> {
        self.inner.addrs.clone()
    }

    /// `true` until [`close`](Self::close).
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let s = simul::start_server(|_r, _w| async {}, "127.0.0.1", 0).await.unwrap();
    ///     assert!(s.is_serving());
    /// });
    /// ```
    pub fn is_serving(&self) -> bool {
        !self.inner.closed.get()
    }

    /// Serves until the server is closed (by [`close`](Self::close) from another task).
    /// If this future is cancelled (dropped before that), the server is closed, as asyncio
    /// does when `serve_forever()` is cancelled.
    ///
    /// # Examples
    /// ```
    /// use std::rc::Rc;
    /// simul::run(async {
    ///     let s = Rc::new(simul::start_server(|_r, _w| async {}, "127.0.0.1", 0).await.unwrap());
    ///     let s2 = s.clone();
    ///     drop(simul::spawn(async move { s2.close() }));
    ///     s.serve_forever().await; // returns once closed
    ///     assert!(!s.is_serving());
    /// });
    /// ```
    pub async fn serve_forever(&self) {
        struct CloseOnDrop<'a>(&'a Inner);
        impl Drop for CloseOnDrop<'_> {
            fn drop(&mut self) {
                self.0.close();
            }
        }
        let guard = CloseOnDrop(&self.inner);
        poll_fn(|cx| {
            if self.inner.closed.get() {
                Poll::Ready(())
            } else {
                register(&mut self.inner.waiters.borrow_mut(), cx);
                Poll::Pending
            }
        })
        .await;
        drop(guard);
    }

    /// Stops listening: the listening sockets are closed before this returns (a Unix
    /// server's socket file is removed). Connections already accepted carry on; see
    /// [`close_clients`](Self::close_clients) and [`abort_clients`](Self::abort_clients).
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let s = simul::start_server(|_r, _w| async {}, "127.0.0.1", 0).await.unwrap();
    ///     let port = s.local_addrs()[0].port().unwrap();
    ///     s.close();
    ///     assert!(simul::open_connection("127.0.0.1", port).await.is_err());
    /// });
    /// ```
    pub fn close(&self) {
        self.inner.close();
    }

    /// Waits until the server is closed and every handler task has finished.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let s = simul::start_server(|_r, _w| async {}, "127.0.0.1", 0).await.unwrap();
    ///     s.close();
    ///     s.wait_closed().await;
    /// });
    /// ```
    pub async fn wait_closed(&self) {
        poll_fn(|cx| {
            if self.inner.closed.get() && self.inner.handlers.get() == 0 {
                Poll::Ready(())
            } else {
                register(&mut self.inner.waiters.borrow_mut(), cx);
                Poll::Pending
            }
        })
        .await
    }

    /// Closes every connection the server accepted, after flushing what their writers
    /// hold (asyncio's `close_clients`); pending reads see EOF.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let s = simul::start_server(
    ///         |r: simul::StreamReader, _w| async move { r.read_to_end().await.map(drop) },
    ///         "127.0.0.1",
    ///         0,
    ///     )
    ///     .await
    ///     .unwrap();
    ///     let port = s.local_addrs()[0].port().unwrap();
    ///     let (r, _w) = simul::open_connection("127.0.0.1", port).await.unwrap();
    ///     simul::sleep(std::time::Duration::from_millis(10)).await; // accepted
    ///     s.close();
    ///     s.close_clients();
    ///     s.wait_closed().await; // the handler saw EOF and returned
    ///     assert_eq!(r.read(1).await.unwrap(), b"");
    /// });
    /// ```
    pub fn close_clients(&self) {
        for c in self.inner.live_conns() {
            c.close();
        }
    }

    /// Closes every connection the server accepted at once, discarding what their writers
    /// hold (asyncio's `abort_clients`).
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let s = simul::start_server(|_r, _w| async {}, "127.0.0.1", 0).await.unwrap();
    ///     s.abort_clients(); // no clients yet: nothing happens
    /// });
    /// ```
    pub fn abort_clients(&self) {
        for c in self.inner.live_conns() {
            c.abort();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.inner.close();
    }
}

const BACKOFF_MIN: Duration = Duration::from_millis(10);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

async fn accept_loop(slot: Slot, inner: Weak<Inner>, spawner: Rc<Spawner>) {
    let mut backoff = BACKOFF_MIN;
    let mut warned = false;
    loop {
        let res = poll_fn(|cx| match &*slot.borrow() {
            Some(l) => l.poll_accept_conn(cx).map(Some),
            None => Poll::Ready(None),
        })
        .await;
        let Some(res) = res else {
            return; // closed
        };
        let Some(inner) = inner.upgrade() else {
            return;
        };
        match res {
            Ok(io) => {
                backoff = BACKOFF_MIN;
                let (conn, r, w) = pair(io);
                inner.track(&conn);
                inner.handlers.set(inner.handlers.get() + 1);
                spawner(r, w, inner);
            }
            // One queued connection went away: nothing to do with the listener.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionAborted
                        | io::ErrorKind::ConnectionReset
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => {
                // Out of descriptors or memory: say so once, then back off and retry
                // (asyncio logs and waits 1 s) — the connections already open go on.
                drop(inner);
                if !warned {
                    warned = true;
                    eprintln!(
                        "simul: stream server: accept() failed: {e}; retrying with back-off \
                         ({BACKOFF_MIN:?}..{BACKOFF_MAX:?}), logged once per listener"
                    );
                }
                crate::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}

/// Reports a failed handler to the loop's exception handler.
fn report(message: String) {
    let ctx = crate::runtime::ExceptionContext::new(
        crate::ExceptionKind::HandlerFailed,
        message,
        crate::current_task().map(|t| t.name().to_string()),
    );
    match crate::runtime::try_with_core(|core| core.call_exception_handler(&ctx)) {
        Some(()) => {}
        None => eprintln!("simul: {ctx}"),
    }
}

/// The name of a connection's handler task: its peer (or, for an unnamed Unix peer, the
/// listening address), so a slow-poll or watchdog report says which connection it was.
fn handler_name(w: &StreamWriter) -> Option<String> {
    match (w.peer_addr(), w.local_addr()) {
        (Ok(SockAddr::Inet(peer)), _) => Some(format!("connection from {peer}")),
        (_, Ok(local)) => Some(format!("connection on {local}")),
        _ => None,
    }
}

/// Spawns each connection's handler as a task named by [`handler_name`] and recorded as
/// spawned at `location`, the `start_server` call in the user's code.
pub(super) fn spawner<F, Fut>(handler: F, location: &'static Location<'static>) -> Rc<Spawner>
where
    F: Fn(StreamReader, StreamWriter) -> Fut + 'static,
    Fut: Future + 'static,
    Fut::Output: HandlerOutput,
{
    let handler = Rc::new(handler);
    Rc::new(move |r: StreamReader, w: StreamWriter, inner: Rc<Inner>| {
        let handler = handler.clone();
        let peer = w.peer_addr().ok();
        let name = handler_name(&w);
        let task = spawn_at(location, name, async move {
            let _guard = HandlerGuard(inner);
            // The handler is called inside the task, so even a panic while building its
            // future stays in this connection's task.
            if let Some(msg) = handler(r, w).await.failure() {
                let who = peer.map_or_else(String::new, |p| format!(" for {p}"));
                report(format!(
                    "stream server: connection handler{who} failed: {msg}"
                ));
            }
        });
        drop(task);
    })
}

fn spawn_at<F>(location: &'static Location<'static>, name: Option<String>, future: F) -> Task<()>
where
    F: Future<Output = ()> + 'static,
{
    crate::runtime::with_core("start_server", |core| {
        Task::from_raw(core.spawn_raw(future, name, location, false))
    })
}

/// Starts a TCP server on `host:port` (asyncio's `start_server`); port 0 picks a free
/// port (see [`Server::local_addrs`]).
///
/// Each accepted connection gets a [`StreamReader`] and a [`StreamWriter`] (with
/// `TCP_NODELAY` on) and `handler(reader, writer)` runs as its own task. A handler that
/// panics or returns `Err` ends only its own connection. `host` may resolve to several
/// addresses (e.g. `"localhost"`): the server listens on each.
///
/// # Examples
/// ```
/// simul::run(async {
///     let server = simul::start_server(
///         |reader: simul::StreamReader, writer: simul::StreamWriter| async move {
///             let name = reader.readline().await?;
///             writer.write(b"hello, ");
///             writer.write(&name);
///             writer.drain().await?;
///             Ok::<_, std::io::Error>(())
///         },
///         "127.0.0.1",
///         0,
///     )
///     .await
///     .unwrap();
///     let port = server.local_addrs()[0].port().unwrap();
///     let (reader, writer) = simul::open_connection("127.0.0.1", port).await.unwrap();
///     writer.write(b"world\n");
///     assert_eq!(reader.readline().await.unwrap(), b"hello, world\n");
/// });
/// ```
#[track_caller]
pub fn start_server<F, Fut>(
    handler: F,
    host: &str,
    port: u16,
) -> impl Future<Output = io::Result<Server>> + '_
where
    F: Fn(StreamReader, StreamWriter) -> Fut + 'static,
    Fut: Future + 'static,
    Fut::Output: HandlerOutput,
{
    // Not an `async fn`, so that `#[track_caller]` sees the caller's line.
    let location = Location::caller();
    let spawner = spawner(handler, location);
    async move { start_tcp(spawner, host, port, BindOptions::default()).await }
}

/// Binds `host:port` (every address it resolves to) with `opts` and starts serving.
pub(super) async fn start_tcp(
    spawner: Rc<Spawner>,
    host: &str,
    port: u16,
    opts: BindOptions,
) -> io::Result<Server> {
    let mut listeners: Vec<Box<dyn Listen>> = Vec::new();
    let mut addrs = Vec::new();
    let mut first_err = None;
    for addr in crate::net::lookup_host(host, port).await? {
        match TcpListener::bind_with(addr, opts).await {
            Ok(l) => {
                addrs.push(SockAddr::Inet(l.local_addr()?));
                listeners.push(Box::new(l));
            }
            // e.g. "localhost" also resolving to ::1 on a host without IPv6
            Err(e) if e.kind() == io::ErrorKind::AddrNotAvailable => {
                first_err.get_or_insert(e);
            }
            Err(e) => return Err(e),
        }
    }
    if listeners.is_empty() {
        return Err(first_err.unwrap_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, format!("no address for {host:?}"))
        }));
    }
    Ok(Server::start(listeners, addrs, spawner, None))
}

/// Starts a server on the Unix socket `path` (asyncio's `start_unix_server`). A stale
/// socket file at `path` is replaced (any other kind of file is an error); the file is
/// removed when the server is closed.
///
/// # Examples
/// ```
/// simul::run(async {
///     let path = std::env::temp_dir().join(format!("simul-doc-sus-{}", std::process::id()));
///     let server = simul::start_unix_server(|_r, w: simul::StreamWriter| async move { w.write(b"hi") }, &path)
///         .await
///         .unwrap();
///     assert_eq!(server.local_addrs()[0].as_pathname(), Some(path.as_path()));
///     let (r, _w) = simul::open_unix_connection(&path).await.unwrap();
///     assert_eq!(r.read_to_end().await.unwrap(), b"hi");
///     server.close();
///     assert!(!path.exists());
/// });
/// ```
#[track_caller]
pub fn start_unix_server<F, Fut>(
    handler: F,
    path: impl AsRef<Path>,
) -> impl Future<Output = io::Result<Server>>
where
    F: Fn(StreamReader, StreamWriter) -> Fut + 'static,
    Fut: Future + 'static,
    Fut::Output: HandlerOutput,
{
    // Not an `async fn`, so that `#[track_caller]` sees the caller's line.
    let location = Location::caller();
    let path = path.as_ref().to_path_buf();
    async move { start_unix(handler, &path, location).await }
}

async fn start_unix<F, Fut>(
    handler: F,
    path: &Path,
    location: &'static Location<'static>,
) -> io::Result<Server>
where
    F: Fn(StreamReader, StreamWriter) -> Fut + 'static,
    Fut: Future + 'static,
    Fut::Output: HandlerOutput,
{
    use std::os::unix::fs::FileTypeExt;
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if meta.file_type().is_socket() {
            std::fs::remove_file(path)?;
        }
    }
    let l = UnixListener::bind(path)?;
    let addr = SockAddr::Unix(l.local_addr()?);
    Ok(Server::start(
        vec![Box::new(l)],
        vec![addr],
        spawner(handler, location),
        Some(path.to_path_buf()),
    ))
}
