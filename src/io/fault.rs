//! Seeded fault injection under the I/O layer, for tests (FoundationDB's "buggify").
//!
//! Compiled in only with the `fault-injection` cargo feature (off by default: without it
//! every hook below is an empty inline function and the hot path pays nothing), and active
//! only when `SIMUL_FAULT_SEED` holds a number. Then socket and pipe operations are, at
//! random but reproducibly from the seed (each thread draws from its own generator, seeded
//! from the seed and the order in which threads first do I/O):
//! - **short**: a read or write is offered only part of its buffer (1 in 4 operations), so
//!   it transfers fewer bytes than asked, as a busy kernel may;
//! - **`EINTR`**: the operation fails with `Interrupted` before the syscall (1 in 16); the
//!   I/O layer retries it;
//! - **`EAGAIN`**: the operation reports "not ready" before the syscall (1 in 16) and wakes
//!   its task at once, as a spurious readiness event would; readiness is kept (there was no
//!   real `EAGAIN`, so no edge can be lost);
//! - **`ECONNRESET`**: a stream read or write fails with `ConnectionReset`, at the rate in
//!   `SIMUL_FAULT_RESET` (a probability, e.g. `0.001`; default 0).
//!
//! None of the first three may change what a program observes: bytes are neither lost,
//! duplicated nor reordered, and nothing hangs. Tests that expect an error-free run can ask
//! [`faults_enabled`] whether resets are possible.

/// What to do to one operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(feature = "fault-injection"), allow(dead_code))] // only `None` without it
pub(crate) enum Fault {
    /// Run it as asked.
    None,
    /// Fail with `Interrupted` before the syscall.
    Interrupted,
    /// Report `Pending` (after waking the task) before the syscall.
    NotReady,
    /// Fail with `ConnectionReset` (stream operations only).
    Reset,
}

/// Whether seeded fault injection is active in this process (the `fault-injection` feature
/// is on and `SIMUL_FAULT_SEED` is set). Always `false` in normal builds.
///
/// # Examples
/// ```
/// // Normal builds never inject faults.
/// if !cfg!(feature = "fault-injection") {
///     assert!(!simul::faults_enabled());
/// }
/// ```
pub fn faults_enabled() -> bool {
    imp::enabled()
}

/// The fault for the next operation; `stream` allows `Reset`.
#[inline(always)]
pub(crate) fn next(stream: bool) -> Fault {
    imp::next(stream)
}

/// How much of a `len`-byte buffer to offer the next operation (`len` when not shortened).
#[inline(always)]
pub(crate) fn short(len: usize) -> usize {
    imp::short(len)
}

#[cfg(not(feature = "fault-injection"))]
mod imp {
    use super::Fault;

    #[inline(always)]
    pub(super) fn enabled() -> bool {
        false
    }

    #[inline(always)]
    pub(super) fn next(_stream: bool) -> Fault {
        Fault::None
    }

    #[inline(always)]
    pub(super) fn short(len: usize) -> usize {
        len
    }
}

#[cfg(feature = "fault-injection")]
mod imp {
    use std::cell::Cell;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;

    use super::Fault;

    struct Config {
        seed: u64,
        /// `ConnectionReset` probability as a fraction of `u64::MAX`.
        reset: u64,
    }

    fn config() -> Option<&'static Config> {
        static CONFIG: OnceLock<Option<Config>> = OnceLock::new();
        CONFIG
            .get_or_init(|| {
                let seed = std::env::var("SIMUL_FAULT_SEED")
                    .ok()?
                    .trim()
                    .parse()
                    .ok()?;
                let reset: f64 = std::env::var("SIMUL_FAULT_RESET")
                    .ok()
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0.0);
                let reset = (reset.clamp(0.0, 1.0) * u64::MAX as f64) as u64;
                Some(Config { seed, reset })
            })
            .as_ref()
    }

    pub(super) fn enabled() -> bool {
        config().is_some()
    }

    /// splitmix64: small, fast, and good enough to pick faults.
    fn mix(mut z: u64) -> u64 {
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    thread_local! {
        static STATE: Cell<Option<u64>> = const { Cell::new(None) };
    }

    /// The next random number of this thread's generator (`None` when inactive).
    fn draw() -> Option<u64> {
        let cfg = config()?;
        static THREADS: AtomicU64 = AtomicU64::new(0);
        STATE
            .try_with(|s| {
                let cur = s.get().unwrap_or_else(|| {
                    mix(cfg.seed ^ mix(THREADS.fetch_add(1, Ordering::Relaxed)))
                });
                let next = mix(cur);
                s.set(Some(next));
                next
            })
            .ok()
    }

    pub(super) fn next(stream: bool) -> Fault {
        let Some(r) = draw() else {
            return Fault::None;
        };
        let cfg = config().expect("drawn, so configured");
        if stream && cfg.reset > 0 && mix(r) < cfg.reset {
            return Fault::Reset;
        }
        match r % 16 {
            0 => Fault::Interrupted,
            1 => Fault::NotReady,
            _ => Fault::None,
        }
    }

    pub(super) fn short(len: usize) -> usize {
        if len <= 1 {
            return len;
        }
        match draw() {
            Some(r) if r % 4 == 0 => 1 + (r >> 8) as usize % (len - 1),
            _ => len,
        }
    }
}
