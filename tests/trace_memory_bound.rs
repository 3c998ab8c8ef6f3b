//! With tracing on, memory stays bounded however long the loop runs: past the event cap,
//! neither events nor task names are kept.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

struct Live;
static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only tracks the live byte count.
unsafe impl GlobalAlloc for Live {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Live = Live;

#[test]
fn tracing_past_the_event_cap_keeps_memory_flat() {
    let lp = simul::EventLoop::builder().trace(true).build().unwrap();
    lp.run_until_complete(async {
        // Fill the event buffer: every yield records at least its poll.
        for _ in 0..simul::trace::MAX_EVENTS + 1000 {
            simul::yield_now().await;
        }
        let before = LIVE.load(Ordering::Relaxed);
        for batch in 0..40 {
            let tasks: Vec<_> = (0..5000)
                .map(|i| {
                    simul::Task::builder()
                        .name(format!("a rather long task name, batch {batch}, task {i}"))
                        .spawn(async {})
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        }
        let grown = LIVE.load(Ordering::Relaxed) - before;
        assert!(
            grown < 1 << 20,
            "200,000 traced tasks past the cap kept {grown} bytes alive"
        );
        let text = simul::trace::timeline();
        assert!(text.contains("more events not recorded"));
    });
}
