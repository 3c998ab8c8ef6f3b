//! Debug mode, the stall watchdog and traces: every report triggered and checked.
use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use simul::{ExceptionContext, ExceptionKind};

type Reports = Rc<RefCell<Vec<ExceptionContext>>>;

fn capture(lp: &simul::EventLoop) -> Reports {
    let reports: Reports = Rc::default();
    let r = reports.clone();
    lp.set_exception_handler(move |ctx| r.borrow_mut().push(ctx.clone()));
    reports
}

fn hog(d: Duration) {
    let until = Instant::now() + d;
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}

#[test]
fn debug_mode_reports_slow_polls_with_name_and_location() {
    let lp = simul::EventLoop::builder()
        .debug(true)
        .slow_poll_threshold(Duration::from_millis(20))
        .build()
        .unwrap();
    let reports = capture(&lp);
    lp.run_until_complete(async {
        let slow = simul::Task::builder().name("cpu-hog").spawn(async {
            hog(Duration::from_millis(40)); // blocks the loop: no await
        });
        let fast = simul::Task::builder()
            .name("polite")
            .spawn(simul::yield_now());
        slow.await.unwrap();
        fast.await.unwrap();
    });
    let reports = reports.borrow();
    assert_eq!(reports.len(), 1, "{reports:?}");
    let r = &reports[0];
    assert_eq!(r.kind(), ExceptionKind::SlowPoll);
    assert_eq!(r.task(), Some("cpu-hog"));
    assert!(r.message().contains("debug_reports.rs"), "{}", r.message());
    assert!(r.message().contains("took 0.0"), "{}", r.message());
}

#[test]
fn slow_polls_are_not_reported_outside_debug_mode() {
    let lp = simul::EventLoop::builder()
        .debug(false)
        .slow_poll_threshold(Duration::from_millis(1))
        .build()
        .unwrap();
    let reports = capture(&lp);
    lp.run_until_complete(async {
        simul::spawn(async { hog(Duration::from_millis(5)) })
            .await
            .unwrap();
    });
    assert!(reports.borrow().is_empty());
}

#[test]
fn watchdog_names_the_task_that_stalls_the_loop() {
    let lp = simul::EventLoop::builder()
        .debug(false)
        .stall_watchdog(Duration::from_millis(30))
        .build()
        .unwrap();
    let reports = capture(&lp);
    lp.run_until_complete(async {
        let ok = simul::Task::builder().name("well-behaved").spawn(async {
            for _ in 0..5 {
                simul::sleep(Duration::from_millis(2)).await;
            }
        });
        let bad = simul::Task::builder().name("blocking-call").spawn(async {
            // stands in for std::thread::sleep / a blocking syscall inside a task
            std::thread::sleep(Duration::from_millis(250));
        });
        ok.await.unwrap();
        bad.await.unwrap();
    });
    let reports = reports.borrow();
    let stalls: Vec<_> = reports
        .iter()
        .filter(|r| r.kind() == ExceptionKind::Stall)
        .collect();
    assert_eq!(stalls.len(), 1, "{reports:?}");
    assert_eq!(stalls[0].task(), Some("blocking-call"));
    assert!(
        stalls[0].message().contains("stalled for 0.2"),
        "{}",
        stalls[0].message()
    );
}

#[test]
fn trace_timeline_shows_tasks_taking_turns() {
    let lp = simul::EventLoop::builder().trace(true).build().unwrap();
    let text = lp.run_until_complete(async {
        let mk = |name: &'static str| {
            simul::Task::builder().name(name).spawn(async {
                simul::yield_now().await;
                simul::yield_now().await;
            })
        };
        let (a, b) = (mk("task1"), mk("task2"));
        a.await.unwrap();
        b.await.unwrap();
        simul::trace::timeline()
    });
    let order: Vec<&str> = text
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            l.split("ms").nth(1).map(|rest| rest.trim())
        })
        .filter(|s| s.starts_with("task"))
        .map(|s| &s[..s.find(" (").unwrap_or(s.len())])
        .map(str::trim)
        .collect();
    assert_eq!(
        order,
        [
            "task1  part 1",
            "task2  part 1",
            "task1  part 2",
            "task2  part 2",
            "task1  part 3",
            "task2  part 3"
        ],
        "{text}"
    );
}

#[test]
fn timeline_without_tracing_says_so() {
    let lp = simul::EventLoop::builder().trace(false).build().unwrap();
    let text = lp.run_until_complete(async { simul::trace::timeline() });
    assert!(text.starts_with("tracing is off"));
}

#[test]
fn trace_file_is_valid_chrome_trace_json() {
    let dir = std::env::temp_dir().join(format!("simul-trace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("trace.json");
    let lp = simul::EventLoop::builder()
        .trace_path(&path)
        .build()
        .unwrap();
    lp.run_until_complete(async {
        let t = simul::Task::builder().name("sleeper").spawn(async {
            simul::sleep(Duration::from_millis(2)).await;
        });
        t.await.unwrap();
    });
    lp.close();
    let text = std::fs::read_to_string(&path).expect("trace written at close");
    let json: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    let events = json["traceEvents"].as_array().unwrap();
    let has = |cat: &str, name_part: &str| {
        events.iter().any(|e| {
            e["cat"].as_str() == Some(cat)
                && e["name"].as_str().is_some_and(|n| n.contains(name_part))
        })
    };
    assert!(has("poll", "sleeper"), "{text}");
    assert!(has("poll", "main"));
    assert!(has("wake", "sleeper"));
    assert!(has("timer", "timers fired"));
    assert!(has("io", "wait in selector"));
    for e in events.iter().filter(|e| e["ph"] == "X") {
        assert!(e["ts"].as_f64().is_some() && e["dur"].as_f64().is_some());
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn virtual_time_runs_a_minute_of_timeouts_instantly_and_identically() {
    let run = || {
        let lp = simul::EventLoop::builder()
            .virtual_time(true)
            .build()
            .unwrap();
        let t0 = lp.time();
        let wall = Instant::now();
        let log = lp.run_until_complete(async move {
            let log = Rc::new(RefCell::new(Vec::new()));
            let tasks: Vec<_> = (0..10u64)
                .map(|i| {
                    let log = log.clone();
                    simul::spawn(async move {
                        let r = simul::wait_for(
                            Duration::from_secs(60),
                            simul::sleep(Duration::from_secs(i * 10)),
                        )
                        .await;
                        log.borrow_mut().push((i, r.is_ok(), simul::time() - t0));
                    })
                })
                .collect();
            let mut iv = simul::interval(Duration::from_secs(7));
            for _ in 0..5 {
                let at = iv.tick().await;
                log.borrow_mut().push((99, true, at - t0));
            }
            for t in tasks {
                t.await.unwrap();
            }
            log.take()
        });
        assert!(wall.elapsed() < Duration::from_secs(2));
        log
    };
    let first = run();
    assert_eq!(
        first.iter().filter(|e| e.0 != 99 && !e.1).count(),
        3,
        "sleeps of 60..90 s time out"
    );
    for _ in 0..100 {
        assert_eq!(run(), first);
    }
}

#[test]
fn debug_mode_reports_a_stream_writer_dropped_unclosed() {
    let lp = simul::EventLoop::builder().debug(true).build().unwrap();
    let reports = capture(&lp);
    lp.run_until_complete(async {
        let server = simul::start_server(
            |_r: simul::StreamReader, w: simul::StreamWriter| async move {
                w.close();
            },
            "127.0.0.1",
            0,
        )
        .await
        .unwrap();
        let port = server.local_addrs()[0].port().unwrap();
        let (_r1, w1) = simul::open_connection("127.0.0.1", port).await.unwrap();
        w1.close(); // closed properly: no report
        drop(w1);
        let (_r2, w2) = simul::open_connection("127.0.0.1", port).await.unwrap();
        drop(w2); // dropped open: reported
        server.close();
        server.wait_closed().await;
    });
    let reports = reports.borrow();
    let warnings: Vec<_> = reports
        .iter()
        .filter(|r| r.kind() == ExceptionKind::ResourceWarning)
        .collect();
    assert_eq!(warnings.len(), 1, "{reports:?}");
    assert!(warnings[0].message().contains("unclosed StreamWriter"));
}

#[test]
fn a_slow_poll_report_names_its_task_once() {
    let lp = simul::EventLoop::builder()
        .debug(true)
        .slow_poll_threshold(Duration::from_millis(5))
        .build()
        .unwrap();
    let reports = capture(&lp);
    lp.run_until_complete(async {
        simul::Task::builder()
            .name("named-hog")
            .spawn(async { hog(Duration::from_millis(20)) })
            .await
            .unwrap();
    });
    let reports = reports.borrow();
    let line = reports
        .iter()
        .map(|r| (r.kind(), r.to_string()))
        // On a loaded machine the main task's short poll may be reported too: pick the hog's.
        .find(|(kind, line)| *kind == ExceptionKind::SlowPoll && line.contains("named-hog"))
        .expect("a slow-poll report for the hog")
        .1;
    assert_eq!(line.matches("named-hog").count(), 1, "{line}");
}
