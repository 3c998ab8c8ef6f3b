//! Property tests for the reader's framing: a seeded xorshift generates byte streams, limits
//! and operation sequences; a simple whole-buffer model predicts every result; the reader
//! must give the same results however the stream is split into reads (every single split
//! point, one byte at a time, random chunkings). Set `SIMUL_FUZZ_CASES` for a longer run.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_io::AsyncRead;
use simul::{StreamError, StreamReader};

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Delivers chunks, alternating `Pending` (with an immediate wake) and data when `stutter`.
struct Chunks {
    chunks: VecDeque<Vec<u8>>,
    stutter: bool,
    flip: bool,
}

impl AsyncRead for Chunks {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if self.stutter {
            self.flip = !self.flip;
            if self.flip {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
        }
        let Some(mut c) = self.chunks.pop_front() else {
            return Poll::Ready(Ok(0));
        };
        let n = c.len().min(buf.len());
        buf[..n].copy_from_slice(&c[..n]);
        if n < c.len() {
            c.drain(..n);
            self.chunks.push_front(c);
        }
        Poll::Ready(Ok(n))
    }
}

#[derive(Clone, Debug)]
enum Op {
    Line,
    Until(Vec<Vec<u8>>),
    Exactly(usize),
    ToEnd,
}

/// The chunking-independent part of an outcome.
#[derive(Debug, PartialEq)]
enum Out {
    Data(Vec<u8>),
    Incomplete(Vec<u8>, Option<usize>),
    Overrun,
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

/// Whole-buffer semantics of asyncio's streams. Returns the outcomes up to and including
/// the first `readline` overrun (what `readline` discards after it depends on chunking).
fn model(data: &[u8], limit: usize, ops: &[Op]) -> Vec<Out> {
    let mut pos = 0;
    let mut out = Vec::new();
    for op in ops {
        let rest = &data[pos..];
        match op {
            Op::Exactly(n) => {
                if rest.len() >= *n {
                    out.push(Out::Data(rest[..*n].to_vec()));
                    pos += n;
                } else {
                    out.push(Out::Incomplete(rest.to_vec(), Some(*n)));
                    pos = data.len();
                }
            }
            Op::ToEnd => {
                out.push(Out::Data(rest.to_vec()));
                pos = data.len();
            }
            Op::Line | Op::Until(_) => {
                let seps = match op {
                    Op::Until(s) => s.clone(),
                    _ => vec![b"\n".to_vec()],
                };
                let max = seps.iter().map(Vec::len).max().unwrap();
                let best = seps
                    .iter()
                    .filter_map(|s| find(rest, s).map(|i| (i + s.len(), s.len(), i)))
                    .min();
                let res = match best {
                    Some((end, _, start)) if start <= limit => Ok(end),
                    Some(_) => Err(true),
                    None if (rest.len() + 1).saturating_sub(max) > limit => Err(true),
                    None => Err(false),
                };
                match (res, op) {
                    (Ok(end), _) => {
                        out.push(Out::Data(rest[..end].to_vec()));
                        pos += end;
                    }
                    (Err(false), Op::Line) => {
                        out.push(Out::Data(rest.to_vec()));
                        pos = data.len();
                    }
                    (Err(false), _) => {
                        out.push(Out::Incomplete(rest.to_vec(), None));
                        pos = data.len();
                    }
                    (Err(true), Op::Line) => {
                        out.push(Out::Overrun);
                        return out;
                    }
                    (Err(true), _) => out.push(Out::Overrun), // data stays buffered
                }
            }
        }
    }
    out
}

fn run_reader(chunks: Vec<Vec<u8>>, stutter: bool, limit: usize, ops: &[Op]) -> Vec<Out> {
    simul::run(async move {
        let r = StreamReader::new(Chunks {
            // an empty read means EOF: a zero-length chunk is no chunk at all
            chunks: chunks.into_iter().filter(|c| !c.is_empty()).collect(),
            stutter,
            flip: false,
        })
        .with_limit(limit);
        let mut out = Vec::new();
        for op in ops {
            let res = match op {
                Op::Line => r.readline().await,
                Op::Until(s) => r.readuntil(s.clone()).await,
                Op::Exactly(n) => r.readexactly(*n).await,
                Op::ToEnd => r.read_to_end().await,
            };
            let buffered = r.buffered();
            match res {
                Ok(d) => out.push(Out::Data(d)),
                Err(StreamError::IncompleteRead { partial, expected }) => {
                    assert_eq!(buffered, 0, "IncompleteRead must empty the buffer");
                    out.push(Out::Incomplete(partial, expected));
                }
                Err(StreamError::LimitOverrun { consumed, .. }) => {
                    out.push(Out::Overrun);
                    if matches!(op, Op::Line) {
                        return out;
                    }
                    assert!(
                        consumed <= buffered,
                        "consumed {consumed} > buffered {buffered}"
                    );
                }
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
        out
    })
}

fn gen_case(rng: &mut XorShift) -> (Vec<u8>, usize, Vec<Op>) {
    const ALPHABET: &[u8] = b"aab\r\n;";
    let len = rng.below(40);
    let data: Vec<u8> = (0..len)
        .map(|_| ALPHABET[rng.below(ALPHABET.len())])
        .collect();
    let limit = 1 + rng.below(12);
    let sep_pool: [&[u8]; 6] = [b"\n", b"\r\n", b";", b"ab", b"\n;", b"b\r"];
    let ops = (0..1 + rng.below(6))
        .map(|_| match rng.below(5) {
            0 | 1 => Op::Line,
            2 => Op::Until(
                (0..1 + rng.below(3))
                    .map(|_| sep_pool[rng.below(sep_pool.len())].to_vec())
                    .collect(),
            ),
            3 => Op::Exactly(rng.below(8)),
            _ => Op::ToEnd,
        })
        .collect();
    (data, limit, ops)
}

fn random_chunks(data: &[u8], rng: &mut XorShift) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < data.len() {
        let n = 1 + rng.below(6);
        let j = (i + n).min(data.len());
        out.push(data[i..j].to_vec());
        i = j;
    }
    out
}

fn cases() -> usize {
    std::env::var("SIMUL_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
}

#[test]
fn every_split_point_gives_the_model_results() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    for case in 0..cases() {
        let (data, limit, ops) = gen_case(&mut rng);
        let want = model(&data, limit, &ops);
        for split in 0..=data.len() {
            let chunks = vec![data[..split].to_vec(), data[split..].to_vec()];
            let got = run_reader(chunks, split % 2 == 0, limit, &ops);
            assert_eq!(
                got, want,
                "case {case}: data {data:?} limit {limit} ops {ops:?} split at {split}"
            );
        }
    }
}

#[test]
fn one_byte_reads_and_random_chunkings_give_the_model_results() {
    let mut rng = XorShift(0xD1B5_4A32_D192_ED03);
    for case in 0..cases() {
        let (data, limit, ops) = gen_case(&mut rng);
        let want = model(&data, limit, &ops);
        let bytes: Vec<Vec<u8>> = data.chunks(1).map(<[u8]>::to_vec).collect();
        assert_eq!(
            run_reader(bytes, true, limit, &ops),
            want,
            "case {case}: one byte at a time, data {data:?} limit {limit} ops {ops:?}"
        );
        for _ in 0..4 {
            let chunks = random_chunks(&data, &mut rng);
            assert_eq!(
                run_reader(chunks.clone(), rng.below(2) == 0, limit, &ops),
                want,
                "case {case}: chunks {chunks:?} limit {limit} ops {ops:?}"
            );
        }
    }
}

#[test]
fn random_operations_never_panic_and_keep_the_buffer_consistent() {
    // Fuzz without a model: long streams of random bytes and random operations, including
    // overruns that leave data buffered; afterwards everything not returned is still there.
    let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
    for _ in 0..cases() / 3 {
        let len = rng.below(400);
        let data: Vec<u8> = (0..len).map(|_| b"ab\n\r;"[rng.below(5)]).collect();
        let chunks = random_chunks(&data, &mut rng);
        let limit = 1 + rng.below(30);
        let seed = rng.next();
        let got = simul::run(async move {
            let mut rng = XorShift(seed | 1);
            let r = StreamReader::new(Chunks {
                chunks: chunks.into(),
                stutter: true,
                flip: false,
            })
            .with_limit(limit);
            let mut got = Vec::new();
            loop {
                let res = match rng.below(4) {
                    0 => r.readuntil([&b"\r\n"[..], b";"]).await,
                    1 => r.readexactly(rng.below(20)).await,
                    2 => r.read(1 + rng.below(20)).await,
                    _ => r.readuntil(b"\n").await,
                };
                match res {
                    Ok(d) => got.extend(d),
                    Err(StreamError::IncompleteRead { partial, .. }) => got.extend(partial),
                    Err(StreamError::LimitOverrun { consumed, .. }) => {
                        assert!(consumed <= r.buffered());
                        got.extend(
                            r.readexactly(consumed.max(1).min(r.buffered()))
                                .await
                                .unwrap(),
                        );
                    }
                    Err(e) => panic!("{e:?}"),
                }
                if r.at_eof() {
                    break got;
                }
            }
        });
        assert_eq!(got, data, "bytes lost or duplicated");
    }
}
