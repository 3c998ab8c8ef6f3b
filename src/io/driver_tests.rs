//! The driver seam on its own: a [`Driver`] and a [`Registration`] made from a plain
//! descriptor and an [`Interest`], with no loop, no socket type and no backend type in
//! sight. A second backend (io_uring, a simulated network) must pass the same tests.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use super::{Direction, Driver, Interest, Registration};

/// A waker that counts its wakes.
struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counting_waker() -> (Arc<Count>, Waker) {
    let count = Arc::new(Count(AtomicUsize::new(0)));
    (count.clone(), Waker::from(count))
}

#[test]
fn a_plain_pipe_registered_by_descriptor_wakes_its_waiter_and_reports_readiness() {
    use std::os::fd::AsRawFd;
    let mut driver = Driver::new().unwrap();
    let (rx, tx) = crate::sys::pipe().unwrap();
    let (mut rx, mut tx) = (std::fs::File::from(rx), std::fs::File::from(tx));
    let mut reg =
        Registration::new_in(driver.shared.clone(), rx.as_raw_fd(), Interest::READABLE).unwrap();
    let (count, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);

    // Edge-triggered: nothing is ready before the first event, whatever the descriptor.
    assert!(reg.poll_ready(&mut cx, Direction::Read).is_pending());
    tx.write_all(b"x").unwrap();
    assert!(driver.poll(Some(Duration::from_secs(5))).unwrap());
    assert_eq!(
        count.0.load(Ordering::SeqCst),
        1,
        "the waiter is woken once"
    );
    let ev = match reg.poll_ready(&mut cx, Direction::Read) {
        Poll::Ready(Ok(ev)) => ev,
        other => panic!("readable after the event, got {other:?}"),
    };

    // Drained: the owner's own read says EAGAIN, it clears what it saw, and waits again.
    let mut buf = [0u8; 4];
    assert_eq!(rx.read(&mut buf).unwrap(), 1);
    assert_eq!(
        rx.read(&mut buf).unwrap_err().kind(),
        std::io::ErrorKind::WouldBlock
    );
    reg.clear_readiness(ev, Direction::Read);
    assert!(reg.poll_ready(&mut cx, Direction::Read).is_pending());

    // Closing the write end is an event too: read-closed.
    drop(tx);
    assert!(driver.poll(Some(Duration::from_secs(5))).unwrap());
    assert_eq!(count.0.load(Ordering::SeqCst), 2);
    match reg.poll_ready(&mut cx, Direction::Read) {
        Poll::Ready(Ok(ev)) => assert_ne!(ev.ready & super::READ_CLOSED, 0),
        other => panic!("read-closed after the hang-up, got {other:?}"),
    }
    reg.deregister(rx.as_raw_fd()).unwrap();
}

#[test]
fn assumed_readiness_is_a_guess_that_one_would_block_clears_and_an_event_restores() {
    use std::os::fd::AsRawFd;
    let mut driver = Driver::new().unwrap();
    let (rx, tx) = crate::sys::pipe().unwrap();
    let (mut rx, mut tx) = (std::fs::File::from(rx), std::fs::File::from(tx));
    let mut reg =
        Registration::new_in(driver.shared.clone(), rx.as_raw_fd(), Interest::READABLE).unwrap();
    let (count, waker) = counting_waker();
    let mut cx = Context::from_waker(&waker);

    // Assumed ready: the first poll is ready without any event, in that direction only.
    reg.assume_ready(Interest::READABLE);
    assert!(reg.readiness(Direction::Write).is_none());
    let ev = match reg.poll_ready(&mut cx, Direction::Read) {
        Poll::Ready(Ok(ev)) => ev,
        other => panic!("assumed readable, got {other:?}"),
    };
    // A wrong guess: the read says EAGAIN and clearing what it saw makes the task wait.
    let mut buf = [0u8; 4];
    assert_eq!(
        rx.read(&mut buf).unwrap_err().kind(),
        std::io::ErrorKind::WouldBlock
    );
    reg.clear_readiness(ev, Direction::Read);
    assert!(reg.poll_ready(&mut cx, Direction::Read).is_pending());
    // The real event still comes and wakes the waiter.
    tx.write_all(b"x").unwrap();
    assert!(driver.poll(Some(Duration::from_secs(5))).unwrap());
    assert_eq!(count.0.load(Ordering::SeqCst), 1);
    assert!(reg.poll_ready(&mut cx, Direction::Read).is_ready());

    // A guess made after an event never hides it: a stale clear (the event's tick) leaves
    // the newer readiness in place.
    let seen = reg.readiness(Direction::Read).unwrap();
    reg.assume_ready(Interest::READABLE);
    reg.clear_readiness(seen, Direction::Read);
    assert!(reg.readiness(Direction::Read).is_some());
    reg.deregister(rx.as_raw_fd()).unwrap();
}

#[test]
fn a_deregistered_descriptor_gets_no_more_events() {
    use std::os::fd::AsRawFd;
    let mut driver = Driver::new().unwrap();
    let (rx, tx) = crate::sys::pipe().unwrap();
    let mut tx = std::fs::File::from(tx);
    let mut reg =
        Registration::new_in(driver.shared.clone(), rx.as_raw_fd(), Interest::READABLE).unwrap();
    let (count, waker) = counting_waker();
    assert!(reg
        .poll_ready(&mut Context::from_waker(&waker), Direction::Read)
        .is_pending());
    reg.deregister(rx.as_raw_fd()).unwrap();
    tx.write_all(b"x").unwrap();
    assert!(
        !driver.poll(Some(Duration::ZERO)).unwrap(),
        "no event arrives"
    );
    assert_eq!(count.0.load(Ordering::SeqCst), 0);
    assert!(reg.readiness(Direction::Read).is_none());
}

#[test]
fn the_unparker_ends_a_poll_from_another_thread() {
    let mut driver = Driver::new().unwrap();
    // Kept alive by the test: closing the unparker's descriptor would take a pending
    // wake-up with it (the loop's `Shared` holds its unparker for the loop's life).
    let unparker = Arc::new(driver.new_unparker().unwrap());
    let remote = unparker.clone();
    let t = std::thread::spawn(move || remote.unpark());
    // Without the wake this would wait for the whole minute.
    assert!(driver.poll(Some(Duration::from_secs(60))).unwrap());
    t.join().unwrap();
    drop(unparker);
}

#[test]
fn a_wait_list_keeps_every_entry_whichever_is_removed_and_moves_them_all_out() {
    use super::{Entry, List};
    let entry = |key| Entry {
        key,
        waker: counting_waker().1,
    };
    let mut list = List::default();
    assert!(list.is_empty());
    for key in 1..=4 {
        list.push(entry(key));
    }
    assert_eq!(list.len(), 4);
    // The inline first entry goes: the spill buffer's last one takes its place.
    assert_eq!(list.remove(|e| e.key == 1).map(|e| e.key), Some(1));
    // One in the spill buffer goes.
    assert_eq!(list.remove(|e| e.key == 3).map(|e| e.key), Some(3));
    assert!(list.remove(|e| e.key == 3).is_none(), "removed once");
    assert_eq!(list.len(), 2);
    assert!(list.find_mut(|e| e.key == 2).is_some());
    assert!(list.find_mut(|e| e.key == 4).is_some());
    let mut out = Vec::new();
    list.move_into(&mut out);
    let mut keys: Vec<u64> = out.iter().map(|e| e.key).collect();
    keys.sort_unstable();
    assert_eq!(keys, [2, 4]);
    assert!(list.is_empty());
    assert_eq!(list.len(), 0, "no entry left in the spill buffer");
    // Emptied, it takes entries again from the inline slot.
    list.push(entry(5));
    assert_eq!(list.remove(|e| e.key == 5).map(|e| e.key), Some(5));
    assert!(list.is_empty());
}
