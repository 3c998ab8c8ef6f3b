//! Helpers shared by the net and blocking tests (descriptor counting, rlimits, child runs).
#![allow(dead_code)]

use std::sync::Mutex;

/// Serialises tests that count descriptors (tests of one binary run on several threads).
static FD_LOCK: Mutex<()> = Mutex::new(());

/// Open descriptors of this process.
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Open descriptors of this process and what each refers to (for failure messages).
pub fn fd_list() -> Vec<(String, String)> {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| {
            d.filter_map(|e| {
                let e = e.ok()?;
                let target = std::fs::read_link(e.path()).ok()?;
                Some((
                    e.file_name().to_string_lossy().into_owned(),
                    target.display().to_string(),
                ))
            })
            .collect()
        })
        .unwrap_or_default()
}

/// Runs `f` and asserts the process has as many open descriptors afterwards as before.
pub fn check_fds<R>(f: impl FnOnce() -> R) -> R {
    let _g = FD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    // Process-wide state made once and kept for reuse (the signal module's wake pipe,
    // created by the first `run` that watches for Ctrl-C) is not a per-test leak.
    static WARM: std::sync::Once = std::sync::Once::new();
    WARM.call_once(|| simul::run(async {}));
    let before = fd_list();
    let r = f();
    let after = fd_list();
    assert_eq!(
        before.len(),
        after.len(),
        "descriptors leaked: {before:?} before, {after:?} after"
    );
    r
}

/// Holds the descriptor lock without counting (for tests that open many descriptors).
pub fn exclusive<R>(f: impl FnOnce() -> R) -> R {
    let _g = FD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    f()
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; returns the new soft limit.
pub fn raise_nofile() -> libc::rlim_t {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 0;
    }
    if lim.rlim_cur < lim.rlim_max {
        let want = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: `want` is a valid rlimit.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &want) } == 0 {
            return want.rlim_cur;
        }
    }
    lim.rlim_cur
}

/// Sets the soft `RLIMIT_NOFILE` (keeping the hard limit); returns the previous soft limit.
pub fn set_soft_nofile(soft: libc::rlim_t) -> libc::rlim_t {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    let prev = lim.rlim_cur;
    lim.rlim_cur = soft;
    // SAFETY: `lim` is a valid rlimit.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
    prev
}

/// The `RLIMIT_NOFILE` soft limit that leaves exactly `headroom` descriptor numbers free
/// (new descriptors take the lowest free number, and must be below the limit).
pub fn limit_for_headroom(headroom: usize) -> libc::rlim_t {
    let open: std::collections::HashSet<libc::rlim_t> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<libc::rlim_t>().ok())
        .collect();
    let (mut n, mut free): (libc::rlim_t, usize) = (0, 0);
    while free < headroom {
        if !open.contains(&n) {
            free += 1;
        }
        n += 1;
    }
    n
}

/// Lowers the soft `RLIMIT_NOFILE` so that exactly `headroom` more descriptors can be
/// opened (checked by opening `/dev/null` until `EMFILE`); returns the previous limit.
pub fn leave_headroom(headroom: usize) -> libc::rlim_t {
    let probe = || {
        let mut files = Vec::new();
        while let Ok(f) = std::fs::File::open("/dev/null") {
            files.push(f);
        }
        files.len()
    };
    let prev = set_soft_nofile(limit_for_headroom(headroom));
    let got = probe();
    if got != headroom {
        let lim = limit_for_headroom(headroom) as i64 - (got as i64 - headroom as i64);
        set_soft_nofile(lim.max(1) as libc::rlim_t);
    }
    assert_eq!(
        probe(),
        headroom,
        "could not set up the descriptor headroom"
    );
    prev
}

/// Re-runs this test binary with only the test `name`, with `env` set (child mode).
pub fn run_child(name: &str, env: &[(&str, String)]) -> std::process::Output {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = std::process::Command::new(exe);
    cmd.args([name, "--exact", "--nocapture", "--test-threads=1"]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// The numbers of this process's open descriptors.
pub fn open_fds() -> Vec<i32> {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Asserts at least `at_least` descriptors were opened since `before` and that every one
/// of them has `FD_CLOEXEC` (a child process would not inherit it).
pub fn assert_new_fds_cloexec(before: &[i32], at_least: usize) {
    let new: Vec<i32> = open_fds()
        .into_iter()
        .filter(|fd| !before.contains(fd))
        .collect();
    assert!(
        new.len() >= at_least,
        "expected {at_least} new descriptors, found {new:?}"
    );
    for fd in new {
        // SAFETY: F_GETFD only reads the flags of a descriptor number; one closed since the
        // listing yields EBADF, which is skipped.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        if flags == -1 {
            continue;
        }
        assert_ne!(
            flags & libc::FD_CLOEXEC,
            0,
            "descriptor {fd} is inherited by a child"
        );
    }
}
