"""Writes to a lost connection: dropped, and from asyncio's threshold
(``constants.LOG_THRESHOLD_FOR_CONNLOST_WRITES``) on, each one logs
"socket.send() raised exception." as the stock loop does. Every case runs on the stock
loop and on simul's in the same test, and the counts must agree."""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from typing import Any, Callable

import pytest

from conftest import LOOPS

WARNING = "socket.send() raised exception."


def warnings_in(caplog: pytest.LogCaptureFixture) -> int:
    return sum(1 for r in caplog.records if r.name == "asyncio" and r.getMessage() == WARNING)


def run_with(factory: Callable[[], asyncio.AbstractEventLoop], main: Callable[[], Any]) -> Any:
    lp = factory()
    try:
        return lp.run_until_complete(main())
    finally:
        lp.close()


async def connected_pair() -> tuple[asyncio.Transport, socket.socket, socket.socket]:
    """A client transport, the accepted peer socket, and the listener."""
    lp = asyncio.get_running_loop()
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    tr, _ = await lp.create_connection(asyncio.Protocol, *lsock.getsockname())
    peer, _ = lsock.accept()
    return tr, peer, lsock


def count_after_abort(factory: Callable[[], asyncio.AbstractEventLoop], caplog: pytest.LogCaptureFixture, writes: int) -> int:
    caplog.clear()

    async def main() -> None:
        tr, peer, lsock = await connected_pair()
        tr.abort()
        for _ in range(writes):
            tr.write(b"lost")
        await asyncio.sleep(0.01)
        peer.close()
        lsock.close()

    with caplog.at_level(logging.WARNING, logger="asyncio"):
        run_with(factory, main)
    return warnings_in(caplog)


def test_writes_after_abort_warn_from_the_threshold_on_as_the_stock_loop(caplog: pytest.LogCaptureFixture) -> None:
    threshold = asyncio.constants.LOG_THRESHOLD_FOR_CONNLOST_WRITES
    for writes in (1, threshold - 1, threshold, 10):
        counts = {name: count_after_abort(f, caplog, writes) for name, f in LOOPS.items()}
        assert counts["simul"] == counts["stock"], (writes, counts)
    # abort() counts as the first loss: writes 5..10 of 10 warn.
    assert counts["simul"] == 10 - threshold + 1


def test_writes_to_a_reset_connection_warn_as_the_stock_loop(caplog: pytest.LogCaptureFixture) -> None:
    def run(factory: Callable[[], asyncio.AbstractEventLoop]) -> tuple[int, bool]:
        caplog.clear()

        async def main() -> bool:
            tr, peer, lsock = await connected_pair()
            # The peer resets the connection (RST): the next send fails with a broken pipe
            # or a reset, and the transport counts every later write.
            peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            peer.close()
            lsock.close()
            for _ in range(200):
                tr.write(b"x" * 1000)
                await asyncio.sleep(0.001)
                if warnings_in(caplog) >= 3:
                    break
            lost = tr.is_closing()
            tr.close()
            await asyncio.sleep(0.01)
            return lost

        with caplog.at_level(logging.WARNING, logger="asyncio"):
            lost = run_with(factory, main)
        return warnings_in(caplog), lost

    for name, f in LOOPS.items():
        n, lost = run(f)
        assert lost, name
        assert n >= 3, (name, n)
