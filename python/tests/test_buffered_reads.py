"""A ``BufferedProtocol`` (asyncio's ``sslproto`` is one) is asked for a buffer once per
chunk the socket delivers: the transport reads straight into it and sees that the socket
is drained without a second ``get_buffer`` and a failing ``recv``."""

from __future__ import annotations

import asyncio
import socket

import simul


class Counting(asyncio.BufferedProtocol):
    """Records every ``get_buffer``/``buffer_updated`` call and the bytes received."""

    def __init__(self, size: int) -> None:
        self.buf = bytearray(size)
        self.got = bytearray()
        self.get_buffer_calls = 0
        self.updates = 0
        self.arrived: asyncio.Future[None] | None = None
        self.lost: asyncio.Future[None] = asyncio.get_event_loop().create_future()

    def get_buffer(self, sizehint: int) -> memoryview:
        self.get_buffer_calls += 1
        return memoryview(self.buf)

    def buffer_updated(self, nbytes: int) -> None:
        self.updates += 1
        self.got += self.buf[:nbytes]
        if self.arrived is not None and not self.arrived.done():
            self.arrived.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.set_result(None)


def test_one_get_buffer_per_chunk_when_the_socket_drains(loop: simul.EventLoop) -> None:
    async def main() -> None:
        a, b = socket.socketpair()
        t, p = await loop.connect_accepted_socket(lambda: Counting(65536), a)
        for i in range(20):
            p.arrived = loop.create_future()
            b.sendall(bytes([i]) * 100)
            await asyncio.wait_for(p.arrived, 10)
        assert p.got == b"".join(bytes([i]) * 100 for i in range(20))
        assert p.updates == 20
        assert p.get_buffer_calls == p.updates
        t.close()
        await p.lost
        b.close()

    loop.run_until_complete(main())


def test_a_small_buffer_is_filled_again_until_the_chunk_is_read(loop: simul.EventLoop) -> None:
    async def main() -> None:
        a, b = socket.socketpair()
        t, p = await loop.connect_accepted_socket(lambda: Counting(7), a)
        p.arrived = loop.create_future()
        b.sendall(b"0123456789" * 10)
        while len(p.got) < 100:
            p.arrived = loop.create_future()
            await asyncio.wait_for(p.arrived, 10)
        assert p.got == b"0123456789" * 10
        t.close()
        await p.lost
        b.close()

    loop.run_until_complete(main())
