//! Queue cancellation safety: a cancelled get loses no item, a cancelled put enqueues
//! nothing, reservations pass on, and only tasks that can proceed are woken.

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use simul::Queue;

fn vrun<F: Future>(f: F) -> F::Output {
    simul::EventLoop::builder()
        .virtual_time(true)
        .build()
        .unwrap()
        .run_until_complete(f)
}

/// Awaits `f`, failing (instead of hanging) if a lost wake-up leaves it stuck.
async fn within<F: Future>(f: F) -> F::Output {
    simul::wait_for(Duration::from_secs(10), f)
        .await
        .expect("stuck: a wake-up was lost")
}

/// Waits (in virtual time) until the consumers have emptied `q`; fails if they never do.
async fn wait_drained<T>(q: &Queue<T>) {
    for _ in 0..10_000 {
        if q.qsize() == 0 {
            return;
        }
        simul::sleep(Duration::from_millis(1)).await;
    }
    panic!("the queue was never drained: {} items stuck", q.qsize());
}

/// Counts how many times the inner future is polled.
struct Counted<F> {
    inner: Pin<Box<F>>,
    polls: Rc<Cell<usize>>,
}

impl<F: Future> Future for Counted<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.polls.set(self.polls.get() + 1);
        self.inner.as_mut().poll(cx)
    }
}

/// An item that counts its drops.
struct Item {
    id: u32,
    drops: Rc<Cell<u32>>,
}

impl Drop for Item {
    fn drop(&mut self) {
        self.drops.set(self.drops.get() + 1);
    }
}

#[test]
fn getter_cancelled_after_being_promised_an_item_passes_it_on() {
    vrun(async {
        let q = Queue::new(0);
        let spawn = || {
            let q = q.clone();
            simul::spawn(async move { q.get().await.unwrap() })
        };
        let (a, b) = (spawn(), spawn());
        simul::yield_now().await;
        q.put_nowait(1).unwrap(); // promised to `a`, which has not run
        a.cancel();
        assert!(a.await.unwrap_err().is_cancelled());
        assert_eq!(within(b).await.unwrap(), 1);
        assert_eq!(q.qsize(), 0);
    });
}

#[test]
fn getter_cancelled_after_promise_leaves_the_item_queued() {
    simul::run(async {
        let q = Queue::new(0);
        let q2 = q.clone();
        let a = simul::spawn(async move { q2.get().await.unwrap() });
        simul::yield_now().await;
        q.put_nowait(1).unwrap();
        assert!(q.is_empty(), "the item is promised to the woken getter");
        assert_eq!(q.qsize(), 1);
        a.cancel();
        assert!(a.await.unwrap_err().is_cancelled());
        assert!(!q.is_empty());
        assert_eq!(q.get_nowait(), Ok(1));
    });
}

#[test]
fn putter_cancelled_after_slot_reserved_enqueues_nothing_and_passes_the_slot() {
    vrun(async {
        let q = Queue::new(1);
        q.put_nowait(0).unwrap();
        let spawn = |v| {
            let q = q.clone();
            simul::spawn(async move { q.put(v).await.unwrap() })
        };
        let (a, b) = (spawn(10), spawn(20));
        simul::yield_now().await;
        assert_eq!(q.get_nowait(), Ok(0)); // the slot is reserved for `a`
        assert!(q.is_full(), "a newcomer may not take the reserved slot");
        a.cancel();
        assert!(a.await.unwrap_err().is_cancelled());
        within(b).await.unwrap();
        assert_eq!(q.get_nowait(), Ok(20));
        assert!(
            q.get_nowait().is_err(),
            "the cancelled put enqueued nothing"
        );
    });
}

#[test]
fn putter_cancelled_after_reservation_with_no_other_putter_frees_the_slot() {
    simul::run(async {
        let q = Queue::new(1);
        q.put_nowait(0).unwrap();
        let q2 = q.clone();
        let a = simul::spawn(async move { q2.put(1).await });
        simul::yield_now().await;
        q.get_nowait().unwrap();
        a.cancel();
        let _ = a.await;
        assert!(!q.is_full());
        q.put_nowait(2).unwrap();
        assert_eq!(q.get_nowait(), Ok(2));
    });
}

#[test]
fn timed_out_get_and_put_leave_the_queue_intact() {
    vrun(async {
        let q = Queue::new(1);
        assert!(simul::wait_for(Duration::from_millis(5), q.get())
            .await
            .is_err());
        q.put(1).await.unwrap();
        assert!(simul::wait_for(Duration::from_millis(5), q.put(2))
            .await
            .is_err());
        assert_eq!(q.qsize(), 1);
        assert_eq!(q.get().await, Ok(1));
        assert_eq!(q.qsize(), 0);
    });
}

#[test]
fn one_put_wakes_one_getter_and_one_get_wakes_one_putter() {
    simul::run(async {
        let q = Queue::new(1);
        let getter_polls: Vec<Rc<Cell<usize>>> = (0..8).map(|_| Rc::default()).collect();
        let getters: Vec<_> = getter_polls
            .iter()
            .map(|p| {
                let q = q.clone();
                simul::spawn(Counted {
                    inner: Box::pin(async move { q.get().await.unwrap() }),
                    polls: p.clone(),
                })
            })
            .collect();
        simul::yield_now().await;
        q.put_nowait(1).unwrap();
        simul::yield_now().await;
        let polls: Vec<usize> = getter_polls.iter().map(|p| p.get()).collect();
        assert_eq!(polls, [2, 1, 1, 1, 1, 1, 1, 1]);
        for g in getters {
            g.cancel();
        }
        simul::yield_now().await;

        q.put_nowait(0).unwrap(); // full
        let putter_polls: Vec<Rc<Cell<usize>>> = (0..8).map(|_| Rc::default()).collect();
        let putters: Vec<_> = putter_polls
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let q = q.clone();
                simul::spawn(Counted {
                    inner: Box::pin(async move { q.put(i).await.unwrap() }),
                    polls: p.clone(),
                })
            })
            .collect();
        simul::yield_now().await;
        assert_eq!(q.get_nowait(), Ok(0));
        simul::yield_now().await;
        let polls: Vec<usize> = putter_polls.iter().map(|p| p.get()).collect();
        assert_eq!(polls, [2, 1, 1, 1, 1, 1, 1, 1]);
        for (i, p) in putters.into_iter().enumerate() {
            if i > 0 {
                assert_eq!(q.get().await, Ok(i - 1));
            }
            p.await.unwrap();
        }
        assert_eq!(q.get().await, Ok(7));
    });
}

#[test]
fn cancelling_a_consumer_at_every_suspension_point_loses_nothing() {
    for k in 0..12 {
        vrun(async move {
            let q = Queue::new(2);
            let got = Rc::new(RefCell::new(Vec::new()));
            let consumer = |got: Rc<RefCell<Vec<u32>>>| {
                let q = q.clone();
                simul::spawn(async move {
                    while let Ok(v) = q.get().await {
                        got.borrow_mut().push(v);
                        simul::sleep(Duration::from_millis(1)).await;
                    }
                })
            };
            let victim = consumer(got.clone());
            let survivor = consumer(got.clone());
            let producer = {
                let q = q.clone();
                simul::spawn(async move {
                    for i in 0..10 {
                        q.put(i).await.unwrap();
                    }
                })
            };
            for _ in 0..k {
                simul::yield_now().await;
            }
            victim.cancel();
            within(producer).await.unwrap();
            wait_drained(&q).await;
            q.shutdown(false);
            within(survivor).await.unwrap();
            let mut all = got.borrow().clone();
            all.sort();
            assert_eq!(all, (0..10).collect::<Vec<_>>(), "k={k}");
        });
    }
}

#[test]
fn cancelling_a_producer_at_every_suspension_point_enqueues_only_completed_puts() {
    for k in 0..12 {
        vrun(async move {
            let q = Queue::new(1);
            let completed = Rc::new(RefCell::new(Vec::new()));
            let producer = |base: u32| {
                let (q, completed) = (q.clone(), completed.clone());
                simul::spawn(async move {
                    for i in base..base + 5 {
                        q.put(i).await.unwrap();
                        completed.borrow_mut().push(i);
                    }
                })
            };
            let victim = producer(0);
            let survivor = producer(100);
            let consumer = {
                let q = q.clone();
                simul::spawn(async move {
                    let mut got = Vec::new();
                    while let Ok(v) = q.get().await {
                        got.push(v);
                        simul::sleep(Duration::from_millis(1)).await;
                    }
                    got
                })
            };
            for _ in 0..k {
                simul::yield_now().await;
            }
            victim.cancel();
            let _ = within(victim).await;
            within(survivor).await.unwrap();
            wait_drained(&q).await;
            q.shutdown(false);
            let mut got = within(consumer).await.unwrap();
            got.sort();
            let mut completed = completed.borrow().clone();
            completed.sort();
            assert_eq!(got, completed, "k={k}");
        });
    }
}

/// A tiny deterministic PRNG for the chaos test.
struct XorShift(u64);
impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
fn random_cancellations_never_lose_or_duplicate_items() {
    for seed in 1..=20u64 {
        let drops = Rc::new(Cell::new(0u32));
        let created = Rc::new(Cell::new(0u32));
        let d = drops.clone();
        let c = created.clone();
        vrun(async move {
            let rng = Rc::new(RefCell::new(XorShift(
                seed.wrapping_mul(0x9E37_79B9_7F4A_7C15),
            )));
            let q = Queue::new(3);
            let enqueued = Rc::new(RefCell::new(BTreeSet::new()));
            let received = Rc::new(RefCell::new(Vec::new()));
            let mut tasks = Vec::new();
            for p in 0..4u32 {
                let (q, rng, enq, d, c) = (
                    q.clone(),
                    rng.clone(),
                    enqueued.clone(),
                    d.clone(),
                    c.clone(),
                );
                tasks.push(simul::spawn(async move {
                    for i in 0..25 {
                        let id = p * 1000 + i;
                        c.set(c.get() + 1);
                        let item = Item {
                            id,
                            drops: d.clone(),
                        };
                        q.put(item).await.unwrap();
                        enq.borrow_mut().insert(id);
                        let ms = rng.borrow_mut().below(3);
                        simul::sleep(Duration::from_millis(ms)).await;
                    }
                }));
            }
            for _ in 0..3 {
                let (q, rng, rec) = (q.clone(), rng.clone(), received.clone());
                tasks.push(simul::spawn(async move {
                    while let Ok(item) = q.get().await {
                        rec.borrow_mut().push(item.id);
                        let ms = rng.borrow_mut().below(4);
                        simul::sleep(Duration::from_millis(ms)).await;
                    }
                }));
            }
            // Chaos: cancel random tasks at random moments, but keep one consumer.
            for _ in 0..4 {
                let ms = rng.borrow_mut().below(20);
                simul::sleep(Duration::from_millis(ms)).await;
                let victim = rng.borrow_mut().below(6) as usize;
                tasks[victim].cancel();
            }
            for t in tasks.drain(..4) {
                let _ = within(t).await;
            }
            wait_drained(&q).await;
            q.shutdown(false);
            for t in tasks {
                let _ = within(t).await;
            }
            let mut rec = received.borrow().clone();
            rec.sort();
            let unique: BTreeSet<u32> = rec.iter().copied().collect();
            assert_eq!(
                unique.len(),
                rec.len(),
                "seed {seed}: an item was duplicated"
            );
            assert_eq!(unique, *enqueued.borrow(), "seed {seed}: an item was lost");
        });
        assert_eq!(drops.get(), created.get(), "seed {seed}: an item leaked");
    }
}
