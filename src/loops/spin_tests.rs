//! The spin before park of a set's loops (`runtime/spin.rs`), counted through the loop's
//! own spin counts: who spins, how long, and that a spinning loop still sees its I/O and
//! timers.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use super::sys::{allowed_cpus, pin_to_cpu};
use crate::runtime::spin::{SpinCounts, SPIN};
use crate::runtime::with_core;

async fn read_full(s: &mut crate::net::TcpStream, mut buf: &mut [u8]) {
    while !buf.is_empty() {
        let n = s.read(buf).await.unwrap();
        assert!(n > 0, "end of stream");
        buf = &mut buf[n..];
    }
}

fn counts() -> SpinCounts {
    with_core("spin_counts", |c| c.spin_counts())
}

/// Loop `index`'s spin counts, read on it by a call from the calling thread (itself a
/// hand-off).
fn counts_of(loops: &super::Loops, index: usize) -> SpinCounts {
    let (tx, rx) = mpsc::channel();
    assert!(loops.handle(index).call_soon_threadsafe(move || {
        let _ = tx.send(counts());
    }));
    rx.recv().unwrap()
}

#[test]
fn a_plain_loop_never_spins_whatever_it_is_handed() {
    let lp = crate::EventLoop::new().unwrap();
    let h = lp.handle();
    let feeder = std::thread::spawn(move || {
        for _ in 0..50 {
            h.call_soon_threadsafe(|| {});
            std::thread::sleep(Duration::from_micros(200));
        }
    });
    let spun = lp.run_until_complete(async {
        while !feeder.is_finished() {
            crate::sleep(Duration::from_millis(1)).await;
        }
        counts()
    });
    assert_eq!(spun, SpinCounts::default());
}

#[test]
fn a_member_with_no_work_handed_in_never_spins() {
    let cpus = allowed_cpus().unwrap();
    if cpus.len() < 2 {
        return; // the loop spins only for a thread on another CPU
    }
    let loops = super::Loops::builder().count(1).pin(true).build().unwrap();
    // Spawned from a thread on another CPU than the loop's (the first).
    let task = std::thread::scope(|s| {
        s.spawn(|| {
            pin_to_cpu(cpus[1]).unwrap();
            loops.spawn_with(|| async {
                // The spawn (and the set's start-up calls) were handed in: let that spin pass.
                crate::sleep(Duration::from_millis(5)).await;
                let before = counts();
                // Local work only: timers, local tasks, I/O on this loop, many idle parks.
                let l = crate::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = l.local_addr().unwrap();
                let server = crate::spawn(async move {
                    let (mut s, _) = l.accept().await.unwrap();
                    let mut b = [0u8; 4];
                    for _ in 0..20 {
                        read_full(&mut s, &mut b).await;
                        s.write_all(&b).await.unwrap();
                    }
                });
                let mut c = crate::net::TcpStream::connect(addr).await.unwrap();
                for i in 0..20u32 {
                    crate::sleep(Duration::from_micros(300)).await;
                    crate::spawn(async move { i }).await.unwrap();
                    c.write_all(&i.to_le_bytes()).await.unwrap();
                    let mut b = [0u8; 4];
                    read_full(&mut c, &mut b).await;
                }
                server.await.unwrap();
                (before, counts())
            })
        })
        .join()
        .unwrap()
    });
    let (before, after) = crate::run(task).unwrap();
    assert!(before.spins >= 1, "the spawn handed in was not spun for");
    assert_eq!(after, before, "the loop spun with no work handed in");
}

#[test]
fn an_idle_member_spins_for_few_of_its_hand_offs_and_each_spin_is_bounded() {
    let cpus = allowed_cpus().unwrap();
    if cpus.len() < 2 {
        return; // the loop spins only for a thread on another CPU
    }
    // Loop 0 on the first CPU, the thread handing it work on the second.
    let loops = super::Loops::builder().count(1).pin(true).build().unwrap();
    const N: u64 = 10;
    let (before, after) = std::thread::scope(|s| {
        s.spawn(|| {
            pin_to_cpu(cpus[1]).unwrap();
            std::thread::sleep(Duration::from_millis(20)); // the start-up calls' spins pass
            let before = counts_of(&loops, 0);
            // Each hand-off comes far later than a spin may last: every spin finds
            // nothing and ends at its bound, then the loop parks, and the back-off makes
            // the loop spin for fewer and fewer of them.
            for _ in 0..N {
                std::thread::sleep(Duration::from_millis(20));
                loops.handle(0).call_soon_threadsafe(|| {});
            }
            std::thread::sleep(Duration::from_millis(20));
            (before, counts_of(&loops, 0))
        })
        .join()
        .unwrap()
    });
    let spins = after.spins - before.spins;
    assert_eq!(after.caught, before.caught, "{before:?} -> {after:?}");
    // The first fruitless spin since start-up made the loop skip one hand-off, the next
    // three, then seven: of the N + 1 hand-offs after `before`, it spins for 2 or 3.
    assert!((1..=3).contains(&spins), "{before:?} -> {after:?}");
    let spun = Duration::from_nanos(after.spun_ns - before.spun_ns);
    let bound = SPIN * spins as u32;
    assert!(spun >= bound, "a spin gave up early: {spun:?} for {spins}");
    // Above the bound only by what preemption mid-spin adds; an unbounded spin would
    // last until the next hand-off, 20 ms later.
    assert!(
        spun < bound + Duration::from_millis(15),
        "{spun:?} for {spins}"
    );
}

/// Hands loop `index` `n` calls from a thread pinned to `cpu`, each once the previous one
/// ran (waiting by spinning, so the next comes within the loop's spin); returns the
/// loop's spin counts before and after.
fn ping_from(loops: &super::Loops, index: usize, cpu: usize, n: u64) -> (SpinCounts, SpinCounts) {
    let h = loops.handle(index);
    std::thread::spawn(move || {
        pin_to_cpu(cpu).unwrap();
        let read = || {
            let (tx, rx) = mpsc::channel();
            h.call_soon_threadsafe(move || {
                let _ = tx.send(counts());
            });
            rx.recv().unwrap()
        };
        let before = read();
        let done = Arc::new(AtomicU64::new(0));
        for i in 1..=n {
            let d = done.clone();
            h.call_soon_threadsafe(move || d.store(i, Ordering::Release));
            while done.load(Ordering::Acquire) != i {
                std::thread::yield_now();
            }
        }
        (before, read())
    })
    .join()
    .unwrap()
}

#[test]
fn a_member_does_not_spin_for_work_from_a_thread_on_its_own_cpu() {
    let cpus = allowed_cpus().unwrap();
    let loops = super::Loops::builder().count(1).pin(true).build().unwrap();
    // Loop 0 is pinned to the first CPU; the feeding thread joins it there.
    let (before, after) = ping_from(&loops, 0, cpus[0], 200);
    assert_eq!(after.spins, before.spins, "{before:?} -> {after:?}");
    if let Some(&other) = cpus.get(1) {
        // From another CPU the same traffic is spun for.
        let (before, after) = ping_from(&loops, 0, other, 200);
        assert!(after.spins > before.spins, "{before:?} -> {after:?}");
    }
}

#[test]
fn a_member_that_keeps_catching_work_still_sees_its_io_and_timers() {
    let cpus = allowed_cpus().unwrap();
    if cpus.len() < 2 {
        return; // the loop spins only for a thread on another CPU
    }
    let loops = super::Loops::builder().count(1).pin(true).build().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (conn, _) = listener.accept().unwrap();
    let reading = Arc::new(AtomicBool::new(false));
    let (r, read_done, slept) = (
        reading.clone(),
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let (rd, sl) = (read_done.clone(), slept.clone());
    let _reader = loops.handle(0).spawn_with(move || async move {
        let mut s = crate::net::TcpStream::from_std(conn).unwrap();
        let mut b = [0u8; 1];
        r.store(true, Ordering::Release);
        // Waits in the selector: the byte is written only once the loop is catching
        // calls in its spins.
        read_full(&mut s, &mut b).await;
        rd.store(true, Ordering::Release);
    });
    let _sleeper = loops.handle(0).spawn_with(move || async move {
        crate::sleep(Duration::from_millis(2)).await;
        sl.store(true, Ordering::Release);
    });
    while !reading.load(Ordering::Acquire) {
        std::thread::yield_now();
    }
    std::thread::sleep(Duration::from_millis(20)); // parked in the selector by now
    let h = loops.handle(0);
    let pinger = std::thread::spawn(move || {
        pin_to_cpu(cpus[1]).unwrap();
        let done = Arc::new(AtomicU64::new(0));
        let mut sent = 0u64;
        let mut written_at = None;
        while sent < 200_000 && !(read_done.load(Ordering::Acquire) && written_at.is_some()) {
            if sent == 100 {
                peer.write_all(b"x").unwrap();
                written_at = Some(sent);
            }
            sent += 1;
            let d = done.clone();
            h.call_soon_threadsafe(move || d.store(sent, Ordering::Release));
            while done.load(Ordering::Acquire) != sent {
                std::hint::spin_loop();
            }
        }
        (
            read_done.load(Ordering::Acquire),
            sent - written_at.unwrap_or(0),
        )
    });
    let (read, calls_after_write) = pinger.join().unwrap();
    let caught = counts_of(&loops, 0).caught;
    assert!(
        read,
        "{calls_after_write} calls after the byte came, the read still waits ({caught} catches)"
    );
    assert!(slept.load(Ordering::Acquire), "the 2 ms sleep never ended");
}
