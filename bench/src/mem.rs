//! Peak memory of 1M sleeping tasks, one child process per runtime.
//!
//! The parent re-runs this binary as `simul-bench --mem RUNTIME --mem-tasks N`, so each
//! runtime starts from a fresh process and no peak leaks into another's figure. The child
//! reads `VmRSS` from `/proc/self/status` inside the runtime before spawning, spawns N
//! tasks that each sleep for an hour, waits until every task has been polled once (so
//! each has armed its timer), reads `VmRSS` and `VmHWM` again, prints them and exits at
//! once (tearing a million tasks down is not what is measured).

use std::future::Future;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::rt::{self, Generic, Rt, Runtime};

/// What one child reports.
pub struct MemReport {
    /// RSS growth from before the first spawn to when every task is asleep, in KiB.
    pub rss_delta_kib: u64,
    /// Peak RSS growth over the same span (`VmHWM` after minus `VmRSS` before), in KiB.
    pub peak_delta_kib: u64,
    /// Spawning the tasks and polling each once.
    pub spawn_time: Duration,
}

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}

static ASLEEP: AtomicUsize = AtomicUsize::new(0);

struct Body(usize);

impl Generic<()> for Body {
    fn make<R: Runtime>(self) -> impl Future<Output = ()> {
        let n = self.0;
        async move {
            let rss0 = status_kib("VmRSS");
            let t0 = Instant::now();
            for _ in 0..n {
                R::spawn_detach(async {
                    let nap = R::sleep(Duration::from_secs(3600));
                    ASLEEP.fetch_add(1, Ordering::Relaxed);
                    nap.await;
                });
            }
            while ASLEEP.load(Ordering::Relaxed) < n {
                R::yield_now().await;
            }
            let took = t0.elapsed();
            let rss1 = status_kib("VmRSS");
            let hwm = status_kib("VmHWM");
            println!(
                "rss0={rss0} rss1={rss1} hwm={hwm} spawn_ns={}",
                took.as_nanos()
            );
            std::process::exit(0);
        }
    }
}

/// The child's side: runs on `rt`, prints one line, exits.
pub fn child(rt: Rt, tasks: usize) -> ! {
    rt::on(rt, Body(tasks));
    unreachable!("the memory child exits from inside the runtime")
}

/// The parent's side: runs a child for `rt` and parses its line.
pub fn measure(rt: Rt, tasks: usize) -> Result<MemReport, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let out = Command::new(exe)
        .args(["--mem", rt.name(), "--mem-tasks", &tasks.to_string()])
        .output()
        .map_err(|e| format!("cannot run the memory child: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "memory child for {} failed ({}): {}",
            rt.name(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let field = |key: &str| -> Result<u64, String> {
        text.split_whitespace()
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
            .ok_or_else(|| format!("memory child for {}: no `{key}` in {text:?}", rt.name()))
    };
    let (rss0, rss1, hwm) = (field("rss0")?, field("rss1")?, field("hwm")?);
    Ok(MemReport {
        rss_delta_kib: rss1.saturating_sub(rss0),
        peak_delta_kib: hwm.saturating_sub(rss0),
        spawn_time: Duration::from_nanos(field("spawn_ns")?),
    })
}
