//! Name resolution on the blocking pool.

use std::io::ErrorKind;
use std::net::SocketAddr;

use simul::net::lookup_host;

mod net_common;

#[test]
fn localhost_resolves_to_loopback_addresses() {
    simul::run(async {
        let addrs = lookup_host("localhost", 443).await.unwrap();
        assert!(!addrs.is_empty());
        for a in &addrs {
            assert!(a.ip().is_loopback(), "{a}");
            assert_eq!(a.port(), 443);
        }
    });
}

#[test]
fn literals_are_returned_without_a_lookup() {
    simul::run(async {
        let v4 = lookup_host("10.1.2.3", 80).await.unwrap();
        assert_eq!(v4, vec!["10.1.2.3:80".parse::<SocketAddr>().unwrap()]);
        let v6 = lookup_host("[::1]", 80).await.unwrap();
        assert_eq!(v6, vec!["[::1]:80".parse::<SocketAddr>().unwrap()]);
        // No pool thread was needed for literals.
        assert_eq!(simul::blocking::thread_count(), 0);
    });
}

#[test]
fn an_unknown_name_is_an_error_not_a_panic() {
    simul::run(async {
        // `.invalid` is reserved (RFC 2606) and never resolves.
        let e = lookup_host("no-such-host.invalid", 80).await.unwrap_err();
        assert_ne!(e.kind(), ErrorKind::WouldBlock);
    });
}

#[test]
fn lookups_run_concurrently_with_other_tasks() {
    simul::run(async {
        let ticker = simul::spawn(async {
            for _ in 0..3 {
                simul::sleep(std::time::Duration::from_millis(1)).await;
            }
            "ticked"
        });
        let a = lookup_host("localhost", 1).await.unwrap();
        assert!(!a.is_empty());
        assert_eq!(ticker.await.unwrap(), "ticked");
    });
}
