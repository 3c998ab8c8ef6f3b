//! Loops start and stop cleanly: after a set is dropped the process has the threads and
//! file descriptors it had before, and no child process. One test in this binary, so no other test's threads
//! or sockets move the counts.

use std::time::Duration;

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// The kernel's `PF_EXITING` task flag: set as a thread enters its exit, before
/// `pthread_join` can return for it.
const PF_EXITING: u64 = 0x4;

/// The process's threads that are not exiting, as (tid, "name (state)"), from /proc. A
/// thread that was joined can still be listed for a moment while the kernel tears it down;
/// its `PF_EXITING` flag is set by then, so it is not counted.
fn live_threads() -> Vec<(u32, String)> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|e| {
            let p = e.ok()?.path();
            let tid = p.file_name()?.to_str()?.parse().ok()?;
            let comm = std::fs::read_to_string(p.join("comm")).ok()?;
            let stat = std::fs::read_to_string(p.join("stat")).ok()?;
            // after "pid (comm) ": state ppid pgrp session tty_nr tpgid flags ...
            let fields: Vec<&str> = stat.rsplit_once(") ")?.1.split(' ').collect();
            let flags: u64 = fields.get(6)?.parse().ok()?;
            (flags & PF_EXITING == 0).then(|| (tid, format!("{} ({})", comm.trim(), fields[0])))
        })
        .collect()
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn fd_targets() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .map(|p| p.display().to_string())
        .collect();
    v.sort();
    v
}

/// Waits until only `want` threads are left (failing after 10 s). Used only for the
/// orphan reaper of `simul::process`, which a loop's close may start (for a killed child it
/// could not wait for any more) and which ends on its own once it has seen every orphan
/// reaped.
fn reaper_gone(want: usize) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while live_threads().len() > want {
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    true
}

/// Waits (up to 10 s) until this process has no child, running or unreaped.
fn no_child_left() -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut status = 0;
        // SAFETY: `status` is a valid out-pointer; WNOHANG never blocks. Reaping here is
        // harmless: the children were killed and are only waited for.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid == -1 {
            return true; // ECHILD: no child at all
        }
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn loops_leave_no_thread_or_descriptor_behind() {
    let t0 = threads();
    // The descriptor baseline is taken after a first round: Ctrl-C handling in `run`
    // keeps one signal wake pipe for the life of the process (see `simul::signal`).
    let (mut f0, mut before) = (0, Vec::new());
    for round in 0..4 {
        let loops = simul::Loops::builder().count(4).build().unwrap();
        assert_eq!(threads(), t0 + 4, "round {round}: one thread per loop");
        let baseline = live_threads();
        let out = loops.run(|index| async move {
            // sockets, timers and the blocking pool on every loop
            let l = simul::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let c = simul::net::TcpStream::connect(l.local_addr().unwrap())
                .await
                .unwrap();
            let (_s, _) = l.accept().await.unwrap();
            simul::to_thread(move || index).await + c.local_addr().map(|_| 0).unwrap()
        });
        assert_eq!(out, [0, 1, 2, 3]);
        // work left behind: a pending task on each loop, holding a socket and a child
        let mut started = Vec::new();
        for i in 0..4 {
            started.push(loops.handle(i).spawn_with(|| async {
                let child = simul::process::Command::new("sleep")
                    .arg("60")
                    .kill_on_drop(true)
                    .spawn()
                    .unwrap();
                drop(simul::spawn(async move {
                    let _u = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
                    let _child = child;
                    simul::sleep(Duration::from_secs(60)).await
                }));
                simul::yield_now().await;
            }));
        }
        simul::run(simul::gather(started));
        drop(loops);
        assert!(
            no_child_left(),
            "round {round}: a child process was left behind"
        );
        // No waiting for the set's own threads: dropping it joined every loop thread and,
        // through each loop's shutdown, every blocking-pool thread.
        let left: Vec<(u32, String)> = live_threads()
            .into_iter()
            .filter(|(tid, name)| {
                baseline.iter().any(|(t, _)| t == tid) || name.starts_with("simul-blocking")
            })
            .collect();
        assert_eq!(
            left.len(),
            t0,
            "round {round}: loop or pool threads left: {left:?}"
        );
        assert!(
            reaper_gone(t0),
            "round {round}: threads back to baseline: {:?}",
            live_threads()
        );
        if round == 0 {
            (f0, before) = (open_fds(), fd_targets());
            continue;
        }
        assert_eq!(
            open_fds(),
            f0,
            "round {round}: descriptors back to baseline: {before:?} -> {:?}",
            fd_targets()
        );
    }
}
