//! Loop configuration: [`Builder`] and the settings it fixes at build time (`Config`),
//! including the environment variables that supply defaults (`SIMUL_DEBUG`,
//! `SIMUL_TRACE`, `SIMUL_WATCHDOG_MS`).

use std::io;
use std::time::Duration;

use super::{Core, EventLoop};

/// Loop settings fixed at build time.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) debug: bool,
    pub(crate) slow_poll_threshold: Duration,
    pub(super) trace: Option<Option<std::path::PathBuf>>,
    pub(super) watchdog: Option<Duration>,
    /// The loop's name in task dumps and debug reports (set by `Loops`: "loop N").
    pub(crate) name: Option<String>,
    /// The loop may spin before it parks (set by `Loops`; see `runtime/spin.rs`).
    pub(crate) spin: bool,
}

/// Settings for an [`EventLoop`].
///
/// # Examples
/// ```
/// use std::time::Duration;
/// let lp = simul::EventLoop::builder().virtual_time(true).build().unwrap();
/// let t0 = lp.time();
/// lp.run_until_complete(simul::sleep(Duration::from_secs(3600)));
/// assert!(lp.time() - t0 >= Duration::from_secs(3600)); // an hour, in no time
/// ```
#[derive(Clone, Debug)]
pub struct Builder {
    debug: Option<bool>,
    slow_poll_threshold: Duration,
    virtual_time: bool,
    trace: Option<bool>,
    trace_path: Option<std::path::PathBuf>,
    watchdog: Option<Duration>,
    name: Option<String>,
    spin: bool,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            debug: None,
            slow_poll_threshold: Duration::from_millis(100),
            virtual_time: false,
            trace: None,
            trace_path: None,
            watchdog: None,
            name: None,
            spin: false,
        }
    }
}

impl Builder {
    /// Debug mode (asyncio's `debug=True`): reports polls slower than the threshold and
    /// other misuse. Defaults to the `SIMUL_DEBUG` environment variable, read as asyncio
    /// reads `PYTHONASYNCIODEBUG`: any non-empty value turns debug mode on (`1`, `true`,
    /// and also `0`); unset or empty leaves it off.
    ///
    /// # Examples
    /// ```
    /// let lp = simul::EventLoop::builder().debug(true).build().unwrap();
    /// assert!(lp.is_debug());
    /// ```
    #[doc(alias = "set_debug")]
    pub fn debug(mut self, on: bool) -> Self {
        self.debug = Some(on);
        self
    }

    /// The poll duration above which debug mode reports a task (asyncio's
    /// `slow_callback_duration`, default 100 ms).
    ///
    /// # Examples
    /// ```
    /// let b = simul::EventLoop::builder().slow_poll_threshold(std::time::Duration::from_millis(5));
    /// assert!(b.build().is_ok());
    /// ```
    #[doc(alias = "slow_callback_duration")]
    pub fn slow_poll_threshold(mut self, d: Duration) -> Self {
        self.slow_poll_threshold = d;
        self
    }

    /// Virtual time: the clock stands still while tasks run and jumps to the next timer
    /// when the loop is idle and a non-blocking look at the selector finds nothing ready.
    /// Jobs on the blocking pool and running child processes hold the clock (it waits for
    /// them); socket waits do not (tokio's paused clock auto-advances the same way). The
    /// exact rule is in the `time::driver` module doc and ARCHITECTURE.md.
    ///
    /// # Examples
    /// ```
    /// let lp = simul::EventLoop::builder().virtual_time(true).build().unwrap();
    /// let r = lp.run_until_complete(simul::wait_for(std::time::Duration::from_secs(60), std::future::pending::<()>()));
    /// assert!(r.is_err());
    /// ```
    pub fn virtual_time(mut self, on: bool) -> Self {
        self.virtual_time = on;
        self
    }

    /// Records a trace of polls, wakes, timers and selector waits (see [`crate::trace`]).
    /// Defaults to on when `SIMUL_TRACE` is set, which also names the JSON file written
    /// when the loop closes.
    ///
    /// # Examples
    /// ```
    /// let lp = simul::EventLoop::builder().trace(true).build().unwrap();
    /// lp.run_until_complete(async {
    ///     simul::spawn(async {}).await.unwrap();
    ///     assert!(simul::trace::timeline().lines().any(|l| l.contains("main") && l.contains("part 1")));
    /// });
    /// ```
    pub fn trace(mut self, on: bool) -> Self {
        self.trace = Some(on);
        self
    }

    /// Turns tracing on and names the Chrome trace-event JSON file written when the loop
    /// closes (what `SIMUL_TRACE=path` does).
    ///
    /// # Examples
    /// ```
    /// let path = std::env::temp_dir().join("simul-doc-trace.json");
    /// let lp = simul::EventLoop::builder().trace_path(&path).build().unwrap();
    /// lp.run_until_complete(simul::yield_now());
    /// lp.close();
    /// assert!(std::fs::read_to_string(&path).unwrap().contains("traceEvents"));
    /// ```
    pub fn trace_path(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.trace = Some(true);
        self.trace_path = Some(path.into());
        self
    }

    /// Starts a watchdog thread that reports a loop stuck in one poll for longer than
    /// `threshold`, reported as [`ExceptionKind::Stall`](super::ExceptionKind::Stall) naming the task. Cheap
    /// enough for production. Defaults to `SIMUL_WATCHDOG_MS` when that is set.
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// let lp = simul::EventLoop::builder().stall_watchdog(Duration::from_millis(50)).build().unwrap();
    /// lp.run_until_complete(async {});
    /// ```
    pub fn stall_watchdog(mut self, threshold: Duration) -> Self {
        self.watchdog = Some(threshold);
        self
    }

    /// Names the loop in task dumps and debug reports (`Loops` names its loops "loop N").
    pub(crate) fn loop_name(mut self, name: String) -> Self {
        self.name = Some(name);
        self
    }

    /// Lets the loop spin briefly before it parks when other threads hand it work (set by
    /// `Loops` for its loops; see `runtime/spin.rs`).
    pub(crate) fn spin_before_park(mut self, on: bool) -> Self {
        self.spin = on;
        self
    }

    /// Whether [`virtual_time`](Self::virtual_time) was asked for.
    pub(crate) fn is_virtual_time(&self) -> bool {
        self.virtual_time
    }

    /// Creates the loop.
    ///
    /// # Errors
    /// When the OS selector cannot be created (e.g. out of file descriptors).
    ///
    /// # Examples
    /// ```
    /// let lp = simul::EventLoop::builder().build().unwrap();
    /// assert_eq!(lp.run_until_complete(async { 5 }), 5);
    /// ```
    pub fn build(self) -> io::Result<EventLoop> {
        let debug = self
            .debug
            .unwrap_or_else(|| debug_from_env(std::env::var_os("SIMUL_DEBUG")));
        let trace_path = self.trace_path.clone().or_else(|| {
            std::env::var_os("SIMUL_TRACE")
                .filter(|p| !p.is_empty())
                .map(std::path::PathBuf::from)
        });
        let trace = match self.trace {
            Some(false) => None,
            Some(true) => Some(trace_path),
            None => trace_path.map(Some),
        };
        let watchdog = self.watchdog.or_else(|| {
            std::env::var("SIMUL_WATCHDOG_MS")
                .ok()
                .and_then(|v| v.parse::<u64>().ok())
                .filter(|&ms| ms > 0)
                .map(Duration::from_millis)
        });
        let core = Core::new(
            Config {
                debug,
                slow_poll_threshold: self.slow_poll_threshold,
                trace,
                watchdog,
                name: self.name,
                spin: self.spin && !self.virtual_time,
            },
            self.virtual_time,
        )?;
        Ok(EventLoop::from_core(core))
    }
}

/// Whether the `SIMUL_DEBUG` value turns debug mode on: any non-empty value does, as for
/// asyncio's `PYTHONASYNCIODEBUG`.
fn debug_from_env(value: Option<std::ffi::OsString>) -> bool {
    value.is_some_and(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::debug_from_env;

    #[test]
    fn simul_debug_is_on_for_any_non_empty_value() {
        for on in ["1", "true", "yes", "on", "0"] {
            assert!(debug_from_env(Some(on.into())), "{on:?}");
        }
        assert!(!debug_from_env(Some("".into())));
        assert!(!debug_from_env(None));
    }
}
