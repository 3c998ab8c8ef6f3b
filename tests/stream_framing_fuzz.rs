//! Property tests for the reader's framing: a seeded xorshift generates byte streams, limits
//! and operation sequences; a simple whole-buffer model predicts every result; the reader
//! must give the same results however the stream is split into reads (every single split
//! point, one byte at a time, random chunkings). Set `SIMUL_FUZZ_CASES` for a longer run.

use simul::{StreamError, StreamReader};

#[path = "common/framing_model.rs"]
mod framing_model;
use framing_model::{model, run_reader, Chunks, Op};

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
