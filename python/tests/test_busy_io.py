"""A busy loop looks at its selector every iteration, as asyncio's does, and
``create_task`` (in Rust) behaves as asyncio's."""

from __future__ import annotations

import asyncio
import contextvars
import socket
from typing import Any

import pytest

import simul

SPIN_LIMIT = 200


async def spins_until(fut: asyncio.Future[Any]) -> int:
    """Iterations a task spinning on ``sleep(0)`` (keeping the loop busy) waits for ``fut``."""
    spins = 0
    while not fut.done() and spins < SPIN_LIMIT:
        await asyncio.sleep(0)
        spins += 1
    return spins


def test_busy_loop_sees_socket_data_within_two_iterations(loop: simul.EventLoop) -> None:
    a, b = socket.socketpair()

    class Proto(asyncio.Protocol):
        def __init__(self) -> None:
            self.got: asyncio.Future[bytes] = loop.create_future()

        def data_received(self, data: bytes) -> None:
            if not self.got.done():
                self.got.set_result(data)

    async def main() -> int:
        tr, proto = await loop.create_connection(Proto, sock=a)
        for _ in range(3):  # the transport is reading
            await asyncio.sleep(0)
        b.send(b"x")
        spins = await spins_until(proto.got)
        tr.close()
        return spins

    try:
        assert loop.run_until_complete(main()) <= 2
    finally:
        b.close()


def test_busy_loop_runs_reader_callback_within_two_iterations(loop: simul.EventLoop) -> None:
    a, b = socket.socketpair()
    a.setblocking(False)

    async def main() -> int:
        ready = loop.create_future()
        loop.add_reader(a.fileno(), lambda: ready.done() or ready.set_result(None))
        b.send(b"x")
        spins = await spins_until(ready)
        loop.remove_reader(a.fileno())
        return spins

    try:
        assert loop.run_until_complete(main()) <= 2
    finally:
        a.close()
        b.close()


def test_create_task_names_the_task_and_runs_it_in_the_given_context(loop: simul.EventLoop) -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="outer")
    ctx = contextvars.copy_context()
    ctx.run(var.set, "inner")

    async def read() -> str:
        return var.get()

    async def main() -> tuple[str, str, str, str]:
        t1 = loop.create_task(read(), name="reader", context=ctx)
        t2 = loop.create_task(read())
        return t1.get_name(), await t1, t2.get_name(), await t2

    name1, v1, name2, v2 = loop.run_until_complete(main())
    assert (name1, v1, v2) == ("reader", "inner", "outer")
    assert name2.startswith("Task-")


def test_create_task_goes_through_the_task_factory(loop: simul.EventLoop) -> None:
    made: list[Any] = []

    def factory(lp: asyncio.AbstractEventLoop, coro: Any, **kw: Any) -> asyncio.Task[Any]:
        t = asyncio.Task(coro, loop=lp, **kw)
        made.append((t, kw))
        return t

    async def one() -> int:
        return 1

    loop.set_task_factory(factory)
    t = loop.create_task(one(), name="named")
    assert loop.run_until_complete(t) == 1
    assert made == [(t, {})] and t.get_name() == "named"


def test_create_task_on_a_closed_loop_raises() -> None:
    lp = simul.new_event_loop()
    lp.close()

    async def one() -> None:
        pass

    coro = one()
    with pytest.raises(RuntimeError, match="Event loop is closed"):
        lp.create_task(coro)
    coro.close()


def test_get_debug_follows_set_debug(loop: simul.EventLoop) -> None:
    assert loop.get_debug() is False
    loop.set_debug(True)
    assert loop.get_debug() is True
    fut = loop.create_future()
    assert fut._source_traceback  # a debug loop's futures keep their creation traceback
    loop.set_debug(False)
    assert loop.get_debug() is False
