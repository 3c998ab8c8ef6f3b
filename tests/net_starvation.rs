//! A connection that always has data must not starve timers: the cooperative budget
//! makes its task yield.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use simul::net::TcpListener;

mod net_common;

#[test]
fn a_busy_connection_does_not_delay_a_timer() {
    // If the loop were starved the sleeps below would never finish: fail instead of hanging.
    let finished = Arc::new(AtomicBool::new(false));
    let f = finished.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(60));
        if !f.load(Ordering::SeqCst) {
            eprintln!("starvation test: the loop never let the timer fire");
            std::process::exit(1);
        }
    });
    let stop = Arc::new(AtomicBool::new(false));
    simul::run(async {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        // A feeder thread that keeps the server's socket readable...
        let s1 = stop.clone();
        let feeder = std::thread::spawn(move || {
            let mut c = std::net::TcpStream::connect(addr).unwrap();
            let chunk = [0x5au8; 65536];
            while !s1.load(Ordering::SeqCst) && c.write_all(&chunk).is_ok() {}
        });
        // ...and a sink thread that keeps another one writable.
        let s2 = stop.clone();
        let sink = std::thread::spawn(move || {
            let mut c = std::net::TcpStream::connect(addr).unwrap();
            let mut buf = vec![0u8; 65536];
            while !s2.load(Ordering::SeqCst) && matches!(c.read(&mut buf), Ok(n) if n > 0) {}
        });
        let (mut rd, _) = l.accept().await.unwrap();
        let (mut wr, _) = l.accept().await.unwrap();
        let reader = simul::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let mut total = 0u64;
            while let Ok(n @ 1..) = rd.read(&mut buf).await {
                total += n as u64;
            }
            total
        });
        let writer = simul::spawn(async move {
            let buf = vec![0xa5u8; 4096];
            let mut total = 0u64;
            while let Ok(n @ 1..) = wr.write(&buf).await {
                total += n as u64;
            }
            total
        });
        simul::sleep(Duration::from_millis(20)).await; // let both get going
        let mut late = Vec::new();
        for _ in 0..20 {
            let t0 = Instant::now();
            simul::sleep(Duration::from_millis(10)).await;
            late.push(t0.elapsed().saturating_sub(Duration::from_millis(10)));
        }
        stop.store(true, Ordering::SeqCst);
        reader.cancel();
        writer.cancel();
        let _ = reader.await;
        let _ = writer.await;
        feeder.join().unwrap();
        sink.join().unwrap();
        late.sort();
        let median = late[late.len() / 2];
        eprintln!(
            "timer lateness under load: median {median:?}, max {:?}",
            late[late.len() - 1]
        );
        // A few ms is the goal; the bound is generous for a loaded 2-core machine.
        assert!(
            median < Duration::from_millis(8),
            "median lateness {median:?}"
        );
    });
    finished.store(true, Ordering::SeqCst);
}
