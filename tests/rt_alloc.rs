//! The allocation budget of the design: one allocation per spawn, none per wake-up or per
//! timer fire in steady state. Counted with a global allocator that counts per thread.
use std::time::Duration;

#[path = "common/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::allocs;

#[test]
fn one_allocation_per_spawn() {
    simul::run(async {
        // warm up the registry and the ready queue
        let warm: Vec<_> = (0..2000).map(|_| simul::spawn(async {})).collect();
        for t in warm {
            t.await.unwrap();
        }
        let mut handles = Vec::with_capacity(1000);
        let before = allocs();
        for i in 0..1000u64 {
            handles.push(simul::spawn(async move { i }));
        }
        let spawned = allocs() - before;
        assert_eq!(spawned, 1000, "allocations for 1000 spawns");
        let before = allocs();
        let mut sum = 0;
        for h in handles.drain(..) {
            sum += h.await.unwrap();
        }
        assert_eq!(
            allocs() - before,
            0,
            "running and awaiting allocates nothing"
        );
        assert_eq!(sum, 499_500);
    });
}

#[test]
fn no_allocation_per_wake_up() {
    simul::run(async {
        // warm up: the registry's free list grows as tasks complete
        let warm: Vec<_> = (0..200).map(|_| simul::spawn(simul::yield_now())).collect();
        for t in warm {
            t.await.unwrap();
        }
        let tasks: Vec<_> = (0..100)
            .map(|_| {
                simul::spawn(async {
                    for _ in 0..1000 {
                        simul::yield_now().await;
                    }
                })
            })
            .collect();
        simul::yield_now().await; // every task has started
        let before = allocs();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(allocs() - before, 0, "100,000 wake-ups");
    });
}

#[test]
fn no_allocation_per_timer_fire_in_steady_state() {
    let lp = simul::EventLoop::builder()
        .virtual_time(true)
        .build()
        .unwrap();
    lp.run_until_complete(async {
        let sleepers = |n: u64| -> Vec<simul::Task<()>> {
            (0..n)
                .map(|i| {
                    simul::spawn(async move {
                        for k in 0..20u64 {
                            simul::sleep(Duration::from_micros(100 * ((i + k) % 37 + 1))).await;
                        }
                    })
                })
                .collect()
        };
        // warm up the wheel's slab and buffers with the same shape of load
        for t in sleepers(500) {
            t.await.unwrap();
        }
        let tasks = sleepers(500);
        simul::yield_now().await;
        let before = allocs();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(allocs() - before, 0, "10,000 timers armed and fired");
    });
}
