//! StreamReader framing over an in-memory transport that delivers scripted chunks.

use std::cell::Cell;
use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_io::AsyncRead;
use simul::{StreamError, StreamReader};

/// Delivers its chunks one read at a time (a chunk larger than the read buffer is split),
/// returning `Pending` (and waking itself) before each chunk when `stutter` is set.
/// After the last chunk: EOF, an error, or `Pending` forever.
struct Script {
    chunks: VecDeque<Vec<u8>>,
    stutter: bool,
    flip: bool,
    end: End,
    pulled: Rc<Cell<usize>>,
}

#[derive(Clone, Copy)]
enum End {
    Eof,
    Hang,
    Reset,
}

impl Script {
    fn new<'a, I: IntoIterator<Item = &'a [u8]>>(chunks: I) -> Script {
        Script {
            chunks: chunks.into_iter().map(|c| c.to_vec()).collect(),
            stutter: true,
            flip: false,
            end: End::Eof,
            pulled: Rc::new(Cell::new(0)),
        }
    }
    fn end(mut self, end: End) -> Script {
        self.end = end;
        self
    }
}

impl AsyncRead for Script {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if self.stutter && !self.flip {
            self.flip = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.flip = false;
        let Some(mut chunk) = self.chunks.pop_front() else {
            return match self.end {
                End::Eof => Poll::Ready(Ok(0)),
                End::Hang => Poll::Pending,
                End::Reset => Poll::Ready(Err(io::ErrorKind::ConnectionReset.into())),
            };
        };
        let n = buf.len().min(chunk.len());
        buf[..n].copy_from_slice(&chunk[..n]);
        if n < chunk.len() {
            chunk.drain(..n);
            self.chunks.push_front(chunk);
        }
        self.pulled.set(self.pulled.get() + n);
        Poll::Ready(Ok(n))
    }
}

fn reader(chunks: &[&'static [u8]]) -> StreamReader {
    StreamReader::new(Script::new(chunks.iter().copied()))
}

#[test]
fn readline_returns_lines_then_the_unterminated_tail_then_empty() {
    simul::run(async {
        let r = reader(&[b"one\ntw", b"o\nthree"]);
        assert_eq!(r.readline().await.unwrap(), b"one\n");
        assert_eq!(r.readline().await.unwrap(), b"two\n");
        assert_eq!(r.readline().await.unwrap(), b"three");
        assert!(r.at_eof());
        assert_eq!(r.readline().await.unwrap(), b"");
    });
}

#[test]
fn readline_discards_an_overlong_line_through_its_newline() {
    simul::run(async {
        let r = StreamReader::new(Script::new([&b"0123456789\nok\n"[..]])).with_limit(4);
        match r.readline().await {
            Err(StreamError::LimitOverrun { consumed, .. }) => assert_eq!(consumed, 10),
            other => panic!("{other:?}"),
        }
        assert_eq!(r.readline().await.unwrap(), b"ok\n");
    });
}

#[test]
fn readline_without_newline_past_the_limit_discards_the_whole_buffer() {
    simul::run(async {
        let r = StreamReader::new(Script::new([&b"abcdefgh"[..]]).end(End::Hang)).with_limit(4);
        assert!(matches!(
            r.readline().await,
            Err(StreamError::LimitOverrun { .. })
        ));
        assert_eq!(r.buffered(), 0);
    });
}

#[test]
fn readuntil_overrun_leaves_the_data_buffered() {
    simul::run(async {
        let r = StreamReader::new(Script::new([&b"abcdefgh"[..]]).end(End::Hang)).with_limit(4);
        match r.readuntil(b"\r\n").await {
            // the last byte could start a separator: 8 + 1 - 2 = 7 bytes are consumable
            Err(StreamError::LimitOverrun { consumed, .. }) => assert_eq!(consumed, 7),
            other => panic!("{other:?}"),
        }
        assert_eq!(r.buffered(), 8);
        assert_eq!(r.read(100).await.unwrap(), b"abcdefgh");
    });
}

#[test]
fn readuntil_separator_found_beyond_the_limit_is_an_overrun() {
    simul::run(async {
        let r = StreamReader::new(Script::new([&b"abcdef;"[..]])).with_limit(4);
        match r.readuntil(b";").await {
            Err(StreamError::LimitOverrun { consumed, .. }) => assert_eq!(consumed, 6),
            other => panic!("{other:?}"),
        }
        assert_eq!(r.buffered(), 7);
        // exactly at the limit is fine (asyncio compares the separator's start with it)
        let r = StreamReader::new(Script::new([&b"abcd;"[..]])).with_limit(4);
        assert_eq!(r.readuntil(b";").await.unwrap(), b"abcd;");
    });
}

#[test]
fn readuntil_finds_a_separator_split_across_reads() {
    simul::run(async {
        let r = reader(&[b"ab\r", b"\ncd\r", b"\n"]);
        assert_eq!(r.readuntil(b"\r\n").await.unwrap(), b"ab\r\n");
        assert_eq!(r.readuntil(b"\r\n").await.unwrap(), b"cd\r\n");
    });
}

#[test]
fn eof_in_the_middle_of_a_separator_is_an_incomplete_read_that_empties_the_buffer() {
    simul::run(async {
        let r = reader(&[b"abc\r"]);
        match r.readuntil(b"\r\n").await {
            Err(StreamError::IncompleteRead { partial, expected }) => {
                assert_eq!(partial, b"abc\r");
                assert_eq!(expected, None);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(r.buffered(), 0);
        assert!(r.at_eof());
    });
}

#[test]
fn readuntil_with_several_separators_takes_the_match_that_ends_first() {
    simul::run(async {
        let r = reader(&[b"a\r\nb\nc;d"]);
        let seps: [&[u8]; 3] = [b"\r\n", b"\n", b";"];
        assert_eq!(r.readuntil(seps).await.unwrap(), b"a\r\n");
        assert_eq!(r.readuntil(seps).await.unwrap(), b"b\n");
        assert_eq!(r.readuntil(seps).await.unwrap(), b"c;");
        assert_eq!(
            r.readuntil(vec![b"x".to_vec(), b"d".to_vec()])
                .await
                .unwrap(),
            b"d"
        );
    });
}

#[test]
fn readuntil_rejects_empty_separators() {
    simul::run(async {
        let r = reader(&[b"abc"]);
        assert!(matches!(
            r.readuntil(b"").await,
            Err(StreamError::InvalidArgument(_))
        ));
        let none: [&[u8]; 0] = [];
        assert!(matches!(
            r.readuntil(none).await,
            Err(StreamError::InvalidArgument(_))
        ));
        assert!(matches!(
            r.readuntil(["a", ""]).await,
            Err(StreamError::InvalidArgument(_))
        ));
        assert_eq!(r.read(3).await.unwrap(), b"abc"); // nothing was consumed
    });
}

#[test]
fn readexactly_at_eof_returns_the_partial_data_and_empties_the_buffer() {
    simul::run(async {
        let r = reader(&[b"ab", b"c"]);
        assert_eq!(r.readexactly(0).await.unwrap(), b"");
        match r.readexactly(5).await {
            Err(StreamError::IncompleteRead { partial, expected }) => {
                assert_eq!(partial, b"abc");
                assert_eq!(expected, Some(5));
            }
            other => panic!("{other:?}"),
        }
        assert!(r.at_eof());
    });
}

#[test]
fn readexactly_gathers_many_chunks() {
    simul::run(async {
        let r = reader(&[b"a", b"b", b"cd", b"efg"]);
        assert_eq!(r.readexactly(6).await.unwrap(), b"abcdef");
        assert_eq!(r.readexactly(1).await.unwrap(), b"g");
    });
}

#[test]
fn read_returns_what_one_read_brings_and_empty_at_eof() {
    simul::run(async {
        let r = reader(&[b"abc", b"def"]);
        assert_eq!(r.read(0).await.unwrap(), b"");
        assert_eq!(r.read(2).await.unwrap(), b"ab");
        assert_eq!(r.read(100).await.unwrap(), b"c");
        assert_eq!(r.read(100).await.unwrap(), b"def");
        assert_eq!(r.read(100).await.unwrap(), b"");
        assert!(r.at_eof());
    });
}

#[test]
fn read_to_end_reads_everything() {
    simul::run(async {
        let r = reader(&[b"abc", b"def", b"g"]);
        assert_eq!(r.read(1).await.unwrap(), b"a");
        assert_eq!(r.read_to_end().await.unwrap(), b"bcdefg");
        assert_eq!(r.read_to_end().await.unwrap(), b"");
    });
}

#[test]
fn one_byte_at_a_time_still_frames_lines() {
    simul::run(async {
        let text: &'static [u8] = b"first line\r\nsecond\nthird\r\n";
        let r = StreamReader::new(Script::new(text.chunks(1)));
        assert_eq!(r.readline().await.unwrap(), b"first line\r\n");
        assert_eq!(r.readuntil(["\r\n", "\n"]).await.unwrap(), b"second\n");
        assert_eq!(r.readuntil(b"\r\n").await.unwrap(), b"third\r\n");
        assert_eq!(r.readline().await.unwrap(), b"");
    });
}

#[test]
fn a_second_concurrent_read_fails_clearly_and_corrupts_nothing() {
    simul::run(async {
        let r = Rc::new(StreamReader::new(
            Script::new([&b"partial"[..]]).end(End::Hang),
        ));
        let r2 = r.clone();
        let first = simul::spawn(async move { r2.readline().await.map(|_| ()) });
        simul::sleep(Duration::from_millis(1)).await; // `first` is waiting for a newline
        assert!(matches!(
            r.readline().await,
            Err(StreamError::ConcurrentRead)
        ));
        assert!(matches!(r.read(1).await, Err(StreamError::ConcurrentRead)));
        first.cancel();
        let _ = first.await;
        // the claim is released with the cancelled operation, and its bytes are kept
        assert_eq!(r.read(100).await.unwrap(), b"partial");
    });
}

#[test]
fn a_cancelled_read_keeps_the_bytes_it_had_read() {
    simul::run(async {
        let r = StreamReader::new(Script::new([&b"12345"[..]]).end(End::Hang));
        let res = simul::wait_for(Duration::from_millis(5), r.readexactly(10)).await;
        assert!(res.is_err(), "timed out");
        assert_eq!(r.buffered(), 5);
        assert_eq!(r.readexactly(5).await.unwrap(), b"12345");
    });
}

#[test]
fn flow_control_bounds_the_buffer_while_lines_are_read() {
    simul::run(async {
        // A fast sender: 4 MiB of 100-byte lines, offered in 1 MiB chunks.
        let line: Vec<u8> = [vec![b'x'; 99], vec![b'\n']].concat();
        let big = line.repeat(10 * 1024);
        let script = Script::new(big.chunks(1 << 20));
        let pulled = script.pulled.clone();
        let limit = 1024;
        let r = StreamReader::new(script).with_limit(limit);
        let mut lines = 0;
        loop {
            let l = r.readline().await.unwrap();
            if l.is_empty() {
                break;
            }
            assert_eq!(l.len(), 100);
            lines += 1;
            // never more than 2 × limit + one read's worth ahead of the application
            assert!(r.buffered() <= 2 * limit + 8 * 1024, "{}", r.buffered());
            assert!(pulled.get() - lines * 100 <= 2 * limit + 8 * 1024);
        }
        assert_eq!(lines, 10 * 1024);
    });
}

#[test]
fn a_sender_that_never_sends_a_separator_is_cut_off_at_the_limit() {
    simul::run(async {
        let junk = vec![b'z'; 1 << 20];
        let script = Script::new(junk.chunks(4096)).end(End::Hang);
        let pulled = script.pulled.clone();
        let r = StreamReader::new(script).with_limit(10_000);
        assert!(matches!(
            r.readline().await,
            Err(StreamError::LimitOverrun { .. })
        ));
        assert!(pulled.get() <= 10_000 + 8 * 1024, "pulled {}", pulled.get());
    });
}

#[test]
fn a_transport_error_is_returned_and_buffered_bytes_are_kept() {
    simul::run(async {
        let r = StreamReader::new(Script::new([&b"no newline"[..]]).end(End::Reset));
        match r.readline().await {
            Err(StreamError::Io(e)) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset),
            other => panic!("{other:?}"),
        }
        assert_eq!(r.read(100).await.unwrap(), b"no newline");
        assert!(matches!(r.read(1).await, Err(StreamError::Io(_))));
        let e: io::Error = r.readline().await.unwrap_err().into();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionReset);
    });
}

#[test]
fn a_reader_that_always_finds_a_line_buffered_still_lets_other_tasks_run() {
    simul::run(async {
        // 20 000 lines available at once: readline never has to wait for the transport.
        let text = futures_util::io::Cursor::new(b"ab\n".repeat(20_000));
        let ticks = Rc::new(Cell::new(0u32));
        let t2 = ticks.clone();
        let ticker = simul::spawn(async move {
            loop {
                t2.set(t2.get() + 1);
                simul::yield_now().await;
            }
        });
        simul::yield_now().await; // the ticker starts
        let start = ticks.get();
        let r = StreamReader::new(text);
        for _ in 0..20_000 {
            assert_eq!(r.readline().await.unwrap(), b"ab\n");
        }
        let ran = ticks.get() - start;
        ticker.cancel();
        // the cooperative budget (simul::BUDGET operations per step) made the reader yield
        assert!(
            ran as usize >= 20_000 / simul::BUDGET as usize / 2,
            "the other task ran only {ran} times"
        );
    });
}
