//! Child processes: exit codes, signals, kill, kill_on_drop, environment, errors, and
//! descriptors that must not leak into children.

use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use simul::process::{create_subprocess_exec, create_subprocess_shell, Command, Stdio};
use simul::signal::SignalKind;

#[test]
fn exit_codes_are_reported() {
    simul::run(async {
        for code in [0, 1, 2, 42, 255] {
            let st = Command::new("sh")
                .args(["-c", &format!("exit {code}")])
                .status()
                .await
                .unwrap();
            assert_eq!(st.code(), Some(code));
            assert_eq!(st.success(), code == 0);
        }
    });
}

#[test]
fn death_by_signal_is_reported() {
    simul::run(async {
        let mut c = Command::new("sleep").arg("30").spawn().unwrap();
        c.send_signal(SignalKind::terminate()).unwrap();
        let st = c.wait().await.unwrap();
        assert_eq!(st.code(), None);
        assert_eq!(st.signal(), Some(libc::SIGTERM));

        let mut c = Command::new("sh")
            .args(["-c", "kill -USR1 $$"])
            .spawn()
            .unwrap();
        assert_eq!(c.wait().await.unwrap().signal(), Some(libc::SIGUSR1));
    });
}

#[test]
fn kill_ends_the_child_and_waits() {
    simul::run(async {
        let mut c = Command::new("sleep").arg("30").spawn().unwrap();
        assert!(c.try_wait().unwrap().is_none());
        c.kill().await.unwrap();
        let st = c.try_wait().unwrap().expect("reaped by kill()");
        assert_eq!(st.signal(), Some(libc::SIGKILL));
        // Waiting again returns the same status; killing again is a no-op.
        assert_eq!(c.wait().await.unwrap().signal(), Some(libc::SIGKILL));
        c.start_kill().unwrap();
    });
}

#[test]
fn wait_is_cancel_safe() {
    simul::run(async {
        let mut c = Command::new("sh")
            .args(["-c", "sleep 0.1; exit 7"])
            .spawn()
            .unwrap();
        let r = simul::wait_for(Duration::from_millis(10), c.wait()).await;
        assert!(r.is_err(), "timed out first");
        assert_eq!(c.wait().await.unwrap().code(), Some(7));
    });
}

#[test]
fn many_children_wait_concurrently() {
    simul::run(async {
        let t0 = Instant::now();
        let mut tasks = Vec::new();
        for i in 0..20 {
            tasks.push(simul::spawn(async move {
                Command::new("sh")
                    .args(["-c", &format!("sleep 0.2; exit {i}")])
                    .status()
                    .await
                    .unwrap()
                    .code()
            }));
        }
        for (i, t) in tasks.into_iter().enumerate() {
            assert_eq!(t.await.unwrap(), Some(i as i32));
        }
        // Concurrent, not one after the other (20 × 0.2 s = 4 s).
        assert!(t0.elapsed() < Duration::from_secs(3));
    });
}

#[test]
fn kill_on_drop_kills_and_reaps() {
    simul::run(async {
        let c = Command::new("sleep")
            .arg("30")
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let pid = c.id() as libc::pid_t;
        drop(c);
        // Reaped by the loop: the pid disappears (a zombie would still answer kill(pid, 0)).
        let deadline = Instant::now() + Duration::from_secs(10);
        // SAFETY: signal 0 only checks that the pid exists.
        while unsafe { libc::kill(pid, 0) } == 0 {
            assert!(Instant::now() < deadline, "child {pid} still exists");
            simul::sleep(Duration::from_millis(5)).await;
        }
    });
}

#[test]
fn dropping_without_kill_on_drop_leaves_the_child_running() {
    simul::run(async {
        let dir = std::env::temp_dir().join(format!("simul-kod-{}", std::process::id()));
        let _ = std::fs::remove_file(&dir);
        let c = Command::new("sh")
            .args(["-c", &format!("sleep 0.2; touch {}", dir.display())])
            .spawn()
            .unwrap();
        drop(c);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !dir.exists() {
            assert!(
                Instant::now() < deadline,
                "the detached child never finished"
            );
            simul::sleep(Duration::from_millis(10)).await;
        }
        std::fs::remove_file(&dir).unwrap();
    });
}

#[test]
fn env_cwd_and_args_reach_the_child() {
    simul::run(async {
        let out = Command::new("sh")
            .args(["-c", "echo \"$A|$B|$(pwd)|$1\"", "sh", "arg one"])
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .envs([("A", "1"), ("B", "2")])
            .env_remove("B")
            .current_dir("/tmp")
            .output()
            .await
            .unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), "1||/tmp|arg one\n");
    });
}

#[test]
fn missing_program_is_a_not_found_error() {
    simul::run(async {
        let e = Command::new("/nonexistent/simul-test-program")
            .spawn()
            .unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
        let e = Command::new("true")
            .current_dir("/nonexistent-dir")
            .status()
            .await;
        assert!(e.is_err());
    });
}

#[test]
fn output_captures_and_status_inherits() {
    simul::run(async {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo out; echo err >&2; exit 3"]);
        let out = cmd.output().await.unwrap();
        assert_eq!(out.stdout, b"out\n");
        assert_eq!(out.stderr, b"err\n");
        assert_eq!(out.status.code(), Some(3));
        // `output` does not leave pipes configured on the command.
        let mut c = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        assert!(c.stdout.is_none() && c.stderr.is_none() && c.stdin.is_none());
        c.wait().await.unwrap();
    });
}

#[test]
fn asyncio_helpers_pipe_all_streams() {
    simul::run(async {
        let mut p = create_subprocess_exec("cat", Vec::<&str>::new())
            .await
            .unwrap();
        let out = p.communicate(Some(b"through cat")).await.unwrap();
        assert_eq!(out.stdout, b"through cat");
        let mut p = create_subprocess_shell("printf a; printf b >&2; exit 4")
            .await
            .unwrap();
        let out = p.communicate(None).await.unwrap();
        assert_eq!((out.stdout, out.stderr), (b"a".to_vec(), b"b".to_vec()));
        assert_eq!(out.status.code(), Some(4));
    });
}

#[test]
fn no_runtime_descriptor_leaks_into_children() {
    simul::run(async {
        // Open runtime descriptors of every kind first: signal pipe, child pipes, pidfds.
        let _sig = simul::signal::signal(SignalKind::window_change()).unwrap();
        let mut other = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = Command::new("ls")
            .arg("/proc/self/fd")
            .output()
            .await
            .unwrap();
        let fds: Vec<u32> = String::from_utf8(out.stdout)
            .unwrap()
            .split_whitespace()
            .map(|s| s.parse().unwrap())
            .collect();
        // Allowed: what this test process inherited without close-on-exec (0, 1, 2 and
        // whatever the test runner's parent passed down), and the directory ls reads.
        let inheritable: Vec<u32> = std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .filter(|&fd: &u32| {
                // SAFETY: F_GETFD reads descriptor flags; a closed fd just fails.
                let flags = unsafe { libc::fcntl(fd as i32, libc::F_GETFD) };
                flags >= 0 && flags & libc::FD_CLOEXEC == 0
            })
            .collect();
        let leaked: Vec<u32> = fds
            .iter()
            .copied()
            .filter(|fd| *fd != 3 && !inheritable.contains(fd))
            .collect();
        assert!(
            leaked.is_empty(),
            "leaked into the child: {leaked:?} (all: {fds:?})"
        );
        let pipe_fd = std::os::fd::AsRawFd::as_raw_fd(other.stdout.as_ref().unwrap()) as u32;
        assert!(pipe_fd == 3 || !fds.contains(&pipe_fd));
        other.stdin = None;
        other.wait().await.unwrap();
    });
}

#[test]
fn pipes_chain_processes() {
    simul::run(async {
        let mut first = Command::new("echo")
            .arg("a b c")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = first.stdout.take().unwrap();
        let second = Command::new("wc")
            .arg("-w")
            .stdin(Stdio::try_from(out).unwrap())
            .output()
            .await
            .unwrap();
        assert_eq!(String::from_utf8(second.stdout).unwrap().trim(), "3");
        assert!(first.wait().await.unwrap().success());
    });
}

#[test]
#[should_panic(expected = "outside a running event loop")]
fn spawn_outside_a_loop_panics_clearly() {
    let _ = Command::new("true").spawn();
}

#[test]
fn virtual_time_does_not_jump_while_a_child_runs() {
    // A pending child is outside work: the virtual clock must wait for it instead of
    // jumping to the one-hour timeout.
    let lp = simul::EventLoop::builder()
        .virtual_time(true)
        .build()
        .unwrap();
    let st = lp.run_until_complete(async {
        let mut c = Command::new("sleep").arg("0.1").spawn().unwrap();
        simul::wait_for(Duration::from_secs(3600), c.wait()).await
    });
    assert!(st.expect("the child finished first").unwrap().success());
}
