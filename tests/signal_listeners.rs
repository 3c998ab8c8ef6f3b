//! Signal listeners: every listener sees every delivery, dispositions come back when the
//! last one goes, asyncio's add/remove_signal_handler, and bad input.
//!
//! Each test uses its own signal, so tests running in parallel cannot steal deliveries;
//! a signal is only raised while a listener for it is alive.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use simul::signal::{signal, SignalKind};

fn raise(sig: i32) {
    // SAFETY: kill on our own pid with a signal that has a listener installed.
    assert_eq!(unsafe { libc::kill(libc::getpid(), sig) }, 0);
}

fn disposition(sig: i32) -> libc::sighandler_t {
    // SAFETY: querying a disposition with valid pointers.
    unsafe {
        let mut cur: libc::sigaction = std::mem::zeroed();
        assert_eq!(libc::sigaction(sig, std::ptr::null(), &mut cur), 0);
        cur.sa_sigaction
    }
}

#[test]
fn several_listeners_all_see_each_delivery() {
    simul::run(async {
        let mut a = signal(SignalKind::user_defined1()).unwrap();
        let mut b = signal(SignalKind::user_defined1()).unwrap();
        let mut c = signal(SignalKind::user_defined1()).unwrap();
        for _round in 0..3 {
            raise(libc::SIGUSR1);
            // Listeners in separate tasks as well as in this one.
            let t = simul::spawn(async move {
                c.recv().await.unwrap();
                c
            });
            assert_eq!(a.recv().await, Some(()));
            assert_eq!(b.recv().await, Some(()));
            c = t.await.unwrap();
        }
    });
}

#[test]
fn deliveries_between_polls_coalesce_into_one_item() {
    simul::run(async {
        let mut s = signal(SignalKind::from_raw(libc::SIGRTMIN() + 3)).unwrap();
        for _ in 0..3 {
            // raise() signals this thread: the handler has run when it returns.
            // SAFETY: a listener for the signal is installed.
            assert_eq!(unsafe { libc::raise(libc::SIGRTMIN() + 3) }, 0);
        }
        assert_eq!(s.recv().await, Some(()));
        let more = simul::wait_for(Duration::from_millis(50), s.recv()).await;
        assert!(more.is_err(), "three deliveries before a poll are one item");
        raise(libc::SIGRTMIN() + 3);
        assert_eq!(s.recv().await, Some(()));
    });
}

#[test]
fn listeners_on_different_loops_each_see_the_delivery() {
    let ready = Arc::new(Barrier::new(3));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let ready = ready.clone();
            std::thread::spawn(move || {
                simul::run(async move {
                    let mut s = signal(SignalKind::user_defined2()).unwrap();
                    ready.wait();
                    simul::wait_for(Duration::from_secs(10), s.recv())
                        .await
                        .expect("delivery seen")
                })
            })
        })
        .collect();
    ready.wait();
    raise(libc::SIGUSR2);
    for t in threads {
        assert_eq!(t.join().unwrap(), Some(()));
    }
}

#[test]
fn dropping_the_last_listener_restores_the_previous_disposition() {
    let sig = libc::SIGRTMIN() + 1;
    // SAFETY: setting SIG_IGN for a real-time signal nobody else uses.
    unsafe { libc::signal(sig, libc::SIG_IGN) };
    let a = signal(SignalKind::from_raw(sig)).unwrap();
    let b = signal(SignalKind::from_raw(sig)).unwrap();
    assert_ne!(disposition(sig), libc::SIG_IGN);
    drop(a);
    assert_ne!(
        disposition(sig),
        libc::SIG_IGN,
        "one listener is still alive"
    );
    drop(b);
    assert_eq!(disposition(sig), libc::SIG_IGN);
    // SAFETY: back to the default.
    unsafe { libc::signal(sig, libc::SIG_DFL) };
}

#[test]
fn listener_made_outside_a_loop_joins_the_loop_it_is_polled_on() {
    let sig = libc::SIGRTMIN() + 2;
    let mut s = signal(SignalKind::from_raw(sig)).unwrap();
    raise(sig); // before any loop exists: not missed
    simul::run(async move {
        assert_eq!(s.recv().await, Some(()));
    });
    assert_eq!(disposition(sig), libc::SIG_DFL);
}

#[test]
fn add_signal_handler_calls_back_until_removed() {
    use simul::signal::{add_signal_handler, remove_signal_handler};
    simul::run(async {
        let hits = Rc::new(Cell::new(0));
        let h = hits.clone();
        add_signal_handler(SignalKind::window_change(), move || h.set(h.get() + 1)).unwrap();
        for expected in 1..=3 {
            raise(libc::SIGWINCH);
            while hits.get() < expected {
                simul::sleep(Duration::from_millis(1)).await;
            }
        }
        // A second handler for the same signal replaces the first.
        let replaced = Rc::new(Cell::new(0));
        let r = replaced.clone();
        add_signal_handler(SignalKind::window_change(), move || r.set(r.get() + 1)).unwrap();
        raise(libc::SIGWINCH);
        while replaced.get() == 0 {
            simul::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(hits.get(), 3);
        assert!(remove_signal_handler(SignalKind::window_change()));
        assert!(!remove_signal_handler(SignalKind::window_change()));
    });
    assert_eq!(disposition(libc::SIGWINCH), libc::SIG_DFL);
}

#[test]
fn a_panicking_handler_is_reported_and_stays_installed() {
    let lp = simul::EventLoop::new().unwrap();
    let reports = Rc::new(Cell::new(0));
    let r = reports.clone();
    lp.set_exception_handler(move |_| r.set(r.get() + 1));
    let hits = Rc::new(Cell::new(0));
    let h = hits.clone();
    lp.add_signal_handler(SignalKind::alarm(), move || {
        h.set(h.get() + 1);
        panic!("handler bug");
    })
    .unwrap();
    for expected in 1..=2 {
        raise(libc::SIGALRM);
        lp.run_until_complete(async {
            while hits.get() < expected {
                simul::sleep(Duration::from_millis(1)).await;
            }
        });
    }
    assert_eq!(reports.get(), 2);
    assert!(lp.remove_signal_handler(SignalKind::alarm()));
    assert_eq!(disposition(libc::SIGALRM), libc::SIG_DFL);
}

#[test]
fn uncatchable_or_invalid_signals_are_invalid_input() {
    for n in [libc::SIGKILL, libc::SIGSTOP, libc::SIGSEGV, 0, -1, 65, 1000] {
        let e = signal(SignalKind::from_raw(n)).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "signal {n}");
    }
}

#[test]
fn signals_is_a_stream() {
    use futures_util::StreamExt;
    simul::run(async {
        let sig = libc::SIGRTMIN() + 4;
        let mut s = signal(SignalKind::from_raw(sig)).unwrap();
        raise(sig);
        assert_eq!(s.next().await, Some(()));
    });
}

#[test]
fn closing_the_loop_removes_its_signal_handlers() {
    let sig = libc::SIGRTMIN() + 5;
    let lp = simul::EventLoop::new().unwrap();
    lp.add_signal_handler(SignalKind::from_raw(sig), || {})
        .unwrap();
    assert_ne!(disposition(sig), libc::SIG_DFL);
    lp.close();
    assert_eq!(disposition(sig), libc::SIG_DFL);
    drop(lp);
}
