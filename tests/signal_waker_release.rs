//! A signal listener does not keep the wakers of tasks that stopped waiting on it: dropping
//! a waiting `recv` future, or the listener itself, releases the waker at once (otherwise a
//! finished task's memory stays allocated until the next signal).

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Wake, Waker};
use std::time::Duration;

use simul::signal::{signal, SignalKind};

struct Count;
impl Wake for Count {
    fn wake(self: Arc<Self>) {}
}

/// Polls `fut` once with a waker of our own and drops it; returns the waker's references
/// still held elsewhere afterwards.
fn poll_once_and_drop(fut: impl Future) -> usize {
    let count = Arc::new(Count);
    let waker = Waker::from(count.clone());
    {
        let mut fut = pin!(fut);
        let mut cx = Context::from_waker(&waker);
        assert!(
            fut.as_mut().poll(&mut cx).is_pending(),
            "no signal was sent"
        );
    }
    drop(waker);
    Arc::strong_count(&count) - 1
}

#[test]
fn dropping_a_waiting_recv_releases_its_waker() {
    simul::run(async {
        let mut s = signal(SignalKind::user_defined2()).unwrap();
        let held = poll_once_and_drop(s.recv());
        assert_eq!(held, 0, "the listener kept the waker of a dropped recv");
        // The listener still works afterwards.
        // SAFETY: raising a signal we listen for.
        unsafe { libc::raise(libc::SIGUSR2) };
        assert_eq!(
            simul::wait_for(Duration::from_secs(10), s.recv()).await,
            Ok(Some(()))
        );
    });
}

#[test]
fn dropping_a_waiting_listener_releases_its_waker() {
    simul::run(async {
        // SIGUSR1, which no test of this file raises: the tests run in parallel, and a
        // SIGUSR2 raised by the first one could make this fresh listener ready.
        let _other = signal(SignalKind::user_defined1()).unwrap(); // keeps the hub alive
        let held = poll_once_and_drop(async {
            let mut s = signal(SignalKind::user_defined1()).unwrap();
            s.recv().await
        });
        assert_eq!(held, 0, "the hub kept the waker of a dropped listener");
        let held = poll_once_and_drop(simul::signal::ctrl_c());
        assert_eq!(held, 0, "the hub kept the waker of a dropped ctrl_c()");
    });
}

/// Forwards wakes to the task's waker; its strong count says who still holds it.
struct Forward(std::sync::Mutex<Option<Waker>>);
impl Wake for Forward {
    fn wake(self: Arc<Self>) {
        if let Some(w) = self.0.lock().unwrap().take() {
            w.wake();
        }
    }
}

/// Polls `fut` with a waker of its own (a `Forward` to the task's), published in `out`.
async fn tracked<F: Future>(fut: F, out: Arc<Forward>) -> F::Output {
    let mut fut = pin!(fut);
    std::future::poll_fn(|cx| {
        *out.0.lock().unwrap() = Some(cx.waker().clone());
        let waker = Waker::from(out.clone());
        fut.as_mut().poll(&mut Context::from_waker(&waker))
    })
    .await
}

#[test]
fn finished_tasks_that_waited_on_a_signal_are_freed() {
    simul::run(async {
        let mut tasks = Vec::new();
        let mut wakers = Vec::new();
        for _ in 0..200 {
            let w = Arc::new(Forward(std::sync::Mutex::new(None)));
            wakers.push(w.clone());
            tasks.push(simul::spawn(tracked(
                async {
                    let mut s = signal(SignalKind::user_defined2()).unwrap();
                    let _ = simul::wait_for(Duration::from_millis(1), s.recv()).await;
                },
                w,
            )));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let held = wakers.iter().filter(|w| Arc::strong_count(w) > 1).count();
        assert_eq!(held, 0, "{held} finished tasks' wakers are still held");
    });
}
