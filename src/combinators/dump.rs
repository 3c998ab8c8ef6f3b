//! A readable table of the tasks alive on the current loop.
//!
//! # Design
//!
//! [`dump_tasks_to`] formats [`crate::all_tasks`] (plus the task calling it, from
//! [`crate::current_task`], marked with `*`) as a fixed-width table: id, state, polls,
//! age, name and spawn location — what asyncio users get from `asyncio ps` or from
//! printing `asyncio.all_tasks()`. [`dump_tasks`] writes it to standard error, the
//! conventional place for diagnostics, so it never mixes with a program's output.
//! It only reads snapshots ([`crate::TaskInfo`]), so it is safe to call from any task.
//! On a loop of a [`crate::Loops`] set the closing line names the loop ("on loop 1").

use std::io::{self, Write};

use crate::task::{all_tasks, current_task, TaskInfo};

/// Prints a table of the current loop's tasks to standard error.
///
/// Outside a loop it prints an empty table.
///
/// # Examples
/// ```
/// simul::run(async {
///     let _t = simul::Task::builder().name("worker").spawn(std::future::pending::<()>());
///     simul::dump_tasks();
/// });
/// ```
pub fn dump_tasks() {
    let stderr = io::stderr();
    let mut lock = stderr.lock();
    let _ = dump_tasks_to(&mut lock);
}

/// Writes a table of the current loop's tasks to `out`.
///
/// # Errors
/// Whatever writing to `out` returns.
///
/// # Examples
/// ```
/// simul::run(async {
///     let _t = simul::Task::builder().name("worker").spawn(std::future::pending::<()>());
///     let mut buf = Vec::new();
///     simul::dump_tasks_to(&mut buf).unwrap();
///     let table = String::from_utf8(buf).unwrap();
///     assert!(table.contains("worker"));
///     assert!(table.lines().next().unwrap().contains("STATE"));
/// });
/// ```
pub fn dump_tasks_to(out: &mut impl Write) -> io::Result<()> {
    let current = current_task();
    let mut rows: Vec<(bool, TaskInfo)> = Vec::new();
    if let Some(me) = &current {
        rows.push((true, me.clone()));
    }
    for info in all_tasks() {
        if current.as_ref().is_some_and(|c| c.id() == info.id()) {
            continue;
        }
        rows.push((false, info));
    }
    writeln!(
        out,
        "  {:>6}  {:<9}  {:>7}  {:>10}  {:<20}  SPAWNED AT",
        "ID", "STATE", "POLLS", "AGE", "NAME"
    )?;
    for (me, info) in &rows {
        let state = format!("{:?}", info.state());
        let age = format!("{:.3}s", info.age().as_secs_f64());
        writeln!(
            out,
            "{} {:>6}  {:<9}  {:>7}  {:>10}  {:<20}  {}:{}",
            if *me { '*' } else { ' ' },
            info.id(),
            state,
            info.polls(),
            age,
            info.name(),
            info.location().file(),
            info.location().line()
        )?;
    }
    // A loop of a `Loops` set says which one it is.
    let on = crate::runtime::try_with_core(|core| core.loop_name().map(String::from))
        .flatten()
        .map_or_else(String::new, |n| format!(" on {n}"));
    writeln!(out, "{} task(s){on}", rows.len())
}
