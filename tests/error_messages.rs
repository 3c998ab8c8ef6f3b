//! Error messages say what went wrong and name what the reader needs: the stream limit
//! and how to raise it, the address a connect failed on, the host that did not resolve.

use std::io::ErrorKind;

use simul::StreamError;

/// A port on loopback that nothing listens on (bound, then closed).
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn an_over_long_line_says_the_line_exceeds_the_limit() {
    simul::run(async {
        let mut data = vec![b'x'; 100_000];
        data.push(b'\n');
        let reader =
            simul::StreamReader::new(futures_util::io::Cursor::new(data)).with_limit(65_536);
        let err = reader.readline().await.unwrap_err();
        assert!(
            matches!(
                err,
                StreamError::LimitOverrun {
                    limit: 65_536,
                    found: true,
                    ..
                }
            ),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains("separator found"), "{msg}");
        assert!(msg.contains("limit of 65536 bytes"), "{msg}");
        assert!(msg.contains("with_limit"), "{msg}");
        assert!(!msg.contains("not found"), "{msg}");
    });
}

#[test]
fn no_separator_within_the_limit_says_not_found_and_names_the_limit() {
    simul::run(async {
        let data = vec![b'x'; 100];
        let reader = simul::StreamReader::new(futures_util::io::Cursor::new(data)).with_limit(10);
        let err = reader.readuntil(b"\n").await.unwrap_err();
        assert!(
            matches!(
                err,
                StreamError::LimitOverrun {
                    found: false,
                    limit: 10,
                    ..
                }
            ),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains("not found within the stream limit of 10 bytes"),
            "{msg}"
        );
    });
}

#[test]
fn a_refused_connect_names_the_address_and_port() {
    let port = closed_port();
    simul::run(async move {
        let err = simul::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
        let msg = err.to_string();
        assert!(msg.contains(&format!("127.0.0.1:{port}")), "{msg}");
        let err = simul::open_connection("127.0.0.1", port).await.unwrap_err();
        assert!(
            err.to_string().contains(&format!("127.0.0.1:{port}")),
            "{err}"
        );
    });
}

#[test]
fn a_connect_over_several_addresses_names_each_failure() {
    let (a, b) = (closed_port(), closed_port());
    simul::run(async move {
        let addrs: Vec<std::net::SocketAddr> = vec![
            format!("127.0.0.1:{a}").parse().unwrap(),
            format!("127.0.0.1:{b}").parse().unwrap(),
        ];
        let err = simul::net::TcpStream::connect(addrs).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
        let msg = err.to_string();
        assert!(msg.contains("all 2 connection attempts failed"), "{msg}");
        assert!(msg.contains(&format!("127.0.0.1:{a}")), "{msg}");
        assert!(msg.contains(&format!("127.0.0.1:{b}")), "{msg}");
    });
}

#[test]
fn an_unknown_host_is_not_found_and_named() {
    simul::run(async {
        // `.invalid` is reserved (RFC 2606): it never resolves, and the lookup stays local.
        let err = simul::net::lookup_host("no-such-host.invalid", 80)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
        assert!(err.to_string().contains("no-such-host.invalid"), "{err}");
    });
}
