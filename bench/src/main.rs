//! simul-bench: simul against tokio (current_thread) and smol (LocalExecutor), side by
//! side in one run.
//!
//! ```text
//! cargo run --release -p simul-bench                  # everything, median of 5 runs
//! cargo run --release -p simul-bench -- --quick       # a tenth of the work, 1 run
//! cargo run --release -p simul-bench -- --only ping_pong --only memory
//! ```
//!
//! Each workload runs on each runtime in turn (simul, tokio, smol, then again), after one
//! unmeasured warm-up round, and the table shows the median time per runtime and the
//! ratios (below 1.00 means simul is faster). The progress lines on stderr also give the
//! median CPU time of the whole process per run (every thread, from just before the
//! workload starts its runtime to just after it returns), so a runtime that spins or keeps
//! helper threads busy shows its cost. The memory row runs every runtime in a child
//! process of this binary (`--mem RUNTIME`), see `mem.rs`.

mod mem;
mod rt;
mod slot;
mod workloads;

use std::process::ExitCode;
use std::time::Duration;

use rt::Rt;
use workloads::{Opts, ALL};

const MEMORY: &str = "memory";
const MEM_TASKS: usize = 1_000_000;

struct Args {
    only: Vec<String>,
    quick: bool,
    repeat: Option<usize>,
    list: bool,
    mem_child: Option<Rt>,
    mem_tasks: Option<usize>,
    /// `--rt`: run only these runtimes (for profiling one of them).
    runtimes: Vec<Rt>,
}

const USAGE: &str = "usage: simul-bench [--quick] [--only NAME]... [--repeat N] [--list]
  --quick       a tenth of the work (100k tasks for memory), one measured run
  --only NAME   run only this workload (repeatable, or comma-separated); see --list
  --repeat N    measured runs per workload and runtime (default 5; median reported)
  --rt NAME     run only this runtime (simul|tokio|smol; repeatable), e.g. to profile it
  --list        print the workload names and exit
  --mem RT      (internal) run the memory child for simul|tokio|smol";

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        only: Vec::new(),
        quick: false,
        repeat: None,
        list: false,
        mem_child: None,
        mem_tasks: None,
        runtimes: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--quick" => a.quick = true,
            "--list" => a.list = true,
            "--only" => a
                .only
                .extend(value("--only")?.split(',').map(str::to_string)),
            "--repeat" => {
                let v = value("--repeat")?;
                let n: usize = v
                    .parse()
                    .map_err(|_| format!("--repeat: not a number: {v:?}"))?;
                if n == 0 {
                    return Err("--repeat must be at least 1".into());
                }
                a.repeat = Some(n);
            }
            "--mem" => {
                let v = value("--mem")?;
                a.mem_child =
                    Some(Rt::from_name(&v).ok_or(format!("--mem: unknown runtime {v:?}"))?);
            }
            "--mem-tasks" => {
                let v = value("--mem-tasks")?;
                a.mem_tasks = Some(
                    v.parse()
                        .map_err(|_| format!("--mem-tasks: not a number: {v:?}"))?,
                );
            }
            "--rt" => {
                for v in value("--rt")?.split(',') {
                    a.runtimes
                        .push(Rt::from_name(v).ok_or(format!("--rt: unknown runtime {v:?}"))?);
                }
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    for name in &a.only {
        if name != MEMORY && !ALL.iter().any(|w| w.name == name) {
            return Err(format!("--only: unknown workload {name:?} (see --list)"));
        }
    }
    Ok(a)
}

/// CPU time the whole process has used so far (every thread, ended ones included), so a
/// run's CPU cost (spinning threads, helper threads) shows next to its wall time.
fn process_cpu() -> Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `clock_gettime` writes one `timespec` through the pointer, which points at
    // `t`; CLOCK_PROCESS_CPUTIME_ID is always valid, and on failure `t` stays zero.
    // (libc's call rather than rustix's: rustix's own vDSO call crashes under valgrind,
    // and its `use-libc` feature would switch smol's polling to libc too.)
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) };
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn fmt_time(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else if ms >= 10.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.2} ms")
    }
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "-".into(),
    }
}

struct Row {
    name: String,
    cells: [Option<f64>; 3],
    shown: [String; 3],
}

fn print_table(rows: &[Row]) {
    let w0 = rows.iter().map(|r| r.name.len()).max().unwrap_or(8).max(8);
    println!(
        "{:<w0$} | {:>10} | {:>10} | {:>10} | {:>11} | {:>10}",
        "workload", "simul", "tokio", "smol", "simul/tokio", "simul/smol"
    );
    println!("{}", "-".repeat(w0 + 66));
    for r in rows {
        println!(
            "{:<w0$} | {:>10} | {:>10} | {:>10} | {:>11} | {:>10}",
            r.name,
            r.shown[0],
            r.shown[1],
            r.shown[2],
            ratio(r.cells[0], r.cells[1]),
            ratio(r.cells[0], r.cells[2]),
        );
    }
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("simul-bench: {e}");
            }
            eprintln!("{USAGE}");
            return if e.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            };
        }
    };
    let mem_tasks = args.mem_tasks.unwrap_or(if args.quick {
        MEM_TASKS / 10
    } else {
        MEM_TASKS
    });
    if let Some(rt) = args.mem_child {
        mem::child(rt, mem_tasks);
    }
    if args.list {
        for w in ALL {
            println!("{:<20} {}", w.name, w.what);
        }
        println!("{MEMORY:<20} peak RSS of {MEM_TASKS} sleeping tasks (child process each)");
        return ExitCode::SUCCESS;
    }
    let wanted = |name: &str| args.only.is_empty() || args.only.iter().any(|o| o == name);
    let run_rt = |rt: Rt| args.runtimes.is_empty() || args.runtimes.contains(&rt);
    let opts = Opts { quick: args.quick };
    let repeat = args.repeat.unwrap_or(if args.quick { 1 } else { 5 });
    let warmup = !args.quick;
    println!(
        "simul-bench: median of {repeat} run(s){}{}, times measured inside each runtime",
        if warmup { " after a warm-up" } else { "" },
        if args.quick {
            ", --quick (1/10 of the work)"
        } else {
            ""
        }
    );

    let mut rows = Vec::new();
    for w in ALL.iter().filter(|w| wanted(w.name)) {
        let mut times: [Vec<Duration>; 3] = Default::default();
        let mut cpu: [Vec<Duration>; 3] = Default::default();
        let mut missing = [false; 3];
        for round in 0..repeat + usize::from(warmup) {
            for (i, rt) in Rt::ALL.into_iter().enumerate() {
                if !run_rt(rt) {
                    continue;
                }
                let cpu0 = process_cpu();
                let took = (w.run)(rt, &opts);
                let spent = process_cpu().saturating_sub(cpu0);
                match took {
                    Some(t) if !(warmup && round == 0) => {
                        times[i].push(t);
                        cpu[i].push(spent);
                    }
                    Some(_) => {}
                    None => missing[i] = true,
                }
            }
        }
        let cells: [Option<f64>; 3] = std::array::from_fn(|i| {
            (!missing[i] && !times[i].is_empty())
                .then(|| median(std::mem::take(&mut times[i])).as_secs_f64())
        });
        let shown = cells.map(|c| c.map_or("-".into(), |s| fmt_time(Duration::from_secs_f64(s))));
        let cpu_shown: [String; 3] = std::array::from_fn(|i| {
            if missing[i] || cpu[i].is_empty() {
                "-".into()
            } else {
                fmt_time(median(std::mem::take(&mut cpu[i])))
            }
        });
        eprintln!(
            "  {:<20} {}   cpu {}",
            w.name,
            shown.join(" / "),
            cpu_shown.join(" / ")
        );
        rows.push(Row {
            name: format!("{} ({})", w.name, w.what),
            cells,
            shown,
        });
    }

    if wanted(MEMORY) {
        let mut peak = [None; 3];
        let mut rss = [None; 3];
        let mut spawn = [None; 3];
        for (i, rt) in Rt::ALL
            .into_iter()
            .enumerate()
            .filter(|&(_, rt)| run_rt(rt))
        {
            match mem::measure(rt, mem_tasks) {
                Ok(r) => {
                    peak[i] = Some(r.peak_delta_kib as f64);
                    rss[i] = Some(r.rss_delta_kib as f64);
                    spawn[i] = Some(r.spawn_time.as_secs_f64());
                }
                Err(e) => eprintln!("simul-bench: {e}"),
            }
        }
        let mib = |c: Option<f64>| c.map_or("-".into(), |k| format!("{:.1} MiB", k / 1024.0));
        let per_task = |c: Option<f64>| {
            c.map_or("-".into(), |k| {
                format!("{:.0} B", k * 1024.0 / mem_tasks as f64)
            })
        };
        let k = if mem_tasks % 1000 == 0 && mem_tasks >= 1_000_000 {
            format!("{}M", mem_tasks / 1_000_000)
        } else {
            mem_tasks.to_string()
        };
        rows.push(Row {
            name: format!("memory: peak RSS, {k} sleeping tasks"),
            cells: peak,
            shown: peak.map(mib),
        });
        rows.push(Row {
            name: "memory: bytes per sleeping task (peak)".into(),
            cells: peak,
            shown: peak.map(per_task),
        });
        rows.push(Row {
            name: "memory: bytes per sleeping task (RSS after)".into(),
            cells: rss,
            shown: rss.map(per_task),
        });
        rows.push(Row {
            name: format!("spawn {k} sleeping tasks, poll each once"),
            cells: spawn,
            shown: spawn.map(|c| c.map_or("-".into(), |s| fmt_time(Duration::from_secs_f64(s)))),
        });
    }
    println!();
    print_table(&rows);
    ExitCode::SUCCESS
}
