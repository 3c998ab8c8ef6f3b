//! Accepting under descriptor exhaustion: the listener backs off instead of spinning,
//! logs once, and recovers when descriptors are freed.
//!
//! The descriptor limit is lowered in a child process (this test binary re-executed with
//! `SIMUL_TEST_EMFILE_CHILD` set), never in the test runner itself.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use simul::net::TcpListener;

mod net_common;

const CHILD_ENV: &str = "SIMUL_TEST_EMFILE_CHILD";
const TEST_NAME: &str = "accept_backs_off_on_emfile_and_recovers";
const CLIENTS: usize = 8;
const HEADROOM: usize = 3;

#[test]
fn accept_backs_off_on_emfile_and_recovers() {
    if std::env::var(CHILD_ENV).is_ok() {
        return child_main();
    }
    let out = net_common::run_child(TEST_NAME, &[(CHILD_ENV, "1".into())]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("emfile child ok"),
        "child output:\n{stdout}\n{stderr}"
    );
    let logs = stderr.matches("simul: accept() on").count();
    assert_eq!(logs, 1, "expected exactly one log line, stderr:\n{stderr}");
    assert!(stderr.contains("Too many open files"), "stderr:\n{stderr}");
}

async fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        simul::sleep(Duration::from_millis(5)).await;
    }
}

fn child_main() {
    simul::run(async {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        // Blocking connects complete through the listen backlog without an accept.
        let _clients: Vec<_> = (0..CLIENTS)
            .map(|_| std::net::TcpStream::connect(addr).unwrap())
            .collect();
        let held = Rc::new(RefCell::new(Vec::new()));
        let total = Rc::new(std::cell::Cell::new(0usize));
        let (h, t) = (held.clone(), total.clone());
        let acceptor = simul::spawn(async move {
            loop {
                let (s, _) = l.accept().await.unwrap();
                h.borrow_mut().push(s);
                t.set(t.get() + 1);
            }
        });
        let original = net_common::leave_headroom(HEADROOM);

        wait_until("the headroom is used", || total.get() >= HEADROOM).await;
        // Exhausted: the acceptor must sleep between retries, not spin.
        let polls_before = task_polls(acceptor.id());
        simul::sleep(Duration::from_millis(300)).await;
        let polls = task_polls(acceptor.id()) - polls_before;
        assert_eq!(total.get(), HEADROOM);
        assert!(
            polls <= 40,
            "acceptor polled {polls} times in 300 ms: spinning"
        );

        // Freeing descriptors lets it continue by itself.
        held.borrow_mut().clear();
        wait_until("accepting resumes", || total.get() >= 2 * HEADROOM).await;
        simul::sleep(Duration::from_millis(50)).await;
        assert_eq!(total.get(), 2 * HEADROOM);

        // With the limit restored it accepts the rest.
        net_common::set_soft_nofile(original);
        wait_until("all are accepted", || total.get() == CLIENTS).await;
        acceptor.cancel();
        println!("emfile child ok");
    });
}

fn task_polls(id: u64) -> u64 {
    simul::all_tasks()
        .into_iter()
        .find(|t| t.id() == id)
        .map(|t| t.polls())
        .unwrap_or(0)
}
