//! Vectored stream writes: small ones are joined into one `send`, a single non-empty buffer
//! is sent from itself, large ones go through `writev`. Whatever the path, the count
//! returned is what the peer receives, in order, also when the send buffer fills and a
//! write is short.

use std::io::IoSlice;

use simul::net::{TcpListener, TcpStream, UnixStream};

/// Bytes `start..start + n` of an endless pattern no two nearby positions share.
fn pattern(start: usize, n: usize) -> Vec<u8> {
    (start..start + n).map(|i| (i % 251) as u8).collect()
}

async fn tcp_pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    let (s, _) = l.accept().await.unwrap();
    (c, s)
}

/// Writes `sizes` (buffer lengths, zeros included) as vectored writes of consecutive
/// pattern bytes until `total` bytes are out (the last call cut to fit), resuming after
/// every short write; returns the byte count of each call.
async fn write_all_vectored(w: &mut TcpStream, sizes: &[usize], total: usize) -> Vec<usize> {
    let mut sent = 0;
    let mut counts = Vec::new();
    while sent < total {
        let mut bufs = Vec::new();
        let mut at = sent;
        for &n in sizes {
            let n = n.min(total - at); // never past `total`
            bufs.push(pattern(at, n));
            at += n;
        }
        let slices: Vec<IoSlice<'_>> = bufs.iter().map(|b| IoSlice::new(b)).collect();
        let n = w.write_vectored(&slices).await.unwrap();
        assert!(n > 0 && n <= at - sent, "{n} of {} offered", at - sent);
        counts.push(n);
        sent += n;
    }
    counts
}

async fn read_exactly(r: &mut TcpStream, total: usize) -> Vec<u8> {
    let mut got = Vec::with_capacity(total);
    let mut buf = vec![0u8; 64 * 1024];
    while got.len() < total {
        let n = r.read(&mut buf).await.unwrap();
        assert_ne!(n, 0, "early end of stream after {} bytes", got.len());
        got.extend_from_slice(&buf[..n]);
    }
    got
}

#[test]
fn a_small_vectored_write_sends_every_buffer_in_order() {
    simul::run(async {
        let (mut a, mut b) = tcp_pair().await;
        // A response head and body, with empty buffers around them (hyper's shape).
        let head = b"HTTP/1.1 200 OK\r\ncontent-length: 13\r\n\r\n".to_vec();
        let body = b"Hello, World!".to_vec();
        let bufs = [
            IoSlice::new(b""),
            IoSlice::new(&head),
            IoSlice::new(b""),
            IoSlice::new(&body),
        ];
        let n = a.write_vectored(&bufs).await.unwrap();
        assert_eq!(n, head.len() + body.len());
        let got = read_exactly(&mut b, n).await;
        assert_eq!(got, [head, body].concat());
    });
}

#[test]
fn a_vectored_write_of_one_non_empty_buffer_sends_it() {
    simul::run(async {
        let (mut a, mut b) = tcp_pair().await;
        let data = pattern(0, 5000);
        let bufs = [IoSlice::new(b""), IoSlice::new(&data), IoSlice::new(b"")];
        let n = a.write_vectored(&bufs).await.unwrap();
        assert!(n > 0 && n <= data.len());
        assert_eq!(read_exactly(&mut b, n).await, data[..n]);
        let empty = [IoSlice::new(b""), IoSlice::new(b"")];
        assert_eq!(a.write_vectored(&empty).await.unwrap(), 0);
    });
}

#[test]
fn vectored_writes_at_and_around_the_join_limit_keep_their_bytes_in_order() {
    // 1 KiB in all (joined), one byte more (writev), and buffers of very different sizes.
    for sizes in [
        &[512, 512][..],
        &[512, 513],
        &[1, 0, 1022, 1],
        &[100, 0, 300, 7],
        &[3000, 17, 40_000],
    ] {
        simul::run(async {
            let (mut a, mut b) = tcp_pair().await;
            let per_call: usize = sizes.iter().sum();
            let total = per_call * 20;
            let reader = simul::spawn(async move { read_exactly(&mut b, total).await });
            write_all_vectored(&mut a, sizes, total).await;
            let got = reader.await.unwrap();
            assert_eq!(got, pattern(0, total), "sizes {sizes:?}");
        });
    }
}

#[test]
fn small_vectored_writes_into_a_full_send_buffer_are_short_and_lose_nothing() {
    simul::run(async {
        let (mut a, mut b) = tcp_pair().await;
        // Far more than the socket buffers hold, in small joined writes: some of them
        // meet a nearly full buffer and are short, and the writer resumes after them.
        let total = 2 << 20;
        let reader = simul::spawn(async move {
            simul::sleep(std::time::Duration::from_millis(20)).await; // let the buffer fill
            read_exactly(&mut b, total).await
        });
        let counts = write_all_vectored(&mut a, &[700, 0, 300], total).await;
        let got = reader.await.unwrap();
        assert!(got == pattern(0, total), "bytes out of order or lost");
        assert!(
            counts.iter().any(|&n| n < 1000),
            "no write was short: the buffer never filled"
        );
    });
}

#[test]
fn a_unix_stream_joins_small_vectored_writes_too() {
    simul::run(async {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        let bufs = [IoSlice::new(b"ab"), IoSlice::new(b""), IoSlice::new(b"cde")];
        assert_eq!(a.write_vectored(&bufs).await.unwrap(), 5);
        let mut buf = [0u8; 16];
        let mut got = Vec::new();
        while got.len() < 5 {
            let n = b.read(&mut buf).await.unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, b"abcde");
    });
}
