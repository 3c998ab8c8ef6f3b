//! `AsyncFd`: readiness of descriptors simul does not own (asyncio's add_reader/add_writer).

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::task::Poll;
use std::time::Duration;

fn ready_now(f: &simul::net::AsyncFd) -> bool {
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    f.poll_read_ready(&mut cx).is_ready()
}

#[test]
fn readable_wakes_when_the_peer_writes_from_another_thread() {
    simul::run(async {
        let (mut a, b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let watch = simul::net::AsyncFd::new(a.as_raw_fd()).unwrap();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            (&b).write_all(b"ping").unwrap();
            b
        });
        watch.readable().await.unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(a.read(&mut buf).unwrap(), 4);
        drop(writer.join().unwrap());
    });
}

#[test]
fn readiness_stays_until_cleared_and_a_clear_never_loses_a_newer_edge() {
    simul::run(async {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let watch = simul::net::AsyncFd::new(a.as_raw_fd()).unwrap();
        b.write_all(b"1").unwrap();
        let r = watch.readable().await.unwrap();
        assert!(ready_now(&watch), "level stays set until cleared");
        let mut buf = [0u8; 8];
        a.read_exact(&mut buf[..1]).unwrap();
        b.write_all(b"2").unwrap();
        // Let the selector see the new edge, then clear with the stale readiness.
        simul::sleep(Duration::from_millis(5)).await;
        watch.clear_read_ready(r);
        assert!(ready_now(&watch), "the newer edge survives a stale clear");
        let r = watch.readable().await.unwrap();
        a.read_exact(&mut buf[..1]).unwrap();
        assert!(a.read(&mut buf).is_err());
        watch.clear_read_ready(r);
        assert!(!ready_now(&watch));
    });
}

#[test]
fn the_same_descriptor_cannot_be_watched_twice() {
    simul::run(async {
        let (a, _b) = UnixStream::pair().unwrap();
        let _w = simul::net::AsyncFd::new(a.as_raw_fd()).unwrap();
        let err = simul::net::AsyncFd::new(a.as_raw_fd()).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc_eexist()));
    });
}

#[test]
fn with_loop_registers_before_the_loop_runs_and_hang_up_is_reported() {
    let lp = simul::EventLoop::new().unwrap();
    let (a, b) = UnixStream::pair().unwrap();
    let watch = simul::net::AsyncFd::with_loop(&lp, a.as_raw_fd()).unwrap();
    drop(b);
    let r = lp.run_until_complete(async { watch.readable().await.unwrap() });
    assert!(r.is_read_closed());
    let polled = lp.run_until_complete(std::future::poll_fn(|cx| {
        Poll::Ready(watch.poll_write_ready(cx).is_ready())
    }));
    assert!(polled);
}

fn libc_eexist() -> i32 {
    17 // EEXIST on Linux
}

#[test]
fn a_clear_after_a_short_read_keeps_a_hang_up_seen_alongside() {
    simul::run(async {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let watch = simul::net::AsyncFd::new(a.as_raw_fd()).unwrap();
        b.write_all(b"last words").unwrap();
        drop(b);
        simul::sleep(Duration::from_millis(5)).await;
        let r = watch.readable().await.unwrap();
        assert!(r.is_read_closed(), "data and hang-up in one event");
        let mut buf = [0u8; 64];
        assert_eq!(a.read(&mut buf).unwrap(), 10); // short read: drained, EOF not yet read
        watch.clear_read_ready(r);
        assert!(ready_now(&watch), "the hang-up must still be reported");
        assert_eq!(a.read(&mut buf).unwrap(), 0);
    });
}

#[test]
fn forget_closed_leaves_the_watch_of_a_reused_descriptor_number_alone() {
    simul::run(async {
        let (a, _peer_a) = UnixStream::pair().unwrap();
        let n = a.as_raw_fd();
        let old = simul::net::AsyncFd::new(n).unwrap();
        // Number `n` now names a new descriptor: `dup2` closes `a`'s socket (the kernel
        // drops it from epoll; `old` still names `n`) and puts another socket at `n` in one
        // step, so no other test thread can take the number meanwhile (waiting for the
        // lowest free number to come back raced with them).
        let (x, mut peer_b) = UnixStream::pair().unwrap();
        // SAFETY: both are open descriptors this test owns; `dup2` replaces `n` atomically.
        assert_eq!(unsafe { libc::dup2(x.as_raw_fd(), n) }, n);
        drop(x);
        // `n` is now `b`'s: `a` must not close it again.
        std::mem::forget(a);
        // SAFETY: `n` is an open descriptor (just made by `dup2`) that nothing else owns.
        let b = unsafe { <UnixStream as std::os::fd::FromRawFd>::from_raw_fd(n) };
        b.set_nonblocking(true).unwrap();
        let new = simul::net::AsyncFd::new(n).unwrap();
        old.forget_closed();
        peer_b.write_all(b"x").unwrap();
        simul::wait_for(Duration::from_secs(5), new.readable())
            .await
            .expect("the new watch survives")
            .unwrap();
        let mut buf = [0u8; 1];
        (&b).read_exact(&mut buf).unwrap();
    });
}
