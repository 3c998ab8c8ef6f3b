//! Timers complete in deadline order even when the task awaiting a later sleep is already
//! queued for another reason when both come due.

use std::{
    cell::{Cell, RefCell},
    future::Future,
    pin::Pin,
    rc::Rc,
    task::{Context, Poll, Waker},
    time::Duration,
};

/// Polls `inner`, and hands out its task's waker so another task can wake it spuriously.
struct Exposed<F> {
    inner: Pin<Box<F>>,
    slot: Rc<RefCell<Option<Waker>>>,
}

impl<F: Future> Future for Exposed<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        *self.slot.borrow_mut() = Some(cx.waker().clone());
        self.inner.as_mut().poll(cx)
    }
}

#[test]
fn a_sleep_does_not_end_before_an_earlier_due_callback_has_run() {
    simul::run(async {
        let hit = Rc::new(Cell::new(false));
        let h = hit.clone();
        simul::call_later(Duration::from_millis(5), move || h.set(true));
        let slot = Rc::new(RefCell::new(None::<Waker>));
        let s = slot.clone();
        // A task that hogs the thread past both deadlines, then wakes the sleeper: the
        // sleeper is queued before the wheel fires the callback.
        let hog = simul::spawn(async move {
            simul::yield_now().await;
            std::thread::sleep(Duration::from_millis(30));
            if let Some(w) = s.borrow_mut().take() {
                w.wake();
            }
        });
        let seen = hit.clone();
        let sleeper = simul::spawn(Exposed {
            inner: Box::pin(async move {
                simul::sleep(Duration::from_millis(10)).await;
                seen.get()
            }),
            slot,
        });
        assert!(
            sleeper.await.unwrap(),
            "the 10 ms sleep ended before the callback due at 5 ms ran"
        );
        hog.await.unwrap();
    });
}
