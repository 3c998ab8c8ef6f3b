//! Child processes with async pipes: asyncio's `create_subprocess_exec`, `Process.wait()`
//! and `Process.communicate()`, shaped like `std::process`.
//!
//! # Design
//!
//! [`Command`] wraps `std::process::Command`, which already does the delicate part of
//! spawning (close-on-exec pipes, `posix_spawn`/`fork`+`exec`, reporting exec errors). After
//! the spawn, the parent's pipe ends are switched to non-blocking mode and registered with
//! the running loop's reactor ([`ChildStdin`], [`ChildStdout`], [`ChildStderr`]), and
//! the child's exit is watched without a thread per child (see the `exit` module: a pidfd
//! registered with the reactor on Linux ≥ 5.3, or a SIGCHLD listener otherwise).
//!
//! Descriptors created here (pipes, pidfds, signal wake pipes) are all close-on-exec,
//! so no runtime descriptor leaks into a child. A [`Child`] dropped while its process runs
//! leaves no zombie: the process is reaped by the loop later (or from an orphan list).
//!
//! [`Child::communicate`] feeds stdin while it drains stdout and stderr in the same task,
//! so a child that fills one pipe while the parent writes to another cannot deadlock.

mod exit;
mod pipe;

use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::path::Path;
use std::task::{Context, Poll};

pub use pipe::{ChildStderr, ChildStdin, ChildStdout};
pub use std::process::{ExitStatus, Output, Stdio};

/// Whether this process observes child exits through pidfds (`false`: the SIGCHLD
/// fallback). For tests and diagnostics.
///
/// # Examples
/// ```
/// let _pidfd = simul::process::uses_pidfd();
/// ```
pub fn uses_pidfd() -> bool {
    exit::uses_pidfd()
}

/// A process builder, as `std::process::Command`, whose [`spawn`](Command::spawn) gives a
/// [`Child`] with async pipes and an async [`wait`](Child::wait).
///
/// Defaults follow std: [`spawn`](Command::spawn) and [`status`](Command::status) inherit
/// stdin, stdout and stderr; [`output`](Command::output) captures stdout and stderr and
/// gives the child an empty stdin, unless they were set.
///
/// # Examples
/// ```
/// use simul::process::Command;
/// simul::run(async {
///     let out = Command::new("echo").arg("hello").output().await.unwrap();
///     assert!(out.status.success());
///     assert_eq!(out.stdout, b"hello\n");
/// });
/// ```
pub struct Command {
    std: std::process::Command,
    kill_on_drop: bool,
    stdin_set: bool,
    stdout_set: bool,
    stderr_set: bool,
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.std, f)
    }
}

impl From<std::process::Command> for Command {
    fn from(std: std::process::Command) -> Command {
        Command {
            std,
            kill_on_drop: false,
            stdin_set: false,
            stdout_set: false,
            stderr_set: false,
        }
    }
}

impl Command {
    /// A command that runs `program` (looked up in `PATH` if it has no slash).
    ///
    /// # Examples
    /// ```
    /// let c = simul::process::Command::new("ls");
    /// assert_eq!(c.as_std().get_program(), "ls");
    /// ```
    pub fn new(program: impl AsRef<OsStr>) -> Command {
        Command::from(std::process::Command::new(program))
    }

    /// Adds an argument.
    ///
    /// # Examples
    /// ```
    /// let mut c = simul::process::Command::new("ls");
    /// c.arg("-l");
    /// assert_eq!(c.as_std().get_args().count(), 1);
    /// ```
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Command {
        self.std.arg(arg);
        self
    }

    /// Adds arguments.
    ///
    /// # Examples
    /// ```
    /// let mut c = simul::process::Command::new("ls");
    /// c.args(["-l", "-a"]);
    /// assert_eq!(c.as_std().get_args().count(), 2);
    /// ```
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.std.args(args);
        self
    }

    /// Sets an environment variable for the child.
    ///
    /// # Examples
    /// ```
    /// use simul::process::Command;
    /// simul::run(async {
    ///     let out = Command::new("sh").args(["-c", "echo $GREETING"]).env("GREETING", "hi").output().await.unwrap();
    ///     assert_eq!(out.stdout, b"hi\n");
    /// });
    /// ```
    pub fn env(&mut self, key: impl AsRef<OsStr>, val: impl AsRef<OsStr>) -> &mut Command {
        self.std.env(key, val);
        self
    }

    /// Sets several environment variables.
    ///
    /// # Examples
    /// ```
    /// let mut c = simul::process::Command::new("env");
    /// c.envs([("A", "1"), ("B", "2")]);
    /// assert_eq!(c.as_std().get_envs().count(), 2);
    /// ```
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Command
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.std.envs(vars);
        self
    }

    /// Removes an environment variable from the child's environment.
    ///
    /// # Examples
    /// ```
    /// let mut c = simul::process::Command::new("env");
    /// c.env_remove("HOME");
    /// ```
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Command {
        self.std.env_remove(key);
        self
    }

    /// Starts the child with an empty environment (plus what [`env`](Command::env) adds).
    ///
    /// # Examples
    /// ```
    /// use simul::process::Command;
    /// simul::run(async {
    ///     let out = Command::new("/usr/bin/env").env_clear().env("ONLY", "me").output().await.unwrap();
    ///     assert_eq!(out.stdout, b"ONLY=me\n");
    /// });
    /// ```
    pub fn env_clear(&mut self) -> &mut Command {
        self.std.env_clear();
        self
    }

    /// Sets the child's working directory.
    ///
    /// # Examples
    /// ```
    /// use simul::process::Command;
    /// simul::run(async {
    ///     let out = Command::new("pwd").current_dir("/").output().await.unwrap();
    ///     assert_eq!(out.stdout, b"/\n");
    /// });
    /// ```
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Command {
        self.std.current_dir(dir);
        self
    }

    /// The child's stdin: [`Stdio::piped`] gives [`Child::stdin`].
    ///
    /// # Examples
    /// ```
    /// use simul::process::{Command, Stdio};
    /// simul::run(async {
    ///     let mut c = Command::new("cat").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    ///     let out = c.communicate(Some(b"ping")).await.unwrap();
    ///     assert_eq!(out.stdout, b"ping");
    /// });
    /// ```
    pub fn stdin(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stdin(cfg);
        self.stdin_set = true;
        self
    }

    /// The child's stdout: [`Stdio::piped`] gives [`Child::stdout`].
    ///
    /// # Examples
    /// ```
    /// use simul::process::{Command, Stdio};
    /// simul::run(async {
    ///     let st = Command::new("echo").stdout(Stdio::null()).status().await.unwrap();
    ///     assert!(st.success());
    /// });
    /// ```
    pub fn stdout(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stdout(cfg);
        self.stdout_set = true;
        self
    }

    /// The child's stderr: [`Stdio::piped`] gives [`Child::stderr`].
    ///
    /// # Examples
    /// ```
    /// use simul::process::{Command, Stdio};
    /// simul::run(async {
    ///     let out = Command::new("sh").args(["-c", "echo oops >&2"]).stderr(Stdio::piped()).output().await.unwrap();
    ///     assert_eq!(out.stderr, b"oops\n");
    /// });
    /// ```
    pub fn stderr(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stderr(cfg);
        self.stderr_set = true;
        self
    }

    /// Whether dropping the [`Child`] kills the process (SIGKILL) if it still runs. Off by
    /// default, as in std: a dropped child keeps running (and is reaped when it exits).
    ///
    /// # Examples
    /// ```
    /// use simul::process::Command;
    /// simul::run(async {
    ///     let c = Command::new("sleep").arg("60").kill_on_drop(true).spawn().unwrap();
    ///     drop(c); // killed, and reaped by the loop
    /// });
    /// ```
    pub fn kill_on_drop(&mut self, kill: bool) -> &mut Command {
        self.kill_on_drop = kill;
        self
    }

    /// The wrapped `std::process::Command`.
    ///
    /// # Examples
    /// ```
    /// let c = simul::process::Command::new("ls");
    /// assert_eq!(c.as_std().get_program(), "ls");
    /// ```
    pub fn as_std(&self) -> &std::process::Command {
        &self.std
    }

    /// The wrapped `std::process::Command`, for settings this type does not mirror
    /// (`std::os::unix::process::CommandExt`: `uid`, `process_group`, `pre_exec`, ...).
    ///
    /// # Examples
    /// ```
    /// use std::os::unix::process::CommandExt;
    /// let mut c = simul::process::Command::new("ls");
    /// c.as_std_mut().process_group(0);
    /// ```
    pub fn as_std_mut(&mut self) -> &mut std::process::Command {
        &mut self.std
    }

    /// Starts the process.
    ///
    /// # Errors
    /// What `std::process::Command::spawn` reports (e.g. `NotFound` for a missing
    /// program), or an OS error while registering the pipes or the exit watch.
    ///
    /// # Panics
    /// Outside a running loop (the pipes and the exit watch belong to one).
    ///
    /// # Examples
    /// ```
    /// use simul::process::Command;
    /// simul::run(async {
    ///     let mut child = Command::new("true").spawn().unwrap();
    ///     assert!(child.wait().await.unwrap().success());
    ///     assert_eq!(Command::new("no-such-program-xyz").spawn().unwrap_err().kind(), std::io::ErrorKind::NotFound);
    /// });
    /// ```
    #[doc(alias = "create_subprocess_exec")]
    #[track_caller]
    pub fn spawn(&mut self) -> io::Result<Child> {
        crate::runtime::with_core("process::Command::spawn", |_| ());
        exit::sweep_orphans();
        let pre = exit::PreWatch::new()?;
        let mut std_child = self.std.spawn()?;
        let pid = std_child.id();
        let stdin = std_child.stdin.take();
        let stdout = std_child.stdout.take();
        let stderr = std_child.stderr.take();
        let mut child = Child {
            std: Some(std_child),
            watch: None,
            status: None,
            hold: Some(crate::runtime::VirtualTimeHold::new()),
            kill_on_drop: self.kill_on_drop,
            stdin: None,
            stdout: None,
            stderr: None,
        };
        // From here on, an error drops `child`, which kills (or adopts) the process:
        // a spawn that reports an error leaves nothing running behind it.
        child.kill_on_drop = true;
        child.watch = Some(pre.attach(pid)?);
        child.stdin = stdin.map(ChildStdin::new).transpose()?;
        child.stdout = stdout.map(ChildStdout::new).transpose()?;
        child.stderr = stderr.map(ChildStderr::new).transpose()?;
        child.kill_on_drop = self.kill_on_drop;
        Ok(child)
    }

    /// Runs the process to completion and returns its exit status (stdio inherited unless
    /// set).
    ///
    /// # Errors
    /// As [`spawn`](Command::spawn) and [`Child::wait`].
    ///
    /// # Examples
    /// ```
    /// use simul::process::Command;
    /// simul::run(async {
    ///     let st = Command::new("sh").args(["-c", "exit 3"]).status().await.unwrap();
    ///     assert_eq!(st.code(), Some(3));
    /// });
    /// ```
    pub async fn status(&mut self) -> io::Result<ExitStatus> {
        let mut child = self.spawn()?;
        child.stdin = None;
        child.wait().await
    }

    /// Runs the process to completion, capturing stdout and stderr (unless set otherwise;
    /// stdin defaults to empty).
    ///
    /// # Errors
    /// As [`spawn`](Command::spawn) and [`Child::communicate`].
    ///
    /// # Examples
    /// ```
    /// use simul::process::Command;
    /// simul::run(async {
    ///     let out = Command::new("sh").args(["-c", "echo out; echo err >&2; exit 1"]).output().await.unwrap();
    ///     assert_eq!((out.stdout.as_slice(), out.stderr.as_slice()), (&b"out\n"[..], &b"err\n"[..]));
    ///     assert_eq!(out.status.code(), Some(1));
    /// });
    /// ```
    pub async fn output(&mut self) -> io::Result<Output> {
        if !self.stdin_set {
            self.std.stdin(Stdio::null());
        }
        if !self.stdout_set {
            self.std.stdout(Stdio::piped());
        }
        if !self.stderr_set {
            self.std.stderr(Stdio::piped());
        }
        let spawned = self.spawn();
        // Put std's defaults back for later spawns of this command.
        if !self.stdin_set {
            self.std.stdin(Stdio::inherit());
        }
        if !self.stdout_set {
            self.std.stdout(Stdio::inherit());
        }
        if !self.stderr_set {
            self.std.stderr(Stdio::inherit());
        }
        spawned?.communicate(None).await
    }
}

/// A running (or finished) child process, from [`Command::spawn`] (asyncio's `Process`).
///
/// Dropping a `Child` does not kill the process unless [`Command::kill_on_drop`] was set;
/// either way the process is reaped once it exits, so no zombie is left (by the loop if
/// one runs, else at the next spawn or drop of a child). A `Child` and its pipes belong to
/// the loop that spawned them: await them on that loop.
///
/// # Examples
/// ```
/// use simul::process::{Command, Stdio};
/// simul::run(async {
///     let mut child = Command::new("sh").args(["-c", "read x; echo got $x"])
///         .stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
///     let out = child.communicate(Some(b"42\n")).await.unwrap();
///     assert_eq!(out.stdout, b"got 42\n");
///     assert!(out.status.success());
/// });
/// ```
#[doc(alias = "Process")]
pub struct Child {
    /// `Some` until the child is dropped (then handed to the reaper if still running).
    std: Option<std::process::Child>,
    watch: Option<exit::Watch>,
    status: Option<ExitStatus>,
    /// Holds the loop's virtual clock while the child runs (released once it is reaped,
    /// or when the `Child` is dropped).
    hold: Option<crate::runtime::VirtualTimeHold>,
    kill_on_drop: bool,
    /// The child's stdin, when it was [`Stdio::piped`].
    pub stdin: Option<ChildStdin>,
    /// The child's stdout, when it was [`Stdio::piped`].
    pub stdout: Option<ChildStdout>,
    /// The child's stderr, when it was [`Stdio::piped`].
    pub stderr: Option<ChildStderr>,
}

impl fmt::Debug for Child {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Child")
            .field("pid", &self.id())
            .field("status", &self.status)
            .field("stdin", &self.stdin)
            .field("stdout", &self.stdout)
            .field("stderr", &self.stderr)
            .finish()
    }
}

impl Child {
    fn std(&mut self) -> &mut std::process::Child {
        self.std.as_mut().expect("Child used after drop")
    }

    /// The process id (asyncio's `Process.pid`). After the child has been waited for, the
    /// OS may reuse it.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let mut c = simul::process::Command::new("true").spawn().unwrap();
    ///     assert!(c.id() > 0);
    ///     c.wait().await.unwrap();
    /// });
    /// ```
    #[doc(alias = "pid")]
    pub fn id(&self) -> u32 {
        self.std.as_ref().map_or(0, |c| c.id())
    }

    /// Waits for the process to exit and returns its status (asyncio's `Process.wait()`).
    /// Closes [`Child::stdin`] first, so a child that reads to end-of-file can finish.
    /// Cancel-safe; once it has returned, later calls return the same status.
    ///
    /// Like asyncio's, this can deadlock if the child writes more to a piped stdout or
    /// stderr than the pipe holds and nobody reads it: use [`Child::communicate`] then.
    ///
    /// # Errors
    /// An OS error from `waitpid` (for instance if someone else reaped the child).
    ///
    /// # Examples
    /// ```
    /// use std::os::unix::process::ExitStatusExt;
    /// simul::run(async {
    ///     let mut c = simul::process::Command::new("sleep").arg("60").spawn().unwrap();
    ///     c.start_kill().unwrap();
    ///     assert_eq!(c.wait().await.unwrap().signal(), Some(libc::SIGKILL));
    /// });
    /// ```
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        self.stdin = None;
        std::future::poll_fn(|cx| self.poll_wait(cx)).await
    }

    /// Polls for the exit (the poll form of [`Child::wait`], which does not close stdin).
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let mut c = simul::process::Command::new("true").spawn().unwrap();
    ///     let st = std::future::poll_fn(|cx| c.poll_wait(cx)).await.unwrap();
    ///     assert!(st.success());
    /// });
    /// ```
    pub fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<ExitStatus>> {
        if let Some(st) = self.status {
            return Poll::Ready(Ok(st));
        }
        let child = self.std.as_mut().expect("Child used after drop");
        let Some(watch) = self.watch.as_mut() else {
            return Poll::Ready(Err(io::Error::other(
                "simul::process: the child is not watched",
            )));
        };
        let st = match watch.poll_exit(cx, child) {
            Poll::Ready(Ok(st)) => st,
            other => return other,
        };
        self.status = Some(st);
        self.watch = None; // the pidfd is closed as soon as it has served
        self.hold = None;
        Poll::Ready(Ok(st))
    }

    /// The exit status if the process has exited (reaping it), else `None`, without
    /// waiting (asyncio's `Process.returncode`).
    ///
    /// # Errors
    /// An OS error from `waitpid`.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let mut c = simul::process::Command::new("sleep").arg("60").kill_on_drop(true).spawn().unwrap();
    ///     assert!(c.try_wait().unwrap().is_none());
    /// });
    /// ```
    #[doc(alias = "returncode")]
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if let Some(st) = self.status {
            return Ok(Some(st));
        }
        let st = self.std().try_wait()?;
        if st.is_some() {
            self.status = st;
            self.watch = None;
            self.hold = None;
        }
        Ok(st)
    }

    /// Sends SIGKILL without waiting (asyncio's `Process.kill()`). Does nothing if the
    /// process has already been waited for.
    ///
    /// # Errors
    /// An OS error from `kill`.
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let mut c = simul::process::Command::new("sleep").arg("60").spawn().unwrap();
    ///     c.start_kill().unwrap();
    ///     assert!(!c.wait().await.unwrap().success());
    /// });
    /// ```
    pub fn start_kill(&mut self) -> io::Result<()> {
        if self.status.is_some() {
            return Ok(());
        }
        self.std().kill()
    }

    /// Sends SIGKILL and waits for the process to exit.
    ///
    /// # Errors
    /// As [`start_kill`](Child::start_kill) and [`wait`](Child::wait).
    ///
    /// # Examples
    /// ```
    /// simul::run(async {
    ///     let mut c = simul::process::Command::new("sleep").arg("60").spawn().unwrap();
    ///     c.kill().await.unwrap();
    ///     assert!(c.try_wait().unwrap().is_some());
    /// });
    /// ```
    pub async fn kill(&mut self) -> io::Result<()> {
        self.start_kill()?;
        self.wait().await.map(drop)
    }

    /// Sends `signal` to the process (asyncio's `Process.send_signal()`). Does nothing if
    /// the process has already been waited for (its pid may have been reused).
    ///
    /// # Errors
    /// `InvalidInput` for a bad signal number; an OS error from `kill`.
    ///
    /// # Examples
    /// ```
    /// use std::os::unix::process::ExitStatusExt;
    /// use simul::signal::SignalKind;
    /// simul::run(async {
    ///     let mut c = simul::process::Command::new("sleep").arg("60").spawn().unwrap();
    ///     c.send_signal(SignalKind::terminate()).unwrap();
    ///     assert_eq!(c.wait().await.unwrap().signal(), Some(libc::SIGTERM));
    /// });
    /// ```
    #[doc(alias = "terminate")]
    pub fn send_signal(&mut self, signal: crate::signal::SignalKind) -> io::Result<()> {
        if self.status.is_some() {
            return Ok(());
        }
        crate::signal::send(self.id(), signal)
    }

    /// Writes `input` to stdin (then closes it) while reading stdout and stderr to their
    /// end, then waits for the exit: asyncio's `Process.communicate(input)`. Feeding and
    /// draining run concurrently, so a child that blocks writing output while the parent
    /// writes its input cannot deadlock. Streams that were not piped are empty in the
    /// result; streams already taken out of the `Child` are left alone.
    ///
    /// As with asyncio, a child that exits (or closes its stdin) before reading all of
    /// `input` is not an error: the rest of `input` is dropped (`BrokenPipe` is ignored).
    ///
    /// # Errors
    /// `InvalidInput` if `input` is non-empty but stdin is not piped; an OS error while
    /// reading or waiting. Cancel-safety: cancelling loses the output read so far.
    ///
    /// # Examples
    /// ```
    /// use simul::process::{Command, Stdio};
    /// simul::run(async {
    ///     let mut c = Command::new("wc").arg("-c").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    ///     let out = c.communicate(Some(&[b'x'; 100_000])).await.unwrap();
    ///     assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), "100000");
    /// });
    /// ```
    pub async fn communicate(&mut self, input: Option<&[u8]>) -> io::Result<Output> {
        let input = input.unwrap_or(&[]);
        if !input.is_empty() && self.stdin.is_none() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "simul::process: communicate() got input but the child's stdin is not piped",
            ));
        }
        let mut stdin = self.stdin.take();
        let mut out = self.stdout.take();
        let mut err = self.stderr.take();
        let mut written = 0;
        let mut out_buf = Vec::new();
        let mut err_buf = Vec::new();
        std::future::poll_fn(|cx| {
            // Feed stdin until it is all written (or the child stops reading), then close.
            while let Some(w) = stdin.as_mut() {
                if written == input.len() {
                    stdin = None;
                    break;
                }
                match w.poll_write_buf(cx, &input[written..]) {
                    Poll::Ready(Ok(n)) => written += n,
                    Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::BrokenPipe => stdin = None,
                    Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => break,
                }
            }
            if let Some(p) = out.as_mut() {
                match pipe::poll_drain_out(p, cx, &mut out_buf) {
                    Poll::Ready(Ok(())) => out = None,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => {}
                }
            }
            if let Some(p) = err.as_mut() {
                match pipe::poll_drain_err(p, cx, &mut err_buf) {
                    Poll::Ready(Ok(())) => err = None,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => {}
                }
            }
            if stdin.is_none() && out.is_none() && err.is_none() {
                Poll::Ready(Ok(()))
            } else {
                Poll::Pending
            }
        })
        .await?;
        let status = self.wait().await?;
        Ok(Output {
            status,
            stdout: out_buf,
            stderr: err_buf,
        })
    }

    /// Reads stdout and stderr to their end and waits (std's `wait_with_output`): the same
    /// as [`communicate`](Child::communicate) without input.
    ///
    /// # Errors
    /// As [`communicate`](Child::communicate).
    ///
    /// # Examples
    /// ```
    /// use simul::process::{Command, Stdio};
    /// simul::run(async {
    ///     let c = Command::new("echo").arg("x").stdout(Stdio::piped()).spawn().unwrap();
    ///     assert_eq!(c.wait_with_output().await.unwrap().stdout, b"x\n");
    /// });
    /// ```
    pub async fn wait_with_output(mut self) -> io::Result<Output> {
        self.communicate(None).await
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let Some(mut std_child) = self.std.take() else {
            return;
        };
        if self.status.is_some() {
            return; // already reaped
        }
        if self.kill_on_drop {
            let _ = std_child.kill();
        }
        exit::adopt(std_child, self.watch.take());
    }
}

/// asyncio's `create_subprocess_exec(program, *args)`: starts `program` with `args`, with
/// stdin, stdout and stderr **piped** (asyncio's `PIPE`), so [`Child::communicate`] works
/// as in the asyncio tutorials. Use [`Command`] for other settings.
///
/// # Errors
/// As [`Command::spawn`].
///
/// # Examples
/// ```
/// simul::run(async {
///     let mut p = simul::process::create_subprocess_exec("echo", ["a", "b"]).await.unwrap();
///     let out = p.communicate(None).await.unwrap();
///     assert_eq!(out.stdout, b"a b\n");
/// });
/// ```
pub async fn create_subprocess_exec<I, S>(program: impl AsRef<OsStr>, args: I) -> io::Result<Child>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
}

/// asyncio's `create_subprocess_shell(cmd)`: runs `cmd` with `sh -c`, stdio piped as in
/// [`create_subprocess_exec`]. Quote untrusted input yourself, or prefer
/// [`create_subprocess_exec`].
///
/// # Errors
/// As [`Command::spawn`].
///
/// # Examples
/// ```
/// simul::run(async {
///     let mut p = simul::process::create_subprocess_shell("echo one two | wc -w").await.unwrap();
///     let out = p.communicate(None).await.unwrap();
///     assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), "2");
/// });
/// ```
pub async fn create_subprocess_shell(cmd: impl AsRef<OsStr>) -> io::Result<Child> {
    create_subprocess_exec("sh", [OsStr::new("-c"), cmd.as_ref()]).await
}
