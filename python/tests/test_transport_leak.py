"""A transport dropped without being closed does not keep its loop, itself or its protocol
alive once the loop is closed: the Rust half reports its references to the cycle
collector once its I/O task is gone (while the task runs the loop owns them, as the stock
loop's selector owns its transports' handles)."""

from __future__ import annotations

import asyncio
import gc
import os
import socket
import sys
import warnings
import weakref
from typing import Awaitable, Callable

import simul


class Proto(asyncio.Protocol):
    """A protocol that keeps its transport, as most do (a cycle through the transport)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport


def test_unclosed_transport_and_its_closed_loop_are_collected() -> None:
    lp = simul.new_event_loop()
    a, b = socket.socketpair()

    async def main() -> tuple[weakref.ref[object], weakref.ref[object]]:
        tr, pr = await lp.create_connection(Proto, sock=a)
        return weakref.ref(tr), weakref.ref(pr)

    try:
        rt, rp = lp.run_until_complete(main())
    finally:
        lp.close()
    rl = weakref.ref(lp)
    del lp
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
    b.close()
    assert rt() is None
    assert rp() is None
    assert rl() is None


def test_a_live_transport_only_the_loop_holds_survives_collection() -> None:
    lp = simul.new_event_loop()
    a, b = socket.socketpair()
    got: list[bytes] = []

    class Echo(Proto):
        def data_received(self, data: bytes) -> None:
            got.append(data)

    async def main() -> None:
        await lp.create_connection(Echo, sock=a)
        gc.collect()  # nothing but the loop's task holds the transport now
        b.sendall(b"ping")
        for _ in range(100):
            if got:
                break
            await asyncio.sleep(0.001)

    try:
        lp.run_until_complete(main())
    finally:
        lp.close()
        b.close()
    assert got == [b"ping"]


class DgramProto(asyncio.DatagramProtocol):
    """A datagram protocol that keeps its transport and what it receives."""

    def __init__(self) -> None:
        self.got: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: object) -> None:
        self.got.append(data)


class PipeProto(asyncio.Protocol):
    """A pipe protocol that keeps its transport and what it reads."""

    def __init__(self) -> None:
        self.got: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.got.append(data)


Refs = tuple[weakref.ref[object], weakref.ref[object]]


def _collected_after_close(main: Callable[[asyncio.AbstractEventLoop], Awaitable[Refs]]) -> None:
    """Runs `main(loop)` on a new loop, closes and drops the loop, collects, and checks
    the loop and the objects `main` returned weak references to are gone."""
    lp = simul.new_event_loop()
    try:
        refs = lp.run_until_complete(main(lp))
    finally:
        lp.close()
    rl = weakref.ref(lp)
    del lp
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
    assert [r() for r in refs] == [None] * len(refs)
    assert rl() is None


def test_unclosed_datagram_transport_and_its_closed_loop_are_collected() -> None:
    async def main(lp: asyncio.AbstractEventLoop) -> Refs:
        tr, pr = await lp.create_datagram_endpoint(DgramProto, local_addr=("127.0.0.1", 0))
        return weakref.ref(tr), weakref.ref(pr)

    _collected_after_close(main)


def test_a_live_datagram_transport_only_the_loop_holds_survives_collection() -> None:
    lp = simul.new_event_loop()
    out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    async def main() -> list[bytes]:
        _, pr = await lp.create_datagram_endpoint(DgramProto, local_addr=("127.0.0.1", 0))
        addr = pr.transport.get_extra_info("sockname")
        got = pr.got
        del pr
        gc.collect()  # nothing but the loop's task holds the transport now
        out.sendto(b"ping", addr)
        for _ in range(100):
            if got:
                break
            await asyncio.sleep(0.001)
        return got

    try:
        assert lp.run_until_complete(main()) == [b"ping"]
    finally:
        lp.close()
        out.close()


def test_unclosed_read_pipe_transport_and_its_closed_loop_are_collected() -> None:
    r, w = os.pipe()

    async def main(lp: asyncio.AbstractEventLoop) -> Refs:
        tr, pr = await lp.connect_read_pipe(PipeProto, os.fdopen(r, "rb", buffering=0))
        return weakref.ref(tr), weakref.ref(pr)

    try:
        _collected_after_close(main)
    finally:
        os.close(w)


def test_unclosed_write_pipe_transport_and_its_closed_loop_are_collected() -> None:
    r, w = os.pipe()

    async def main(lp: asyncio.AbstractEventLoop) -> Refs:
        tr, pr = await lp.connect_write_pipe(PipeProto, os.fdopen(w, "wb", buffering=0))
        return weakref.ref(tr), weakref.ref(pr)

    try:
        _collected_after_close(main)
    finally:
        os.close(r)


def test_a_live_read_pipe_transport_only_the_loop_holds_survives_collection() -> None:
    lp = simul.new_event_loop()
    r, w = os.pipe()

    async def main() -> list[bytes]:
        _, pr = await lp.connect_read_pipe(PipeProto, os.fdopen(r, "rb", buffering=0))
        got = pr.got
        del pr
        gc.collect()  # nothing but the loop's task holds the transport now
        os.write(w, b"ping")
        for _ in range(100):
            if got:
                break
            await asyncio.sleep(0.001)
        return got

    try:
        assert lp.run_until_complete(main()) == [b"ping"]
    finally:
        lp.close()
        os.close(w)


class SubProto(asyncio.SubprocessProtocol):
    """A subprocess protocol that keeps its transport."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport


def test_a_finished_subprocess_leaves_nothing_behind_once_the_loop_is_closed() -> None:
    async def main(lp: asyncio.AbstractEventLoop) -> Refs:
        tr, pr = await lp.subprocess_exec(SubProto, sys.executable, "-c", "pass")
        await tr._wait()  # type: ignore[attr-defined]
        return weakref.ref(tr), weakref.ref(pr)

    _collected_after_close(main)
