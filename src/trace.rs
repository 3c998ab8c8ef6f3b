//! Traces: what the loop did, as a Chrome trace file or as text.
//!
//! With [`crate::Builder::trace`] (or `SIMUL_TRACE=path.json`) the loop records every task
//! poll (start, duration, which step of the task it was), every wake (local or from another
//! thread), every batch of fired timers and every wait in the selector. The records stay in
//! memory and, when `SIMUL_TRACE` names a file, are written there when the loop closes as
//! Chrome trace-event JSON — open it in Perfetto (ui.perfetto.dev) or `chrome://tracing`.
//!
//! # Memory bound
//!
//! A tracing loop keeps at most [`MAX_EVENTS`] records (40 bytes each) and the names of at
//! most [`MAX_NAMES`] tasks, each cut to [`MAX_NAME_LEN`] bytes: about 40 MiB plus 12 MiB,
//! however long the loop runs. Later events are counted, not kept; a task's name is kept
//! only when one of its polls is recorded, and a task without a kept name shows as
//! `#<task id>`.
//!
//! [`timeline`] renders the recorded polls of the current loop as text, the way the asyncio
//! tutorials draw tasks taking turns on one thread:
//!
//! ```text
//!     0.000 ms  task1  part 1   (0.004 ms)
//!     0.006 ms  task2  part 1   (0.002 ms)
//!     1.071 ms  task1  part 2   (0.003 ms)
//! ```

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Records kept per loop; later events are counted but dropped.
pub const MAX_EVENTS: usize = 1_000_000;

/// Task names kept per loop (see the module doc's memory bound).
pub const MAX_NAMES: usize = 65_536;

/// Bytes of a task's name kept in a trace (longer names are cut at a character boundary).
pub const MAX_NAME_LEN: usize = 64;

#[derive(Clone, Copy, Debug)]
enum Event {
    Poll {
        id: u64,
        start_ns: u64,
        dur_ns: u64,
        part: u64,
    },
    Wake {
        id: u64,
        at_ns: u64,
        remote: bool,
    },
    Timers {
        at_ns: u64,
        count: usize,
    },
    Park {
        start_ns: u64,
        dur_ns: u64,
    },
}

/// A loop's trace recorder.
pub(crate) struct Tracer {
    origin: Instant,
    events: Vec<Event>,
    names: HashMap<u64, String>,
    dropped: u64,
    path: Option<PathBuf>,
}

impl Tracer {
    pub(crate) fn new(path: Option<PathBuf>) -> Tracer {
        Tracer {
            origin: Instant::now(),
            events: Vec::new(),
            names: HashMap::new(),
            dropped: 0,
            path,
        }
    }

    fn ns(&self, t: Instant) -> u64 {
        u64::try_from(t.saturating_duration_since(self.origin).as_nanos()).unwrap_or(u64::MAX)
    }

    fn push(&mut self, e: Event) {
        if self.events.len() < MAX_EVENTS {
            self.events.push(e);
        } else {
            self.dropped += 1;
        }
    }

    pub(crate) fn poll(
        &mut self,
        id: u64,
        name: impl FnOnce() -> String,
        start: Instant,
        dur: Duration,
        part: u64,
    ) {
        if self.events.len() < MAX_EVENTS && self.names.len() < MAX_NAMES {
            self.names.entry(id).or_insert_with(|| {
                let mut name = name();
                if name.len() > MAX_NAME_LEN {
                    let mut end = MAX_NAME_LEN;
                    while !name.is_char_boundary(end) {
                        end -= 1;
                    }
                    name.truncate(end);
                }
                name.shrink_to_fit();
                name
            });
        }
        let start_ns = self.ns(start);
        self.push(Event::Poll {
            id,
            start_ns,
            dur_ns: u64::try_from(dur.as_nanos()).unwrap_or(u64::MAX),
            part,
        });
    }

    pub(crate) fn wake(&mut self, id: u64, remote: bool) {
        let at_ns = self.ns(Instant::now());
        self.push(Event::Wake { id, at_ns, remote });
    }

    pub(crate) fn timers(&mut self, count: usize) {
        let at_ns = self.ns(Instant::now());
        self.push(Event::Timers { at_ns, count });
    }

    pub(crate) fn park(&mut self, start: Instant, dur: Duration) {
        let start_ns = self.ns(start);
        self.push(Event::Park {
            start_ns,
            dur_ns: u64::try_from(dur.as_nanos()).unwrap_or(u64::MAX),
        });
    }

    fn name(&self, id: u64) -> std::borrow::Cow<'_, str> {
        match self.names.get(&id) {
            Some(n) => n.as_str().into(),
            None => format!("#{id}").into(),
        }
    }

    pub(crate) fn timeline(&self) -> String {
        let width = self
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Poll { id, .. } => Some(self.name(*id).len()),
                _ => None,
            })
            .max()
            .unwrap_or(4);
        let mut out = String::new();
        for e in &self.events {
            if let Event::Poll {
                id,
                start_ns,
                dur_ns,
                part,
            } = e
            {
                let _ = writeln!(
                    out,
                    "{:>10.3} ms  {:<width$}  part {:<3} ({:.3} ms)",
                    *start_ns as f64 / 1e6,
                    self.name(*id),
                    part,
                    *dur_ns as f64 / 1e6,
                );
            }
        }
        if self.dropped > 0 {
            let _ = writeln!(out, "... {} more events not recorded", self.dropped);
        }
        out
    }

    /// Writes the Chrome trace-event JSON.
    pub(crate) fn write_json(&self, w: &mut impl Write, tid: u64) -> io::Result<()> {
        fn esc(s: &str) -> String {
            let mut o = String::with_capacity(s.len());
            for c in s.chars() {
                match c {
                    '"' => o.push_str("\\\""),
                    '\\' => o.push_str("\\\\"),
                    c if (c as u32) < 0x20 => {
                        let _ = write!(o, "\\u{:04x}", c as u32);
                    }
                    c => o.push(c),
                }
            }
            o
        }
        let us = |ns: u64| ns as f64 / 1000.0;
        writeln!(w, "{{\"traceEvents\":[")?;
        writeln!(
            w,
            "{{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":{tid},\"args\":{{\"name\":\"simul loop {tid}\"}}}}"
        )?;
        for e in &self.events {
            match *e {
                Event::Poll {
                    id,
                    start_ns,
                    dur_ns,
                    part,
                } => writeln!(
                    w,
                    ",{{\"name\":\"{}\",\"cat\":\"poll\",\"ph\":\"X\",\"ts\":{:.3},\"dur\":{:.3},\"pid\":1,\"tid\":{tid},\"args\":{{\"task_id\":{id},\"part\":{part}}}}}",
                    esc(&self.name(id)),
                    us(start_ns),
                    us(dur_ns)
                )?,
                Event::Wake { id, at_ns, remote } => writeln!(
                    w,
                    ",{{\"name\":\"wake {}\",\"cat\":\"wake\",\"ph\":\"i\",\"s\":\"t\",\"ts\":{:.3},\"pid\":1,\"tid\":{tid},\"args\":{{\"task_id\":{id},\"remote\":{remote}}}}}",
                    esc(&self.name(id)),
                    us(at_ns)
                )?,
                Event::Timers { at_ns, count } => writeln!(
                    w,
                    ",{{\"name\":\"timers fired\",\"cat\":\"timer\",\"ph\":\"i\",\"s\":\"t\",\"ts\":{:.3},\"pid\":1,\"tid\":{tid},\"args\":{{\"count\":{count}}}}}",
                    us(at_ns)
                )?,
                Event::Park { start_ns, dur_ns } => writeln!(
                    w,
                    ",{{\"name\":\"wait in selector\",\"cat\":\"io\",\"ph\":\"X\",\"ts\":{:.3},\"dur\":{:.3},\"pid\":1,\"tid\":{tid}}}",
                    us(start_ns),
                    us(dur_ns)
                )?,
            }
        }
        writeln!(w, "]}}")
    }

    /// Writes the trace to the `SIMUL_TRACE` file, if one was named.
    pub(crate) fn flush_to_file(&self, tid: u64) {
        let Some(path) = &self.path else { return };
        // Several loops tracing to one path in one process: the first to finish writes
        // `path`, later ones `path.N` (N = the loop's number).
        static WRITTEN: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());
        let first = {
            let mut w = WRITTEN.lock().unwrap_or_else(|e| e.into_inner());
            if w.contains(path) {
                false
            } else {
                w.push(path.clone());
                true
            }
        };
        let path = if first {
            path.clone()
        } else {
            let mut p = path.clone().into_os_string();
            p.push(format!(".{tid}"));
            PathBuf::from(p)
        };
        let res = std::fs::File::create(&path).and_then(|f| {
            let mut w = io::BufWriter::new(f);
            self.write_json(&mut w, tid)?;
            w.flush()
        });
        if let Err(e) = res {
            eprintln!("simul: cannot write the trace to {}: {e}", path.display());
        }
    }
}

/// The current loop's polls as text, one line per task step in the order they ran.
///
/// Needs tracing on ([`crate::Builder::trace`] or `SIMUL_TRACE`); otherwise returns a
/// one-line note saying so.
///
/// # Examples
/// ```
/// let lp = simul::EventLoop::builder().trace(true).build().unwrap();
/// let text = lp.run_until_complete(async {
///     let t = simul::Task::builder().name("task1").spawn(async { simul::yield_now().await });
///     t.await.unwrap();
///     simul::trace::timeline()
/// });
/// assert!(text.contains("task1  part 1"));
/// assert!(text.contains("task1  part 2"));
/// ```
pub fn timeline() -> String {
    crate::runtime::try_with_core(|core| core.tracer().map(|t| t.borrow().timeline()))
        .flatten()
        .unwrap_or_else(|| {
            "tracing is off: build the loop with .trace(true) or set SIMUL_TRACE\n".to_string()
        })
}

pub(crate) type TracerCell = RefCell<Tracer>;
