//! `StreamReader::read_to_end` shares the loop like every other read: it spends the
//! cooperative budget, so other tasks and timers run during a large transfer, and what it
//! has read is kept when it is cancelled.

use std::cell::Cell;
use std::io::Write;
use std::rc::Rc;
use std::time::Duration;

/// A source that always has data (never `Pending`): only the budget can make it yield.
#[test]
fn read_to_end_of_an_always_ready_source_lets_other_tasks_run() {
    simul::run(async {
        let len = 64 << 20;
        let data = futures_util::io::Cursor::new(vec![7u8; len]);
        let ticks = Rc::new(Cell::new(0u32));
        let t = ticks.clone();
        let ticker = simul::spawn(async move {
            loop {
                t.set(t.get() + 1);
                simul::yield_now().await;
            }
        });
        simul::yield_now().await; // let the ticker start
        let before = ticks.get();
        let r = simul::StreamReader::new(data);
        let all = r.read_to_end().await.unwrap();
        assert_eq!(all.len(), len);
        assert!(all.iter().all(|&b| b == 7));
        let ran = ticks.get() - before;
        assert!(
            ran >= 1,
            "another task ran only {ran} times during read_to_end"
        );
        ticker.cancel();
    });
}

#[test]
fn read_to_end_over_tcp_gets_every_byte_in_order() {
    const TOTAL: usize = 48 << 20;
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let sender = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let chunk: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
        for _ in 0..TOTAL / chunk.len() {
            s.write_all(&chunk).unwrap();
        }
    });
    simul::run(async move {
        let (r, _w) = simul::open_connection("127.0.0.1", port).await.unwrap();
        let all = r.read_to_end().await.unwrap();
        assert_eq!(all.len(), TOTAL);
        assert!(all
            .iter()
            .enumerate()
            .all(|(i, &b)| b == ((i % (1 << 20)) % 251) as u8));
        assert!(r.at_eof());
    });
    sender.join().unwrap();
}

#[test]
fn a_cancelled_read_to_end_keeps_what_it_read() {
    simul::run(async {
        let (a, mut b) = simul::net::UnixStream::pair().unwrap();
        let r = simul::StreamReader::new(a);
        let first: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
        b.write_all(&first).await.unwrap();
        let cut = simul::wait_for(Duration::from_millis(200), r.read_to_end()).await;
        assert!(cut.is_err(), "no end of stream yet");
        b.write_all(b"and the rest").await.unwrap();
        drop(b);
        let all = r.read_to_end().await.unwrap();
        assert_eq!(all.len(), first.len() + 12);
        assert_eq!(&all[..first.len()], &first[..]);
        assert_eq!(&all[first.len()..], b"and the rest");
    });
}
