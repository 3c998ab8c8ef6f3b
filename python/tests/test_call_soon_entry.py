"""`call_soon` from inside the running loop queues the handle itself (no engine-side
allocation): it must still run in order, honour cancel(), report errors with this loop's
flags, and release its handle exactly once when the loop closes with it queued."""

from __future__ import annotations

import asyncio
import logging
import sys
import weakref

import pytest

import simul


class Probe:
    """A callable whose lifetime a weakref can watch."""

    def __init__(self, out: list[str], tag: str) -> None:
        self.out = out
        self.tag = tag

    def __call__(self) -> None:
        self.out.append(self.tag)


def test_inner_call_soon_runs_in_order_and_honours_cancel() -> None:
    loop = simul.new_event_loop()
    out: list[str] = []

    def start() -> None:
        loop.call_soon(out.append, "a")
        loop.call_soon(out.append, "x").cancel()
        loop.call_soon(out.append, "b")
        loop.call_soon(loop.stop)

    loop.call_soon(start)
    loop.run_forever()
    loop.close()
    assert out == ["a", "b"]


def test_inner_call_soon_error_goes_to_this_loops_handler() -> None:
    loop = simul.new_event_loop()
    seen: list[object] = []
    loop.set_exception_handler(lambda lp, ctx: seen.append((lp, ctx["exception"])))

    def boom() -> None:
        raise ValueError("inner")

    def start() -> None:
        loop.call_soon(boom)
        loop.call_soon(loop.stop)

    loop.call_soon(start)
    loop.run_forever()
    loop.close()
    assert len(seen) == 1
    assert seen[0][0] is loop
    assert isinstance(seen[0][1], ValueError)


def test_inner_call_soon_system_exit_stops_the_loop_that_ran_it() -> None:
    loop = simul.new_event_loop()

    def leave() -> None:
        raise SystemExit(3)

    loop.call_soon(lambda: loop.call_soon(leave))
    with pytest.raises(SystemExit):
        loop.run_forever()
    loop.close()


def test_inner_call_soon_slow_callback_is_reported_in_debug(caplog: pytest.LogCaptureFixture) -> None:
    loop = simul.new_event_loop()
    loop.set_debug(True)
    loop.slow_callback_duration = 0.0

    def busy() -> None:
        sum(range(10_000))

    def start() -> None:
        loop.call_soon(busy)
        loop.call_soon(loop.stop)

    loop.call_soon(start)
    with caplog.at_level(logging.WARNING, logger="asyncio"):
        loop.run_forever()
    loop.close()
    msgs = [r.getMessage() for r in caplog.records]
    assert any("busy()" in m and "took" in m for m in msgs), msgs


def test_inner_call_soon_left_queued_at_close_is_released_once() -> None:
    loop = simul.new_event_loop()
    out: list[str] = []
    refs: list[weakref.ref[Probe]] = []

    def start() -> None:
        p = Probe(out, "left")
        refs.append(weakref.ref(p))
        h = loop.call_soon(p)
        before = sys.getrefcount(h)
        assert before >= 2
        loop.stop()

    loop.call_soon(start)
    loop.run_forever()
    # stop() ends the run after this iteration: the inner callback is still queued.
    assert out == []
    loop.close()
    assert refs[0]() is None
    # As before: shutdown runs the callbacks still queued (in its first round), once.
    assert out == ["left"]
