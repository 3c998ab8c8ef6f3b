//! Waiting allocates nothing in steady state: waiter nodes are reused from a slab.

use std::cell::Cell;
use std::rc::Rc;

#[path = "common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::allocs;

#[test]
fn lock_hand_offs_and_queue_waits_allocate_nothing_once_warm() {
    simul::run(async {
        let lock = Rc::new(simul::Lock::new(0u64));
        let q = simul::Queue::new(1);
        let rounds = Rc::new(Cell::new(0));
        let spawn_worker = || {
            let (lock, q, rounds) = (lock.clone(), q.clone(), rounds.clone());
            simul::spawn(async move {
                loop {
                    let mut g = lock.lock().await;
                    *g += 1;
                    simul::yield_now().await; // others queue on the lock meanwhile
                    drop(g);
                    q.put(1u64).await.unwrap(); // waits: the queue holds one item
                    rounds.set(rounds.get() + 1);
                }
            })
        };
        let workers: Vec<_> = (0..4).map(|_| spawn_worker()).collect();
        let drain = |n: usize| {
            let q = q.clone();
            async move {
                for _ in 0..n {
                    q.get().await.unwrap();
                }
            }
        };
        drain(200).await; // warm up: slabs and queues reach their steady size
        let before = allocs();
        drain(1000).await;
        let after = allocs();
        drop(std::hint::black_box(Box::new(0u8)));
        assert!(allocs() > after, "the counter counts");
        assert!(rounds.get() >= 1000);
        assert_eq!(after - before, 0, "allocations while waiting");
        for w in workers {
            w.cancel();
        }
    });
}
