//! The HTTP server (axum on simul) and simul's TLS against real clients: curl (HTTP/1.1,
//! HTTP/2 with prior knowledge, HTTPS with the test CA, HTTP/2 via ALPN), openssl
//! s_client (handshake, ALPN), h2load (many HTTP/2 streams) and Python's ssl + asyncio
//! (both directions, byte-exact, large bodies). A test whose client is missing prints
//! SKIPPED and passes; `.ci/run` installs them all.

mod http_common;

use std::io::Write;
use std::process::{Command, Stdio};

use http_common::{curl, have, Options, TestServer};

#[test]
fn curl_http1_plaintext_and_json() {
    if !have("curl") {
        return;
    }
    let s = TestServer::start(Options::default());
    let (body, err, ok) = curl(&["-i", "--http1.1", &s.url("/")]);
    assert!(ok, "{err}");
    assert!(body.starts_with("HTTP/1.1 200 OK"), "{body}");
    assert!(
        body.to_ascii_lowercase()
            .contains("content-type: text/plain\r\n"),
        "{body}"
    );
    assert!(body.ends_with("\r\n\r\nHello, World!"), "{body}");
    let (body, err, ok) = curl(&["--http1.1", &s.url("/json")]);
    assert!(ok, "{err}");
    assert_eq!(body, r#"{"message":"Hello, World!"}"#);
}

#[test]
fn curl_http2_prior_knowledge_params_json_and_streaming() {
    if !have("curl") {
        return;
    }
    let s = TestServer::start(Options::default());
    let (body, err, ok) = curl(&[
        "--http2-prior-knowledge",
        "-w",
        " %{http_version}",
        &s.url("/hello/curl"),
    ]);
    assert!(ok, "{err}");
    assert_eq!(body, "Hello, curl! 2");
    let (body, err, ok) = curl(&[
        "--http2-prior-knowledge",
        "-H",
        "content-type: application/json",
        "-d",
        r#"{"name":"Ada","times":2}"#,
        &s.url("/greet"),
    ]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["greeting"], "Hello, Ada! Hello, Ada!");
    let (body, err, ok) = curl(&["--http2-prior-knowledge", "-N", &s.url("/stream/4")]);
    assert!(ok, "{err}");
    assert_eq!(body, "chunk 1\nchunk 2\nchunk 3\nchunk 4\n");
    // Keep-alive on HTTP/1.1: several URLs, one connection.
    let (out, err, ok) = curl(&["--http1.1", "-v", &s.url("/visits"), &s.url("/visits")]);
    assert!(ok, "{err}");
    assert_eq!(out.matches("visit number").count(), 2, "{out}");
    assert!(
        err.contains("Re-using existing") || err.contains("left intact"),
        "{err}"
    );
}

#[test]
fn curl_https_with_the_test_ca_http1_and_http2_by_alpn() {
    if !have("curl") {
        return;
    }
    let s = TestServer::start(Options {
        tls: true,
        ..Options::default()
    });
    let ca = s.ca_file.as_ref().unwrap().to_str().unwrap().to_string();
    let (body, err, ok) = curl(&[
        "--cacert",
        &ca,
        "--http1.1",
        "-w",
        " %{http_version}",
        &s.url("/"),
    ]);
    assert!(ok, "{err}");
    assert_eq!(body, "Hello, World! 1.1");
    let (body, err, ok) = curl(&[
        "--cacert",
        &ca,
        "--http2",
        "-w",
        " %{http_version}",
        &s.url("/json"),
    ]);
    assert!(ok, "{err}");
    assert_eq!(body, r#"{"message":"Hello, World!"} 2"#);
    // Without the CA, curl refuses the certificate; the server carries on.
    let (_, err, ok) = curl(&[&s.url("/")]);
    assert!(!ok);
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    let (body, err, ok) = curl(&["--cacert", &ca, &s.url("/hello/again")]);
    assert!(ok, "{err}");
    assert_eq!(body, "Hello, again!");
}

#[test]
fn openssl_s_client_handshake_and_alpn() {
    if !have("openssl") {
        return;
    }
    let s = TestServer::start(Options {
        tls: true,
        ..Options::default()
    });
    let ca = s.ca_file.as_ref().unwrap();
    for (offer, expect) in [
        ("h2", "ALPN protocol: h2"),
        ("http/1.1", "ALPN protocol: http/1.1"),
    ] {
        let mut child = Command::new("openssl")
            .args(["s_client", "-connect", &format!("127.0.0.1:{}", s.port)])
            .args([
                "-servername",
                "localhost",
                "-alpn",
                offer,
                "-verify_return_error",
            ])
            // Over HTTP/1.1, wait for the response (the server closes after it).
            .args(if offer == "http/1.1" {
                &["-ign_eof"][..]
            } else {
                &[][..]
            })
            .arg("-CAfile")
            .arg(ca)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if offer == "http/1.1" {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(b"GET /json HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .unwrap();
        } else {
            drop(child.stdin.take());
        }
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(expect), "{text}");
        assert!(text.contains("Verify return code: 0 (ok)"), "{text}");
        if offer == "http/1.1" {
            assert!(text.contains(r#"{"message":"Hello, World!"}"#), "{text}");
        }
    }
}

#[test]
fn h2load_many_streams_all_succeed() {
    if !have("h2load") {
        return;
    }
    let s = TestServer::start(Options::default());
    let out = Command::new("h2load")
        .args(["-n", "2000", "-c", "4", "-m", "50", &s.url("/json")])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("2000 succeeded, 0 failed, 0 errored"),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("status codes: 2000 2xx"), "{text}");
}

#[test]
fn h2load_over_tls_negotiates_h2_by_alpn_and_all_streams_succeed() {
    if !have("h2load") {
        return;
    }
    let s = TestServer::start(Options {
        tls: true,
        ..Options::default()
    });
    // h2load offers `h2` by ALPN (and does not verify the certificate); the server must
    // pick HTTP/2 there, so every request travels as a stream of 4 TLS connections.
    let out = Command::new("h2load")
        .args(["-n", "2000", "-c", "4", "-m", "50", &s.url("/json")])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("Application protocol: h2"), "{text}\n{err}");
    assert!(text.contains("TLS Protocol: TLSv1.3"), "{text}\n{err}");
    assert!(
        text.contains("2000 succeeded, 0 failed, 0 errored"),
        "{text}\n{err}"
    );
    assert!(text.contains("status codes: 2000 2xx"), "{text}");
}
