"""Shared fixtures: ``loop``, a fresh simul loop per test, and ``any_loop``, the same test
on the stock loop and on simul's (``LOOPS``); both check that no descriptor leaks."""

from __future__ import annotations

import asyncio
import os
import ssl
from typing import Any, Callable, Iterator

import pytest

import simul


def open_fds() -> set[int]:
    return {int(n) for n in os.listdir("/proc/self/fd")}


def _fresh(make: Callable[[], asyncio.AbstractEventLoop]) -> Iterator[asyncio.AbstractEventLoop]:
    """A loop from ``make``, set as the current loop, closed after; then checks that the
    test left no descriptor open (the loop's own included)."""
    before = open_fds()
    lp = make()
    asyncio.set_event_loop(lp)
    try:
        yield lp
    finally:
        asyncio.set_event_loop(None)
        lp.close()
    leaked = open_fds() - before
    # A descriptor may be closed by the garbage collector a moment late; collect first.
    if leaked:
        import gc

        gc.collect()
        leaked = open_fds() - before
    names = {}
    for fd in leaked:
        try:
            names[fd] = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            pass
    assert not names, f"descriptors left open: {names}"


@pytest.fixture
def loop() -> Iterator[simul.EventLoop]:
    """A fresh simul loop (see ``_fresh``)."""
    yield from _fresh(simul.new_event_loop)  # type: ignore[misc]


# The loops a test compares, the stock loop first.
LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "stock": asyncio.SelectorEventLoop,
    "simul": simul.new_event_loop,
}


@pytest.fixture(params=list(LOOPS))
def any_loop(request: pytest.FixtureRequest) -> Iterator[asyncio.AbstractEventLoop]:
    """A fresh loop of each kind in ``LOOPS`` (see ``_fresh``: no descriptor may leak)."""
    yield from _fresh(LOOPS[request.param])


async def finish(srv: asyncio.Server, w: asyncio.StreamWriter) -> None:
    """Closes a client's stream (a TLS peer may cut the close short) and then the server."""
    w.close()
    try:
        await w.wait_closed()
    except (ConnectionError, ssl.SSLError):
        pass
    srv.close()
    await srv.wait_closed()


def assert_core_methods_work(transport: Any) -> None:
    """Every method of simul's socket transport is its Rust core's (bound to it, whether
    bound per transport or looked up through a ``CoreMethod``), and the reading switch
    works through them."""
    core = transport._core
    for name in simul._loop._SOCKET_TRANSPORT_METHODS:
        m = getattr(transport, name)
        assert m.__self__ is core, name
        assert m == getattr(core, name), name
    assert transport.is_reading() is True
    transport.pause_reading()
    assert transport.is_reading() is False
    transport.resume_reading()
    assert transport.is_reading() is True
