//! `communicate` and the async pipes: sizes around the pipe capacity, concurrent stdout and
//! stderr, children that stop reading, and the futures-io traits.

use std::io::ErrorKind;

use simul::process::{Command, Stdio};

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

fn through_cat(n: usize) {
    let input = pattern(n);
    let out = simul::run(async {
        let mut c = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        c.communicate(Some(&input)).await.unwrap()
    });
    assert!(out.status.success());
    assert_eq!(out.stdout.len(), n);
    assert!(out.stdout == input, "cat echoed different bytes for {n} B");
    assert!(out.stderr.is_empty());
}

#[test]
fn communicate_empty_input() {
    through_cat(0);
}

#[test]
fn communicate_pipe_capacity_minus_one() {
    through_cat(64 * 1024 - 1);
}

#[test]
fn communicate_pipe_capacity() {
    through_cat(64 * 1024);
}

#[test]
fn communicate_pipe_capacity_plus_one() {
    through_cat(64 * 1024 + 1);
}

#[test]
fn communicate_eight_mebibytes() {
    through_cat(8 * 1024 * 1024);
}

#[test]
fn communicate_drains_stdout_and_stderr_concurrently() {
    // 1 MiB on each stream: the child blocks on whichever pipe is not drained.
    simul::run(async {
        let mut c = Command::new("sh")
            .args([
                "-c",
                "head -c 1048576 /dev/zero >&2 & head -c 1048576 /dev/zero; wait",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = c.communicate(None).await.unwrap();
        assert_eq!(out.stdout.len(), 1 << 20);
        assert_eq!(out.stderr.len(), 1 << 20);
        assert!(out.status.success());
    });
}

#[test]
fn writing_to_a_child_that_died_is_broken_pipe_not_a_crash() {
    simul::run(async {
        // The child reads 10 bytes and exits while we are still writing 1 MiB.
        let mut c = Command::new("head")
            .args(["-c", "10"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = c.stdin.take().unwrap();
        let err = stdin.write_all(&pattern(1 << 20)).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BrokenPipe);
        // Later writes keep failing the same way.
        assert_eq!(
            stdin.write(b"x").await.unwrap_err().kind(),
            ErrorKind::BrokenPipe
        );
        let out = c.communicate(None).await.unwrap();
        assert_eq!(out.stdout, pattern(10));
        assert!(out.status.success());
    });
}

#[test]
fn communicate_ignores_a_child_that_stops_reading() {
    // asyncio's communicate() ignores BrokenPipeError on stdin: so does ours.
    simul::run(async {
        let mut c = Command::new("head")
            .args(["-c", "5"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = c.communicate(Some(&pattern(4 << 20))).await.unwrap();
        assert_eq!(out.stdout, pattern(5));
        assert!(out.status.success());
    });
}

#[test]
fn communicate_with_input_but_no_stdin_pipe_is_invalid_input() {
    simul::run(async {
        let mut c = Command::new("true").spawn().unwrap();
        let e = c.communicate(Some(b"data")).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        // Nothing was lost: the child can still be waited for.
        assert!(c.wait().await.unwrap().success());
    });
}

#[test]
fn closed_stdin_write_is_an_error() {
    simul::run(async {
        let mut c = Command::new("cat").stdin(Stdio::piped()).spawn().unwrap();
        let stdin = c.stdin.as_mut().unwrap();
        stdin.close();
        assert_eq!(
            stdin.write(b"x").await.unwrap_err().kind(),
            ErrorKind::BrokenPipe
        );
        assert!(c.wait().await.unwrap().success());
    });
}

#[test]
fn futures_io_traits_work() {
    use futures_util::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    simul::run(async {
        let mut c = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = c.stdin.take().unwrap();
        let stdout = c.stdout.take().unwrap();
        let writer = simul::spawn(async move {
            for i in 0..100 {
                stdin
                    .write_all(format!("line {i}\n").as_bytes())
                    .await
                    .unwrap();
            }
            AsyncWriteExt::close(&mut stdin).await.unwrap();
        });
        let mut lines = BufReader::new(stdout).lines();
        let mut n = 0;
        while let Some(line) = futures_util::StreamExt::next(&mut lines).await {
            assert_eq!(line.unwrap(), format!("line {n}"));
            n += 1;
        }
        assert_eq!(n, 100);
        writer.await.unwrap();
        assert!(c.wait().await.unwrap().success());

        let mut c = Command::new("echo")
            .arg("raw")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut s = String::new();
        c.stdout
            .as_mut()
            .unwrap()
            .read_to_string(&mut s)
            .await
            .unwrap();
        assert_eq!(s, "raw\n");
        c.wait().await.unwrap();
    });
}
