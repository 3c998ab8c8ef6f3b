//! Runs `ls` and a shell pipeline at the same time, streams their output line by line as it
//! arrives (each line tagged with its command), then prints the exit codes — the asyncio
//! tutorial's "run subprocesses in parallel" example.
//!
//! ```text
//! cargo run --release --example subprocess [DIR]
//! ```
//! `DIR` (default `.`) is the directory `ls` lists.

use std::time::Instant;

use futures_util::io::{AsyncBufReadExt, BufReader};
use futures_util::StreamExt;
use simul::process::{Command, Stdio};

/// Spawns `cmd`, prints each stdout line as `[tag] line`, returns the exit code.
async fn run_streaming(tag: &'static str, mut cmd: Command) -> std::io::Result<Option<i32>> {
    let started = Instant::now();
    let mut child = cmd.stdout(Stdio::piped()).spawn()?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut lines = BufReader::new(stdout).lines();
    let mut n = 0;
    while let Some(line) = lines.next().await {
        n += 1;
        println!(
            "[{tag:>8} +{:>5.1} ms] {}",
            started.elapsed().as_secs_f64() * 1e3,
            line?
        );
    }
    let status = child.wait().await?;
    println!("[{tag:>8}] {n} lines, {status}");
    Ok(status.code())
}

fn main() {
    let dir = std::env::args().nth(1).unwrap_or_else(|| ".".into());
    simul::run(async move {
        let mut ls = Command::new("ls");
        ls.arg("-l").arg(&dir);

        // A pipeline whose lines arrive over time, so the interleaving is visible.
        let mut pipeline = Command::new("sh");
        pipeline.args([
            "-c",
            // `while read` echoes each line as it comes (tr or sed would buffer them).
            "for i in 1 2 3 4 5; do echo \"tick $i\"; sleep 0.05; done \
             | while read -r line; do echo \"$line of 5 ($(date +%T.%N | cut -c1-12))\"; done",
        ]);

        let t0 = Instant::now();
        let ls = simul::spawn(run_streaming("ls", ls));
        let pipe = simul::spawn(run_streaming("pipeline", pipeline));
        let (ls_code, pipe_code) = (ls.await.unwrap(), pipe.await.unwrap());
        println!();
        for (name, code) in [("ls", ls_code), ("pipeline", pipe_code)] {
            match code {
                Ok(Some(c)) => println!("{name} exited with code {c}"),
                Ok(None) => println!("{name} was killed by a signal"),
                Err(e) => println!("{name} could not run: {e}"),
            }
        }
        println!(
            "both ran concurrently in {:.1} ms (the pipeline alone sleeps 250 ms)",
            t0.elapsed().as_secs_f64() * 1e3
        );
    });
}
