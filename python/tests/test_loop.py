"""The loop core: callbacks, timers, run/stop/close, errors, threads, signals."""

from __future__ import annotations

import asyncio
import contextvars
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

import simul


def test_is_an_asyncio_loop(loop: simul.EventLoop) -> None:
    assert isinstance(loop, asyncio.AbstractEventLoop)
    assert isinstance(loop, simul.EventLoop)


def test_call_soon_runs_in_fifo_order_with_args(loop: simul.EventLoop) -> None:
    out: list[int] = []
    for i in range(5):
        loop.call_soon(out.append, i)
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert out == [0, 1, 2, 3, 4]


def test_cancelled_handle_does_not_run(loop: simul.EventLoop) -> None:
    out: list[int] = []
    h = loop.call_soon(out.append, 1)
    assert not h.cancelled()
    h.cancel()
    assert h.cancelled()
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert out == []


def test_timers_fire_in_deadline_order_and_never_early(loop: simul.EventLoop) -> None:
    fired: list[tuple[str, float]] = []
    t0 = loop.time()
    for name, d in [("c", 0.03), ("a", 0.01), ("b", 0.02)]:
        when = t0 + d
        loop.call_at(when, lambda n=name, w=when: fired.append((n, loop.time() - w)))
    loop.call_later(0.05, loop.stop)
    loop.run_forever()
    assert [n for n, _ in fired] == ["a", "b", "c"]
    assert all(late >= 0 for _, late in fired)


def test_timer_handle_when_and_cancel(loop: simul.EventLoop) -> None:
    out: list[int] = []
    h = loop.call_later(0.01, out.append, 1)
    assert abs(h.when() - (loop.time() + 0.01)) < 0.01
    h.cancel()
    loop.call_later(0.03, loop.stop)
    loop.run_forever()
    assert out == []


def test_time_is_monotonic_scale(loop: simul.EventLoop) -> None:
    assert abs(loop.time() - time.monotonic()) < 0.05


def test_context_is_used(loop: simul.EventLoop) -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="outer")
    ctx = contextvars.copy_context()
    ctx.run(var.set, "inner")
    seen: list[str] = []
    loop.call_soon(lambda: seen.append(var.get()), context=ctx)
    loop.call_soon(lambda: seen.append(var.get()))
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert seen == ["inner", "outer"]


def test_create_future_makes_asyncio_futures_future_of_this_loop(
    loop: simul.EventLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    fut = loop.create_future()
    assert type(fut) is asyncio.futures.Future
    assert fut.get_loop() is loop
    loop.call_soon(fut.set_result, 7)
    assert loop.run_until_complete(fut) == 7

    # Looked up at each call, as asyncio's own `create_future` does.
    class MyFuture(asyncio.Future):  # type: ignore[type-arg]
        pass

    monkeypatch.setattr(asyncio.futures, "Future", MyFuture)
    mine = loop.create_future()
    assert type(mine) is MyFuture
    assert mine.get_loop() is loop


def test_create_future_belongs_to_its_loop_running_or_not(loop: simul.EventLoop) -> None:
    # Inside the running loop or outside it, for this loop or another: always the loop
    # asked.
    other = simul.new_event_loop()
    try:
        assert other.create_future().get_loop() is other

        async def main() -> tuple[object, object, bool]:
            mine = loop.create_future()
            theirs = other.create_future()
            mine.set_result(1)
            await mine
            return mine.get_loop(), theirs.get_loop(), theirs.done()

        mine_loop, their_loop, their_done = loop.run_until_complete(main())
        assert mine_loop is loop
        assert their_loop is other
        assert their_done is False
    finally:
        other.close()


def test_create_task_belongs_to_its_loop_running_or_not(loop: simul.EventLoop) -> None:
    # Inside the running loop or outside it: always the loop asked, name and context
    # kept.
    other = simul.new_event_loop()
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")

    async def value() -> str:
        return var.get()

    try:
        early = loop.create_task(value())
        assert early.get_loop() is loop

        async def main() -> tuple[object, ...]:
            mine = loop.create_task(value())
            named = loop.create_task(value(), name="n1")
            ctx = contextvars.copy_context()
            ctx.run(var.set, "in ctx")
            with_ctx = loop.create_task(value(), context=ctx)
            theirs = other.create_task(value())
            got = (await mine, await named, await with_ctx, await early)
            return mine.get_loop(), named.get_name(), theirs.get_loop(), got, theirs

        mine_loop, name, their_loop, got, theirs = loop.run_until_complete(main())
        assert mine_loop is loop and name == "n1" and their_loop is other
        assert got == ("unset", "unset", "in ctx", "unset")
        assert other.run_until_complete(theirs) == "unset"  # type: ignore[arg-type]
    finally:
        other.close()


@pytest.mark.parametrize("kind", ["stock", "simul"])
def test_create_future_and_create_task_pass_the_loop_by_keyword_while_it_runs(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # asyncio's create_future is `Future(loop=self)` and create_task `Task(coro,
    # loop=self, ...)`, even on the running loop. Made without it, a C Future asks
    # get_running_loop, which makes a getpid system call each time.
    seen: list[tuple[str, object]] = []

    class RecordingFuture(asyncio.Future):  # type: ignore[type-arg]
        def __init__(self, *, loop: object = None) -> None:
            seen.append(("future", loop))
            super().__init__(loop=loop)  # type: ignore[arg-type]

    class RecordingTask(asyncio.Task):  # type: ignore[type-arg]
        def __init__(self, coro: Any, *, loop: object = None, **kw: Any) -> None:
            seen.append(("task", loop))
            super().__init__(coro, loop=loop, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(asyncio.futures, "Future", RecordingFuture)
    monkeypatch.setattr(asyncio.tasks, "Task", RecordingTask)
    lp = asyncio.SelectorEventLoop() if kind == "stock" else simul.new_event_loop()

    async def nothing() -> None:
        pass

    async def main() -> None:
        fut = lp.create_future()
        fut.set_result(None)
        await fut
        await lp.create_task(nothing())

    try:
        lp.run_until_complete(main())
    finally:
        lp.close()
    assert lp.create_future().get_loop() is lp  # a closed loop still makes its futures
    assert ("future", lp) in seen and ("task", lp) in seen
    assert all(loop is lp for _, loop in seen), seen


def test_call_soon_and_get_debug_are_bound_once_and_unbound_at_close() -> None:
    import gc
    import weakref

    lp = simul.new_event_loop()
    assert lp.call_soon is lp.call_soon  # one bound method, kept in the instance
    assert lp.get_debug is lp.get_debug
    ran: list[int] = []
    lp.call_soon(ran.append, 1)
    lp.call_soon(lp.stop)
    lp.run_forever()
    assert ran == [1] and lp.get_debug() is False
    lp.create_future()  # the loop keeps the `loop=` keywords from here until close
    lp.close()
    assert "call_soon" not in vars(lp) and "get_debug" not in vars(lp)
    with pytest.raises(RuntimeError, match="closed"):
        lp.call_soon(ran.append, 2)
    # A closed loop is freed at once, without the cycle collector.
    ref = weakref.ref(lp)
    gc.disable()
    try:
        del lp
        assert ref() is None
    finally:
        gc.enable()


def test_a_replaced_call_soon_survives_close_and_an_unclosed_loop_is_collected() -> None:
    import gc
    import weakref

    lp = simul.new_event_loop()
    marker = object()
    lp.get_debug = marker  # type: ignore[method-assign, assignment]
    lp.close()
    assert vars(lp)["get_debug"] is marker
    del lp

    unclosed = simul.new_event_loop()
    ref = weakref.ref(unclosed)
    del unclosed
    with pytest.warns(ResourceWarning, match="unclosed event loop"):
        gc.collect()
    assert ref() is None


def test_an_unclosed_loop_whose_only_cycle_is_its_kept_loop_keywords_is_collected() -> None:
    import gc
    import weakref

    lp = simul.new_event_loop()
    lp.create_future()
    for name in ("call_soon", "get_debug"):  # the instance dict's own cycle, gone
        del vars(lp)[name]
    ref = weakref.ref(lp)
    del lp
    with pytest.warns(ResourceWarning, match="unclosed event loop"):
        gc.collect()
    assert ref() is None


def test_create_future_and_get_debug_take_no_arguments(loop: simul.EventLoop) -> None:
    with pytest.raises(TypeError):
        loop.create_future(1)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        loop.get_debug(1)  # type: ignore[call-arg]


def test_get_debug_follows_set_debug(loop: simul.EventLoop) -> None:
    assert loop.get_debug() is False
    loop.set_debug(True)
    assert loop.get_debug() is True
    fut = loop.create_future()
    assert fut._source_traceback  # a Future of a loop in debug mode records its origin
    loop.set_debug(False)
    assert loop.get_debug() is False


def test_call_soon_arguments_are_checked_as_asyncio_does(loop: simul.EventLoop) -> None:
    with pytest.raises(TypeError, match="missing 1 required positional argument"):
        loop.call_soon()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword argument 'ctx'"):
        loop.call_soon(print, ctx=None)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword argument 'ctx'"):
        loop.call_soon(print, context=None, ctx=None)  # type: ignore[call-arg]
    assert str(__import__("inspect").signature(loop.call_soon)) == "(callback, *args, context=None)"
    # Called through the class on something that is not a loop.
    with pytest.raises(TypeError):
        simul.EventLoop.call_soon(object(), print)  # type: ignore[arg-type]


def test_call_soon_passes_any_number_of_args_and_a_built_context_keyword(
    loop: simul.EventLoop,
) -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="outer")
    ctx = contextvars.copy_context()
    ctx.run(var.set, "inner")
    seen: list[object] = []
    loop.call_soon(lambda *a: seen.append(a))
    loop.call_soon(lambda *a: seen.append(a), 1)
    loop.call_soon(lambda *a: seen.append(a), 1, "two", None, 4.0)
    # A keyword name that is not the interned string (built at run time).
    name = "".join(["con", "text"])
    loop.call_soon(lambda: seen.append(var.get()), **{name: ctx})
    loop.call_soon(lambda: seen.append(var.get()), context=None)
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert seen == [(), (1,), (1, "two", None, 4.0), "inner", "outer"]
    loop.close()
    with pytest.raises(RuntimeError, match="closed"):
        loop.call_soon(print)


def test_callback_context_is_exited_after_it_runs_and_after_it_raises(
    loop: simul.EventLoop,
) -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="outer")
    ctx = contextvars.copy_context()
    errors: list[dict] = []
    loop.set_exception_handler(lambda lp, c: errors.append(c))
    seen: list[str] = []

    def set_and_raise() -> None:
        var.set("inner")
        raise ValueError("boom")

    loop.call_soon(set_and_raise, context=ctx)
    # Entering the same context again works only if the first run exited it.
    loop.call_soon(lambda a, b, c: seen.append(f"{var.get()} {a}{b}{c}"), 1, 2, 3, context=ctx)
    loop.call_soon(lambda: seen.append(var.get()))
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert [type(e["exception"]) for e in errors] == [ValueError]
    assert seen == ["inner 123", "outer"]
    assert ctx[var] == "inner"


def test_callback_in_an_entered_context_reports_runtime_error(loop: simul.EventLoop) -> None:
    ctx = contextvars.copy_context()
    errors: list[dict] = []
    loop.set_exception_handler(lambda lp, c: errors.append(c))
    ran: list[int] = []

    def inner() -> None:
        loop.call_soon(ran.append, 1, context=ctx)
        loop.call_soon(loop.stop)
        loop.run_forever()

    # The stock loop: `ctx.run` of a context already entered raises RuntimeError.
    ctx.run(inner)
    assert ran == []
    assert [type(e["exception"]) for e in errors] == [RuntimeError]


def test_callback_with_a_non_context_reports_type_error(loop: simul.EventLoop) -> None:
    errors: list[dict] = []
    loop.set_exception_handler(lambda lp, c: errors.append(c))
    ran: list[int] = []
    loop.call_soon(ran.append, 1, context=object())
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert ran == []
    assert [type(e["exception"]) for e in errors] == [TypeError]


def test_stop_before_run_forever_runs_one_iteration(loop: simul.EventLoop) -> None:
    out: list[int] = []
    loop.call_soon(out.append, 1)
    loop.stop()
    loop.run_forever()
    assert out == [1]


def test_run_until_complete_returns_result(loop: simul.EventLoop) -> None:
    async def main() -> int:
        await asyncio.sleep(0.01)
        return 42

    assert loop.run_until_complete(main()) == 42


def test_a_raising_callback_goes_to_the_exception_handler(loop: simul.EventLoop) -> None:
    seen: list[dict] = []
    loop.set_exception_handler(lambda lp, ctx: seen.append(ctx))

    def boom() -> None:
        raise ValueError("boom")

    loop.call_soon(boom)
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert len(seen) == 1
    assert isinstance(seen[0]["exception"], ValueError)
    assert "Exception in callback" in seen[0]["message"]
    assert seen[0]["handle"] is not None


def test_keyboard_interrupt_in_callback_propagates(loop: simul.EventLoop) -> None:
    def kbi() -> None:
        raise KeyboardInterrupt

    loop.call_soon(kbi)
    with pytest.raises(KeyboardInterrupt):
        loop.run_forever()
    assert not loop.is_running()


def test_closed_loop_refuses_work() -> None:
    lp = simul.new_event_loop()
    lp.close()
    with pytest.raises(RuntimeError, match="Event loop is closed"):
        lp.call_soon(print)
    with pytest.raises(RuntimeError, match="Event loop is closed"):
        lp.call_later(1, print)
    with pytest.raises(RuntimeError, match="Event loop is closed"):
        lp.run_forever()
    lp.close()  # twice is fine


def test_running_loop_cannot_run_or_close_again(loop: simul.EventLoop) -> None:
    async def main() -> None:
        coro = asyncio.sleep(0)
        with pytest.raises(RuntimeError, match="already running"):
            loop.run_until_complete(coro)
        coro.close()  # refused before it was wrapped, as on the stock loop
        with pytest.raises(RuntimeError, match="Cannot close a running event loop"):
            loop.close()

    loop.run_until_complete(main())


def test_call_soon_threadsafe_wakes_a_parked_loop(loop: simul.EventLoop) -> None:
    fut = loop.create_future()

    def later() -> None:
        time.sleep(0.05)
        loop.call_soon_threadsafe(fut.set_result, "woken")

    threading.Thread(target=later).start()
    assert loop.run_until_complete(asyncio.wait_for(fut, 10)) == "woken"


def test_call_soon_from_another_thread_is_refused(loop: simul.EventLoop) -> None:
    errors: list[BaseException] = []

    def other() -> None:
        try:
            loop.call_soon(print)
        except RuntimeError as e:
            errors.append(e)

    t = threading.Thread(target=other)
    t.start()
    t.join()
    # Not running: simul's own message (the loop is bound to its thread).
    assert errors and "bound to the thread that created it" in str(errors[0])


def test_the_gil_is_released_while_the_loop_waits(loop: simul.EventLoop) -> None:
    counter = [0]
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            counter[0] += 1

    t = threading.Thread(target=spin)
    t.start()
    try:
        loop.run_until_complete(asyncio.sleep(0.3))
    finally:
        stop.set()
        t.join()
    assert counter[0] > 1000


def test_debug_mode_reports_slow_callbacks(loop: simul.EventLoop, caplog: pytest.LogCaptureFixture) -> None:
    loop.set_debug(True)
    loop.slow_callback_duration = 0.01

    def slow() -> None:
        time.sleep(0.03)

    loop.call_soon(slow)
    loop.call_soon(loop.stop)
    with caplog.at_level("WARNING", logger="asyncio"):
        loop.run_forever()
    assert any("Executing" in r.getMessage() and "slow" in r.getMessage() for r in caplog.records)


def test_debug_mode_rejects_coroutine_callbacks(loop: simul.EventLoop) -> None:
    loop.set_debug(True)

    async def coro() -> None:
        pass

    with pytest.raises(TypeError, match="coroutines cannot be used with call_soon"):
        loop.call_soon(coro)


def test_run_in_executor_and_getaddrinfo(loop: simul.EventLoop) -> None:
    async def main() -> tuple[int, list]:
        r = await loop.run_in_executor(None, sum, [1, 2, 3])
        infos = await loop.getaddrinfo("127.0.0.1", 80, type=2)
        return r, infos

    r, infos = loop.run_until_complete(main())
    assert r == 6
    assert infos[0][4] == ("127.0.0.1", 80)
    loop.run_until_complete(loop.shutdown_default_executor())


def test_simul_run_and_install() -> None:
    async def main() -> str:
        return type(asyncio.get_running_loop()).__name__

    assert simul.run(main()) == "EventLoop"
    old = asyncio.get_event_loop_policy()
    try:
        simul.install()
        assert asyncio.run(main()) == "EventLoop"
        lp = asyncio.new_event_loop()
        assert isinstance(lp, simul.EventLoop)
        lp.close()
    finally:
        asyncio.set_event_loop_policy(old)


CTRL_C_PROGRAM = """
import asyncio, simul, sys
async def main():
    print("ready", flush=True)
    await asyncio.sleep(30)
try:
    simul.run(main())
except KeyboardInterrupt:
    print("interrupted", flush=True)
    sys.exit(3)
"""


def test_ctrl_c_interrupts_a_waiting_loop() -> None:
    p = subprocess.Popen([sys.executable, "-c", CTRL_C_PROGRAM], stdout=subprocess.PIPE, text=True)
    assert p.stdout is not None
    assert p.stdout.readline().strip() == "ready"
    time.sleep(0.1)
    t0 = time.monotonic()
    p.send_signal(signal.SIGINT)
    out, _ = p.communicate(timeout=20)
    assert p.returncode == 3
    assert "interrupted" in out
    assert time.monotonic() - t0 < 10  # promptly, not after the 30 s sleep


def test_the_running_loops_futures_and_tasks_are_given_their_loop(
    loop: simul.EventLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``create_future``/``create_task`` on the running loop pass ``loop=``, as asyncio's
    do: a ``Future`` or ``Task`` made without one asks ``get_event_loop()``, and on
    CPython 3.11 each such question is a ``getpid`` system call (two with the check of
    whether this loop is the running one)."""
    made: list[tuple[str, object]] = []

    class MyFuture(asyncio.Future):  # type: ignore[type-arg]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            made.append(("future", kwargs.get("loop")))
            super().__init__(*args, **kwargs)

    class MyTask(asyncio.Task):  # type: ignore[type-arg]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            made.append(("task", kwargs.get("loop")))
            super().__init__(*args, **kwargs)

    async def nothing() -> None:
        pass

    async def main() -> None:
        monkeypatch.setattr(asyncio.futures, "Future", MyFuture)
        monkeypatch.setattr(asyncio.tasks, "Task", MyTask)
        fut = loop.create_future()
        task = loop.create_task(nothing())
        monkeypatch.undo()
        fut.set_result(None)
        await fut
        await task

    loop.run_until_complete(main())
    assert made == [("future", loop), ("task", loop)]
