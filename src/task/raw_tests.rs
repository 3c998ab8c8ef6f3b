//! Unit tests of task memory on a trivial scheduler (no event loop): a `Vec` of queued
//! `Runnable`s behind a mutex, and counters of futures, outputs and schedulers dropped, so
//! every test can check that each thing was dropped exactly once and the memory freed.

use std::cell::RefCell;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use super::*;

/// What a test observes.
#[derive(Default, Debug)]
struct Counts {
    queued: AtomicUsize,
    futures_dropped: AtomicUsize,
    outputs_dropped: AtomicUsize,
    /// The scheduler is dropped with the task's memory: this counts frees.
    freed: AtomicUsize,
}

impl Counts {
    fn get(c: &AtomicUsize) -> usize {
        c.load(Ordering::SeqCst)
    }
}

struct TestSchedule {
    queue: Arc<Mutex<Vec<Runnable>>>,
    counts: Arc<Counts>,
    /// Takes local entries (into [`LOCALS`]) on this thread.
    local: Option<std::thread::ThreadId>,
}

thread_local! {
    /// The local entries a `local` test scheduler took on this thread.
    static LOCALS: RefCell<Vec<LocalRunnable>> = const { RefCell::new(Vec::new()) };
}

impl Schedule for TestSchedule {
    fn schedule(&self, task: Runnable) {
        self.counts.queued.fetch_add(1, Ordering::SeqCst);
        self.queue.lock().unwrap().push(task);
    }

    fn schedule_local(&self, make: impl FnOnce() -> Option<LocalRunnable>) -> bool {
        if self.local != Some(std::thread::current().id()) {
            return false;
        }
        if let Some(task) = make() {
            LOCALS.with_borrow_mut(|l| l.push(task));
        }
        true
    }
}

/// The oldest local entry taken on this thread.
fn pop_local() -> Option<LocalRunnable> {
    LOCALS.with_borrow_mut(|l| (!l.is_empty()).then(|| l.remove(0)))
}

impl Drop for TestSchedule {
    fn drop(&mut self) {
        self.counts.freed.fetch_add(1, Ordering::SeqCst);
    }
}

struct Harness {
    queue: Arc<Mutex<Vec<Runnable>>>,
    counts: Arc<Counts>,
    local: bool,
}

impl Harness {
    fn new() -> Harness {
        Harness {
            queue: Arc::default(),
            counts: Arc::default(),
            local: false,
        }
    }

    /// A harness whose scheduler takes local entries, as the loop does on its thread.
    fn local() -> Harness {
        Harness {
            local: true,
            ..Harness::new()
        }
    }

    fn spawn<F: Future + 'static>(&self, f: F) -> (OwnedTask, JoinRef<F::Output>, LocalRunnable) {
        spawn(
            f,
            TestSchedule {
                queue: self.queue.clone(),
                counts: self.counts.clone(),
                local: self.local.then(|| std::thread::current().id()),
            },
            Local::new(7, None, Location::caller(), 0),
        )
    }

    fn pop(&self) -> Option<Runnable> {
        let mut q = self.queue.lock().unwrap();
        (!q.is_empty()).then(|| q.remove(0))
    }

    fn queued(&self) -> usize {
        self.queue.lock().unwrap().len()
    }

    fn freed(&self) -> usize {
        Counts::get(&self.counts.freed)
    }
}

/// Either kind of queue entry, run with no instrumentation.
trait Entry {
    fn step(self) -> Step;
}

impl Entry for Runnable {
    fn step(self) -> Step {
        self.run(|_| (), |_, ()| ())
    }
}

impl Entry for LocalRunnable {
    fn step(self) -> Step {
        self.run(|_| (), |_, ()| ())
    }
}

fn run(r: impl Entry) -> Step {
    r.step()
}

fn done(step: Step) -> Done {
    match step {
        Step::Done(d) => d,
        Step::Pending => panic!("expected Done, got Pending"),
        Step::Stale => panic!("expected Done, got Stale"),
    }
}

/// A future that is pending until `ready` is set, keeping the last waker it saw, and
/// counts its drop.
struct Gate {
    ready: Rc<RefCell<bool>>,
    waker: Rc<RefCell<Option<Waker>>>,
    counts: Arc<Counts>,
    value: u32,
}

impl Future for Gate {
    type Output = Out;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Out> {
        if *self.ready.borrow() {
            return Poll::Ready(Out(self.value, self.counts.clone()));
        }
        *self.waker.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.counts.futures_dropped.fetch_add(1, Ordering::SeqCst);
    }
}

/// An output that counts its drop.
#[derive(Debug)]
struct Out(u32, Arc<Counts>);

impl Drop for Out {
    fn drop(&mut self) {
        self.1.outputs_dropped.fetch_add(1, Ordering::SeqCst);
    }
}

struct GateCtl {
    ready: Rc<RefCell<bool>>,
    waker: Rc<RefCell<Option<Waker>>>,
}

fn gate(h: &Harness, value: u32) -> (Gate, GateCtl) {
    let ready = Rc::new(RefCell::new(false));
    let waker = Rc::new(RefCell::new(None));
    (
        Gate {
            ready: ready.clone(),
            waker: waker.clone(),
            counts: h.counts.clone(),
            value,
        },
        GateCtl { ready, waker },
    )
}

impl GateCtl {
    fn open(&self) {
        *self.ready.borrow_mut() = true;
    }
    fn waker(&self) -> Waker {
        self.waker.borrow().clone().expect("the future was polled")
    }
}

#[test]
fn spawn_runs_to_completion_and_the_handle_takes_the_output() {
    let h = Harness::new();
    let (owner, join, r) = h.spawn(async { 40 + 2 });
    assert!(join.is_scheduled() && !join.is_complete());
    assert!(join.take_output().is_none(), "nothing before completion");
    let d = done(run(r));
    assert_eq!(d.state, TaskState::Finished);
    assert!(d.unretrieved.is_none());
    assert!(join.is_complete() && !join.is_running() && !join.is_scheduled());
    assert_eq!(join.local().outcome.get(), Some(TaskState::Finished));
    assert_eq!(join.local().polls.get(), 1);
    assert_eq!(join.take_output().unwrap().unwrap(), 42);
    assert!(join.take_output().is_none(), "taken once");
    drop((d, owner));
    assert_eq!(h.freed(), 0, "the handle still holds a reference");
    drop(join);
    assert_eq!(h.freed(), 1);
}

#[test]
fn a_wake_queues_the_task_once_and_the_next_run_completes_it() {
    let h = Harness::new();
    let (f, ctl) = gate(&h, 5);
    let (owner, join, r) = h.spawn(f);
    assert!(matches!(run(r), Step::Pending));
    assert_eq!(h.queued(), 0);
    assert!(!join.is_running() && !join.is_scheduled());
    ctl.open();
    let w = ctl.waker();
    w.wake_by_ref();
    w.wake_by_ref();
    ctl.waker().wake();
    assert_eq!(h.queued(), 1, "three wakes of an idle task queue it once");
    assert!(join.is_scheduled());
    let d = done(run(h.pop().unwrap()));
    assert_eq!(d.state, TaskState::Finished);
    assert_eq!(Counts::get(&h.counts.futures_dropped), 1);
    w.wake_by_ref(); // a wake of a complete task does nothing
    assert_eq!(h.queued(), 0);
    assert_eq!(join.take_output().unwrap().unwrap().0, 5);
    assert_eq!(Counts::get(&h.counts.outputs_dropped), 1);
    drop((d, owner, join));
    assert_eq!(
        h.freed(),
        0,
        "the test's waker and the gate's still hold references"
    );
    ctl.waker.borrow_mut().take();
    assert_eq!(h.freed(), 0);
    drop(w);
    assert_eq!(h.freed(), 1);
}

#[test]
fn a_wake_during_the_poll_queues_the_task_again() {
    let h = Harness::new();
    let (owner, join, r) = h.spawn(std::future::poll_fn(|cx| {
        cx.waker().wake_by_ref();
        Poll::<()>::Pending
    }));
    assert!(matches!(run(r), Step::Pending));
    assert_eq!(h.queued(), 1);
    assert!(matches!(run(h.pop().unwrap()), Step::Pending));
    assert_eq!(h.queued(), 1);
    assert_eq!(join.local().polls.get(), 2);
    drop((owner, join));
    assert_eq!(h.freed(), 0, "the queue entry holds a reference");
    let r = h.pop().unwrap();
    assert!(
        matches!(run(r), Step::Stale),
        "dropping the owner completed it"
    );
    assert_eq!(h.freed(), 1);
}

#[test]
fn cancel_drops_the_future_at_the_next_run_instead_of_polling() {
    let h = Harness::new();
    let (f, ctl) = gate(&h, 1);
    let (owner, join, r) = h.spawn(f);
    assert!(matches!(run(r), Step::Pending));
    assert!(join.request_cancel());
    join.wake();
    assert_eq!(Counts::get(&h.counts.futures_dropped), 0);
    ctl.open(); // would finish if polled
    let d = done(run(h.pop().unwrap()));
    assert_eq!(d.state, TaskState::Cancelled);
    assert_eq!(Counts::get(&h.counts.futures_dropped), 1);
    assert!(join.take_output().unwrap().unwrap_err().is_cancelled());
    assert!(!join.request_cancel(), "complete: cancel refused");
    drop((d, owner, join));
    ctl.waker.borrow_mut().take();
    assert_eq!(h.freed(), 1);
}

#[test]
fn cancel_in_place_drops_the_future_now_and_a_queued_entry_goes_stale() {
    let h = Harness::new();
    let (f, _ctl) = gate(&h, 1);
    let (owner, join, r) = h.spawn(f);
    let d = owner.cancel_in_place().expect("not running");
    assert_eq!(d.state, TaskState::Cancelled);
    assert_eq!(Counts::get(&h.counts.futures_dropped), 1);
    assert!(owner.cancel_in_place().is_none(), "already complete");
    assert!(matches!(run(r), Step::Stale));
    drop((d, owner, join));
    assert_eq!(h.freed(), 1);
}

#[test]
fn a_handle_dropped_before_completion_lets_the_task_drop_its_output() {
    let h = Harness::new();
    let (f, ctl) = gate(&h, 3);
    let (owner, join, r) = h.spawn(f);
    assert!(matches!(run(r), Step::Pending));
    drop(join);
    assert!(owner.local().detached.get());
    ctl.open();
    ctl.waker().wake();
    let d = done(run(h.pop().unwrap()));
    assert_eq!(
        Counts::get(&h.counts.outputs_dropped),
        1,
        "nobody can take it: dropped at completion, on the owner thread"
    );
    drop((d, owner));
    ctl.waker.borrow_mut().take();
    assert_eq!(h.freed(), 1);
}

#[test]
fn a_handle_dropped_after_completion_drops_the_output_it_did_not_take() {
    let h = Harness::new();
    let counts = h.counts.clone();
    let (owner, join, r) = h.spawn(async move { Out(9, counts) });
    let d = done(run(r));
    assert_eq!(Counts::get(&h.counts.outputs_dropped), 0);
    assert!(join.detach().is_none());
    assert_eq!(Counts::get(&h.counts.outputs_dropped), 1);
    assert!(join.detach().is_none(), "idempotent");
    drop((join, d, owner));
    assert_eq!(Counts::get(&h.counts.outputs_dropped), 1);
    assert_eq!(h.freed(), 1);
}

#[test]
fn a_panic_in_poll_completes_the_task_as_panicked() {
    let h = Harness::new();
    let (owner, join, r) = h.spawn(async {
        if true {
            panic!("boom in poll");
        }
    });
    let d = done(run(r));
    assert_eq!(d.state, TaskState::Panicked);
    match join.take_output().unwrap() {
        Err(TaskError::Panicked(p)) => assert_eq!(p.message(), "boom in poll"),
        other => panic!("expected a panic, got {other:?}"),
    }
    drop((d, owner, join));
    assert_eq!(h.freed(), 1);
}

#[test]
fn an_unretrieved_panic_of_a_detached_task_is_reported_once() {
    let h = Harness::new();
    let (owner, join, r) = h.spawn(async {
        if true {
            panic!("lost");
        }
    });
    drop(join);
    let d = done(run(r));
    assert_eq!(d.unretrieved.as_deref(), Some("lost"));
    drop((d, owner));
    assert_eq!(h.freed(), 1);
    // Detached after completion: the detach reports it.
    let (owner, join, r) = h.spawn(async {
        if true {
            panic!("late");
        }
    });
    let d = done(run(r));
    assert!(d.unretrieved.is_none());
    assert_eq!(join.detach().as_deref(), Some("late"));
    drop((d, owner, join));
    assert_eq!(h.freed(), 2);
}

#[test]
fn dropping_the_owner_drops_a_live_future_and_its_callbacks() {
    let h = Harness::new();
    let (f, ctl) = gate(&h, 1);
    let (owner, join, r) = h.spawn(f);
    assert!(matches!(run(r), Step::Pending));
    let called = Rc::new(RefCell::new(false));
    let c = called.clone();
    assert!(join
        .local()
        .add_callback(Box::new(move |_| *c.borrow_mut() = true))
        .is_ok());
    assert_eq!(Rc::strong_count(&called), 2);
    drop(owner);
    assert_eq!(Counts::get(&h.counts.futures_dropped), 1);
    assert_eq!(Rc::strong_count(&called), 1, "the callback was dropped");
    assert!(!*called.borrow(), "and not called");
    assert_eq!(join.local().outcome.get(), Some(TaskState::Cancelled));
    assert!(join.local().add_callback(Box::new(|_| {})).is_err());
    drop(join);
    ctl.waker.borrow_mut().take();
    assert_eq!(h.freed(), 1);
}

#[test]
fn done_carries_the_callbacks() {
    let h = Harness::new();
    let (owner, join, r) = h.spawn(async {});
    let seen = Rc::new(RefCell::new(None));
    let s = seen.clone();
    assert!(join
        .local()
        .add_callback(Box::new(move |st| *s.borrow_mut() = Some(st)))
        .is_ok());
    let d = done(run(r));
    assert_eq!(d.callbacks.len(), 1);
    for cb in d.callbacks {
        cb(d.state);
    }
    assert_eq!(*seen.borrow(), Some(TaskState::Finished));
    drop((d.task, owner, join));
    assert_eq!(h.freed(), 1);
}

#[test]
fn the_owner_dropped_during_the_poll_drops_the_future_when_the_poll_returns() {
    let h = Harness::new();
    let slot: Rc<RefCell<Option<OwnedTask>>> = Rc::default();
    let s = slot.clone();
    let (f, ctl) = gate(&h, 1);
    let mut f = Some(f);
    let (owner, join, r) = h.spawn(std::future::poll_fn(move |cx| {
        drop(s.borrow_mut().take()); // the owner's handle goes while we are polled
        Pin::new(f.as_mut().unwrap()).poll(cx).map(|_| ())
    }));
    *slot.borrow_mut() = Some(owner);
    let d = done(run(r));
    assert_eq!(d.state, TaskState::Cancelled);
    assert_eq!(Counts::get(&h.counts.futures_dropped), 1);
    drop((d, join));
    ctl.waker.borrow_mut().take();
    assert_eq!(h.freed(), 1);
}

#[test]
fn with_current_sees_the_task_only_while_it_is_polled() {
    let h = Harness::new();
    assert!(with_current(|_| ()).is_none());
    let (owner, join, r) = h.spawn(async { with_current(|t| t.local().id) });
    let d = done(run(r));
    assert_eq!(join.take_output().unwrap().unwrap(), Some(7));
    assert!(with_current(|_| ()).is_none());
    drop((d, owner, join));
    assert_eq!(h.freed(), 1);
}

#[test]
fn enter_and_exit_bracket_the_poll_but_not_a_cancellation() {
    let h = Harness::new();
    let log = RefCell::new(Vec::new());
    let (owner, join, r) = h.spawn(async {
        assert!(with_current(|_| ()).is_some());
    });
    let step = r.run(
        |t| {
            log.borrow_mut().push(("enter", t.is_running()));
            5
        },
        |t, cookie| {
            assert_eq!(cookie, 5);
            log.borrow_mut().push(("exit", t.is_running()));
        },
    );
    assert_eq!(*log.borrow(), [("enter", true), ("exit", true)]);
    drop((done(step), owner, join));
    let (owner, join, r) = h.spawn(async {});
    owner.request_cancel();
    let step = r.run(|_| panic!("no poll"), |_, ()| panic!("no poll"));
    assert_eq!(done(step).state, TaskState::Cancelled);
    drop((owner, join));
    assert_eq!(h.freed(), 2);
}

#[test]
fn the_last_waker_dropped_on_another_thread_frees_the_task() {
    let h = Harness::new();
    let (f, ctl) = gate(&h, 1);
    let (owner, join, r) = h.spawn(f);
    assert!(matches!(run(r), Step::Pending));
    let w = ctl.waker();
    ctl.waker.borrow_mut().take();
    drop(owner.cancel_in_place());
    drop((owner, join));
    assert_eq!(h.freed(), 0);
    std::thread::spawn(move || drop(w)).join().unwrap();
    assert_eq!(h.freed(), 1);
}

#[test]
fn a_wake_from_another_thread_hands_the_runnable_to_the_scheduler() {
    let h = Harness::new();
    let (f, ctl) = gate(&h, 4);
    let (owner, join, r) = h.spawn(f);
    assert!(matches!(run(r), Step::Pending));
    ctl.open();
    let w = ctl.waker();
    std::thread::spawn(move || {
        w.wake_by_ref();
        w.wake();
    })
    .join()
    .unwrap();
    assert_eq!(h.queued(), 1);
    let d = done(run(h.pop().unwrap()));
    assert_eq!(join.take_output().unwrap().unwrap().0, 4);
    drop((d, owner, join));
    ctl.waker.borrow_mut().take();
    assert_eq!(h.freed(), 1);
}

#[test]
fn running_a_task_off_its_owner_thread_panics_without_polling() {
    let h = Harness::new();
    let polled = Arc::new(AtomicUsize::new(0));
    let p = polled.clone();
    let (owner, join, first) = h.spawn(async move {
        p.fetch_add(1, Ordering::SeqCst);
    });
    drop(first); // the local entry cannot leave the thread; a counted one can
    join.wake(); // the test scheduler takes no local entries: a counted one is queued
    let r = h.pop().unwrap();
    let res = std::thread::spawn(move || {
        run(r);
    })
    .join();
    assert!(res.is_err(), "run() off the owner thread must panic");
    assert_eq!(polled.load(Ordering::SeqCst), 0);
    drop((owner, join));
    assert_eq!(h.freed(), 1);
}

#[test]
fn a_stale_entry_after_completion_does_nothing() {
    let h = Harness::new();
    let (owner, join, r) = h.spawn(std::future::poll_fn(|cx| {
        cx.waker().wake_by_ref(); // queued again while it completes
        Poll::Ready(())
    }));
    let d = done(run(r));
    assert_eq!(h.queued(), 1);
    assert!(matches!(run(h.pop().unwrap()), Step::Stale));
    drop((d, owner, join));
    assert_eq!(h.freed(), 1);
}

#[test]
fn a_task_polled_from_inside_its_own_poll_panics_instead() {
    // A waker that runs the task's queue entry re-entrantly (a broken scheduler) must not
    // reach the future a second time while it is borrowed.
    let h = Harness::new();
    let queue = h.queue.clone();
    let (owner, join, r) = h.spawn(std::future::poll_fn(move |cx| {
        cx.waker().wake_by_ref();
        let again = queue.lock().unwrap().pop().unwrap();
        let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(again)));
        assert!(res.is_err());
        Poll::Ready(())
    }));
    let d = done(run(r));
    assert_eq!(d.state, TaskState::Finished);
    drop((d, owner, join));
    assert_eq!(h.freed(), 1);
}

#[test]
fn the_owner_and_the_finished_entry_are_released_together() {
    let h = Harness::new();
    let (owner, join, r) = h.spawn(async { 1 });
    let d = done(run(r));
    owner.release_with(d.task);
    assert_eq!(h.freed(), 0, "the handle still holds a reference");
    assert_eq!(join.take_output().unwrap().unwrap(), 1);
    drop(join);
    assert_eq!(h.freed(), 1);

    // The last two references: released together, the memory is freed at once.
    let (owner, join, r) = h.spawn(async { 2 });
    drop(join);
    let d = done(run(r));
    owner.release_with(d.task);
    assert_eq!(h.freed(), 2);
}

#[test]
fn releasing_together_with_another_task_or_before_completion_drops_each_alone() {
    let h = Harness::new();
    let (counts, (g, _ctl)) = (h.counts.clone(), gate(&h, 3));
    let (owner_a, join_a, r_a) = h.spawn(g);
    let (owner_b, join_b, r_b) = h.spawn(async { 4 });
    let b = done(run(r_b));
    // Another task's reference: both dropped one by one; `a` is not complete, so its
    // owner's drop drops its live future, as a plain drop would.
    owner_a.release_with(b.task);
    assert_eq!(Counts::get(&counts.futures_dropped), 1);
    drop((r_a, join_a));
    assert_eq!(h.freed(), 1);
    drop((owner_b, join_b));
    assert_eq!(h.freed(), 2);
}

#[test]
fn a_wake_on_the_owner_thread_queues_a_local_entry_and_the_step_touches_no_atomic() {
    let h = Harness::local();
    let (f, ctl) = gate(&h, 5);
    let (owner, join, r) = h.spawn(f);
    assert!(matches!(run(r), Step::Pending));
    let word = join.header().state.load();
    ctl.waker().wake_by_ref();
    ctl.waker().wake_by_ref(); // queued already: no second entry
    assert_eq!(h.queued(), 0, "nothing went the counted way");
    assert!(join.is_scheduled());
    assert_eq!(
        join.header().state.load(),
        word,
        "the wake left the state word alone"
    );
    let entry = pop_local().expect("a local entry");
    assert!(pop_local().is_none(), "one entry per task");
    assert!(matches!(run(entry), Step::Pending));
    assert_eq!(join.header().state.load(), word, "so did the step");
    assert!(!join.is_scheduled() && !join.is_running());
    ctl.open();
    ctl.waker().wake(); // by value: the waker's own reference is released
    let d = done(run(pop_local().unwrap()));
    assert_eq!(join.take_output().unwrap().unwrap().0, 5);
    ctl.waker.borrow_mut().take();
    drop((d, owner, join));
    assert_eq!(h.freed(), 1);
}

#[test]
fn a_wake_from_another_thread_while_a_local_entry_is_queued_is_merged_into_it() {
    let h = Harness::local();
    let (f, ctl) = gate(&h, 1);
    let (owner, join, r) = h.spawn(f);
    assert!(matches!(run(r), Step::Pending));
    ctl.waker().wake_by_ref(); // local entry
    let w = ctl.waker();
    std::thread::spawn(move || w.wake()).join().unwrap();
    assert_eq!(h.queued(), 1, "the remote wake made a counted entry");
    assert!(
        h.pop().unwrap().accept().is_none(),
        "merged into the local one"
    );
    assert!(matches!(run(pop_local().unwrap()), Step::Pending));
    assert_eq!(join.local().polls.get(), 2, "one poll for both wakes");
    // With no local entry queued, an accepted counted entry becomes one.
    let w = ctl.waker();
    std::thread::spawn(move || w.wake()).join().unwrap();
    let local = h.pop().unwrap().accept().expect("a local entry to run");
    assert!(matches!(run(local), Step::Pending));
    assert_eq!(join.local().polls.get(), 3);
    ctl.waker.borrow_mut().take();
    drop((owner, join));
    assert_eq!(h.freed(), 1);
}

#[test]
fn a_task_completed_with_a_local_entry_queued_lives_until_the_entry_goes() {
    let h = Harness::local();
    let (owner, join, r) = h.spawn(std::future::poll_fn(|cx| {
        cx.waker().wake_by_ref(); // a local entry, queued while it completes
        Poll::Ready(())
    }));
    let d = done(run(r));
    drop((d, owner, join));
    assert_eq!(h.freed(), 0, "the queued entry holds the task");
    assert!(matches!(run(pop_local().unwrap()), Step::Stale));
    assert_eq!(h.freed(), 1);
    // The same when the entry is dropped instead of run (a loop shutting down).
    let (owner, join, r) = h.spawn(std::future::poll_fn(|cx| {
        cx.waker().wake_by_ref();
        Poll::Ready(())
    }));
    let d = done(run(r));
    drop((d, owner, join));
    drop(pop_local().unwrap());
    assert_eq!(h.freed(), 2);
}
