//! Helpers shared by the net and blocking tests.
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

/// Runs `f` and asserts the process has as many open descriptors afterwards as before.
pub fn check_fds<R>(f: impl FnOnce() -> R) -> R {
    let _g = FD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let before = fd_count();
    let r = f();
    let after = fd_count();
    assert_eq!(
        before, after,
        "descriptors leaked: {before} before, {after} after"
    );
    r
}

/// Holds the descriptor lock without counting (for tests that open many descriptors).
pub fn exclusive<R>(f: impl FnOnce() -> R) -> R {
    let _g = FD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    f()
}
