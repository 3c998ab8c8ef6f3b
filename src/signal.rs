//! Unix signals as futures and streams: [`ctrl_c`], [`signal`], and asyncio's
//! `loop.add_signal_handler` ([`add_signal_handler`], [`EventLoop::add_signal_handler`]).
//!
//! # Design
//!
//! A signal handler may only do async-signal-safe work, so the handler simul installs does
//! two things and nothing else:
//!
//! 1. it bumps the signal's **delivery counter** (one `AtomicU64` per signal number), and
//! 2. it writes one byte to the **wake pipe of every loop** that listens for signals (a
//!    fixed table of write ends, read with atomics).
//!
//! Each loop with listeners has one **hub**: a non-blocking, close-on-exec pipe whose read
//! end is registered with that loop's reactor. Listeners ([`Signals`]) remember the counter
//! value they have seen and park their wakers in the hub; when the pipe becomes readable
//! the hub wakes them all, one of them drains the pipe, and each compares counters. So any
//! number of listeners, on any number of loops, each see every delivery, and the bytes are
//! only a wake-up: the counters carry the information. Deliveries that arrive between two
//! polls of one listener coalesce into one item, as with POSIX signals themselves.
//!
//! A pipe is never shared by two loops (a reader on one loop could drain the byte before
//! another loop's epoll reports it, losing that wake-up) and never closed: when a hub goes
//! away, its pipe returns to a pool for the next one, so the handler cannot write to a
//! reused descriptor number. At most [`MAX_LOOPS`] loops listen at once.
//!
//! The handler for a signal is installed (`sigaction`, `SA_RESTART`) when its first
//! listener subscribes, and the disposition that was there before is put back when the
//! last listener goes away. The listener count lives next to the counter so that the
//! handler can read it.
//!
//! # Ctrl-C in [`crate::run`]
//!
//! [`crate::run`] arms a `RunInterrupt` (when SIGINT still has its default disposition,
//! and only for the first `run` active in the process): the first SIGINT drops the main
//! future (its destructors run), `run` shuts the loop down, flushes stdout and stderr, and
//! then the process kills itself with SIGINT, as Python does after an uncaught
//! `KeyboardInterrupt` (a shell reports status 130). A second SIGINT while that shutdown is
//! under way — or while a task hogs the loop and the first one cannot be handled — ends
//! the process at once, from the signal handler. A program that listens for SIGINT itself
//! ([`ctrl_c`], [`signal`] or [`add_signal_handler`]) keeps SIGINT to itself: `run` then
//! does nothing on Ctrl-C. When no signal arrives, the cost is a few system calls when
//! `run` starts and ends, and one atomic load per poll of the main future.
//!
//! All `unsafe` of this module is in the `sys` section at the bottom.

use std::cell::RefCell;
use std::fmt;
use std::fs::File;
use std::future::Future;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, IntoRawFd};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, Wake, Waker};

use crate::io::driver::Interest;

use crate::io::driver::{Direction, Registration};
use crate::runtime::Shared;
use crate::{EventLoop, Task};

/// Signal numbers 1..NSIG are valid on Linux (64 real-time included).
const NSIG: usize = 65;

/// Per-signal state the handler reads and writes (atomics only).
struct Slot {
    /// Deliveries since the process started.
    deliveries: AtomicU64,
    /// Live listeners; the handler is installed while this is non-zero.
    listeners: AtomicUsize,
}

#[allow(clippy::declare_interior_mutable_const)] // used only as an array initialiser
const SLOT_INIT: Slot = Slot {
    deliveries: AtomicU64::new(0),
    listeners: AtomicUsize::new(0),
};
static SLOTS: [Slot; NSIG] = [SLOT_INIT; NSIG];

/// The most event loops that may listen for signals at the same time (each has a wake
/// pipe the signal handler writes to).
///
/// # Examples
/// ```
/// assert!(simul::signal::MAX_LOOPS >= 64);
/// ```
pub const MAX_LOOPS: usize = 128;

#[allow(clippy::declare_interior_mutable_const)] // used only as an array initialiser
const FD_INIT: AtomicI32 = AtomicI32::new(-1);
/// Write ends of the hubs' wake pipes, filled in order and never closed (-1 = not yet).
static WAKE_FDS: [AtomicI32; MAX_LOOPS] = [FD_INIT; MAX_LOOPS];

/// Wake pipes not used by a hub right now: (slot in `WAKE_FDS`, read end).
struct PipePool {
    free: Vec<(usize, File)>,
    next: usize,
}
static POOL: Mutex<PipePool> = Mutex::new(PipePool {
    free: Vec::new(),
    next: 0,
});

/// Dispositions found when the first listener of each signal subscribed.
static PREVIOUS: Mutex<[Option<sys::Disposition>; NSIG]> = Mutex::new([None; NSIG]);

/// SIGINT escalation for [`crate::run`]: `u64::MAX` when disarmed, else the SIGINT
/// delivery count when `run` armed it.
static RUN_ARMED_AT: AtomicU64 = AtomicU64::new(u64::MAX);
/// Whether some `run` owns SIGINT (only the first active one does).
static RUN_OWNS_SIGINT: AtomicBool = AtomicBool::new(false);

/// A kind of signal to listen for.
///
/// # Examples
/// ```
/// use simul::signal::SignalKind;
/// assert_eq!(SignalKind::interrupt().as_raw(), libc::SIGINT);
/// assert_eq!(SignalKind::from_raw(libc::SIGTERM), SignalKind::terminate());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SignalKind(i32);

impl SignalKind {
    /// A signal by number (`libc::SIGUSR1`, a real-time signal, ...).
    ///
    /// # Examples
    /// ```
    /// let k = simul::signal::SignalKind::from_raw(libc::SIGWINCH);
    /// assert_eq!(k, simul::signal::SignalKind::window_change());
    /// ```
    pub const fn from_raw(signum: i32) -> SignalKind {
        SignalKind(signum)
    }
    /// The signal number.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(simul::signal::SignalKind::hangup().as_raw(), libc::SIGHUP);
    /// ```
    pub const fn as_raw(self) -> i32 {
        self.0
    }
    /// SIGINT (Ctrl-C in a terminal).
    ///
    /// # Examples
    /// ```
    /// assert_eq!(simul::signal::SignalKind::interrupt().as_raw(), libc::SIGINT);
    /// ```
    pub const fn interrupt() -> SignalKind {
        SignalKind(libc::SIGINT)
    }
    /// SIGTERM (a polite request to stop).
    ///
    /// # Examples
    /// ```
    /// assert_eq!(simul::signal::SignalKind::terminate().as_raw(), libc::SIGTERM);
    /// ```
    pub const fn terminate() -> SignalKind {
        SignalKind(libc::SIGTERM)
    }
    /// SIGHUP (the terminal went away; daemons reload their configuration).
    ///
    /// # Examples
    /// ```
    /// assert_eq!(simul::signal::SignalKind::hangup().as_raw(), libc::SIGHUP);
    /// ```
    pub const fn hangup() -> SignalKind {
        SignalKind(libc::SIGHUP)
    }
    /// SIGQUIT (Ctrl-\ in a terminal).
    ///
    /// # Examples
    /// ```
    /// assert_eq!(simul::signal::SignalKind::quit().as_raw(), libc::SIGQUIT);
    /// ```
    pub const fn quit() -> SignalKind {
        SignalKind(libc::SIGQUIT)
    }
    /// SIGUSR1.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(simul::signal::SignalKind::user_defined1().as_raw(), libc::SIGUSR1);
    /// ```
    pub const fn user_defined1() -> SignalKind {
        SignalKind(libc::SIGUSR1)
    }
    /// SIGUSR2.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(simul::signal::SignalKind::user_defined2().as_raw(), libc::SIGUSR2);
    /// ```
    pub const fn user_defined2() -> SignalKind {
        SignalKind(libc::SIGUSR2)
    }
    /// SIGCHLD (a child process stopped or exited).
    ///
    /// # Examples
    /// ```
    /// assert_eq!(simul::signal::SignalKind::child().as_raw(), libc::SIGCHLD);
    /// ```
    pub const fn child() -> SignalKind {
        SignalKind(libc::SIGCHLD)
    }
    /// SIGALRM.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(simul::signal::SignalKind::alarm().as_raw(), libc::SIGALRM);
    /// ```
    pub const fn alarm() -> SignalKind {
        SignalKind(libc::SIGALRM)
    }
    /// SIGPIPE (Rust programs ignore it by default, so writes fail with `EPIPE` instead).
    ///
    /// # Examples
    /// ```
    /// assert_eq!(simul::signal::SignalKind::pipe().as_raw(), libc::SIGPIPE);
    /// ```
    pub const fn pipe() -> SignalKind {
        SignalKind(libc::SIGPIPE)
    }
    /// SIGWINCH (the terminal was resized).
    ///
    /// # Examples
    /// ```
    /// assert_eq!(simul::signal::SignalKind::window_change().as_raw(), libc::SIGWINCH);
    /// ```
    pub const fn window_change() -> SignalKind {
        SignalKind(libc::SIGWINCH)
    }
}

impl fmt::Debug for SignalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.0 {
            libc::SIGINT => "SIGINT",
            libc::SIGTERM => "SIGTERM",
            libc::SIGHUP => "SIGHUP",
            libc::SIGQUIT => "SIGQUIT",
            libc::SIGUSR1 => "SIGUSR1",
            libc::SIGUSR2 => "SIGUSR2",
            libc::SIGCHLD => "SIGCHLD",
            libc::SIGALRM => "SIGALRM",
            libc::SIGPIPE => "SIGPIPE",
            libc::SIGWINCH => "SIGWINCH",
            n => return write!(f, "SignalKind({n})"),
        };
        f.write_str(name)
    }
}

impl From<i32> for SignalKind {
    fn from(signum: i32) -> SignalKind {
        SignalKind(signum)
    }
}

/// Checks that `kind` may be listened for; returns its slot index.
fn check(kind: SignalKind) -> io::Result<usize> {
    let n = kind.0;
    let forbidden = [
        libc::SIGKILL,
        libc::SIGSTOP,
        libc::SIGSEGV,
        libc::SIGBUS,
        libc::SIGILL,
        libc::SIGFPE,
    ];
    if forbidden.contains(&n) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("simul::signal: {kind:?} cannot be handled by a listener"),
        ));
    }
    match usize::try_from(n) {
        Ok(i) if (1..NSIG).contains(&i) => Ok(i),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("simul::signal: {n} is not a signal number (1..{NSIG})"),
        )),
    }
}

fn acquire_pipe() -> io::Result<(usize, File)> {
    let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((slot, file)) = pool.free.pop() {
        drain(&file);
        return Ok((slot, file));
    }
    if pool.next == MAX_LOOPS {
        return Err(io::Error::other(format!(
            "simul::signal: more than {MAX_LOOPS} event loops listen for signals at once"
        )));
    }
    let (rx, tx) = crate::sys::pipe()?; // non-blocking and close-on-exec
    let slot = pool.next;
    pool.next += 1;
    // The write end is never closed: the handler may hold its number at any time.
    WAKE_FDS[slot].store(tx.into_raw_fd(), Ordering::SeqCst);
    Ok((slot, File::from(rx)))
}

fn release_pipe(slot: usize, file: File) {
    let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
    pool.free.push((slot, file));
}

/// One listener's subscription: keeps the handler installed while it lives.
struct Subscription {
    index: usize,
}

impl Subscription {
    fn new(kind: SignalKind) -> io::Result<Subscription> {
        let index = check(kind)?;
        let mut prev = PREVIOUS.lock().unwrap_or_else(|e| e.into_inner());
        if SLOTS[index].listeners.load(Ordering::SeqCst) == 0 {
            prev[index] = Some(sys::install(kind.0)?);
        }
        SLOTS[index].listeners.fetch_add(1, Ordering::SeqCst);
        Ok(Subscription { index })
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut prev = PREVIOUS.lock().unwrap_or_else(|e| e.into_inner());
        if SLOTS[self.index].listeners.fetch_sub(1, Ordering::SeqCst) == 1 {
            if let Some(old) = prev[self.index].take() {
                sys::restore(self.index as i32, &old);
            }
        }
    }
}

/// Wakes every listener parked in a hub. Each listener has at most one entry, found by
/// its key, removed when its `recv` future or the listener itself is dropped.
struct HubWake {
    waiters: Mutex<Vec<(u64, Waker)>>,
}

impl Wake for HubWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        let waiters = std::mem::take(&mut *self.waiters.lock().unwrap_or_else(|e| e.into_inner()));
        for (_, w) in waiters {
            w.wake();
        }
    }
}

/// One loop's wake pipe, registered with its reactor, shared by its listeners.
struct Hub {
    shared: Weak<Shared>,
    slot: usize,
    /// `Some` until dropped (then it goes back to the pool).
    file: Option<File>,
    reg: Registration,
    wake: Arc<HubWake>,
    waker: Waker,
}

thread_local! {
    /// The hubs of the loops of this thread (loops are not `Send`).
    static HUBS: RefCell<Vec<std::rc::Weak<Hub>>> = const { RefCell::new(Vec::new()) };
}

impl Hub {
    /// The running loop's hub, created on first use.
    fn current() -> io::Result<Rc<Hub>> {
        let shared = crate::runtime::with_core("signal::Signals", |core| core.shared().clone());
        let found = HUBS.with(|h| {
            let mut h = h.borrow_mut();
            h.retain(|w| w.strong_count() > 0);
            h.iter()
                .filter_map(std::rc::Weak::upgrade)
                .find(|hub| hub.shared.as_ptr() == Arc::as_ptr(&shared))
        });
        if let Some(hub) = found {
            return Ok(hub);
        }
        let (slot, file) = acquire_pipe()?;
        let fd = file.as_raw_fd();
        let reg = match Registration::new(fd, Interest::READABLE) {
            Ok(reg) => reg,
            Err(e) => {
                release_pipe(slot, file);
                return Err(e);
            }
        };
        let wake = Arc::new(HubWake {
            waiters: Mutex::new(Vec::new()),
        });
        let hub = Rc::new(Hub {
            // Holding a Weak keeps the address from being reused by another loop.
            shared: Arc::downgrade(&shared),
            slot,
            file: Some(file),
            reg,
            waker: Waker::from(wake.clone()),
            wake,
        });
        HUBS.with(|h| h.borrow_mut().push(Rc::downgrade(&hub)));
        Ok(hub)
    }

    /// Parks `cx`'s waker as listener `key`'s (replacing that listener's previous one)
    /// until the pipe is readable; `Ready` after draining it.
    fn poll(&self, cx: &mut Context<'_>, key: u64) -> Poll<io::Result<()>> {
        {
            let mut ws = self.wake.waiters.lock().unwrap_or_else(|e| e.into_inner());
            match ws.iter_mut().find(|(k, _)| *k == key) {
                Some((_, w)) if w.will_wake(cx.waker()) => {}
                Some((_, w)) => *w = cx.waker().clone(),
                None => ws.push((key, cx.waker().clone())),
            }
        }
        let mut hcx = Context::from_waker(&self.waker);
        match self.reg.poll_ready(&mut hcx, Direction::Read) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Ready(Ok(ev)) => {
                if let Some(f) = &self.file {
                    drain(f);
                }
                self.reg.clear_readiness(ev, Direction::Read);
                Poll::Ready(Ok(()))
            }
        }
    }
}

impl Hub {
    /// Drops listener `key`'s parked waker, if any (outside the lock: a waker's drop may
    /// free a task).
    fn forget(&self, key: u64) {
        let mut ws = self.wake.waiters.lock().unwrap_or_else(|e| e.into_inner());
        let gone = ws
            .iter()
            .position(|(k, _)| *k == key)
            .map(|i| ws.swap_remove(i));
        drop(ws);
        drop(gone);
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        if let Some(file) = self.file.take() {
            let fd = file.as_raw_fd();
            let _ = self.reg.deregister(fd);
            release_pipe(self.slot, file);
        }
    }
}

/// A stream of deliveries of one signal, from [`signal`].
///
/// Each item is one or more deliveries: deliveries that arrive before the listener looks
/// again coalesce into one item. Several `Signals` for the same signal (on any loops) each
/// see every delivery. Dropping the last listener of a signal restores the disposition
/// the signal had before the first one was created. A listener belongs to the loop it is
/// created in (or, if made outside a loop, first polled on) and is not `Send`.
///
/// # Examples
/// ```
/// use simul::signal::{signal, SignalKind};
/// simul::run(async {
///     let mut usr1 = signal(SignalKind::user_defined1()).unwrap();
///     unsafe { libc::raise(libc::SIGUSR1) };
///     assert_eq!(usr1.recv().await, Some(()));
/// });
/// ```
pub struct Signals {
    kind: SignalKind,
    seen: u64,
    /// Names this listener's waker in its hub.
    key: u64,
    /// The hub of the loop this listener belongs to (joined on first poll when the
    /// listener was made outside a loop).
    hub: Option<Rc<Hub>>,
    failed: bool,
    // Last field: dropped after the hub, so the handler outlives the registration.
    _sub: Subscription,
}

impl fmt::Debug for Signals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signals")
            .field("kind", &self.kind)
            .field("seen", &self.seen)
            .finish_non_exhaustive()
    }
}

/// Listens for `kind`: a [`Stream`](futures_core::Stream) of deliveries.
///
/// Installs simul's handler for the signal (its previous disposition is restored when the
/// last listener is dropped). May be called outside a loop; the listener joins the loop
/// it is first polled on.
///
/// # Errors
/// `InvalidInput` for a signal number out of range or one that must not be caught
/// (SIGKILL, SIGSTOP, SIGSEGV, SIGBUS, SIGILL, SIGFPE); the OS error if the handler
/// cannot be installed or the loop's wake pipe cannot be created or registered (at most
/// [`MAX_LOOPS`] loops listen at once).
///
/// # Examples
/// ```
/// use simul::signal::{signal, SignalKind};
/// simul::run(async {
///     let mut hup = signal(SignalKind::hangup()).unwrap();
///     unsafe { libc::kill(libc::getpid(), libc::SIGHUP) };
///     hup.recv().await;
///     assert!(signal(SignalKind::from_raw(libc::SIGKILL)).is_err());
/// });
/// ```
pub fn signal(kind: SignalKind) -> io::Result<Signals> {
    let sub = Subscription::new(kind)?;
    let seen = SLOTS[sub.index].deliveries.load(Ordering::SeqCst);
    let hub = match crate::runtime::try_with_core(|_| ()) {
        Some(()) => Some(Hub::current()?),
        None => None,
    };
    static KEYS: AtomicU64 = AtomicU64::new(0);
    Ok(Signals {
        kind,
        seen,
        key: KEYS.fetch_add(1, Ordering::Relaxed),
        hub,
        failed: false,
        _sub: sub,
    })
}

impl Signals {
    /// The signal this listens for.
    ///
    /// # Examples
    /// ```
    /// use simul::signal::{signal, SignalKind};
    /// let s = signal(SignalKind::user_defined2()).unwrap();
    /// assert_eq!(s.kind(), SignalKind::user_defined2());
    /// ```
    pub fn kind(&self) -> SignalKind {
        self.kind
    }

    /// Waits for the next delivery. Returns `None` only if the loop's reactor refused to
    /// watch the signal pipe (the stream then ends). Dropping the future before it
    /// completes releases the waker it left with the loop.
    ///
    /// # Examples
    /// ```
    /// use simul::signal::{signal, SignalKind};
    /// simul::run(async {
    ///     let mut s = signal(SignalKind::user_defined1()).unwrap();
    ///     unsafe { libc::raise(libc::SIGUSR1) };
    ///     assert!(s.recv().await.is_some());
    /// });
    /// ```
    pub async fn recv(&mut self) -> Option<()> {
        struct Recv<'a>(&'a mut Signals);
        impl Drop for Recv<'_> {
            fn drop(&mut self) {
                self.0.forget_waker();
            }
        }
        let recv = Recv(self);
        std::future::poll_fn(|cx| recv.0.poll_recv(cx)).await
    }

    /// Releases the waker this listener left parked, if any.
    fn forget_waker(&self) {
        if let Some(hub) = &self.hub {
            hub.forget(self.key);
        }
    }

    /// Polls for the next delivery (the [`Stream`](futures_core::Stream) method). While
    /// `Pending`, the listener keeps `cx`'s waker (one per listener: a later poll replaces
    /// it) until a delivery or until the listener is dropped.
    ///
    /// # Panics
    /// When first polled outside a running loop.
    ///
    /// # Examples
    /// ```
    /// use simul::signal::{signal, SignalKind};
    /// simul::run(async {
    ///     let mut s = signal(SignalKind::user_defined1()).unwrap();
    ///     unsafe { libc::raise(libc::SIGUSR1) };
    ///     std::future::poll_fn(|cx| s.poll_recv(cx)).await;
    /// });
    /// ```
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<()>> {
        if self.failed {
            return Poll::Ready(None);
        }
        let slot = &SLOTS[self.kind.0 as usize];
        loop {
            let now = slot.deliveries.load(Ordering::SeqCst);
            if now != self.seen {
                if crate::io::coop_exhausted(cx) {
                    return Poll::Pending;
                }
                self.seen = now;
                return Poll::Ready(Some(()));
            }
            if self.hub.is_none() {
                match Hub::current() {
                    Ok(hub) => self.hub = Some(hub),
                    Err(_) => {
                        self.failed = true;
                        return Poll::Ready(None);
                    }
                }
            }
            let hub = self.hub.as_ref().expect("joined above");
            match hub.poll(cx, self.key) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(_)) => {
                    self.failed = true;
                    return Poll::Ready(None);
                }
            }
        }
    }
}

fn drain(mut file: &File) {
    let mut buf = [0u8; 128];
    loop {
        match file.read(&mut buf) {
            Ok(n) if n == buf.len() => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            _ => return, // short read, WouldBlock, or an error: drained for now
        }
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        self.forget_waker();
    }
}

impl futures_core::Stream for Signals {
    type Item = ();
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<()>> {
        self.get_mut().poll_recv(cx)
    }
}

/// The future returned by [`ctrl_c`].
///
/// # Examples
/// ```
/// simul::run(async {
///     let c: simul::signal::CtrlC = simul::signal::ctrl_c();
///     drop(c);
/// });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct CtrlC {
    inner: Option<io::Result<Signals>>,
}

impl fmt::Debug for CtrlC {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CtrlC").finish_non_exhaustive()
    }
}

/// Waits for the next Ctrl-C (SIGINT). The listener is installed when `ctrl_c()` is
/// called, so a SIGINT that arrives before the first poll is not missed. While it lives,
/// [`crate::run`] leaves SIGINT to it.
///
/// Resolves to an error if the handler cannot be installed.
///
/// # Examples
/// ```no_run
/// simul::run(async {
///     println!("press Ctrl-C");
///     simul::signal::ctrl_c().await.unwrap();
///     println!("bye");
/// });
/// ```
#[doc(alias = "KeyboardInterrupt")]
pub fn ctrl_c() -> CtrlC {
    CtrlC {
        inner: Some(signal(SignalKind::interrupt())),
    }
}

impl Future for CtrlC {
    type Output = io::Result<()>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.inner {
            Some(Ok(s)) => match s.poll_recv(cx) {
                Poll::Ready(Some(())) => Poll::Ready(Ok(())),
                Poll::Ready(None) => Poll::Ready(Err(io::Error::other(
                    "simul::signal::ctrl_c: the loop cannot watch the signal pipe",
                ))),
                Poll::Pending => Poll::Pending,
            },
            Some(Err(_)) => match self.inner.take() {
                Some(Err(e)) => Poll::Ready(Err(e)),
                _ => unreachable!(),
            },
            None => Poll::Ready(Err(io::Error::other("CtrlC polled after completion"))),
        }
    }
}

/// Sends `kind` to process `pid` (`kill(2)`).
pub(crate) fn send(pid: u32, kind: SignalKind) -> io::Result<()> {
    let bad = || {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "simul::signal: bad pid or signal",
        )
    };
    let pid = libc::pid_t::try_from(pid).map_err(|_| bad())?;
    if pid <= 0 || !(1..NSIG as i32).contains(&kind.0) {
        return Err(bad());
    }
    sys::kill(pid, kind.0)
}

// ---------------------------------------------------------------------------------------
// asyncio's add_signal_handler / remove_signal_handler

struct HandlerEntry {
    shared: Weak<Shared>,
    signum: i32,
    /// Owned by the handler's task (so the listener goes when the task does, e.g. when
    /// the loop closes); taken out, and so unsubscribed at once, by `remove_signal_handler`.
    signals: std::rc::Weak<RefCell<Option<Signals>>>,
    task: Task<()>,
}

thread_local! {
    /// Signal handlers of the loops of this thread (loops are not `Send`).
    static HANDLERS: RefCell<Vec<HandlerEntry>> = const { RefCell::new(Vec::new()) };
}

fn add_handler(
    shared: &Arc<Shared>,
    kind: SignalKind,
    callback: Rc<dyn Fn()>,
    spawn: impl FnOnce(Pin<Box<dyn Future<Output = ()>>>) -> Task<()>,
) -> io::Result<()> {
    let signals = Rc::new(RefCell::new(Some(signal(kind)?)));
    let weak = Rc::downgrade(&signals);
    let fut = Box::pin(std::future::poll_fn(move |cx| loop {
        let mut guard = signals.borrow_mut();
        let Some(sig) = guard.as_mut() else {
            return Poll::Ready(());
        };
        match sig.poll_recv(cx) {
            Poll::Ready(Some(())) => {
                let cb = callback.clone();
                // Through call_soon, as asyncio does: a panicking callback is reported to
                // the loop's exception handler and the handler stays installed.
                crate::call_soon(move || cb());
            }
            Poll::Ready(None) => return Poll::Ready(()),
            Poll::Pending => return Poll::Pending,
        }
    }));
    remove_handler(shared, kind);
    let task = spawn(fut);
    HANDLERS.with(|h| {
        h.borrow_mut().push(HandlerEntry {
            shared: Arc::downgrade(shared),
            signum: kind.0,
            signals: weak,
            task,
        })
    });
    Ok(())
}

fn remove_handler(shared: &Arc<Shared>, kind: SignalKind) -> bool {
    let removed: Vec<HandlerEntry> = HANDLERS.with(|h| {
        let mut h = h.borrow_mut();
        let mut out = Vec::new();
        let mut i = 0;
        while i < h.len() {
            let e = &h[i];
            let stale = e.task.is_done() || e.shared.strong_count() == 0;
            if stale || (e.shared.as_ptr() == Arc::as_ptr(shared) && e.signum == kind.0) {
                out.push(h.swap_remove(i));
            } else {
                i += 1;
            }
        }
        out
    });
    let mut found = false;
    for e in removed {
        if e.shared.as_ptr() == Arc::as_ptr(shared) && e.signum == kind.0 && !e.task.is_done() {
            found = true;
        }
        // Unsubscribe now (restoring the disposition if it was the last listener).
        if let Some(cell) = e.signals.upgrade() {
            let signals = cell.borrow_mut().take();
            drop(signals);
        }
        e.task.cancel();
    }
    found
}

/// asyncio's `loop.add_signal_handler(sig, callback)` for the running loop: calls
/// `callback` (through `call_soon`) every time `kind` is delivered, until
/// [`remove_signal_handler`] or the loop closes. A second handler for the same signal on
/// the same loop replaces the first.
///
/// # Errors
/// As [`signal`].
///
/// # Panics
/// Outside a running loop.
///
/// # Examples
/// ```
/// use std::{cell::Cell, rc::Rc};
/// use simul::signal::{add_signal_handler, remove_signal_handler, SignalKind};
/// simul::run(async {
///     let hits = Rc::new(Cell::new(0));
///     let h = hits.clone();
///     add_signal_handler(SignalKind::user_defined2(), move || h.set(h.get() + 1)).unwrap();
///     unsafe { libc::raise(libc::SIGUSR2) };
///     while hits.get() == 0 { simul::sleep(std::time::Duration::from_millis(1)).await; }
///     assert!(remove_signal_handler(SignalKind::user_defined2()));
/// });
/// ```
#[track_caller]
pub fn add_signal_handler(kind: SignalKind, callback: impl Fn() + 'static) -> io::Result<()> {
    let shared =
        crate::runtime::with_core("signal::add_signal_handler", |core| core.shared().clone());
    add_handler(&shared, kind, Rc::new(callback), |fut| crate::spawn(fut))
}

/// asyncio's `loop.remove_signal_handler(sig)` for the running loop. Returns whether a
/// handler was installed. The signal's previous disposition is restored if no other
/// listener is left.
///
/// # Panics
/// Outside a running loop.
///
/// # Examples
/// ```
/// use simul::signal::{remove_signal_handler, SignalKind};
/// simul::run(async { assert!(!remove_signal_handler(SignalKind::hangup())); });
/// ```
#[track_caller]
pub fn remove_signal_handler(kind: SignalKind) -> bool {
    let shared = crate::runtime::with_core("signal::remove_signal_handler", |core| {
        core.shared().clone()
    });
    remove_handler(&shared, kind)
}

impl EventLoop {
    /// asyncio's `loop.add_signal_handler(sig, callback)`: calls `callback` on this loop
    /// (through `call_soon`) every time `kind` is delivered while the loop runs. A second
    /// handler for the same signal replaces the first. See [`add_signal_handler`] for the
    /// form that acts on the running loop.
    ///
    /// # Errors
    /// As [`signal`].
    ///
    /// # Examples
    /// ```
    /// use std::{cell::Cell, rc::Rc};
    /// use simul::signal::SignalKind;
    /// let lp = simul::EventLoop::new().unwrap();
    /// let hits = Rc::new(Cell::new(0));
    /// let h = hits.clone();
    /// lp.add_signal_handler(SignalKind::user_defined1(), move || h.set(h.get() + 1)).unwrap();
    /// unsafe { libc::raise(libc::SIGUSR1) };
    /// lp.run_until_complete(async {
    ///     while hits.get() == 0 { simul::sleep(std::time::Duration::from_millis(1)).await; }
    /// });
    /// assert!(lp.remove_signal_handler(SignalKind::user_defined1()));
    /// ```
    pub fn add_signal_handler(
        &self,
        kind: SignalKind,
        callback: impl Fn() + 'static,
    ) -> io::Result<()> {
        add_handler(self.core().shared(), kind, Rc::new(callback), |fut| {
            self.spawn(fut)
        })
    }

    /// asyncio's `loop.remove_signal_handler(sig)`: returns whether a handler was
    /// installed for `kind` on this loop.
    ///
    /// # Examples
    /// ```
    /// let lp = simul::EventLoop::new().unwrap();
    /// assert!(!lp.remove_signal_handler(simul::signal::SignalKind::hangup()));
    /// ```
    pub fn remove_signal_handler(&self, kind: SignalKind) -> bool {
        remove_handler(self.core().shared(), kind)
    }
}

// ---------------------------------------------------------------------------------------
// Ctrl-C in `simul::run`

/// `simul::run`'s SIGINT watch (see the module doc). Not part of the public API.
pub(crate) struct RunInterrupt {
    signals: Option<Signals>,
}

impl RunInterrupt {
    /// Takes SIGINT over for this `run` if its disposition is the default and no other
    /// `run` holds it; otherwise returns a watch that never fires.
    pub(crate) fn arm() -> RunInterrupt {
        let none = RunInterrupt { signals: None };
        if RUN_OWNS_SIGINT.swap(true, Ordering::SeqCst) {
            return none;
        }
        if !sys::is_default(libc::SIGINT) {
            RUN_OWNS_SIGINT.store(false, Ordering::SeqCst);
            return none;
        }
        match signal(SignalKind::interrupt()) {
            Ok(s) => {
                RUN_ARMED_AT.store(s.seen, Ordering::SeqCst);
                RunInterrupt { signals: Some(s) }
            }
            Err(_) => {
                RUN_OWNS_SIGINT.store(false, Ordering::SeqCst);
                none
            }
        }
    }

    /// Wraps the main future: resolves to `None` once a SIGINT dropped it.
    pub(crate) fn watch<F: Future>(&mut self, future: F) -> Interruptible<'_, F> {
        Interruptible {
            future: Some(future),
            watch: self,
            flag: None,
        }
    }

    /// After an interrupted run and the loop's shutdown: flush, put SIGINT back to its
    /// default disposition, and die of SIGINT (exit status 130 in a shell).
    pub(crate) fn exit_interrupted(mut self) -> ! {
        use std::io::Write;
        let _ = io::stdout().flush();
        let _ = io::stderr().flush();
        self.disarm();
        sys::die_of_sigint()
    }

    fn disarm(&mut self) {
        if self.signals.take().is_some() {
            RUN_ARMED_AT.store(u64::MAX, Ordering::SeqCst);
            RUN_OWNS_SIGINT.store(false, Ordering::SeqCst);
        }
    }
}

impl Drop for RunInterrupt {
    fn drop(&mut self) {
        self.disarm();
    }
}

/// Sets a flag and forwards the wake-up to the main future's waker, so the SIGINT
/// listener is polled only after it was woken.
struct FlagWake {
    woken: AtomicBool,
    main: Mutex<Option<Waker>>,
}

impl Wake for FlagWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        let w = self.main.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(w) = w {
            w.wake();
        }
    }
}

pin_project_lite::pin_project! {
    /// The main future of `run`, dropped at the first SIGINT.
    pub(crate) struct Interruptible<'a, F> {
        #[pin]
        future: Option<F>,
        watch: &'a mut RunInterrupt,
        flag: Option<(Arc<FlagWake>, Waker)>,
    }
}

impl<F: Future> Future for Interruptible<'_, F> {
    type Output = Option<F::Output>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<F::Output>> {
        let mut this = self.project();
        if let Some(signals) = this.watch.signals.as_mut() {
            let (flag, waker) = this.flag.get_or_insert_with(|| {
                let f = Arc::new(FlagWake {
                    woken: AtomicBool::new(true),
                    main: Mutex::new(None),
                });
                (f.clone(), Waker::from(f))
            });
            if flag.woken.swap(false, Ordering::SeqCst) {
                *flag.main.lock().unwrap_or_else(|e| e.into_inner()) = Some(cx.waker().clone());
                let mut scx = Context::from_waker(waker);
                let mut interrupted = false;
                while let Poll::Ready(r) = signals.poll_recv(&mut scx) {
                    // The handler moves RUN_ARMED_AT past every SIGINT that arrived while
                    // the program listened for it too: those were the program's.
                    if r.is_none() || signals.seen > RUN_ARMED_AT.load(Ordering::SeqCst) {
                        interrupted = r.is_some();
                        break;
                    }
                }
                if interrupted {
                    this.future.set(None); // destructors run here, inside the loop
                    return Poll::Ready(None);
                }
            }
        }
        match this.future.as_mut().as_pin_mut() {
            Some(fut) => fut.poll(cx).map(Some),
            None => Poll::Ready(None),
        }
    }
}

// ---------------------------------------------------------------------------------------
// sys: every unsafe operation of this module

mod sys {
    use super::*;

    /// A saved `sigaction`.
    pub(super) type Disposition = libc::sigaction;

    /// The handler: async-signal-safe operations only (atomics, `write`, `sigaction`,
    /// `kill`, `getpid`), and errno is preserved.
    extern "C" fn on_signal(signum: libc::c_int) {
        // SAFETY: __errno_location returns this thread's errno slot, always valid.
        let errno = unsafe { *libc::__errno_location() };
        let Ok(index) = usize::try_from(signum) else {
            return;
        };
        if index >= NSIG {
            return;
        }
        let n = SLOTS[index].deliveries.fetch_add(1, Ordering::SeqCst) + 1;
        if signum == libc::SIGINT {
            let armed = RUN_ARMED_AT.load(Ordering::SeqCst);
            if armed != u64::MAX {
                if SLOTS[index].listeners.load(Ordering::SeqCst) > 1 {
                    // The program listens too: this one is the program's, not `run`'s.
                    let _ =
                        RUN_ARMED_AT.compare_exchange(armed, n, Ordering::SeqCst, Ordering::SeqCst);
                } else if n >= armed.saturating_add(2) {
                    // The second Ctrl-C of a `simul::run`: end the process now.
                    die_of_sigint();
                }
            }
        }
        for slot in &WAKE_FDS {
            let fd = slot.load(Ordering::SeqCst);
            if fd < 0 {
                break; // slots are filled in order
            }
            let byte = 1u8;
            // SAFETY: `fd` is a wake pipe's write end, which is never closed; the buffer
            // is a valid one-byte local. A full pipe (EAGAIN) is fine: it is already
            // readable, and the counters carry the information.
            unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
        }
        // SAFETY: as above.
        unsafe { *libc::__errno_location() = errno };
    }

    /// Installs `on_signal` for `signum`; returns the previous disposition.
    pub(super) fn install(signum: i32) -> io::Result<Disposition> {
        // SAFETY: an all-zero sigaction is a valid value (SIG_DFL, empty mask, no flags).
        let mut new: libc::sigaction = unsafe { std::mem::zeroed() };
        new.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        new.sa_flags = libc::SA_RESTART;
        // SAFETY: as above.
        let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: `new.sa_mask` is a valid sigset_t owned by us.
        unsafe { libc::sigemptyset(&mut new.sa_mask) };
        // SAFETY: both pointers are valid for the call; `on_signal` only does
        // async-signal-safe work.
        crate::sys::syscall(unsafe { libc::sigaction(signum, &new, &mut old) })?;
        Ok(old)
    }

    /// Puts a saved disposition back.
    pub(super) fn restore(signum: i32, old: &Disposition) {
        // SAFETY: `old` is a disposition the kernel gave us for this signal.
        unsafe { libc::sigaction(signum, old, std::ptr::null_mut()) };
    }

    /// Whether `signum` has its default disposition.
    pub(super) fn is_default(signum: i32) -> bool {
        // SAFETY: an all-zero sigaction is valid; a null `act` only queries.
        let mut cur: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: valid pointers; querying has no side effect.
        let rc = unsafe { libc::sigaction(signum, std::ptr::null(), &mut cur) };
        rc == 0 && cur.sa_sigaction == libc::SIG_DFL
    }

    /// `kill(pid, signum)`.
    pub(super) fn kill(pid: libc::pid_t, signum: i32) -> io::Result<()> {
        // SAFETY: kill takes plain integers and touches no memory of ours.
        crate::sys::syscall(unsafe { libc::kill(pid, signum) })?;
        Ok(())
    }

    /// Resets SIGINT to its default and sends it to this process (async-signal-safe).
    pub(super) fn die_of_sigint() -> ! {
        // SAFETY: an all-zero sigaction is SIG_DFL with an empty mask.
        let dfl: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: valid pointer; resetting a disposition and signalling ourselves are
        // async-signal-safe. Unblock SIGINT in case we run inside its handler.
        unsafe {
            libc::sigaction(libc::SIGINT, &dfl, std::ptr::null_mut());
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGINT);
            libc::kill(libc::getpid(), libc::SIGINT);
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
            // Should the signal be blocked elsewhere, exit with the shell's code for it.
            libc::_exit(130)
        }
    }
}
