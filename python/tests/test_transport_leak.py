"""A transport dropped without being closed does not keep its loop, itself or its protocol
alive once the loop is closed: the Rust half reports its references to the cycle
collector once its I/O task is gone (while the task runs the loop owns them, as the stock
loop's selector owns its transports' handles)."""

from __future__ import annotations

import asyncio
import gc
import socket
import warnings
import weakref

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
