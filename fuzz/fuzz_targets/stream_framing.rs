//! Fuzzes the stream framing (`readline`, `readuntil` with several separators,
//! `readexactly`, `read_to_end`, limits) against the whole-buffer model of
//! `tests/common/framing_model.rs`: the reader must give the model's results however the
//! input is chunked. A crash found here becomes a case in `tests/stream_framing_fuzz.rs`.
//!
//! Input layout: byte 0 the limit, byte 1 the number of operations, then each operation
//! (a tag byte, and for `readuntil` a separator-set byte, for `readexactly` a length byte),
//! then a chunking byte stream (one byte per chunk: its length), then the data.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/common/framing_model.rs"]
mod framing_model;
use framing_model::{model, run_reader, Op};

const SEPARATORS: [&[u8]; 8] = [b"\n", b"\r\n", b";", b"ab", b"\n;", b"b\r", b"aaa", b"\r"];

struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
}

fn decode(data: &[u8]) -> Option<(Vec<u8>, Vec<Vec<u8>>, bool, usize, Vec<Op>)> {
    let mut inp = Input(data);
    let limit = 1 + inp.byte()? as usize % 24;
    let n_ops = 1 + inp.byte()? as usize % 8;
    let mut ops = Vec::with_capacity(n_ops);
    for _ in 0..n_ops {
        let tag = inp.byte()?;
        ops.push(match tag % 5 {
            0 | 1 => Op::Line,
            2 => {
                let set = inp.byte()?;
                let seps: Vec<Vec<u8>> = (0..8)
                    .filter(|i| set & (1 << i) != 0)
                    .map(|i| SEPARATORS[i].to_vec())
                    .collect();
                if seps.is_empty() {
                    Op::Until(vec![SEPARATORS[(set >> 5) as usize % 8].to_vec()])
                } else {
                    Op::Until(seps)
                }
            }
            3 => Op::Exactly(inp.byte()? as usize % 32),
            _ => Op::ToEnd,
        });
    }
    let n_chunks = inp.byte()? as usize % 16;
    let sizes: Vec<usize> = (0..n_chunks)
        .map(|_| inp.byte().map_or(1, |b| 1 + b as usize % 16))
        .collect();
    let stutter = inp.byte()? & 1 == 1;
    let bytes = inp.0.iter().take(256).copied().collect::<Vec<u8>>();
    // Cut the data into the chunk sizes given, cycling them; none means one chunk.
    let mut chunks = Vec::new();
    let mut i = 0;
    let mut k = 0;
    while i < bytes.len() {
        let n = if sizes.is_empty() {
            bytes.len()
        } else {
            sizes[k % sizes.len()]
        };
        let j = (i + n).min(bytes.len());
        chunks.push(bytes[i..j].to_vec());
        i = j;
        k += 1;
    }
    Some((bytes, chunks, stutter, limit, ops))
}

fuzz_target!(|data: &[u8]| {
    let Some((bytes, chunks, stutter, limit, ops)) = decode(data) else {
        return;
    };
    let want = model(&bytes, limit, &ops);
    let got = run_reader(chunks.clone(), stutter, limit, &ops);
    assert_eq!(
        got, want,
        "data {bytes:?} chunks {chunks:?} limit {limit} ops {ops:?}"
    );
});
