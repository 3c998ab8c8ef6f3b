//! Soak: 15,000 connections open at once through `start_server`, every byte echoed and
//! checked, and afterwards the process's descriptors, threads and children are back to
//! what they were.
//!
//! The clients run in a re-executed copy of this binary (client and server ends in one
//! process would need 30,000 descriptors; the hard limit here is 20,000). The server
//! counts the handlers alive at once: all 15,000 must be open together before any client
//! sends (the clients wait for each other), then every client sends its own pattern,
//! half-closes, and checks the echo byte for byte.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

mod net_common;

const CONNECTIONS: usize = 15_000;
/// Connects in flight at once (the listen backlog is 1,024).
const CONNECTING: usize = 500;
const HELPER_ENV: &str = "SIMUL_SOAK_CLIENTS_PORT";

fn payload(i: usize) -> Vec<u8> {
    let len = 512 + (i * 7919) % 3584;
    (0..len)
        .map(|k| (k as u64 * 31 + i as u64 * 17 + 5) as u8)
        .collect()
}

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// `true` if this process has no child processes left (reaped or never made).
fn no_children() -> bool {
    let mut status = 0;
    // SAFETY: `status` is a valid out-pointer; WNOHANG never blocks.
    let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
    pid == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD)
}

/// The client side, in the re-executed copy.
fn clients(port: u16) {
    let soft = net_common::raise_nofile();
    assert!(
        soft as usize > CONNECTIONS + 100,
        "RLIMIT_NOFILE soft limit {soft}"
    );
    simul::run(async move {
        let connected = Rc::new(Cell::new(0usize));
        let go = Rc::new(simul::Event::new());
        let gate = Rc::new(simul::Semaphore::new(CONNECTING));
        let mut tasks = Vec::with_capacity(CONNECTIONS);
        for i in 0..CONNECTIONS {
            let (connected, go, gate) = (connected.clone(), go.clone(), gate.clone());
            tasks.push(simul::spawn(async move {
                let (r, w) = {
                    let _permit = gate.acquire().await;
                    simul::open_connection("127.0.0.1", port).await.unwrap()
                };
                connected.set(connected.get() + 1);
                if connected.get() == CONNECTIONS {
                    go.set();
                }
                go.wait().await;
                let sent = payload(i);
                w.write(&sent);
                w.drain().await.unwrap();
                w.write_eof();
                let echoed = r.read_to_end().await.unwrap();
                assert!(echoed == sent, "connection {i}: the echo differs");
                w.close();
                w.wait_closed().await.unwrap();
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    });
    println!("soak-clients-ok");
}

#[test]
fn fifteen_thousand_connections_through_start_server() {
    if let Some(port) = std::env::var_os(HELPER_ENV) {
        clients(port.to_str().unwrap().parse().unwrap());
        return;
    }
    let soft = net_common::raise_nofile();
    assert!(
        soft as usize > CONNECTIONS + 100,
        "RLIMIT_NOFILE soft limit {soft}"
    );
    net_common::exclusive(|| {
        simul::run(async {}); // process-wide state made once (the signal pipe)
        let fds = net_common::fd_count();
        let threads_before = threads();
        simul::run(async {
            let live = Rc::new(Cell::new(0usize));
            let peak = Rc::new(Cell::new(0usize));
            let bytes = Rc::new(Cell::new(0usize));
            let (l, p, b) = (live.clone(), peak.clone(), bytes.clone());
            let server = simul::start_server(
                move |r, w| {
                    let (l, p, b) = (l.clone(), p.clone(), b.clone());
                    async move {
                        l.set(l.get() + 1);
                        p.set(p.get().max(l.get()));
                        loop {
                            let chunk = r.read(65536).await.unwrap();
                            if chunk.is_empty() {
                                break;
                            }
                            b.set(b.get() + chunk.len());
                            w.write(&chunk);
                            w.drain().await.unwrap();
                        }
                        w.close();
                        let _ = w.wait_closed().await;
                        l.set(l.get() - 1);
                    }
                },
                "127.0.0.1",
                0,
            )
            .await
            .unwrap();
            let port = server.local_addrs()[0].port().unwrap();
            let out = simul::process::Command::new(std::env::current_exe().unwrap())
                .args([
                    "fifteen_thousand_connections_through_start_server",
                    "--exact",
                    "--nocapture",
                ])
                .env(HELPER_ENV, port.to_string())
                .output()
                .await
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && stdout.contains("soak-clients-ok"),
                "the clients failed: {stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            // Every handler has finished (the clients saw their whole echo and closed).
            simul::wait_for(Duration::from_secs(60), async {
                while live.get() > 0 {
                    simul::sleep(Duration::from_millis(10)).await;
                }
            })
            .await
            .expect("handlers still running after every client finished");
            assert_eq!(
                peak.get(),
                CONNECTIONS,
                "not all connections were open at once"
            );
            let expected: usize = (0..CONNECTIONS).map(|i| payload(i).len()).sum();
            assert_eq!(bytes.get(), expected);
            server.close();
            server.wait_closed().await;
        });
        assert_eq!(net_common::fd_count(), fds, "descriptors leaked");
        // The blocking pool's idle threads retire on their own; give them time.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while threads() > threads_before && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(threads(), threads_before, "threads left running");
        assert!(no_children(), "a child process was left behind");
    });
}
