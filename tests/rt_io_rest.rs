//! `EventLoop::set_io_rest_after_wait`: after a wait in the selector, the callbacks and
//! task steps the I/O wake-ups scheduled run before the selector is asked again (the
//! Python loop's setting, as uvloop's libuv does), while a loop that does not rest looks
//! at the selector at the next busy iteration (`set_io_interval(0)`, asyncio's own).

use std::cell::Cell;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::rc::Rc;
use std::time::Duration;

/// After a wait wakes task A, A makes a second socket readable and starts task X, which
/// counts its steps (one per iteration). Returns how many steps X had made when the task
/// waiting on the second socket ran: 1 if the selector was asked at the end of A's
/// iteration, 2 if the loop rested one iteration first.
fn steps_before_the_second_socket_is_seen(rest: u32) -> u32 {
    let lp = simul::EventLoop::new().unwrap();
    lp.set_io_interval(0);
    lp.set_io_rest_after_wait(rest);
    lp.run_until_complete(async {
        let (a1, b1) = UnixStream::pair().unwrap();
        let (a2, b2) = UnixStream::pair().unwrap();
        a1.set_nonblocking(true).unwrap();
        a2.set_nonblocking(true).unwrap();
        let w1 = simul::net::AsyncFd::new(a1.as_raw_fd()).unwrap();
        let w2 = simul::net::AsyncFd::new(a2.as_raw_fd()).unwrap();
        let steps = Rc::new(Cell::new(0u32));
        let seen = simul::spawn({
            let steps = steps.clone();
            async move {
                w2.readable().await.unwrap();
                steps.get()
            }
        });
        let first = simul::spawn({
            let steps = steps.clone();
            async move {
                w1.readable().await.unwrap();
                (&b2).write_all(b"2").unwrap();
                // Returned in a tuple, awaited by main once the second socket was seen.
                (simul::spawn(async move {
                    for _ in 0..10 {
                        steps.set(steps.get() + 1);
                        simul::yield_now().await;
                    }
                }),)
            }
        });
        // The loop waits in the selector until another thread writes.
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            (&b1).write_all(b"1").unwrap();
            b1
        });
        let (counter,) = first.await.unwrap();
        let n = seen.await.unwrap();
        counter.await.unwrap();
        drop(writer.join().unwrap());
        drop((a1, a2));
        n
    })
}

#[test]
fn without_rest_the_selector_is_asked_at_the_next_busy_iteration() {
    assert_eq!(steps_before_the_second_socket_is_seen(0), 1);
}

#[test]
fn with_rest_the_wake_ups_scheduled_work_runs_before_the_next_look() {
    assert_eq!(steps_before_the_second_socket_is_seen(1), 2);
}
