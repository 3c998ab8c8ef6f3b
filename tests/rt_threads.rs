//! Cross-thread wakes, spawns and thread-safe calls.
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::Duration;

/// A one-shot flag set from another thread, awaited on the loop.
#[derive(Clone, Default)]
struct Flag(Arc<Mutex<(bool, Option<Waker>)>>);

impl Flag {
    fn set(&self) {
        let w = {
            let mut g = self.0.lock().unwrap();
            g.0 = true;
            g.1.take()
        };
        if let Some(w) = w {
            w.wake();
        }
    }
    async fn wait(&self) {
        std::future::poll_fn(|cx| {
            let mut g = self.0.lock().unwrap();
            if g.0 {
                Poll::Ready(())
            } else {
                g.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }
}

#[test]
fn thousands_of_wakes_from_several_threads_all_arrive() {
    const PER_THREAD: usize = 1000;
    const THREADS: usize = 4;
    let flags: Vec<Flag> = (0..PER_THREAD * THREADS).map(|_| Flag::default()).collect();
    let done = simul::run({
        let flags = flags.clone();
        async move {
            let tasks: Vec<_> = flags
                .iter()
                .cloned()
                .map(|f| simul::spawn(async move { f.wait().await }))
                .collect();
            simul::yield_now().await; // every task is now waiting
            let mut threads = Vec::new();
            for chunk in flags.chunks(PER_THREAD) {
                let chunk = chunk.to_vec();
                threads.push(std::thread::spawn(move || {
                    for f in chunk {
                        f.set();
                    }
                }));
            }
            let mut n = 0;
            for t in tasks {
                t.await.unwrap();
                n += 1;
            }
            for t in threads {
                t.join().unwrap();
            }
            n
        }
    });
    assert_eq!(done, PER_THREAD * THREADS);
}

#[test]
fn remote_spawns_from_several_threads_run_and_return() {
    let lp = simul::EventLoop::new().unwrap();
    let handle = lp.handle();
    let total = lp.run_until_complete(async move {
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let h = handle.clone();
                std::thread::spawn(move || {
                    (0..500u64)
                        .map(|i| h.spawn(async move { t * 1000 + i }))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut sum = 0;
        for th in threads {
            for j in th.join().unwrap() {
                sum += j.await.unwrap();
            }
        }
        sum
    });
    let expect: u64 = (0..4u64)
        .map(|t| (0..500u64).map(|i| t * 1000 + i).sum::<u64>())
        .sum();
    assert_eq!(total, expect);
}

#[test]
fn call_soon_threadsafe_wakes_a_parked_loop_at_once() {
    let lp = simul::EventLoop::new().unwrap();
    let h = lp.handle();
    let hits = Arc::new(AtomicUsize::new(0));
    let hits2 = hits.clone();
    let started = std::time::Instant::now();
    let th = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        for _ in 0..100 {
            let hits = hits2.clone();
            h.call_soon_threadsafe(move || {
                hits.fetch_add(1, Ordering::SeqCst);
            });
        }
        let stopper = h.clone();
        h.call_soon_threadsafe(move || stopper.stop());
    });
    // The loop has nothing to do: it parks with no timeout until the thread calls in.
    lp.run_forever();
    th.join().unwrap();
    assert_eq!(hits.load(Ordering::SeqCst), 100);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn remote_join_handle_can_be_cancelled_and_awaited_off_loop() {
    let lp = simul::EventLoop::new().unwrap();
    let h = lp.handle();
    let j = h.spawn(async {
        simul::sleep(Duration::from_secs(3600)).await;
        1
    });
    let k = h.spawn(async { panic!("remote boom") });
    lp.run_until_complete(simul::yield_now());
    j.cancel();
    assert!(lp.run_until_complete(j).unwrap_err().is_cancelled());
    let err = lp.run_until_complete(k).unwrap_err();
    assert!(err.is_panic());
}

#[test]
fn spawn_on_a_closed_loop_reports_cancelled() {
    let lp = simul::EventLoop::new().unwrap();
    let h = lp.handle();
    drop(lp);
    let j = h.spawn(async { 1 });
    assert!(j.is_done());
    assert!(!h.call_soon_threadsafe(|| {}));
    let r = simul::run(j);
    assert!(r.unwrap_err().is_cancelled());
}

#[test]
fn waker_outliving_its_loop_is_harmless() {
    let stash: Arc<Mutex<Option<Waker>>> = Arc::default();
    let s = stash.clone();
    simul::run(async move {
        let s = s.clone();
        let _t = simul::spawn(std::future::poll_fn(move |cx| {
            *s.lock().unwrap() = Some(cx.waker().clone());
            Poll::<()>::Pending
        }));
        simul::yield_now().await;
    });
    let w = stash.lock().unwrap().take().unwrap();
    std::thread::spawn(move || {
        w.wake_by_ref();
        w.wake();
    })
    .join()
    .unwrap();
}
