//! A child dropped while still running, whose loop then closes, is still reaped when it
//! exits: no zombie is left waiting for the next spawn.
//!
//! One test in this binary: another test's spawn would sweep the orphans and hide a
//! missing reaper.

use std::time::{Duration, Instant};

use simul::process::Command;

/// The state letter of `/proc/<pid>/stat` (`None` once the process is gone).
fn state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) S ...": the state follows the last ')'.
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// Waits until `pid` is gone (reaped); fails if it stays a zombie.
fn assert_reaped(what: &str, pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match state(pid) {
            None => return,
            Some(s) if s != 'Z' && Instant::now() > deadline => {
                panic!("{what}: pid {pid} is still running ({s})")
            }
            Some('Z') if Instant::now() > deadline => {
                panic!("{what}: pid {pid} was left a zombie after its loop closed")
            }
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

#[test]
fn a_child_dropped_before_its_loop_closes_is_reaped_when_it_exits() {
    // Left running: exits on its own shortly after the loop has closed.
    let running = simul::run(async {
        let c = Command::new("sleep").arg("0.3").spawn().unwrap();
        c.id()
    });
    // Killed on drop, but the loop closes before the kill is observed.
    let killed = simul::run(async {
        let c = Command::new("sleep")
            .arg("30")
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        c.id()
    });
    // Dropped on a thread with no loop at all.
    let outside = {
        let lp = simul::EventLoop::new().unwrap();
        let c = lp.run_until_complete(async { Command::new("sleep").arg("0.2").spawn().unwrap() });
        drop(lp);
        let pid = c.id();
        drop(c);
        pid
    };
    assert_reaped("left running", running);
    assert_reaped("killed on drop", killed);
    assert_reaped("dropped outside a loop", outside);
}
