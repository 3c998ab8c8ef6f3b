"""A handle that has run (or was cancelled) no longer holds its callback, so a reference
cycle through it (``obj._h = loop.call_later(..., obj.m)``) is collectable: simul's
handles do not take part in the cycle collector (that would cost every ``call_soon``)."""

from __future__ import annotations

import gc
import weakref

import simul


class Holder:
    """Keeps the handle that calls its own method: a cycle obj -> handle -> obj.m -> obj."""

    def __init__(self) -> None:
        self.ran = 0
        self.h: object = None

    def m(self) -> None:
        self.ran += 1
        Holder.total += 1

    total = 0


def _run_once(loop: simul.EventLoop) -> None:
    loop.call_soon(loop.stop)
    loop.run_forever()


def test_cycle_through_a_timer_handle_that_has_run_is_collected(loop: simul.EventLoop) -> None:
    obj = Holder()
    obj.h = loop.call_later(0, obj.m)
    ref = weakref.ref(obj)
    loop.call_later(0.001, loop.stop)
    loop.run_forever()
    assert obj.ran == 1
    del obj
    gc.collect()
    assert ref() is None


def test_cycle_through_a_call_soon_handle_that_has_run_is_collected(loop: simul.EventLoop) -> None:
    obj = Holder()
    obj.h = loop.call_soon(obj.m)
    ref = weakref.ref(obj)
    _run_once(loop)
    assert obj.ran == 1
    del obj
    gc.collect()
    assert ref() is None


def test_cycle_through_a_cancelled_handle_is_collected(loop: simul.EventLoop) -> None:
    obj = Holder()
    obj.h = loop.call_later(3600, obj.m)
    ref = weakref.ref(obj)
    obj.h.cancel()  # type: ignore[attr-defined]
    del obj
    gc.collect()
    assert ref() is None


def test_a_pending_handle_keeps_its_callback_alive(loop: simul.EventLoop) -> None:
    obj = Holder()
    loop.call_soon(obj.m)
    ref = weakref.ref(obj)
    del obj
    gc.collect()
    assert ref() is not None
    before = Holder.total
    _run_once(loop)
    assert Holder.total == before + 1


def test_a_handle_that_has_run_keeps_its_repr_and_runs_no_more(loop: simul.EventLoop) -> None:
    obj = Holder()
    h = loop.call_soon(obj.m)
    _run_once(loop)
    assert repr(h).startswith("<Handle")
    h._run()  # type: ignore[attr-defined]
    assert obj.ran == 1
