//! UDP: datagram round trips, connected sockets, options.

use std::io::ErrorKind;

use simul::net::{BindOptions, UdpSocket};

mod net_common;

#[test]
fn send_to_and_recv_from_round_trip() {
    net_common::check_fds(|| {
        simul::run(async {
            let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let b_addr = b.local_addr().unwrap();
            let echo = simul::spawn(async move {
                let mut buf = [0u8; 1500];
                for _ in 0..3 {
                    let (n, from) = b.recv_from(&mut buf).await.unwrap();
                    b.send_to(&buf[..n], from).await.unwrap();
                }
            });
            for (i, msg) in [&b"one"[..], b"two two", b""].iter().enumerate() {
                a.send_to(msg, b_addr).await.unwrap();
                let mut buf = [0u8; 1500];
                let (n, from) = a.recv_from(&mut buf).await.unwrap();
                assert_eq!(from, b_addr, "datagram {i}");
                assert_eq!(&buf[..n], *msg, "datagram {i}");
            }
            echo.await.unwrap();
        })
    });
}

#[test]
fn datagram_boundaries_are_kept_and_long_ones_truncated() {
    net_common::check_fds(|| {
        simul::run(async {
            let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            a.connect(b.local_addr().unwrap()).await.unwrap();
            b.connect(a.local_addr().unwrap()).await.unwrap();
            a.send(b"first").await.unwrap();
            a.send(b"second-longer").await.unwrap();
            let mut buf = [0u8; 64];
            assert_eq!(b.recv(&mut buf).await.unwrap(), 5);
            let mut small = [0u8; 6];
            assert_eq!(b.recv(&mut small).await.unwrap(), 6);
            assert_eq!(&small, b"second");
            // The rest of the truncated datagram is gone.
            assert_eq!(
                b.try_recv_from(&mut buf).unwrap_err().kind(),
                ErrorKind::WouldBlock
            );
        })
    });
}

#[test]
fn many_datagrams_are_all_received_in_order_on_loopback() {
    net_common::check_fds(|| {
        simul::run(async {
            let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let to = b.local_addr().unwrap();
            let recv = simul::spawn(async move {
                let mut buf = [0u8; 8];
                for i in 0u32..200 {
                    let (n, _) = b.recv_from(&mut buf).await.unwrap();
                    assert_eq!(&buf[..n], &i.to_be_bytes());
                }
            });
            for i in 0u32..200 {
                a.send_to(&i.to_be_bytes(), to).await.unwrap();
                if i % 50 == 0 {
                    simul::yield_now().await; // let the receiver keep up
                }
            }
            recv.await.unwrap();
        })
    });
}

#[test]
fn reuse_port_and_address_errors() {
    net_common::check_fds(|| {
        simul::run(async {
            let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let e = UdpSocket::bind(a.local_addr().unwrap()).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::AddrInUse);
            let o = BindOptions::new().reuse_port(true);
            let x = UdpSocket::bind_with("127.0.0.1:0", o).await.unwrap();
            let y = UdpSocket::bind_with(x.local_addr().unwrap(), o)
                .await
                .unwrap();
            assert!(y.reuse_port().unwrap());
            // Not an IP address, and no resolver knows such a host.
            assert!(UdpSocket::bind("256.0.0.1:0").await.is_err());
            assert!(
                matches!(e.kind(), ErrorKind::InvalidInput | ErrorKind::NotFound)
                    || e.raw_os_error().is_some()
            );
        })
    });
}
