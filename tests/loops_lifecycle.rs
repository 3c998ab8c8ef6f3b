//! Loops start and stop cleanly: after a set is dropped the process has the threads and
//! file descriptors it had before, and no child process. One test in this binary, so no other test's threads
//! or sockets move the counts.

use std::time::Duration;

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
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

/// Threads, waiting up to 5 s for exiting ones: a blocking-pool worker that has finished
/// its last job is still leaving when the loop's shutdown returns.
fn threads_settled(want: usize) -> usize {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let n = threads();
        if n == want || std::time::Instant::now() > deadline {
            return n;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
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
        assert_eq!(
            threads_settled(t0),
            t0,
            "round {round}: threads back to baseline"
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
