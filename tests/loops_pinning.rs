//! `LoopsBuilder::pin`: loop `i` runs on the `i`-th CPU the process may use (wrapping
//! around), read back from the kernel: the thread's affinity
//! (`/proc/thread-self/status`, `Cpus_allowed_list`) and the CPU it is running on
//! (`/proc/thread-self/stat`, the `processor` field, as `sched_getcpu` reports it).
//! Skipped, with a message, where fewer than two CPUs are allowed.

/// Parses a kernel CPU list such as `0-2,5`.
fn parse_list(list: &str) -> Vec<usize> {
    let mut cpus = Vec::new();
    for part in list.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => cpus.extend(a.parse::<usize>().unwrap()..=b.parse().unwrap()),
            None => cpus.push(part.parse().unwrap()),
        }
    }
    cpus
}

/// The CPUs the calling thread may run on.
fn allowed_here() -> Vec<usize> {
    let status = std::fs::read_to_string("/proc/thread-self/status").unwrap();
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .expect("Cpus_allowed_list in /proc/thread-self/status");
    parse_list(line)
}

/// The CPU the calling thread last ran on (it is running now, so: this one).
fn cpu_now() -> usize {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
    // Fields after the command name (which may hold spaces) start at field 3 (`state`);
    // `processor` is field 39.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    rest.split(' ').nth(39 - 3).unwrap().parse().unwrap()
}

#[test]
fn each_pinned_loop_runs_only_on_its_own_cpu() {
    let cpus = allowed_here();
    if cpus.len() < 2 {
        eprintln!("skipped: only {} CPU(s) allowed", cpus.len());
        return;
    }
    // One more loop than CPUs: the last one wraps around to the first CPU.
    let count = cpus.len() + 1;
    let loops = simul::Loops::builder()
        .count(count)
        .pin(true)
        .build()
        .unwrap();
    let seen = loops.run(|i| async move {
        let mut on = Vec::new();
        // Look a few times, across yields and a short sleep, so a thread the kernel
        // could still move would be caught on another CPU.
        for _ in 0..5 {
            on.push(cpu_now());
            simul::sleep(std::time::Duration::from_millis(2)).await;
        }
        (i, allowed_here(), on)
    });
    for (i, allowed, on) in seen {
        let want = cpus[i % cpus.len()];
        assert_eq!(allowed, vec![want], "loop {i}'s affinity");
        assert!(
            on.iter().all(|&c| c == want),
            "loop {i} ran on CPUs {on:?}, pinned to {want}"
        );
    }
}

#[test]
fn unpinned_loops_keep_the_process_affinity() {
    let cpus = allowed_here();
    let loops = simul::Loops::builder().count(2).build().unwrap();
    for (i, allowed) in loops
        .run(|i| async move { (i, allowed_here()) })
        .into_iter()
        .enumerate()
    {
        assert_eq!(allowed.0, i);
        assert_eq!(allowed.1, cpus, "loop {i}'s affinity");
    }
}
