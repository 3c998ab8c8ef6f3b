//! 10,000 concurrent TCP connections through one loop, every byte checked.
//!
//! The server side (10,000 descriptors) runs in this process; the clients (another
//! 10,000) run in a child process — this same test binary re-executed with
//! `SIMUL_TEST_CLIENT_OF` set — so each process stays under the machine's descriptor limit.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use simul::net::{BindOptions, TcpListener, TcpStream};

mod net_common;

const CONNS: usize = 10_000;
const ROUNDS: usize = 3;
const MSG: usize = 100;
const CHILD_ENV: &str = "SIMUL_TEST_CLIENT_OF";
const TEST_NAME: &str = "ten_thousand_concurrent_connections_through_one_loop";

fn pattern(conn: usize, round: usize) -> Vec<u8> {
    (0..MSG)
        .map(|i| (conn.wrapping_mul(31) ^ round.wrapping_mul(7) ^ i) as u8)
        .collect()
}

#[test]
fn ten_thousand_concurrent_connections_through_one_loop() {
    if let Ok(addr) = std::env::var(CHILD_ENV) {
        return client_main(&addr);
    }
    let limit = net_common::raise_nofile();
    if limit < (CONNS + 200) as libc::rlim_t {
        eprintln!(
            "skipped: RLIMIT_NOFILE is {limit}, need {} per process",
            CONNS + 200
        );
        return;
    }
    net_common::check_fds(|| {
        simul::run(async {
            let opts = BindOptions::new().backlog(4096);
            let l = TcpListener::bind_with("127.0.0.1:0", opts).await.unwrap();
            let addr = l.local_addr().unwrap().to_string();
            let child =
                simul::to_thread(move || net_common::run_child(TEST_NAME, &[(CHILD_ENV, addr)]));
            let live = Rc::new(Cell::new(0usize));
            let peak = Rc::new(Cell::new(0usize));
            let mut echoes = Vec::with_capacity(CONNS);
            for _ in 0..CONNS {
                let (mut s, _) = simul::wait_for(Duration::from_secs(60), l.accept())
                    .await
                    .expect("accept timed out")
                    .unwrap();
                let (live, peak) = (live.clone(), peak.clone());
                echoes.push(simul::spawn(async move {
                    live.set(live.get() + 1);
                    peak.set(peak.get().max(live.get()));
                    let mut buf = [0u8; 1024];
                    let mut echoed = 0usize;
                    loop {
                        let n = s.read(&mut buf).await.unwrap();
                        if n == 0 {
                            break;
                        }
                        s.write_all(&buf[..n]).await.unwrap();
                        echoed += n;
                    }
                    live.set(live.get() - 1);
                    echoed
                }));
            }
            let out = child.await;
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "client failed:\n{stdout}\n{stderr}");
            assert!(
                stdout.contains("clients verified"),
                "client output:\n{stdout}"
            );
            let mut total = 0;
            for e in echoes {
                total += e.await.unwrap();
            }
            assert_eq!(total, CONNS * ROUNDS * MSG);
            assert_eq!(peak.get(), CONNS, "not all connections were open at once");
        })
    });
}

/// Child mode: open all connections, then run the checked exchange on each.
fn client_main(addr: &str) {
    let limit = net_common::raise_nofile();
    assert!(
        limit >= (CONNS + 200) as libc::rlim_t,
        "client: RLIMIT_NOFILE {limit} too low"
    );
    let addr: std::net::SocketAddr = addr.parse().unwrap();
    simul::run(async move {
        let mut streams = Vec::with_capacity(CONNS);
        // Connect in waves so the listen backlog never overflows (that would cost SYN
        // retransmission delays, not correctness).
        for wave in (0..CONNS).collect::<Vec<_>>().chunks(500) {
            let tasks: Vec<_> = wave
                .iter()
                .map(|_| simul::spawn(TcpStream::connect(addr)))
                .collect();
            for t in tasks {
                streams.push(t.await.unwrap().expect("connect"));
            }
        }
        assert_eq!(streams.len(), CONNS);
        let tasks: Vec<_> = streams
            .into_iter()
            .enumerate()
            .map(|(i, mut s)| {
                simul::spawn(async move {
                    let mut buf = [0u8; MSG];
                    for round in 0..ROUNDS {
                        let msg = pattern(i, round);
                        s.write_all(&msg).await.unwrap();
                        let mut got = 0;
                        while got < MSG {
                            let n = s.read(&mut buf[got..]).await.unwrap();
                            assert!(n > 0, "connection {i}: early EOF");
                            got += n;
                        }
                        assert_eq!(&buf[..], &msg[..], "connection {i} round {round}");
                    }
                    s
                })
            })
            .collect();
        // Keep every stream open until all exchanges are done.
        let mut done = Vec::with_capacity(CONNS);
        for t in tasks {
            done.push(
                simul::wait_for(Duration::from_secs(60), t)
                    .await
                    .expect("exchange timed out")
                    .unwrap(),
            );
        }
        println!("{} clients verified", done.len());
    });
}
