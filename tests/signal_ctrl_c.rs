//! Ctrl-C: `ctrl_c()` in-process, and SIGINT sent to `simul::run` in a child process (this
//! test binary re-executed with `SIMUL_SIGINT_CASE` set, running only `sigint_helper`).

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

const CASE_ENV: &str = "SIMUL_SIGINT_CASE";

struct Noisy(&'static str);
impl Drop for Noisy {
    fn drop(&mut self) {
        println!("{}", self.0);
    }
}

/// Prints without a newline: the text stays in stdout's buffer unless someone flushes it.
struct Unflushed(&'static str);
impl Drop for Unflushed {
    fn drop(&mut self) {
        print!("{}", self.0);
    }
}

fn ready() {
    println!("ready");
    std::io::stdout().flush().unwrap();
}

/// Runs in the child process only.
#[test]
fn sigint_helper() {
    let Ok(case) = std::env::var(CASE_ENV) else {
        return; // the parent's run: nothing to do
    };
    match case.as_str() {
        "cancel" => {
            simul::run(async {
                let _guard = Noisy("main future dropped");
                let _bg = simul::spawn(async {
                    let _g = Unflushed("background task dropped");
                    std::future::pending::<()>().await
                });
                simul::yield_now().await;
                ready();
                simul::sleep(Duration::from_secs(60)).await;
            });
            println!("run returned"); // never: run dies of SIGINT
        }
        "stuck" => {
            struct Stuck;
            impl Drop for Stuck {
                fn drop(&mut self) {
                    println!("destructor started");
                    std::io::stdout().flush().unwrap();
                    std::thread::sleep(Duration::from_secs(20));
                    println!("destructor finished");
                }
            }
            simul::run(async {
                let _s = Stuck;
                ready();
                simul::sleep(Duration::from_secs(60)).await;
            });
        }
        "user" => {
            let got = simul::run(async {
                let c = simul::signal::ctrl_c();
                ready();
                c.await.unwrap();
                "handled by the program"
            });
            println!("{got}");
        }
        "handoff" => {
            simul::run(async {
                let _guard = Noisy("main future dropped");
                // The first Ctrl-C is the program's; once it stops listening, the next one
                // is a first Ctrl-C for run (graceful), not a second one (abrupt).
                let listener = simul::spawn(simul::signal::ctrl_c());
                ready();
                listener.await.unwrap().unwrap();
                println!("program handled it");
                ready();
                simul::sleep(Duration::from_secs(60)).await;
            });
        }
        other => panic!("unknown case {other}"),
    }
}

fn start(case: &str) -> (Child, BufReader<ChildStdout>) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "sigint_helper",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CASE_ENV, case)
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    wait_for_line(&mut out, "ready");
    (child, out)
}

fn wait_for_line(out: &mut BufReader<ChildStdout>, want: &str) {
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "child ended before {want:?}"
        );
        if line.contains(want) {
            return;
        }
    }
}

fn sigint(child: &Child) {
    // SAFETY: signalling our own child, which is still unreaped.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
}

#[test]
fn first_sigint_cancels_run_and_dies_of_sigint() {
    let (mut child, mut out) = start("cancel");
    sigint(&child);
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(
        status.signal(),
        Some(libc::SIGINT),
        "{status:?}; output: {rest}"
    );
    assert!(rest.contains("main future dropped"), "{rest}");
    // Printed last and without a newline: only there if run flushed stdout before dying.
    assert!(rest.ends_with("background task dropped"), "{rest}");
    assert!(!rest.contains("run returned"), "{rest}");
}

#[test]
fn second_sigint_exits_at_once() {
    let (mut child, mut out) = start("stuck");
    sigint(&child);
    wait_for_line(&mut out, "destructor started");
    sigint(&child);
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGINT), "{status:?}");
    assert!(
        !rest.contains("destructor finished"),
        "did not exit at once: {rest}"
    );
}

#[test]
fn a_program_listening_for_ctrl_c_keeps_it() {
    let (mut child, mut out) = start("user");
    sigint(&child);
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}: {rest}");
    assert!(rest.contains("handled by the program"), "{rest}");
}

#[test]
fn after_the_program_stops_listening_ctrl_c_goes_back_to_run() {
    let (mut child, mut out) = start("handoff");
    sigint(&child);
    wait_for_line(&mut out, "program handled it");
    wait_for_line(&mut out, "ready");
    sigint(&child);
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGINT), "{status:?}");
    assert!(rest.contains("main future dropped"), "not graceful: {rest}");
}
