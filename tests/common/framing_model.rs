//! The framing model shared by `tests/stream_framing_fuzz.rs` and the coverage-guided
//! fuzz target `fuzz/fuzz_targets/stream_framing.rs`: a scripted byte source, the
//! operations, and a whole-buffer model of asyncio's stream semantics that predicts every
//! result whatever the chunking. Include with `#[path = ".../framing_model.rs"] mod ..;`.
#![allow(dead_code)] // each user needs a different part

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_io::AsyncRead;
use simul::{StreamError, StreamReader};

/// Delivers chunks, alternating `Pending` (with an immediate wake) and data when `stutter`.
pub struct Chunks {
    pub chunks: VecDeque<Vec<u8>>,
    pub stutter: bool,
    pub flip: bool,
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
pub enum Op {
    Line,
    Until(Vec<Vec<u8>>),
    Exactly(usize),
    ToEnd,
}

/// The chunking-independent part of an outcome.
#[derive(Debug, PartialEq)]
pub enum Out {
    Data(Vec<u8>),
    Incomplete(Vec<u8>, Option<usize>),
    Overrun,
}

pub fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

/// Whole-buffer semantics of asyncio's streams. Returns the outcomes up to and including
/// the first `readline` overrun (what `readline` discards after it depends on chunking).
pub fn model(data: &[u8], limit: usize, ops: &[Op]) -> Vec<Out> {
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

pub fn run_reader(chunks: Vec<Vec<u8>>, stutter: bool, limit: usize, ops: &[Op]) -> Vec<Out> {
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
