"""The per-task path of the loop (`create_task`, `create_future`, the task's steps and its
done callbacks): what it costs must not grow with hidden work, and asyncio's behaviour
around it (task factory, debug mode, names, contexts, cancellation) stays the stock
loop's."""

from __future__ import annotations

import asyncio
import contextvars
import os
import subprocess
import sys
import textwrap
from typing import Any

import pytest

import simul


def run_child(code: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_tasks_and_futures_are_made_without_asking_for_the_running_loop() -> None:
    # Asking for the running loop costs a `getpid` system call in CPython 3.11's C
    # `_get_running_loop` (callgrind does not see it; a clock does). `create_task` and
    # `create_future` name their loop instead, as the stock loop's do. Counted through the
    # Python-level `asyncio.events._get_running_loop`, replaced before simul first looks
    # it up.
    got = run_child(
        """
        import asyncio, asyncio.events as ev
        calls = [0]
        real = ev._get_running_loop
        def counting():
            calls[0] += 1
            return real()
        ev._get_running_loop = counting
        import simul
        loop = simul.new_event_loop()
        async def one():
            await asyncio.sleep(0)
            return 1
        async def main():
            futs = [loop.create_future() for _ in range(200)]
            for f in futs:
                f.set_result(1)
            tasks = [loop.create_task(one()) for _ in range(200)]
            return sum(await asyncio.gather(*tasks, *futs))
        before = calls[0]
        assert loop.run_until_complete(main()) == 400
        print(calls[0] - before)
        loop.close()
        """
    )
    assert int(got) < 10, f"{got} running-loop lookups for 200 tasks and 200 futures"


def cb_with_one(x: Any) -> None:
    raise ValueError(x)


def test_a_one_argument_callback_runs_in_its_context_and_shows_its_argument(any_loop: Any) -> None:
    # `call_soon(f, x)` keeps `x` without a tuple on simul: the call, its context, the
    # handle's repr, the error report and `_run()` are the stock loop's.
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
    ctx = contextvars.copy_context()
    ctx.run(var.set, "in ctx")
    seen: list[tuple[Any, str]] = []
    any_loop.call_soon(lambda x: seen.append((x, var.get())), "one", context=ctx)
    any_loop.call_soon(lambda x: seen.append((x, var.get())), ("a", "tuple"))
    any_loop.call_soon(lambda x: seen.append((x, var.get())), None)
    reports: list[dict[str, Any]] = []
    any_loop.set_exception_handler(lambda lp, c: reports.append(c))
    h = any_loop.call_soon(cb_with_one, 7)
    assert "cb_with_one(7)" in repr(h)
    cancelled = any_loop.call_soon(seen.append, "cancelled")
    cancelled.cancel()
    any_loop.call_soon(any_loop.stop)
    any_loop.run_forever()
    assert seen == [("one", "in ctx"), (("a", "tuple"), "unset"), (None, "unset")]
    assert len(reports) == 1
    assert reports[0]["message"].startswith("Exception in callback cb_with_one(7)")
    assert isinstance(reports[0]["exception"], ValueError)
    assert reports[0]["exception"].args == (7,)
    ran: list[Any] = []
    manual = any_loop.call_soon(ran.append, "by hand")
    manual._run()
    manual.cancel()
    assert ran == ["by hand"]


def test_a_future_done_callback_gets_the_future(any_loop: Any) -> None:
    # A done callback is scheduled as `call_soon(cb, fut, context=ctx)`: one argument.
    got: list[Any] = []

    async def main() -> None:
        fut = any_loop.create_future()
        fut.add_done_callback(got.append)
        fut.set_result(3)
        await asyncio.sleep(0)
        assert got == [fut] and got[0].result() == 3

    any_loop.run_until_complete(main())


def test_call_soon_handles_do_not_count_towards_the_next_collection() -> None:
    # A handle takes no part in the cycle collector, and its allocation must not bring
    # the next collection nearer either (pyo3's classes all count: the handles of
    # 100,000 queued task steps cost a full collection of the gather benchmark).
    import gc

    loop = simul.new_event_loop()
    ctx = contextvars.copy_context()
    handles: list[Any] = [None] * 100
    was = gc.isenabled()
    gc.disable()
    try:
        before = gc.get_count()[0]
        for i in range(100):
            handles[i] = loop.call_soon(int, context=ctx)
        grown = gc.get_count()[0] - before
    finally:
        if was:
            gc.enable()
    assert grown == 0
    assert not gc.is_tracked(handles[0])
    loop.close()


def test_a_call_soon_handle_is_a_handle_of_one_type_that_python_cannot_make(loop: Any) -> None:
    import gc
    import weakref

    before = loop.call_soon(int)

    async def main() -> Any:
        return loop.call_soon(int)

    during = loop.run_until_complete(main())
    assert type(before) is type(during)
    assert type(before).__name__ == "Handle"
    with pytest.raises(TypeError):
        type(before)()
    # A handle never run (the loop closed with it queued) lets its callback go.
    class Target:
        def m(self) -> None:
            pass

    t = Target()
    ref = weakref.ref(t)
    queued = loop.call_soon(t.m)
    del t
    assert ref() is not None
    queued.cancel()
    gc.collect()
    assert ref() is None and queued.cancelled() and queued.get_context() is None
