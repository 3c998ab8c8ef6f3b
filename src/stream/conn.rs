//! One connection, shared by its reader, its writer, its flusher task and its server.
//!
//! # Write state machine
//!
//! `buf[start..]` holds bytes accepted by `write` that the socket has not taken yet.
//! `flushing` is true while a flusher task exists; only the flusher (or the inline fast
//! path, when no flusher exists) touches the socket's write side, so the driver's single
//! write-waker slot is never contended. `paused` is asyncio's protocol pause: set when the
//! buffer grows above `high`, cleared when it drains to `low` or below; `drain()` waits
//! while it is set. Once the buffer is empty the flusher performs what was deferred:
//! `eof_requested` → shut the write side down; `closing` → close the socket.
//! `unflushed` is set when a transport that buffers writes (`Transport::buffers_writes`)
//! (TLS: rustls keeps the ciphertext a full socket did not take) has accepted bytes; an
//! empty buffer is not the end of the flusher's work until `poll_flush` has pushed those
//! out too, since no later write may come to carry them (the peer would wait forever).
//! `error` (the first write error) and `closed` are terminal: the buffer is discarded and
//! every waiter is woken.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use super::error::StoredError;
use super::transport::Transport;

/// Default high-water mark of the write buffer.
pub(crate) const DEFAULT_HIGH: usize = 64 * 1024;
/// Default low-water mark of the write buffer.
pub(crate) const DEFAULT_LOW: usize = 16 * 1024;

pub(crate) struct WriteState {
    pub(crate) buf: Vec<u8>,
    pub(crate) start: usize,
    pub(crate) high: usize,
    pub(crate) low: usize,
    pub(crate) paused: bool,
    pub(crate) flushing: bool,
    /// The transport accepted bytes it may still hold: flush before calling it done.
    pub(crate) unflushed: bool,
    pub(crate) eof_requested: bool,
    pub(crate) eof_sent: bool,
    pub(crate) closing: bool,
    pub(crate) closed: bool,
    /// A write after `close()`/`write_eof()` was discarded.
    pub(crate) misuse: bool,
    pub(crate) error: Option<StoredError>,
    pub(crate) drain_waiters: Vec<Waker>,
    pub(crate) close_waiters: Vec<Waker>,
}

impl WriteState {
    pub(crate) fn pending(&self) -> usize {
        self.buf.len() - self.start
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
            if self.buf.capacity() > 4 * self.high.max(DEFAULT_LOW) {
                self.buf = Vec::new(); // a burst is over: give its memory back
            }
        }
    }

    pub(crate) fn append(&mut self, data: &[u8]) {
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(data);
        if self.pending() > self.high {
            self.paused = true;
        }
    }

    /// Re-evaluates `paused` after the buffer shrank or the marks changed.
    pub(crate) fn update_pause(&mut self) {
        if self.paused && self.pending() <= self.low {
            self.paused = false;
            wake_all(&mut self.drain_waiters);
        } else if !self.paused && self.pending() > self.high {
            self.paused = true;
        }
    }

    /// Nothing more will be written: discard the buffer and wake everyone.
    fn terminate(&mut self) {
        self.buf = Vec::new();
        self.start = 0;
        self.paused = false;
        wake_all(&mut self.drain_waiters);
        wake_all(&mut self.close_waiters);
    }

    pub(crate) fn is_done(&self) -> bool {
        self.closed || self.error.is_some()
    }
}

fn set_waker(slot: &RefCell<Option<Waker>>, cx: &Context<'_>) {
    let mut w = slot.borrow_mut();
    match &*w {
        Some(old) if old.will_wake(cx.waker()) => {}
        _ => *w = Some(cx.waker().clone()),
    }
}

pub(crate) fn wake_all(ws: &mut Vec<Waker>) {
    for w in ws.drain(..) {
        w.wake();
    }
}

/// Adds `cx`'s waker to `ws` unless it is there already.
pub(crate) fn register(ws: &mut Vec<Waker>, cx: &Context<'_>) {
    if !ws.iter().any(|w| w.will_wake(cx.waker())) {
        ws.push(cx.waker().clone());
    }
}

pub(crate) struct Conn {
    pub(crate) io: Box<dyn Transport>,
    /// `io.buffers_writes()`, asked once.
    pub(crate) buffers_writes: bool,
    pub(crate) wr: RefCell<WriteState>,
    /// The task waiting in a read, woken when the socket is closed under it.
    read_waker: RefCell<Option<Waker>>,
    /// The flusher while it waits on the socket, woken likewise (the socket's own
    /// registration, which holds its waker too, goes away with the socket).
    flusher_waker: RefCell<Option<Waker>>,
    /// Set once the socket has been closed (by `close`, `abort`, or a server).
    pub(crate) io_closed: Cell<bool>,
}

impl Conn {
    pub(crate) fn new(io: Box<dyn Transport>) -> Rc<Conn> {
        Rc::new(Conn {
            buffers_writes: io.buffers_writes(),
            io,
            wr: RefCell::new(WriteState {
                buf: Vec::new(),
                start: 0,
                high: DEFAULT_HIGH,
                low: DEFAULT_LOW,
                paused: false,
                flushing: false,
                unflushed: false,
                eof_requested: false,
                eof_sent: false,
                closing: false,
                closed: false,
                misuse: false,
                error: None,
                drain_waiters: Vec::new(),
                close_waiters: Vec::new(),
            }),
            read_waker: RefCell::new(None),
            flusher_waker: RefCell::new(None),
            io_closed: Cell::new(false),
        })
    }

    pub(crate) fn set_read_waker(&self, cx: &Context<'_>) {
        set_waker(&self.read_waker, cx);
    }

    /// Closes the socket now; reads waiting on it see EOF.
    fn close_io(&self) {
        if !self.io_closed.replace(true) {
            self.io.close();
        }
        for slot in [&self.read_waker, &self.flusher_waker] {
            let w = slot.borrow_mut().take();
            if let Some(w) = w {
                w.wake();
            }
        }
    }

    /// Makes as much write progress as possible: flushes the buffer, then runs a deferred
    /// `write_eof`/`close`. `Ready` when nothing is left to do, `Pending` when waiting on
    /// the socket (the waker in `cx` is registered with it).
    pub(crate) fn poll_progress(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut st = self.wr.borrow_mut();
        loop {
            if st.is_done() {
                return Poll::Ready(());
            }
            if st.pending() > 0 {
                let res = self.io.poll_write(cx, &st.buf[st.start..]);
                match res {
                    Poll::Ready(Ok(0)) => {
                        st.error = Some(StoredError::of(
                            io::ErrorKind::WriteZero,
                            "the socket accepted no bytes",
                        ));
                        st.terminate();
                    }
                    Poll::Ready(Ok(n)) => {
                        st.consume(n);
                        st.unflushed |= self.buffers_writes;
                        st.update_pause();
                    }
                    Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                    Poll::Ready(Err(e)) => {
                        st.error = Some(StoredError::new(&e));
                        st.terminate();
                    }
                    Poll::Pending => return Poll::Pending,
                }
                continue;
            }
            // The buffer is empty.
            st.update_pause();
            if st.unflushed {
                match self.io.poll_flush(cx) {
                    Poll::Ready(Ok(())) => st.unflushed = false,
                    Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                    Poll::Ready(Err(e)) => {
                        st.error = Some(StoredError::new(&e));
                        st.terminate();
                    }
                    Poll::Pending => return Poll::Pending,
                }
                continue;
            }
            if st.closing && !st.eof_sent && self.io.close_notify() {
                // A session layer (TLS) says goodbye before the socket closes: shut it
                // down first (TLS `close_notify`), as asyncio's SSL transport does.
                match self.io.poll_shutdown(cx) {
                    Poll::Pending => return Poll::Pending,
                    // Done, or failed: either way the socket closes next.
                    Poll::Ready(_) => st.eof_sent = true,
                }
                continue;
            }
            if st.closing {
                st.closed = true;
                st.terminate();
                drop(st);
                self.close_io();
                return Poll::Ready(());
            }
            if st.eof_requested && !st.eof_sent {
                match self.io.poll_shutdown(cx) {
                    Poll::Ready(Ok(())) => st.eof_sent = true,
                    Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::NotConnected => {
                        st.eof_sent = true; // the peer is gone already: nothing to shut
                    }
                    Poll::Ready(Err(e)) => {
                        st.error = Some(StoredError::new(&e));
                        st.terminate();
                    }
                    Poll::Pending => return Poll::Pending,
                }
                continue;
            }
            return Poll::Ready(());
        }
    }

    /// Makes progress inline (no waker: the fast path) and spawns a flusher for whatever
    /// is left.
    pub(crate) fn kick(self: &Rc<Conn>) {
        if self.wr.borrow().flushing {
            return;
        }
        let mut cx = Context::from_waker(Waker::noop());
        if self.poll_progress(&mut cx).is_pending() {
            self.spawn_flusher();
        }
    }

    /// Ensures a flusher task exists (the buffer is not empty, or a deferred shutdown is
    /// waiting on the socket).
    pub(crate) fn spawn_flusher(self: &Rc<Conn>) {
        let mut st = self.wr.borrow_mut();
        if st.flushing || st.is_done() {
            return;
        }
        st.flushing = true;
        drop(st);
        let flusher = Flusher {
            conn: self.clone(),
            done: false,
        };
        if crate::runtime::try_with_core(|_| ()).is_some() {
            drop(crate::spawn(flusher));
        } else {
            // No loop (the writer outlived it): nothing can flush any more.
            drop(flusher);
        }
    }

    /// Discards the buffer and closes the socket now (asyncio's `transport.abort()`).
    pub(crate) fn abort(&self) {
        let mut st = self.wr.borrow_mut();
        if !st.closed {
            st.closed = true;
            st.closing = true;
            st.terminate();
        }
        drop(st);
        self.close_io();
    }

    /// Flushes, then closes (asyncio's `transport.close()`).
    pub(crate) fn close(self: &Rc<Conn>) {
        let mut st = self.wr.borrow_mut();
        if st.closing || st.closed {
            return;
        }
        st.closing = true;
        let done = st.is_done();
        drop(st);
        if done {
            // A write error already ended the write side: close the socket too.
            self.wr.borrow_mut().closed = true;
            self.close_io();
            wake_all(&mut self.wr.borrow_mut().close_waiters);
        } else {
            self.kick();
        }
    }
}

/// The task that empties a write buffer the socket did not take at once.
struct Flusher {
    conn: Rc<Conn>,
    done: bool,
}

impl Future for Flusher {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let r = self.conn.poll_progress(cx);
        if r.is_ready() {
            self.conn.wr.borrow_mut().flushing = false;
            self.conn.flusher_waker.borrow_mut().take();
            self.done = true;
        } else {
            set_waker(&self.conn.flusher_waker, cx);
        }
        r
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        // Cancelled (loop shutdown) before it finished: no flusher exists any more. (A
        // finished one already said so, and a newer flusher may exist by now.)
        if !self.done {
            if let Ok(mut st) = self.conn.wr.try_borrow_mut() {
                st.flushing = false;
            }
        }
    }
}
