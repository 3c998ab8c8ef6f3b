//! Under seeded fault injection (`--features fault-injection`, `SIMUL_FAULT_SEED`), streams
//! carry every byte in order with nothing lost or duplicated, and nothing hangs; injected
//! resets (`SIMUL_FAULT_RESET`) end a connection with a clean `ConnectionReset`, never with
//! wrong data. Without the switch these are plain echo tests.

use std::io::ErrorKind;
use std::time::Duration;

const CONNECTIONS: usize = 64;
const ROUNDS: usize = 20;

fn message(conn: usize, round: usize) -> Vec<u8> {
    let len = 1 + (conn * 131 + round * 977) % 40_000;
    (0..len)
        .map(|k| (k as u64 ^ (conn as u64) << 3 ^ round as u64) as u8)
        .collect()
}

/// Whether `e` is an injected reset (allowed only when faults are on).
fn is_injected_reset(e: &std::io::Error) -> bool {
    simul::faults_enabled() && e.kind() == ErrorKind::ConnectionReset
}

#[test]
fn echo_streams_keep_every_byte_in_order_under_faults() {
    simul::run(async {
        let server = simul::start_server(
            |r, w| async move {
                // Length-prefixed messages, echoed back with the same framing.
                loop {
                    let head = match r.readexactly(4).await {
                        Ok(h) => h,
                        Err(_) => break, // EOF, or a reset of this side
                    };
                    let n = u32::from_be_bytes(head[..].try_into().unwrap()) as usize;
                    let Ok(body) = r.readexactly(n).await else {
                        break;
                    };
                    w.write(&head);
                    w.write(&body);
                    if w.drain().await.is_err() {
                        break;
                    }
                }
                w.close();
            },
            "127.0.0.1",
            0,
        )
        .await
        .unwrap();
        let port = server.local_addrs()[0].port().unwrap();
        let mut clients = Vec::new();
        for c in 0..CONNECTIONS {
            clients.push(simul::spawn(async move {
                let (r, w) = simul::open_connection("127.0.0.1", port).await?;
                for round in 0..ROUNDS {
                    let m = message(c, round);
                    w.write(&(m.len() as u32).to_be_bytes());
                    w.write(&m);
                    w.drain().await?;
                    let head = r.readexactly(4).await.map_err(std::io::Error::from)?;
                    let n = u32::from_be_bytes(head[..].try_into().unwrap()) as usize;
                    assert_eq!(n, m.len(), "conn {c} round {round}: wrong length");
                    let body = r.readexactly(n).await.map_err(std::io::Error::from)?;
                    assert!(body == m, "conn {c} round {round}: wrong bytes");
                }
                w.close();
                Ok::<_, std::io::Error>(())
            }));
        }
        let mut resets = 0;
        for c in clients {
            match simul::wait_for(Duration::from_secs(120), c)
                .await
                .expect("a client hung")
                .unwrap()
            {
                Ok(()) => {}
                Err(e) if is_injected_reset(&e) => resets += 1,
                Err(e) if simul::faults_enabled() && e.kind() == ErrorKind::UnexpectedEof => {
                    resets += 1 // the server side was reset and closed
                }
                Err(e) => panic!("client failed: {e:?}"),
            }
        }
        if simul::faults_enabled() {
            eprintln!("{resets} of {CONNECTIONS} connections ended by an injected reset");
        } else {
            assert_eq!(resets, 0);
        }
        server.close();
        server.wait_closed().await;
    });
}

#[test]
fn child_pipes_keep_every_byte_under_faults() {
    simul::run(async {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 256) as u8).collect();
        let mut child = simul::process::Command::new("cat")
            .stdin(simul::process::Stdio::piped())
            .stdout(simul::process::Stdio::piped())
            .spawn()
            .unwrap();
        let out = simul::wait_for(Duration::from_secs(120), child.communicate(Some(&data)))
            .await
            .expect("communicate hung")
            .unwrap();
        assert!(out.status.success());
        assert!(out.stdout == data, "the echo through cat differs");
    });
}

#[test]
fn datagrams_arrive_whole_under_faults() {
    simul::run(async {
        let a = simul::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let b = simul::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let to = b.local_addr().unwrap();
        for i in 0..200u32 {
            let m = i.to_be_bytes().repeat(1 + i as usize % 50);
            a.send_to(&m, to).await.unwrap();
            let mut buf = [0u8; 512];
            let (n, _) = simul::wait_for(Duration::from_secs(30), b.recv_from(&mut buf))
                .await
                .expect("recv_from hung")
                .unwrap();
            assert_eq!(&buf[..n], &m[..], "datagram {i}");
        }
    });
}
