//! The selector: mio's `Poll` (epoll on Linux, kqueue on macOS), owned by the loop.
//!
//! Every registered source gets a [`ScheduledIo`]: a readiness word and, per direction, the
//! list of every task waiting on it. Registrations live in a slab behind
//! a mutex that is taken when a source is added or removed and once per `epoll_wait`
//! batch (never per event), so a socket may be dropped on any thread without racing the
//! dispatch. A token is `generation << 32 | index`: an event for a slot that has since been
//! reused is recognised and dropped.
//!
//! # Precise timeouts
//!
//! `epoll_wait` takes whole milliseconds, which would make every short sleep up to a
//! millisecond late. For waits shorter than [`PRECISE_BELOW`] the driver arms a
//! `timerfd` (nanosecond resolution) registered with the selector and waits without a
//! timeout; longer waits use `epoll_wait`'s own timeout, where a millisecond is noise.
//!
//! # Readiness and ticks
//!
//! Sources are edge-triggered. The driver ORs each event into the readiness word and bumps
//! the word's tick (the upper bits). An I/O operation that gets `WouldBlock` clears the
//! readiness it acted on only if the tick is still the one it observed: a newer event that
//! arrived meanwhile is never lost ("stale events never clear newer ones").
//!
//! A source whose state is known when it is registered may be marked ready without an
//! event ([`Registration::assume_ready`]): an accepted connection is writable and usually
//! already holds the peer's first bytes, so its first read and write try the socket
//! instead of waiting a whole selector round for the first edge (under load that edge
//! queues behind every other connection's). A wrong guess costs one `WouldBlock`, which
//! clears the guess like any observed readiness (the guess bumps the tick as an event
//! does, so the usual rule holds).
//!
//! A `WouldBlock` proves the source is not ready in that direction *now*, so it clears
//! every bit of the direction it observed: the plain readable/writable bit, and the closed
//! and error bits too. Keeping those sticky would make a source whose error has been
//! consumed (a connected UDP socket after `ECONNREFUSED`: mio reports a lone `EPOLLERR` as
//! error *and* write-closed) look ready forever, and the operation would loop on `EAGAIN`
//! inside one poll at 100% CPU. A short transfer on a stream (drained, not failed) clears
//! only the plain bit: a hang-up seen with the last bytes must stay visible, because an
//! edge-triggered selector will not report it again.
//!
//! # Waiters
//!
//! Any number of tasks may wait on one source and direction (two `recv_from` on a shared
//! `UdpSocket`, several `accept` on one listener): an event wakes every waiter of the
//! directions it concerns, as tokio does, and the ones that lose the race for the data
//! wait again. No waker is ever silently replaced by another task's.
//! - A [`Waiter`] (what the `async fn` operations use) owns one entry of the list, found by
//!   its key; dropping it (the operation completed or was cancelled) removes the entry at
//!   once, so a cancelled wait does not keep its task's memory alive.
//! - Anonymous polls (the `poll_*` methods and `futures_io` traits, which have nowhere to
//!   keep a key) are deduplicated by `Waker::will_wake`: one entry per task, kept until the
//!   next event on that direction or until the source is dropped.
//! - A direction's first waiter is kept inline in its [`ScheduledIo`] (one task per
//!   direction is the common case), so waiting and waking touch no heap buffer of their
//!   own; the rest spill into a `Vec`.
//! - The two lists of a source sit behind its own small lock (`WaitLock`: a flag taken by
//!   one compare-and-swap, released by a store, no poisoning), since a source may be used
//!   or dropped on another thread than its loop's. It is held only to edit a list (and
//!   clone, compare or replace a waker), never to wake one.
//!
//! No count of waiting operations is kept: virtual time does not depend on I/O waits
//! (`time::driver` says when the clock jumps).

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

#[cfg(loom)]
use loom::{cell::UnsafeCell, sync::atomic::AtomicBool as WaitFlag};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
#[cfg(not(loom))]
use std::{cell::UnsafeCell, sync::atomic::AtomicBool as WaitFlag};

use std::os::fd::RawFd;

use mio::unix::SourceFd;
use mio::{Events, Token};

const WAKER_TOKEN: Token = Token(usize::MAX);
const TIMER_TOKEN: Token = Token(usize::MAX - 1);

/// Waits shorter than this use the timerfd for sub-millisecond precision.
pub(crate) const PRECISE_BELOW: Duration = Duration::from_millis(20);

use crate::sys::syscall;

/// A monotonic timerfd used for precise short waits.
struct TimerFd {
    fd: libc::c_int,
}

impl TimerFd {
    fn new() -> io::Result<TimerFd> {
        // SAFETY: plain syscall with constant flags; the result is checked.
        let fd = syscall(unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        })?;
        Ok(TimerFd { fd })
    }

    /// Arms a one-shot expiry `d` from now (`d` must be non-zero).
    fn arm(&self, d: Duration) -> io::Result<()> {
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: d.as_secs() as libc::time_t,
                tv_nsec: libc::c_long::from(d.subsec_nanos().max(1)),
            },
        };
        // SAFETY: `fd` is our open timerfd; `spec` is a valid itimerspec and the old-value
        // pointer may be null.
        syscall(unsafe { libc::timerfd_settime(self.fd, 0, &spec, std::ptr::null_mut()) })?;
        Ok(())
    }

    /// Consumes an expiry so the next one is reported again.
    fn drain(&self) {
        let mut buf = [0u8; 8];
        // SAFETY: reads at most 8 bytes into a local buffer from our own non-blocking fd;
        // errors (EAGAIN) are irrelevant here.
        let _ = unsafe { libc::read(self.fd, buf.as_mut_ptr().cast(), buf.len()) };
    }
}

impl Drop for TimerFd {
    fn drop(&mut self) {
        // SAFETY: we own the fd and close it exactly once.
        unsafe { libc::close(self.fd) };
    }
}

/// Readiness bits.
pub(crate) const READABLE: usize = 1 << 0;
pub(crate) const WRITABLE: usize = 1 << 1;
pub(crate) const READ_CLOSED: usize = 1 << 2;
pub(crate) const WRITE_CLOSED: usize = 1 << 3;
pub(crate) const ERROR: usize = 1 << 4;
const READY_MASK: usize = (1 << 5) - 1;
const TICK_SHIFT: u32 = 16;

/// Which side of a source a task waits on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    Read,
    Write,
}

impl Direction {
    fn mask(self) -> usize {
        match self {
            Direction::Read => READABLE | READ_CLOSED | ERROR,
            Direction::Write => WRITABLE | WRITE_CLOSED | ERROR,
        }
    }

    fn plain(self) -> usize {
        match self {
            Direction::Read => READABLE,
            Direction::Write => WRITABLE,
        }
    }
}

/// A readiness observation: which bits, and at which tick.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ReadyEvent {
    pub(crate) ready: usize,
    tick: usize,
}

/// One waiting operation. Key [`ANONYMOUS`] marks an anonymous poll (see the module doc).
struct Entry {
    key: u64,
    waker: Waker,
}

const ANONYMOUS: u64 = 0;

/// The waiters of one direction. The first is kept inline: one task per direction is the
/// common case (a connection's own task), and then waiting and waking touch no heap
/// buffer of their own. Order is not kept (removal may move the last entry forward).
#[derive(Default)]
struct List {
    first: Option<Entry>,
    /// The others; never holds an entry while `first` is empty.
    more: Vec<Entry>,
}

impl List {
    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    fn find_mut(&mut self, pred: impl Fn(&Entry) -> bool) -> Option<&mut Entry> {
        match &mut self.first {
            Some(e) if pred(e) => Some(e),
            Some(_) => self.more.iter_mut().find(|e| pred(e)),
            None => None,
        }
    }

    fn push(&mut self, e: Entry) {
        if self.first.is_none() {
            self.first = Some(e);
        } else {
            self.more.push(e);
        }
    }

    /// Takes out the first entry `pred` picks.
    fn remove(&mut self, pred: impl Fn(&Entry) -> bool) -> Option<Entry> {
        match &self.first {
            Some(e) if pred(e) => {
                let next = self.more.pop();
                std::mem::replace(&mut self.first, next)
            }
            Some(_) => {
                let i = self.more.iter().position(pred)?;
                Some(self.more.swap_remove(i))
            }
            None => None,
        }
    }

    /// Moves every entry onto the end of `out` (the spill buffer keeps its capacity).
    fn move_into(&mut self, out: &mut Vec<Entry>) {
        if let Some(e) = self.first.take() {
            out.push(e);
            if !self.more.is_empty() {
                out.append(&mut self.more);
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.more.len()
    }
}

#[derive(Default)]
struct Waiters {
    read: List,
    write: List,
    /// The last key handed to a [`Waiter`] of this source.
    last_key: u64,
}

impl Waiters {
    fn list(&mut self, dir: Direction) -> &mut List {
        match dir {
            Direction::Read => &mut self.read,
            Direction::Write => &mut self.write,
        }
    }
}

/// The lock of a source's wait lists: one compare-and-swap to take, one release store to
/// give back, no poisoning (`std`'s `Mutex` pair costs ~15 instructions more, half of
/// them its poison checks, and an echo round trip takes two pairs). Held only for a list
/// edit and a waker's clone, comparison or replacement; two threads meet on it only when a source is used or
/// dropped off its loop's thread while the loop dispatches one of its events, so a thread
/// that finds it taken spins a little and then yields its CPU (the holder may be
/// descheduled on the same one). A panic inside releases it: the lists stay as they were
/// (as the `Mutex` did, whose poison every caller ignored).
struct WaitLock<T> {
    locked: WaitFlag,
    value: UnsafeCell<T>,
}

// SAFETY: `value` is reached only inside `with`, between a successful acquire of `locked`
// and its release, so at most one thread touches it at a time; `T: Send` lets it be used
// from whichever thread holds the lock.
unsafe impl<T: Send> Sync for WaitLock<T> {}

impl<T> WaitLock<T> {
    fn new(value: T) -> WaitLock<T> {
        WaitLock {
            locked: WaitFlag::new(false),
            value: UnsafeCell::new(value),
        }
    }

    /// Runs `f` on the value with the lock held.
    #[inline]
    fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        if self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_contended();
        }
        struct Release<'a>(&'a WaitFlag);
        impl Drop for Release<'_> {
            fn drop(&mut self) {
                self.0.store(false, Ordering::Release);
            }
        }
        let _release = Release(&self.locked);
        // SAFETY: the lock is held (acquired above) until `_release` drops after `f`, so
        // nothing else reaches the value meanwhile.
        unsafe { self.held(f) }
    }

    /// `f` on the value. Safety: the caller holds the lock.
    #[cfg(not(loom))]
    #[inline]
    unsafe fn held<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        // SAFETY: the caller holds the lock, so this is the only reference to the value.
        f(unsafe { &mut *self.value.get() })
    }

    /// `f` on the value (loom's cell checks that no two threads are in here at once).
    /// Safety: the caller holds the lock.
    #[cfg(loom)]
    unsafe fn held<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        // SAFETY: the caller holds the lock, so this is the only reference to the value.
        self.value.with_mut(|p| f(unsafe { &mut *p }))
    }

    #[cold]
    #[inline(never)]
    fn lock_contended(&self) {
        #[cfg(not(loom))]
        let mut spins = 0u32;
        loop {
            if !self.locked.load(Ordering::Relaxed)
                && self
                    .locked
                    .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                return;
            }
            // Under loom every retry yields, so the model explores the holder's progress.
            #[cfg(loom)]
            loom::thread::yield_now();
            #[cfg(not(loom))]
            if spins < 64 {
                spins += 1;
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
    }
}

/// Readiness and waiters of one registered source.
pub(crate) struct ScheduledIo {
    readiness: AtomicUsize,
    waiters: WaitLock<Waiters>,
}

impl ScheduledIo {
    fn set_readiness(&self, bits: usize) {
        let mut cur = self.readiness.load(Ordering::Acquire);
        loop {
            let tick = (cur >> TICK_SHIFT).wrapping_add(1);
            let next = (tick << TICK_SHIFT) | (cur & READY_MASK) | bits;
            match self.readiness.compare_exchange_weak(
                cur,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(a) => cur = a,
            }
        }
    }

    /// Moves the entries interested in `bits` into `out` (woken later, outside the slab
    /// lock, so a waker that drops a registration cannot deadlock the driver).
    fn take_wakers(&self, bits: usize, out: &mut Vec<Entry>) {
        self.waiters.with(|ws| {
            for dir in [Direction::Read, Direction::Write] {
                if bits & dir.mask() != 0 {
                    ws.list(dir).move_into(out);
                }
            }
        })
    }
}

struct Slab {
    entries: Vec<(u32, Option<Arc<ScheduledIo>>)>,
    free: Vec<u32>,
}

/// The part of the driver shared with registrations (which may live on any thread).
pub(crate) struct IoShared {
    registry: mio::Registry,
    slab: Mutex<Slab>,
    /// Registered sources (the slab's live entries), read without the lock by a busy
    /// loop deciding whether a non-blocking poll could report anything.
    live: AtomicUsize,
}

/// The selector, owned by the loop.
pub(crate) struct Driver {
    poll: mio::Poll,
    events: Events,
    /// Wait entries collected under the slab lock, woken after it is released (reused
    /// buffer).
    to_wake: Vec<Entry>,
    timer: TimerFd,
    pub(crate) shared: Arc<IoShared>,
}

impl Driver {
    pub(crate) fn new() -> io::Result<Driver> {
        let poll = mio::Poll::new()?;
        let registry = poll.registry().try_clone()?;
        let timer = TimerFd::new()?;
        poll.registry().register(
            &mut mio::unix::SourceFd(&timer.fd),
            TIMER_TOKEN,
            mio::Interest::READABLE,
        )?;
        Ok(Driver {
            poll,
            events: Events::with_capacity(1024),
            to_wake: Vec::with_capacity(64),
            timer,
            shared: Arc::new(IoShared {
                registry,
                slab: Mutex::new(Slab {
                    entries: Vec::new(),
                    free: Vec::new(),
                }),
                live: AtomicUsize::new(0),
            }),
        })
    }

    /// Whether any descriptor is registered: without one, a non-blocking poll can report
    /// nothing a busy loop does not learn otherwise (wake-ups come with a flag).
    pub(crate) fn has_sources(&self) -> bool {
        self.shared.live.load(Ordering::Relaxed) != 0
    }

    /// A handle that ends this driver's [`poll`](Self::poll) from any thread. One per
    /// driver (the selector has one wake-up source).
    pub(crate) fn new_unparker(&self) -> io::Result<Unparker> {
        mio::Waker::new(self.poll.registry(), WAKER_TOKEN).map(Unparker)
    }

    /// Waits for events (at most `timeout`; `None` = until one arrives) and dispatches them.
    /// Returns whether any event (I/O or a wake-up) arrived.
    pub(crate) fn poll(&mut self, timeout: Option<Duration>) -> io::Result<bool> {
        let timeout = match timeout {
            Some(d) if !d.is_zero() && d < PRECISE_BELOW => {
                self.timer.arm(d)?;
                None
            }
            other => other,
        };
        self.poll.poll(&mut self.events, timeout)?;
        if self.events.is_empty() {
            return Ok(false);
        }
        let slab = self.shared.slab.lock().unwrap_or_else(|e| e.into_inner());
        for ev in self.events.iter() {
            let token = ev.token();
            if token == WAKER_TOKEN {
                continue;
            }
            if token == TIMER_TOKEN {
                self.timer.drain();
                continue;
            }
            let index = token.0 & 0xFFFF_FFFF;
            let generation = (token.0 >> 32) as u32;
            let Some((g, Some(io))) = slab.entries.get(index) else {
                continue;
            };
            if *g != generation {
                continue; // a stale event for a slot that has been reused
            }
            let mut bits = 0;
            if ev.is_readable() {
                bits |= READABLE;
            }
            if ev.is_writable() {
                bits |= WRITABLE;
            }
            if ev.is_read_closed() {
                bits |= READ_CLOSED;
            }
            if ev.is_write_closed() {
                bits |= WRITE_CLOSED;
            }
            if ev.is_error() {
                bits |= ERROR;
            }
            io.set_readiness(bits);
            io.take_wakers(bits, &mut self.to_wake);
        }
        drop(slab);
        // In the order collected: reversed once, then popped (cheaper than a `Drain`
        // for the usual one or two entries; the buffer keeps its capacity).
        self.to_wake.reverse();
        while let Some(e) = self.to_wake.pop() {
            e.waker.wake();
        }
        Ok(true)
    }
}

/// Ends a driver's [`Driver::poll`] from any thread: the driver's own type, so nothing
/// above the driver names the backend's wake-up mechanism (an eventfd under epoll).
/// Keep it for as long as the driver may be woken: dropping it closes the wake-up
/// descriptor, and a wake-up not yet collected by `poll` goes with it.
pub(crate) struct Unparker(mio::Waker);

impl Unparker {
    /// Makes the driver's current or next `poll` return. A failure (the selector is gone)
    /// leaves nothing to wake.
    #[inline]
    pub(crate) fn unpark(&self) {
        let _ = self.0.wake();
    }
}

/// What a source is registered for. The driver's own type, so no caller names the
/// backend's (registration is backend-neutral: a descriptor and an interest).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Interest {
    read: bool,
    write: bool,
}

impl Interest {
    /// Readable (and read-closed, error) events.
    pub(crate) const READABLE: Interest = Interest {
        read: true,
        write: false,
    };
    /// Writable (and write-closed, error) events.
    pub(crate) const WRITABLE: Interest = Interest {
        read: false,
        write: true,
    };

    fn to_mio(self) -> mio::Interest {
        match (self.read, self.write) {
            (true, true) => mio::Interest::READABLE | mio::Interest::WRITABLE,
            (false, true) => mio::Interest::WRITABLE,
            _ => mio::Interest::READABLE,
        }
    }
}

impl std::ops::BitOr for Interest {
    type Output = Interest;
    fn bitor(self, other: Interest) -> Interest {
        Interest {
            read: self.read || other.read,
            write: self.write || other.write,
        }
    }
}

/// A source registered with a loop's selector. Deregisters itself when dropped.
pub(crate) struct Registration {
    io: Arc<ScheduledIo>,
    token: Token,
    shared: Arc<IoShared>,
}

impl Registration {
    /// Registers the descriptor `fd` with the current loop for `interest`. The caller
    /// keeps `fd` open until it calls [`Registration::deregister`] (or drops this).
    pub(crate) fn new(fd: RawFd, interest: Interest) -> io::Result<Registration> {
        let shared = crate::runtime::with_core("register an I/O source", |core| core.io_handle());
        Registration::new_in(shared, fd, interest)
    }

    /// Registers the descriptor `fd` for `interest` with the loop owning `shared` (running
    /// or not); the caller keeps `fd` open as for [`Registration::new`].
    pub(crate) fn new_in(
        shared: Arc<IoShared>,
        fd: RawFd,
        interest: Interest,
    ) -> io::Result<Registration> {
        let io = Arc::new(ScheduledIo {
            readiness: AtomicUsize::new(0),
            waiters: WaitLock::new(Waiters::default()),
        });
        let token = {
            let mut slab = shared.slab.lock().unwrap_or_else(|e| e.into_inner());
            let index = match slab.free.pop() {
                Some(i) => i,
                None => {
                    slab.entries.push((0, None));
                    u32::try_from(slab.entries.len() - 1).expect("too many I/O sources")
                }
            };
            let entry = &mut slab.entries[index as usize];
            entry.1 = Some(io.clone());
            shared.live.fetch_add(1, Ordering::Relaxed);
            Token(((entry.0 as usize) << 32) | index as usize)
        };
        if let Err(e) = shared
            .registry
            .register(&mut SourceFd(&fd), token, interest.to_mio())
        {
            release(&shared, token);
            return Err(e);
        }
        Ok(Registration { io, token, shared })
    }

    /// Current readiness for `dir`, or registers the task as an anonymous waiter (one
    /// entry per task, see the module doc) and returns `Pending`.
    #[inline]
    pub(crate) fn poll_ready(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
    ) -> Poll<io::Result<ReadyEvent>> {
        self.poll_ready_keyed(cx, dir, ANONYMOUS)
    }

    /// A waiter on `dir` that owns its place in the wait list until dropped.
    pub(crate) fn waiter(&self, dir: Direction) -> Waiter<'_> {
        Waiter {
            reg: self,
            dir,
            key: ANONYMOUS,
        }
    }

    /// The ready case inline (a load and a test), the wait out of line.
    #[inline]
    fn poll_ready_keyed(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        key: u64,
    ) -> Poll<io::Result<ReadyEvent>> {
        if let Some(ev) = self.readiness(dir) {
            return Poll::Ready(Ok(ev));
        }
        self.wait(cx, dir, key)
    }

    /// `dir` was not ready: stores the waker (see [`Registration::poll_ready`]), then
    /// looks at readiness again.
    #[inline(never)]
    fn wait(&self, cx: &mut Context<'_>, dir: Direction, key: u64) -> Poll<io::Result<ReadyEvent>> {
        let inserted = self.io.waiters.with(|ws| {
            let list = ws.list(dir);
            let found = if key == ANONYMOUS {
                list.find_mut(|e| e.key == ANONYMOUS && e.waker.will_wake(cx.waker()))
            } else {
                list.find_mut(|e| e.key == key)
            };
            match found {
                Some(e) => {
                    if !e.waker.will_wake(cx.waker()) {
                        // The same operation, now polled by another waker: not a
                        // different waiter, so replacing is right.
                        e.waker = cx.waker().clone();
                    }
                    false
                }
                None => {
                    list.push(Entry {
                        key,
                        waker: cx.waker().clone(),
                    });
                    true
                }
            }
        });
        // An event may have arrived between the load and storing the waker. Then take our
        // entry back (if the driver has not already), so no stale entry is left behind. An
        // anonymous entry found rather than made here may serve another operation of the
        // same task, so it stays.
        if let Some(ev) = self.readiness(dir) {
            if inserted {
                self.remove(dir, |e| {
                    e.key == key && (key != ANONYMOUS || e.waker.will_wake(cx.waker()))
                });
            }
            return Poll::Ready(Ok(ev));
        }
        Poll::Pending
    }

    /// Removes the first entry of `dir`'s list that `pred` picks, if it is still there.
    fn remove(&self, dir: Direction, pred: impl Fn(&Entry) -> bool) {
        // A waker's drop may run arbitrary code: not under the lock.
        drop(self.io.waiters.with(|ws| ws.list(dir).remove(pred)));
    }

    /// Marks the directions of `interest` ready without an event from the selector (see
    /// the module doc): for a source known to be ready when it is registered. Readiness
    /// may thus be a false positive; the operation that meets `WouldBlock` clears it.
    pub(crate) fn assume_ready(&self, interest: Interest) {
        let mut bits = 0;
        if interest.read {
            bits |= READABLE;
        }
        if interest.write {
            bits |= WRITABLE;
        }
        self.io.set_readiness(bits);
    }

    /// Current readiness for `dir` without registering a waker (`None` if not ready).
    #[inline]
    pub(crate) fn readiness(&self, dir: Direction) -> Option<ReadyEvent> {
        let cur = self.io.readiness.load(Ordering::Acquire);
        (cur & dir.mask() != 0).then_some(ReadyEvent {
            ready: cur & READY_MASK,
            tick: cur >> TICK_SHIFT,
        })
    }

    /// After `WouldBlock`: clears every bit of `dir` that `ev` saw (plain, closed and
    /// error: see the module doc), unless a newer event arrived since `ev` was observed.
    pub(crate) fn clear_readiness(&self, ev: ReadyEvent, dir: Direction) {
        self.clear_bits(ev, ev.ready & dir.mask());
    }

    /// After a short transfer on a stream: clears only the plain readable/writable bit of
    /// `dir` (a hang-up or error seen alongside stays), unless a newer event arrived.
    pub(crate) fn clear_drained(&self, ev: ReadyEvent, dir: Direction) {
        self.clear_bits(ev, dir.plain());
    }

    fn clear_bits(&self, ev: ReadyEvent, clear: usize) {
        let mut cur = self.io.readiness.load(Ordering::Acquire);
        loop {
            if cur >> TICK_SHIFT != ev.tick {
                return;
            }
            let next = cur & !clear;
            match self.io.readiness.compare_exchange_weak(
                cur,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(a) => cur = a,
            }
        }
    }

    /// Runs `op` when `dir` is ready; on `WouldBlock` clears readiness and waits again, on
    /// `Interrupted` retries. Charges the task's cooperative budget.
    pub(crate) fn poll_io<R>(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        mut op: impl FnMut() -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        if super::coop_exhausted(cx) {
            return Poll::Pending;
        }
        loop {
            let ev = match self.poll_ready(cx, dir) {
                Poll::Ready(Ok(ev)) => ev,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            };
            let res = match super::fault::next() {
                super::fault::Fault::NotReady => {
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                super::fault::Fault::Interrupted => Err(io::ErrorKind::Interrupted.into()),
                super::fault::Fault::None => op(),
            };
            match res {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.clear_readiness(ev, dir);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                res => return Poll::Ready(res),
            }
        }
    }

    /// Deregisters `source` (call before closing it).
    pub(crate) fn deregister(&mut self, fd: RawFd) -> io::Result<()> {
        self.shared.registry.deregister(&mut SourceFd(&fd))
    }
}

fn release(shared: &IoShared, token: Token) {
    let index = token.0 & 0xFFFF_FFFF;
    let mut slab = shared.slab.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(entry) = slab.entries.get_mut(index) {
        entry.0 = entry.0.wrapping_add(1);
        if entry.1.take().is_some() {
            shared.live.fetch_sub(1, Ordering::Relaxed);
        }
        slab.free.push(index as u32);
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let (read, write) = self
            .io
            .waiters
            .with(|ws| (std::mem::take(&mut ws.read), std::mem::take(&mut ws.write)));
        release(&self.shared, self.token);
        // Waiters of a dropped source are dropped, not woken: the source's owner is gone,
        // so no operation on it can still be pending.
        drop((read, write));
    }
}

/// One operation waiting on a [`Registration`]: its entry in the wait list of `dir` lives
/// until this is dropped (see the module doc). Made by [`Registration::waiter`].
pub(crate) struct Waiter<'a> {
    reg: &'a Registration,
    dir: Direction,
    /// [`ANONYMOUS`] until the first time it has to wait.
    key: u64,
}

impl Waiter<'_> {
    /// Current readiness of the direction, or keeps this waiter's entry and returns
    /// `Pending`.
    pub(crate) fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<ReadyEvent>> {
        if self.key == ANONYMOUS {
            if let Some(ev) = self.reg.readiness(self.dir) {
                return Poll::Ready(Ok(ev));
            }
            self.key = self.reg.io.waiters.with(|ws| {
                ws.last_key += 1;
                ws.last_key
            });
        }
        self.reg.poll_ready_keyed(cx, self.dir, self.key)
    }

    /// The direction this waiter waits on.
    pub(crate) fn direction(&self) -> Direction {
        self.dir
    }
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        if self.key != ANONYMOUS {
            let key = self.key;
            self.reg.remove(self.dir, |e| e.key == key);
        }
    }
}

#[cfg(test)]
#[path = "driver_tests.rs"]
mod tests;

#[cfg(all(test, not(loom)))]
mod wait_lock_tests {
    use super::WaitLock;
    use std::sync::Arc;

    #[test]
    fn a_panic_inside_the_wait_lock_releases_it_and_keeps_the_value() {
        let lock = WaitLock::new(vec![1]);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            lock.with(|v| {
                v.push(2);
                panic!("inside the lock");
            })
        }));
        assert!(r.is_err());
        // Not left taken (this would spin for ever), and the edit before the panic stays.
        assert_eq!(lock.with(|v| v.clone()), vec![1, 2]);
    }

    #[test]
    fn the_wait_lock_excludes_threads_that_contend_for_it() {
        let lock = Arc::new(WaitLock::new((0u64, 0u64)));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let lock = lock.clone();
                std::thread::spawn(move || {
                    for _ in 0..20_000 {
                        // Two steps apart: a second holder in between would leave them
                        // unequal.
                        lock.with(|(a, b)| {
                            *a += 1;
                            std::hint::black_box(&*a);
                            *b += 1;
                            assert_eq!(*a, *b);
                        });
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(lock.with(|p| *p), (80_000, 80_000));
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::WaitLock;
    use loom::sync::Arc;
    use loom::thread;

    /// The loop dispatching an event (taking the wait list) and another thread adding a
    /// waiter never touch the list at once (loom's cell checks it), and neither edit is lost.
    #[test]
    fn loom_wait_lock_is_exclusive() {
        loom::model(|| {
            let lock = Arc::new(WaitLock::new(Vec::<u32>::new()));
            let l2 = lock.clone();
            let other = thread::spawn(move || l2.with(|v| v.push(1)));
            let taken = lock.with(std::mem::take);
            other.join().unwrap();
            let left = lock.with(std::mem::take);
            let mut all = [taken, left].concat();
            all.sort_unstable();
            assert_eq!(all, vec![1]);
        });
    }
}
