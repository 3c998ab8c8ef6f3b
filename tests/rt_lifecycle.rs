//! The life of a loop: identity, closing, shutdown, and what a closed loop refuses.

mod common;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use common::secs;
use simul::{EventLoop, ExceptionKind};

fn panic_text(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// Runs `f` on its own thread and fails the test if it does not finish in time (a hang).
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(catch_unwind(AssertUnwindSafe(f)));
    });
    match rx.recv_timeout(limit) {
        Ok(Ok(v)) => v,
        Ok(Err(p)) => std::panic::resume_unwind(p),
        Err(_) => panic!("hung: did not finish within {limit:?}"),
    }
}

fn poll_once<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
    let mut cx = Context::from_waker(Waker::noop());
    Pin::new(f).poll(&mut cx)
}

#[test]
fn a_closed_loop_refuses_to_run_a_future() {
    let lp = EventLoop::new().unwrap();
    lp.close();
    let ran = Cell::new(false);
    let err = catch_unwind(AssertUnwindSafe(|| {
        lp.run_until_complete(async { ran.set(true) })
    }))
    .expect_err("run_until_complete on a closed loop must fail");
    assert!(panic_text(err).contains("Event loop is closed"));
    assert!(!ran.get());
}

#[test]
fn a_closed_loop_refuses_run_forever() {
    let lp = EventLoop::new().unwrap();
    lp.close();
    let err = catch_unwind(AssertUnwindSafe(|| lp.run_forever())).unwrap_err();
    assert!(panic_text(err).contains("Event loop is closed"));
}

#[test]
fn a_closed_loop_refuses_spawn() {
    let lp = EventLoop::new().unwrap();
    lp.close();
    let err = catch_unwind(AssertUnwindSafe(|| drop(lp.spawn(async {})))).unwrap_err();
    assert!(panic_text(err).contains("Event loop is closed"));
}

#[test]
fn running_a_closed_loop_fails_instead_of_losing_a_to_thread_result() {
    let out = within(secs(30), || {
        let lp = EventLoop::new().unwrap();
        lp.run_until_complete(async {});
        lp.close();
        catch_unwind(AssertUnwindSafe(|| {
            lp.run_until_complete(async { simul::to_thread(|| 7).await })
        }))
        .map_err(panic_text)
    });
    assert!(out.unwrap_err().contains("Event loop is closed"));
}

/// Drops count up; each drop spawns the next link of the chain until `left` runs out.
struct Respawner {
    left: usize,
    dropped: Rc<Cell<usize>>,
    thread: std::thread::ThreadId,
}

impl Future for Respawner {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        Poll::Pending
    }
}

impl Drop for Respawner {
    fn drop(&mut self) {
        assert_eq!(
            std::thread::current().id(),
            self.thread,
            "dropped off its thread"
        );
        self.dropped.set(self.dropped.get() + 1);
        if self.left > 0 {
            drop(simul::spawn(Respawner {
                left: self.left - 1,
                dropped: self.dropped.clone(),
                thread: self.thread,
            }));
        }
    }
}

#[test]
fn shutdown_terminates_when_destructors_keep_respawning() {
    let dropped = Rc::new(Cell::new(0));
    let d = dropped.clone();
    simul::run(async move {
        drop(simul::spawn(Respawner {
            left: 100,
            dropped: d,
            thread: std::thread::current().id(),
        }));
        simul::yield_now().await;
    });
    assert_eq!(
        dropped.get(),
        101,
        "every link is dropped, on the loop's thread"
    );
}

#[test]
fn a_spawn_during_teardown_never_runs_and_is_reported_in_debug_mode() {
    let reports = Rc::new(RefCell::new(Vec::new()));
    let polled = Rc::new(Cell::new(false));
    let lp = EventLoop::builder().debug(true).build().unwrap();
    let r = reports.clone();
    lp.set_exception_handler(move |ctx| r.borrow_mut().push((ctx.kind(), ctx.to_string())));
    let p = polled.clone();
    let late: Rc<RefCell<Option<simul::Task<()>>>> = Rc::default();
    let l = late.clone();
    lp.run_until_complete(async move {
        let guard = common::OnDrop(Some(Box::new(move || {
            let t = simul::spawn(async move { p.set(true) });
            *l.borrow_mut() = Some(t);
        })));
        drop(simul::spawn(async move {
            let _g = guard;
            std::future::pending::<()>().await
        }));
        simul::yield_now().await;
    });
    lp.close();
    assert!(!polled.get(), "a task spawned during teardown must not run");
    let t = late.borrow_mut().take().expect("spawn returned a handle");
    assert!(t.is_cancelled(), "its handle resolves as cancelled");
    let reports = reports.borrow();
    assert!(
        reports
            .iter()
            .any(|(k, m)| *k == ExceptionKind::SpawnRefused && m.contains("closing")),
        "{reports:?}"
    );
}

#[test]
fn dropping_a_loop_inside_another_loop_shuts_it_down_as_the_current_loop() {
    let leaked_run = Rc::new(Cell::new(false));
    let outer = EventLoop::new().unwrap();
    let lr = leaked_run.clone();
    outer.run_until_complete(async move {
        let inner = EventLoop::new().unwrap();
        let lr2 = lr.clone();
        let guard = common::OnDrop(Some(Box::new(move || {
            // Inner is closing: this must not land on the outer loop.
            drop(simul::spawn(async move { lr2.set(true) }));
        })));
        drop(inner.spawn(async move {
            let _g = guard;
            std::future::pending::<()>().await
        }));
        drop(inner);
        simul::yield_now().await;
        simul::yield_now().await;
    });
    assert!(
        !leaked_run.get(),
        "a destructor of the inner loop's task ran on the outer loop"
    );
}

#[test]
fn every_remote_spawn_resolves_when_the_loop_closes_before_running_it() {
    let lp = EventLoop::new().unwrap();
    let h = lp.handle();
    let mut joins: Vec<_> = (0..100).map(|i| h.spawn(async move { i })).collect();
    lp.close();
    for j in &mut joins {
        match poll_once(j) {
            Poll::Ready(r) => assert!(r.unwrap_err().is_cancelled()),
            Poll::Pending => panic!("a remote spawn never resolves"),
        }
    }
    // and after the close, a new remote spawn resolves at once too
    let mut late = h.spawn(async { 1 });
    assert!(matches!(poll_once(&mut late), Poll::Ready(Err(_))));
}

#[test]
fn every_remote_spawn_resolves_when_the_loop_closes_under_load() {
    let unresolved = within(secs(60), || {
        let lp = EventLoop::new().unwrap();
        let h = lp.handle();
        let stop = Arc::new(AtomicBool::new(false));
        let workers: Vec<_> = (0..3)
            .map(|_| {
                let (h, stop) = (h.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut joins = Vec::new();
                    while !stop.load(Ordering::Relaxed) && joins.len() < 20_000 {
                        joins.push(h.spawn(async {
                            simul::sleep(Duration::from_millis(1)).await;
                        }));
                    }
                    joins
                })
            })
            .collect();
        lp.run_until_complete(simul::sleep(Duration::from_millis(20)));
        lp.close();
        stop.store(true, Ordering::Relaxed);
        let unresolved = AtomicUsize::new(0);
        for w in workers {
            for mut j in w.join().unwrap() {
                if poll_once(&mut j).is_pending() {
                    unresolved.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        unresolved.into_inner()
    });
    assert_eq!(unresolved, 0);
}

#[test]
fn a_sleep_from_a_dropped_loop_cannot_disarm_a_timer_of_a_new_loop() {
    for _ in 0..20 {
        let old = EventLoop::new().unwrap();
        let mut stale = Box::pin(simul::sleep(secs(3600)));
        old.run_until_complete(std::future::poll_fn(|cx| {
            let _ = stale.as_mut().poll(cx); // armed in the old loop's wheel
            Poll::Ready(())
        }));
        drop(old);
        let new = EventLoop::new().unwrap();
        let fired = new.run_until_complete(async move {
            let hit = Rc::new(Cell::new(false));
            let h = hit.clone();
            let _keep = simul::call_later(Duration::from_millis(1), move || h.set(true));
            drop(stale); // must not touch the new loop's wheel
            simul::sleep(Duration::from_millis(20)).await;
            hit.get()
        });
        assert!(fired, "an old loop's Sleep disarmed a new loop's timer");
    }
}

#[test]
fn a_timer_handle_from_a_dropped_loop_cannot_cancel_a_callback_of_a_new_loop() {
    for _ in 0..20 {
        let old = EventLoop::new().unwrap();
        let stale = old.run_until_complete(async { simul::call_later(secs(3600), || {}) });
        drop(old);
        let new = EventLoop::new().unwrap();
        let fired = new.run_until_complete(async move {
            let hit = Rc::new(Cell::new(false));
            let h = hit.clone();
            let _keep = simul::call_later(Duration::from_millis(1), move || h.set(true));
            stale.cancel();
            simul::sleep(Duration::from_millis(20)).await;
            hit.get()
        });
        assert!(
            fired,
            "an old loop's TimerHandle cancelled a new loop's callback"
        );
    }
}

#[test]
fn virtual_time_advances_while_a_server_listens() {
    within(secs(30), || {
        common::vrun(async {
            let l = simul::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let _server = simul::spawn(async move {
                let _ = l.accept().await;
            });
            simul::sleep(secs(1)).await;
        })
    });
}

#[test]
fn wait_for_times_out_on_a_silent_socket_under_virtual_time() {
    let r = within(secs(30), || {
        common::vrun(async {
            let sock = simul::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let mut buf = [0u8; 16];
            simul::wait_for(secs(1), sock.recv_from(&mut buf))
                .await
                .is_err()
        })
    });
    assert!(r, "the wait must time out");
}

#[test]
fn a_cancelled_io_wait_stops_holding_virtual_time() {
    within(secs(30), || {
        common::vrun(async {
            let sock = simul::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let mut buf = [0u8; 16];
            let mut recv = Box::pin(sock.recv_from(&mut buf));
            // Start the wait, then abandon it: the socket stays open, nobody waits on it.
            std::future::poll_fn(|cx| {
                assert!(recv.as_mut().poll(cx).is_pending());
                Poll::Ready(())
            })
            .await;
            drop(recv);
            let t0 = simul::time();
            simul::sleep(secs(5)).await;
            assert!(simul::time() - t0 >= secs(5));
            drop(sock);
        })
    });
}

#[test]
fn virtual_time_waits_for_data_already_on_its_way() {
    // A peer on the same loop that writes before the reader times out is always seen:
    // the clock only jumps after a non-blocking look at the selector found nothing.
    let got = common::vrun(async {
        let a = simul::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = simul::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let to = a.local_addr().unwrap();
        let sender = simul::spawn(async move {
            b.send_to(b"ping", to).await.unwrap();
        });
        let mut buf = [0u8; 16];
        let r = simul::wait_for(secs(1), a.recv_from(&mut buf)).await;
        sender.await.unwrap();
        r.map(|res| buf[..res.unwrap().0].to_vec())
    });
    assert_eq!(got.unwrap(), b"ping");
}

#[test]
fn the_main_future_is_listed_by_all_tasks_and_dumps() {
    let lp = EventLoop::new().unwrap();
    lp.run_until_complete(async {
        let main_id = simul::current_task().unwrap().id();
        let seen = simul::spawn(async move {
            let all = simul::all_tasks();
            let mut buf = Vec::new();
            simul::dump_tasks_to(&mut buf).unwrap();
            (all, String::from_utf8(buf).unwrap())
        });
        let (all, dump) = seen.await.unwrap();
        let main = all
            .iter()
            .find(|i| i.id() == main_id)
            .expect("main in all_tasks()");
        assert_eq!(main.name(), "main");
        assert!(
            main.location().file().ends_with("rt_lifecycle.rs"),
            "{main:?}"
        );
        assert!(dump.lines().any(|l| l.contains("main")), "{dump}");
    });
}

#[test]
fn debug_mode_reports_a_slow_poll_of_the_main_future() {
    let reports = Rc::new(RefCell::new(Vec::new()));
    let lp = EventLoop::builder()
        .debug(true)
        .slow_poll_threshold(Duration::from_millis(20))
        .build()
        .unwrap();
    let r = reports.clone();
    lp.set_exception_handler(move |ctx| {
        r.borrow_mut()
            .push((ctx.kind(), ctx.task().map(String::from)))
    });
    lp.run_until_complete(async {
        std::thread::sleep(Duration::from_millis(60)); // a blocking call in main's body
    });
    assert!(
        reports
            .borrow()
            .iter()
            .any(|(k, t)| *k == ExceptionKind::SlowPoll && t.as_deref() == Some("main")),
        "{:?}",
        reports.borrow()
    );
}

#[test]
fn the_watchdog_reports_a_stall_in_the_main_future() {
    let reports = Rc::new(RefCell::new(Vec::new()));
    let lp = EventLoop::builder()
        .stall_watchdog(Duration::from_millis(20))
        .build()
        .unwrap();
    let r = reports.clone();
    lp.set_exception_handler(move |ctx| {
        r.borrow_mut()
            .push((ctx.kind(), ctx.task().map(String::from)))
    });
    lp.run_until_complete(async {
        std::thread::sleep(Duration::from_millis(200));
    });
    assert!(
        reports
            .borrow()
            .iter()
            .any(|(k, t)| *k == ExceptionKind::Stall && t.as_deref() == Some("main")),
        "{:?}",
        reports.borrow()
    );
}

#[test]
fn run_until_complete_still_takes_a_borrowing_future() {
    let lp = EventLoop::new().unwrap();
    let mut local = vec![1, 2];
    lp.run_until_complete(async {
        local.push(3);
        simul::yield_now().await;
    });
    assert_eq!(local, [1, 2, 3]);
}
