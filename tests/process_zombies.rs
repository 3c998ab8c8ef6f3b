//! 1,000 short-lived children leave no zombie and no descriptor behind, with pidfds and
//! with the SIGCHLD fallback (run in a re-executed copy of this test binary).
//!
//! One test per process: "no children left" is checked with `waitpid(-1, WNOHANG)`, which
//! sees every child of the process.

use std::time::{Duration, Instant};

use simul::process::{Command, Stdio};

const CHILDREN: usize = 1000;
const CONCURRENCY: usize = 25;
const FALLBACK_ENV: &str = "SIMUL_PROCESS_NO_PIDFD";
const HELPER_ENV: &str = "SIMUL_ZOMBIE_HELPER";

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// `Some(pid)` for a child left to reap (a zombie), `None` when there are no children.
fn any_child_left() -> Option<libc::pid_t> {
    let mut status = 0;
    // SAFETY: `status` is a valid out-pointer. WNOHANG: never blocks.
    let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
    match pid {
        -1 => {
            assert_eq!(
                std::io::Error::last_os_error().raw_os_error(),
                Some(libc::ECHILD)
            );
            None
        }
        0 => Some(0), // children exist but none has exited yet
        pid => Some(pid),
    }
}

fn spawn_many_and_check() {
    // A first run creates the process-wide signal self-pipe (kept for the process's life).
    simul::run(async {});
    let before = open_fds();
    simul::run(async {
        let mut workers = Vec::new();
        for w in 0..CONCURRENCY {
            workers.push(simul::spawn(async move {
                for i in 0..CHILDREN / CONCURRENCY {
                    let mut c = Command::new("true");
                    if i % 2 == 0 {
                        c.stdout(Stdio::piped()).stderr(Stdio::piped());
                    }
                    let st = c.status().await.unwrap();
                    assert!(st.success(), "worker {w} child {i}: {st:?}");
                }
            }));
        }
        for w in workers {
            w.await.unwrap();
        }
        // Children dropped while running: one killed on drop, one left to finish.
        drop(
            Command::new("sleep")
                .arg("30")
                .kill_on_drop(true)
                .spawn()
                .unwrap(),
        );
        drop(Command::new("sleep").arg("0.05").spawn().unwrap());
        simul::sleep(Duration::from_millis(300)).await;
    });
    // Every child has been reaped (the two dropped ones by the loop's reaper).
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match any_child_left() {
            None => break,
            Some(0) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Some(pid) => panic!("child {pid} was left behind"),
        }
    }
    assert_eq!(open_fds(), before, "descriptors leaked");
}

#[test]
fn thousand_children_leave_no_zombies_or_fds() {
    if std::env::var_os(HELPER_ENV).is_some() {
        // The re-executed copy: the SIGCHLD fallback.
        assert!(!simul::process::uses_pidfd());
        spawn_many_and_check();
        println!("fallback-ok");
        return;
    }
    spawn_many_and_check();
    // Now the same in a copy of this binary that observes exits through SIGCHLD.
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "thousand_children_leave_no_zombies_or_fds",
            "--exact",
            "--nocapture",
        ])
        .env(FALLBACK_ENV, "1")
        .env(HELPER_ENV, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("fallback-ok"),
        "SIGCHLD fallback run failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
