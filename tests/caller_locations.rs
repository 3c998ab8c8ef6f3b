//! Reports point at the user's code: a call outside a loop panics at the caller's line,
//! and every task records where the user spawned it (`spawn`, `TaskGroup::spawn`,
//! `LoopHandle::spawn`, the `start_server` call for connection handlers), with handler
//! tasks named by their peer.

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;
use std::time::Duration;

thread_local! {
    static LAST_PANIC: RefCell<Option<(String, u32, String)>> = const { RefCell::new(None) };
}

/// Runs `f`, which must panic, and returns the panic's (file, line, message).
fn panic_site(f: impl FnOnce()) -> (String, u32, String) {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let Some(loc) = info.location() else {
                return previous(info);
            };
            let msg = info
                .payload()
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| info.payload().downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            LAST_PANIC.with(|p| *p.borrow_mut() = Some((loc.file().to_string(), loc.line(), msg)));
        }));
    });
    LAST_PANIC.with(|p| p.borrow_mut().take());
    assert!(
        catch_unwind(AssertUnwindSafe(f)).is_err(),
        "expected a panic"
    );
    LAST_PANIC
        .with(|p| p.borrow_mut().take())
        .expect("the panic hook saw the panic")
}

/// Asserts that `f` panics in this file (the caller's code, not simul's) and returns the
/// message.
fn panics_here(f: impl FnOnce()) -> String {
    let (file, line, msg) = panic_site(f);
    assert_eq!(file, file!(), "panicked at {file}:{line}: {msg}");
    msg
}

#[test]
fn calls_outside_a_loop_panic_at_the_callers_line() {
    let (site, line) = (panic_site(|| drop(simul::spawn(async {}))), line!());
    assert_eq!((site.0.as_str(), site.1), (file!(), line), "{}", site.2);
    assert!(
        site.2
            .contains("simul::spawn() called outside a running event loop"),
        "{}",
        site.2
    );

    panics_here(|| {
        let _ = simul::time();
    });
    panics_here(|| drop(simul::call_soon(|| {})));
    panics_here(|| drop(simul::call_later(Duration::ZERO, || {})));
    panics_here(|| drop(simul::to_thread(|| 1)));
    panics_here(|| drop(simul::interval(Duration::from_secs(1))));
    panics_here(|| drop(simul::LoopHandle::current()));
    panics_here(|| drop(simul::Task::builder().spawn(async {})));
}

#[test]
fn a_sleep_made_outside_a_loop_says_it_was_polled_outside_one() {
    let sleep = simul::sleep(Duration::from_millis(1)); // creating it is fine
    let (_, _, msg) = panic_site(move || {
        let mut sleep = std::pin::pin!(sleep);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let _ = std::future::Future::poll(sleep.as_mut(), &mut cx);
    });
    assert!(
        msg.contains("simul::sleep() future was polled outside"),
        "{msg}"
    );
    assert!(msg.contains("must be awaited in a task"), "{msg}");
}

#[test]
fn tasks_record_where_the_user_spawned_them() {
    simul::run(async {
        let t = simul::spawn(async {});
        assert_eq!(t.info().location().file(), file!());
        let tg = simul::TaskGroup::new();
        let fut = async { simul::current_task().unwrap().location().line() };
        let (a, expected) = (tg.spawn(fut), line!());
        tg.join().await.unwrap();
        assert_eq!(a.await.unwrap(), expected);
        t.await.unwrap();
    });

    let lp = simul::EventLoop::new().unwrap();
    let handle = lp.handle();
    let (remote, expected_line) = std::thread::spawn(move || {
        let fut = async {
            let me = simul::current_task().unwrap();
            (me.location().file().to_string(), me.location().line())
        };
        (handle.spawn(fut), line!())
    })
    .join()
    .unwrap();
    let (file, line) = lp.run_until_complete(remote).unwrap();
    assert_eq!((file.as_str(), line), (file!(), expected_line));
}

#[test]
fn connection_handlers_are_named_by_peer_and_spawned_at_start_server() {
    simul::run(async {
        let handler = |_r, w: simul::StreamWriter| async move {
            let me = simul::current_task().unwrap();
            let (file, line) = (me.location().file(), me.location().line());
            w.write(format!("{}|{file}|{line}", me.name()).as_bytes());
            w.close();
        };
        let (server, start_line) = (simul::start_server(handler, "127.0.0.1", 0), line!());
        let server = server.await.unwrap();
        let port = server.local_addrs()[0].port().unwrap();
        let (reader, writer) = simul::open_connection("127.0.0.1", port).await.unwrap();
        let me = writer.local_addr().unwrap();
        let report = String::from_utf8(reader.read_to_end().await.unwrap()).unwrap();
        assert_eq!(
            report,
            format!("connection from {me}|{}|{start_line}", file!())
        );
        server.close();
    });
}
