//! The hooks a second front end (the Python loop) stands on: scheduling on a loop that is
//! not running, and the park hook around the blocking selector wait.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

#[test]
fn call_soon_before_run_forever_runs_in_order() {
    let lp = simul::EventLoop::new().unwrap();
    let log = Rc::new(RefCell::new(Vec::new()));
    for i in 0..3 {
        let l = log.clone();
        lp.call_soon(move || l.borrow_mut().push(i));
    }
    let h = lp.handle();
    lp.call_soon(move || h.stop());
    lp.run_forever();
    assert_eq!(*log.borrow(), [0, 1, 2]);
}

#[test]
fn cancelled_call_soon_before_run_does_not_run() {
    let lp = simul::EventLoop::new().unwrap();
    let hit = Rc::new(Cell::new(false));
    let h2 = hit.clone();
    let handle = lp.call_soon(move || h2.set(true));
    handle.cancel();
    let stop = lp.handle();
    lp.call_soon(move || stop.stop());
    lp.run_forever();
    assert!(!hit.get());
}

#[test]
fn call_at_before_run_fires_in_deadline_order() {
    let lp = simul::EventLoop::builder()
        .virtual_time(true)
        .build()
        .unwrap();
    let log = Rc::new(RefCell::new(Vec::new()));
    let t0 = lp.time();
    for (i, ms) in [(1, 30u64), (0, 10), (2, 50)] {
        let l = log.clone();
        lp.call_at(t0 + Duration::from_millis(ms), move || {
            l.borrow_mut().push(i)
        });
    }
    let stop = lp.handle();
    lp.call_at(t0 + Duration::from_millis(60), move || stop.stop());
    lp.run_forever();
    assert_eq!(*log.borrow(), [0, 1, 2]);
    assert!(lp.time() - t0 >= Duration::from_millis(60));
}

#[test]
fn park_hook_wraps_each_blocking_wait_once() {
    let lp = simul::EventLoop::new().unwrap();
    let depth = Rc::new(Cell::new(0));
    let waits = Rc::new(Cell::new(0));
    let (d, w) = (depth.clone(), waits.clone());
    lp.set_park_hook(move |wait| {
        d.set(d.get() + 1);
        wait();
        w.set(w.get() + 1);
        d.set(d.get() - 1);
    });
    let d = depth.clone();
    lp.run_until_complete(async move {
        for _ in 0..3 {
            simul::sleep(Duration::from_millis(2)).await;
            assert_eq!(d.get(), 0, "tasks never run inside the hook");
        }
    });
    assert!(
        waits.get() >= 3,
        "three sleeps, three waits: {}",
        waits.get()
    );
}

#[test]
fn park_hook_is_not_called_while_the_loop_is_busy() {
    let lp = simul::EventLoop::new().unwrap();
    let waits = Rc::new(Cell::new(0));
    let w = waits.clone();
    lp.set_park_hook(move |wait| {
        w.set(w.get() + 1);
        wait();
    });
    lp.run_until_complete(async {
        for _ in 0..1000 {
            simul::yield_now().await;
        }
    });
    assert_eq!(waits.get(), 0);
}

#[test]
fn park_hook_may_schedule_callbacks_and_clear_hook_removes_it() {
    let lp = simul::EventLoop::new().unwrap();
    let hit = Rc::new(Cell::new(0));
    let h = hit.clone();
    lp.set_park_hook(move |wait| {
        wait();
        let h = h.clone();
        simul::call_soon(move || h.set(h.get() + 1));
    });
    lp.run_until_complete(simul::sleep(Duration::from_millis(2)));
    lp.run_until_complete(simul::yield_now());
    assert!(hit.get() >= 1);
    lp.clear_park_hook();
    let before = hit.get();
    lp.run_until_complete(simul::sleep(Duration::from_millis(2)));
    lp.run_until_complete(simul::yield_now());
    assert_eq!(hit.get(), before);
}

#[test]
fn call_soon_runs_after_what_other_threads_handed_in_before_it() {
    let lp = simul::EventLoop::new().unwrap();
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (l, h) = (log.clone(), lp.handle());
    std::thread::spawn(move || h.call_soon_threadsafe(move || l.lock().unwrap().push("remote")))
        .join()
        .unwrap();
    let l = log.clone();
    lp.call_soon(move || l.lock().unwrap().push("local"));
    let stop = lp.handle();
    lp.call_soon(move || stop.stop());
    lp.run_forever();
    assert_eq!(*log.lock().unwrap(), ["remote", "local"]);
}

#[test]
fn timers_already_due_when_the_loop_starts_fire_in_deadline_order() {
    for gap_ms in [0u64, 70, 150] {
        let lp = simul::EventLoop::new().unwrap();
        let log = Rc::new(RefCell::new(Vec::new()));
        let t0 = lp.time();
        for (name, ms) in [("c", 30u64), ("a", 10), ("b", 20)] {
            let l = log.clone();
            lp.call_at(t0 + Duration::from_millis(ms), move || {
                l.borrow_mut().push(name)
            });
        }
        let (l, stop) = (log.clone(), lp.handle());
        lp.call_at(t0 + Duration::from_millis(50), move || {
            l.borrow_mut().push("stop");
            stop.stop();
        });
        std::thread::sleep(Duration::from_millis(gap_ms));
        lp.run_forever();
        assert_eq!(*log.borrow(), ["a", "b", "c", "stop"], "gap {gap_ms} ms");
    }
}

#[test]
fn a_timer_armed_after_its_deadline_runs_after_earlier_due_timers() {
    let lp = simul::EventLoop::new().unwrap();
    let log = Rc::new(RefCell::new(Vec::new()));
    let t0 = lp.time();
    for (name, ms) in [("c", 30u64), ("a", 10), ("b", 20)] {
        let l = log.clone();
        lp.call_at(t0 + Duration::from_millis(ms), move || {
            l.borrow_mut().push(name)
        });
    }
    std::thread::sleep(Duration::from_millis(80));
    // Armed late (its deadline has passed, as after a long pause): asyncio still runs due
    // timers in deadline order, so this one comes after a, b and c.
    let (l, stop) = (log.clone(), lp.handle());
    lp.call_at(t0 + Duration::from_millis(50), move || {
        l.borrow_mut().push("late");
        stop.stop();
    });
    lp.run_forever();
    assert_eq!(*log.borrow(), ["a", "b", "c", "late"]);
}

/// Iterations a task spinning on `yield_now` (keeping the loop busy) waits until a
/// descriptor that became readable before it started is seen ready.
fn spins_until_readable(lp: &simul::EventLoop) -> u32 {
    lp.run_until_complete(async {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let fd = simul::net::AsyncFd::new(std::os::fd::AsRawFd::as_raw_fd(&a)).unwrap();
        let seen = Rc::new(Cell::new(false));
        let s = seen.clone();
        let watcher = simul::spawn(async move {
            std::future::poll_fn(|cx| fd.poll_read_ready(cx))
                .await
                .unwrap();
            s.set(true);
        });
        simul::yield_now().await; // the watcher waits on the descriptor
        std::io::Write::write_all(&mut &b, b"x").unwrap();
        let mut spins = 0;
        while !seen.get() && spins < 500 {
            simul::yield_now().await;
            spins += 1;
        }
        watcher.await.unwrap();
        drop(a);
        spins
    })
}

#[test]
fn a_busy_loop_with_io_interval_zero_sees_readiness_the_next_iterations() {
    let lp = simul::EventLoop::new().unwrap();
    lp.set_io_interval(0);
    assert!(spins_until_readable(&lp) <= 2);
}

#[test]
fn a_busy_loop_looks_at_the_selector_every_io_interval_iterations_by_default() {
    let lp = simul::EventLoop::new().unwrap();
    let spins = spins_until_readable(&lp);
    assert!(
        spins > 2 && spins <= simul::runtime::IO_INTERVAL + 2,
        "{spins}"
    );
}
