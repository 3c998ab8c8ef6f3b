//! StreamWriter buffering, water marks, drain, close and errors over an in-memory sink
//! whose capacity the test controls (a peer that reads when told to).

use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use futures_io::AsyncWrite;
use simul::StreamWriter;

#[derive(Default)]
struct SinkState {
    data: Vec<u8>,
    /// Bytes the sink accepts before it returns `Pending`.
    room: usize,
    waker: Option<Waker>,
    fail: Option<io::ErrorKind>,
    shutdown: bool,
    dropped: bool,
    writes: usize,
}

#[derive(Clone, Default)]
struct Sink(Rc<RefCell<SinkState>>);

impl Sink {
    fn with_room(room: usize) -> Sink {
        let s = Sink::default();
        s.0.borrow_mut().room = room;
        s
    }
    /// The peer reads `n` more bytes' worth: room grows, the writer is woken.
    fn allow(&self, n: usize) {
        let mut st = self.0.borrow_mut();
        st.room += n;
        if let Some(w) = st.waker.take() {
            w.wake();
        }
    }
    fn fail(&self, kind: io::ErrorKind) {
        let mut st = self.0.borrow_mut();
        st.fail = Some(kind);
        if let Some(w) = st.waker.take() {
            w.wake();
        }
    }
    fn data(&self) -> Vec<u8> {
        self.0.borrow().data.clone()
    }
}

struct SinkIo(Sink);

impl Drop for SinkIo {
    fn drop(&mut self) {
        self.0 .0.borrow_mut().dropped = true;
    }
}

impl AsyncWrite for SinkIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut st = self.0 .0.borrow_mut();
        st.writes += 1;
        if let Some(k) = st.fail {
            return Poll::Ready(Err(k.into()));
        }
        if st.shutdown {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        if st.room == 0 {
            st.waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let n = st.room.min(buf.len());
        st.room -= n;
        st.data.extend_from_slice(&buf[..n]);
        Poll::Ready(Ok(n))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0 .0.borrow_mut().shutdown = true;
        Poll::Ready(Ok(()))
    }
}

fn writer(sink: &Sink) -> StreamWriter {
    StreamWriter::new(SinkIo(sink.clone()))
}

async fn settle() {
    for _ in 0..10 {
        simul::yield_now().await;
    }
}

#[test]
fn a_write_the_socket_accepts_is_not_buffered_and_spawns_nothing() {
    simul::run(async {
        let sink = Sink::with_room(1 << 20);
        let w = writer(&sink);
        let tasks = simul::all_tasks().len();
        for _ in 0..100 {
            w.write(b"0123456789");
        }
        assert_eq!(w.write_buffer_size(), 0);
        assert_eq!(
            simul::all_tasks().len(),
            tasks,
            "no flusher task on the fast path"
        );
        assert_eq!(sink.0.borrow().writes, 100, "one socket write per write()");
        assert_eq!(sink.data().len(), 1000);
        w.drain().await.unwrap();
    });
}

#[test]
fn what_the_socket_does_not_take_is_buffered_and_flushed_in_order() {
    simul::run(async {
        let sink = Sink::with_room(3);
        let w = writer(&sink);
        w.write(b"abcdef");
        w.write(b"gh");
        assert_eq!(w.write_buffer_size(), 5);
        assert_eq!(sink.data(), b"abc");
        sink.allow(2);
        settle().await;
        assert_eq!(sink.data(), b"abcde");
        sink.allow(100);
        settle().await;
        assert_eq!(sink.data(), b"abcdefgh");
        assert_eq!(w.write_buffer_size(), 0);
    });
}

#[test]
fn drain_waits_above_the_high_mark_until_the_low_mark_for_every_waiter() {
    simul::run(async {
        let sink = Sink::with_room(0);
        let w = Rc::new(writer(&sink));
        assert_eq!(w.write_buffer_limits(), (64 * 1024, 16 * 1024));
        w.write(&vec![7; 64 * 1024]);
        w.drain().await.unwrap(); // at the high mark, not above: no wait
        w.write(&[7; 1]);
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let w = w.clone();
                simul::spawn(async move { w.drain().await })
            })
            .collect();
        settle().await;
        assert!(waiters.iter().all(|t| !t.is_done()));
        sink.allow(40 * 1024); // 24 KiB + 1 left: still above the low mark
        settle().await;
        assert!(waiters.iter().all(|t| !t.is_done()));
        sink.allow(8 * 1024 + 1); // exactly 16 KiB left
        settle().await;
        assert!(waiters.iter().all(|t| t.is_done()));
        for t in waiters {
            t.await.unwrap().unwrap();
        }
        assert_eq!(w.write_buffer_size(), 16 * 1024);
    });
}

#[test]
fn a_peer_that_never_reads_keeps_the_writer_bounded_by_the_high_mark() {
    simul::run(async {
        let sink = Sink::with_room(100_000);
        let w = Rc::new(writer(&sink));
        w.set_write_buffer_limits(32 * 1024, 8 * 1024).unwrap();
        let w2 = w.clone();
        let chunk = vec![1u8; 5000];
        let producer = simul::spawn(async move {
            let mut sent = 0;
            loop {
                w2.write(&chunk);
                sent += chunk.len();
                assert!(w2.write_buffer_size() <= 32 * 1024 + chunk.len());
                if w2.drain().await.is_err() {
                    return sent;
                }
            }
        });
        settle().await;
        assert!(!producer.is_done(), "the producer is held in drain");
        assert!(w.write_buffer_size() <= 32 * 1024 + 5000);
        assert!(w.write_buffer_size() > 32 * 1024);
        sink.fail(io::ErrorKind::ConnectionReset);
        let sent = producer.await.unwrap();
        assert!(sent <= 100_000 + 32 * 1024 + 5000);
    });
}

#[test]
fn drain_returns_the_error_of_a_reset_peer_at_once() {
    simul::run(async {
        let sink = Sink::with_room(0);
        let w = Rc::new(writer(&sink));
        w.write(&vec![0; 100_000]);
        let w2 = w.clone();
        let waiting = simul::spawn(async move { w2.drain().await });
        settle().await;
        sink.fail(io::ErrorKind::ConnectionReset);
        settle().await;
        assert_eq!(
            waiting.await.unwrap().unwrap_err().kind(),
            io::ErrorKind::ConnectionReset
        );
        assert_eq!(
            w.drain().await.unwrap_err().kind(),
            io::ErrorKind::ConnectionReset
        );
        assert!(w.is_closing());
        assert_eq!(w.write_buffer_size(), 0, "the buffer is discarded");
        assert!(w.wait_closed().await.is_err());
        w.write(b"more"); // dropped silently; drain keeps reporting the error
        assert!(w.drain().await.is_err());
    });
}

#[test]
fn a_write_error_on_the_fast_path_is_reported_by_drain() {
    simul::run(async {
        let sink = Sink::with_room(10);
        sink.fail(io::ErrorKind::BrokenPipe);
        let w = writer(&sink);
        w.write(b"x");
        assert_eq!(
            w.drain().await.unwrap_err().kind(),
            io::ErrorKind::BrokenPipe
        );
    });
}

#[test]
fn write_eof_waits_for_the_buffer_then_shuts_down_and_later_writes_are_reported() {
    simul::run(async {
        let sink = Sink::with_room(2);
        let w = writer(&sink);
        w.write(b"abcd");
        w.write_eof();
        assert!(
            !sink.0.borrow().shutdown,
            "not before the buffer is flushed"
        );
        sink.allow(10);
        settle().await;
        assert_eq!(sink.data(), b"abcd");
        assert!(sink.0.borrow().shutdown);
        w.write(b"late");
        assert_eq!(
            w.drain().await.unwrap_err().kind(),
            io::ErrorKind::BrokenPipe
        );
        assert_eq!(sink.data(), b"abcd");
    });
}

#[test]
fn close_flushes_then_closes_and_wait_closed_waits_for_it() {
    simul::run(async {
        let sink = Sink::with_room(1);
        let w = writer(&sink);
        w.write(b"bye!");
        w.close();
        assert!(w.is_closing());
        assert!(!sink.0.borrow().dropped);
        let s2 = sink.clone();
        drop(simul::spawn(async move {
            simul::yield_now().await;
            s2.allow(10);
        }));
        w.wait_closed().await.unwrap();
        assert_eq!(sink.data(), b"bye!");
        assert!(sink.0.borrow().dropped, "the transport is closed");
        assert!(w.drain().await.is_err(), "drain after close reports it");
    });
}

#[test]
fn abort_discards_the_buffer_and_closes_at_once() {
    simul::run(async {
        let sink = Sink::with_room(1);
        let w = writer(&sink);
        w.write(b"lost");
        settle().await; // the flusher waits on the full sink
        assert_eq!(simul::all_tasks().len(), 2, "main and the flusher");
        w.abort();
        assert!(sink.0.borrow().dropped);
        assert_eq!(w.write_buffer_size(), 0);
        w.wait_closed().await.unwrap();
        assert_eq!(sink.data(), b"l");
        settle().await;
        assert_eq!(
            simul::all_tasks().len(),
            1,
            "the flusher was woken and ended (main is left)"
        );
    });
}

#[test]
fn dropping_the_writer_flushes_then_shuts_down() {
    simul::run(async {
        let sink = Sink::with_room(0);
        let w = writer(&sink);
        w.write(b"tail");
        drop(w);
        sink.allow(100);
        settle().await;
        assert_eq!(sink.data(), b"tail");
        assert!(sink.0.borrow().shutdown);
        assert!(
            sink.0.borrow().dropped,
            "the last owner (the flusher) closed it"
        );
    });
}

#[test]
fn buffer_limits_are_validated_and_reapplied() {
    simul::run(async {
        let sink = Sink::with_room(0);
        let w = writer(&sink);
        assert_eq!(
            w.set_write_buffer_limits(10, 20).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        w.write(&[0; 100]);
        w.drain().await.unwrap(); // 100 < 64 KiB
        w.set_write_buffer_limits(50, 10).unwrap();
        // now above the high mark: drain waits until at most 10 bytes are left
        let s2 = sink.clone();
        drop(simul::spawn(async move {
            simul::yield_now().await;
            s2.allow(90);
        }));
        w.drain().await.unwrap();
        assert_eq!(w.write_buffer_size(), 10);
    });
}

#[test]
fn writelines_writes_every_buffer_in_order() {
    simul::run(async {
        let sink = Sink::with_room(3);
        let w = writer(&sink);
        w.writelines([&b"ab"[..], b"cd", b"ef"]);
        sink.allow(10);
        settle().await;
        assert_eq!(sink.data(), b"abcdef");
    });
}

#[test]
fn writers_left_with_buffered_data_when_the_loop_ends_are_released() {
    let sink = Sink::with_room(0);
    let s2 = sink.clone();
    simul::run(async move {
        let w = writer(&s2);
        w.write(b"never sent");
        // a task that owns another writer and is cancelled at shutdown
        let s3 = s2.clone();
        drop(simul::spawn(async move {
            let w = writer(&s3);
            w.write(b"x");
            w.drain().await.unwrap();
            std::future::pending::<()>().await;
        }));
        simul::yield_now().await;
        drop(w);
    });
    // the loop cancelled the flushers; the transports were dropped with them
    assert!(sink.0.borrow().dropped);
    assert_eq!(Rc::strong_count(&sink.0), 1);
}

/// A byte stream that keeps what it accepts in its own buffer until `poll_flush` (as a TLS
/// session keeps ciphertext the socket did not take): only a flush reaches the sink.
struct Buffering {
    held: Vec<u8>,
    sink: SinkIo,
}

impl AsyncWrite for Buffering {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.held.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        while !this.held.is_empty() {
            match Pin::new(&mut this.sink).poll_write(cx, &this.held) {
                Poll::Ready(Ok(n)) => drop(this.held.drain(..n)),
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.as_mut().poll_flush(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut self.sink).poll_close(cx),
            other => other,
        }
    }
}

#[test]
fn bytes_a_buffering_stream_accepted_are_flushed_without_another_write() {
    // The sink takes 3 bytes now and the rest only once the test makes room: the flush
    // must wait on the sink (a registered waker), not stop after the first try.
    let sink = Sink::with_room(3);
    let s2 = sink.clone();
    simul::run(async move {
        let w = StreamWriter::new(Buffering {
            held: Vec::new(),
            sink: SinkIo(s2.clone()),
        });
        w.write(b"hello world");
        w.drain().await.unwrap();
        simul::sleep(std::time::Duration::from_millis(5)).await;
        assert_eq!(s2.data(), b"hel", "the first flush reached the sink");
        s2.allow(100);
        simul::sleep(std::time::Duration::from_millis(5)).await;
        assert_eq!(
            s2.data(),
            b"hello world",
            "the rest was flushed once the sink had room, with no further write"
        );
        w.close();
        w.wait_closed().await.unwrap();
    });
    assert_eq!(sink.data(), b"hello world");
}
