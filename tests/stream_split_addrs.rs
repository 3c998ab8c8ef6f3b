//! `stream::split` over simul's own sockets keeps their addresses (asyncio's
//! `get_extra_info("peername")` / `("sockname")`); other byte streams say `Unsupported`.

use std::io::ErrorKind;

use simul::net::{TcpListener, TcpStream, UnixListener, UnixStream};

#[test]
fn split_tcp_stream_reports_peer_and_local_addresses() {
    simul::run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server_addr = listener.local_addr().unwrap();
        let client = TcpStream::connect(server_addr).await.unwrap();
        let client_addr = client.local_addr().unwrap();
        let (accepted, _) = listener.accept().await.unwrap();

        let (reader, writer) = simul::split(client);
        assert_eq!(writer.peer_addr().unwrap().as_inet(), Some(server_addr));
        assert_eq!(writer.local_addr().unwrap().as_inet(), Some(client_addr));

        // and the pair still carries bytes both ways
        let (sr, sw) = simul::split(accepted);
        assert_eq!(sw.peer_addr().unwrap().as_inet(), Some(client_addr));
        writer.write(b"ping\n");
        assert_eq!(sr.readline().await.unwrap(), b"ping\n");
        sw.write(b"pong\n");
        assert_eq!(reader.readline().await.unwrap(), b"pong\n");
    });
}

#[test]
fn split_unix_stream_reports_its_path() {
    simul::run(async {
        let path = std::env::temp_dir().join(format!("simul-split-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).unwrap();
        let client = UnixStream::connect(&path).await.unwrap();
        let _accepted = listener.accept().await.unwrap();
        let (_reader, writer) = simul::split(client);
        assert_eq!(
            writer.peer_addr().unwrap().as_pathname(),
            Some(path.as_path())
        );
        let _ = std::fs::remove_file(&path);
    });
}

#[test]
fn split_other_byte_stream_says_unsupported() {
    simul::run(async {
        let (_reader, writer) = simul::split(futures_util::io::Cursor::new(Vec::<u8>::new()));
        let err = writer.peer_addr().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unsupported);
        assert!(err.to_string().contains("peer address"), "{err}");
    });
}
