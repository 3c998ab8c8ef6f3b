"""Shared fixtures: a fresh simul loop per test, and a check that no descriptor leaks."""

from __future__ import annotations

import asyncio
import os
from typing import Iterator

import pytest

import simul


def open_fds() -> set[int]:
    return {int(n) for n in os.listdir("/proc/self/fd")}


@pytest.fixture
def loop() -> Iterator[simul.EventLoop]:
    before = open_fds()
    lp = simul.new_event_loop()
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
