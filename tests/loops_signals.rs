//! In a child process (this test binary re-executed with `SIMUL_LOOPS_CASE` set, running
//! only `loops_helper`): Ctrl-C on a `Loops::run` cancels every loop's main future, runs
//! every loop's destructors and dies of SIGINT (a shell's status 130); debug reports and
//! the stall watchdog's live line name the loop they come from.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::Duration;

const CASE_ENV: &str = "SIMUL_LOOPS_CASE";

struct Noisy(String);
impl Drop for Noisy {
    fn drop(&mut self) {
        println!("{}", self.0);
    }
}

/// Runs in the child process only.
#[test]
fn loops_helper() {
    let Ok(case) = std::env::var(CASE_ENV) else {
        return; // the parent's run: nothing to do
    };
    match case.as_str() {
        "sigint" => {
            let loops = simul::Loops::builder().count(2).build().unwrap();
            loops.run(|index| async move {
                let _main = Noisy(format!("loop {index} main dropped"));
                let _bg = simul::spawn(async move {
                    let _g = Noisy(format!("loop {index} task dropped"));
                    std::future::pending::<()>().await
                });
                simul::yield_now().await;
                println!("ready {index}");
                std::io::stdout().flush().unwrap();
                simul::sleep(Duration::from_secs(60)).await;
            });
            println!("run returned"); // never: run dies of SIGINT
        }
        "slow" => {
            let loops = simul::Loops::builder()
                .count(2)
                .loop_options(
                    simul::EventLoop::builder()
                        .debug(true)
                        .slow_poll_threshold(Duration::from_millis(5)),
                )
                .build()
                .unwrap();
            loops.run(|_| async {
                simul::spawn(async { std::thread::sleep(Duration::from_millis(30)) })
                    .await
                    .unwrap();
            });
        }
        "stall" => {
            let loops = simul::Loops::builder()
                .count(2)
                .loop_options(simul::EventLoop::builder().stall_watchdog(Duration::from_millis(20)))
                .build()
                .unwrap();
            loops.run(|_| async {
                // Blocks the loop well past the threshold: the watchdog's thread prints
                // its live line while the poll lasts.
                simul::spawn(async { std::thread::sleep(Duration::from_millis(300)) })
                    .await
                    .unwrap();
            });
        }
        other => panic!("unknown case {other}"),
    }
}

fn child(case: &str) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["loops_helper", "--exact", "--nocapture", "--test-threads=1"])
        .env(CASE_ENV, case)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn ctrl_c_cancels_every_loop_and_dies_of_sigint() {
    let mut child = child("sigint");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut seen = 0;
    let mut line = String::new();
    while seen < 2 {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "child ended early");
        if line.contains("ready ") {
            seen += 1;
        }
    }
    // SAFETY: signalling our own child, which is still unreaped.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGINT), "{status:?}: {rest}");
    for what in [
        "loop 0 main dropped",
        "loop 1 main dropped",
        "loop 0 task dropped",
        "loop 1 task dropped",
    ] {
        assert!(rest.contains(what), "missing {what:?} in {rest:?}");
    }
    assert!(!rest.contains("run returned"), "{rest}");
}

#[test]
fn debug_reports_name_the_loop() {
    let child = child("slow");
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    for n in ["on loop 0", "on loop 1"] {
        assert!(
            err.lines().any(|l| l.contains("took") && l.contains(n)),
            "no slow-poll report {n:?}: {err}"
        );
    }
}

#[test]
fn the_watchdog_live_line_names_the_loop() {
    let child = child("stall");
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    for n in ["loop 0", "loop 1"] {
        assert!(
            err.lines()
                .any(|l| l.starts_with("simul watchdog:") && l.contains(&format!("({n})"))),
            "no live watchdog line naming {n:?}: {err}"
        );
    }
}
