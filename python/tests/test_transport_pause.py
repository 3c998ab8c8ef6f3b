"""A stream transport's reading state from the start, as on the stock loop."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import simul


def test_pause_reading_in_connection_made_holds_until_resumed(loop: simul.EventLoop) -> None:
    async def main() -> None:
        got: list[bytes] = []
        transports: list[Any] = []

        class Paused(asyncio.Protocol):
            def connection_made(self, transport: Any) -> None:
                assert transport.is_reading()  # reading is on before it starts
                transport.pause_reading()
                transports.append(transport)

            def data_received(self, data: bytes) -> None:
                got.append(data)

        a, b = socket.socketpair()
        tr, _ = await loop.create_connection(Paused, sock=a)
        b.sendall(b"early")
        await asyncio.sleep(0.1)
        assert got == [], "data was delivered to a protocol that paused reading"
        assert not tr.is_reading()
        tr.resume_reading()
        for _ in range(100):
            if got:
                break
            await asyncio.sleep(0.01)
        assert b"".join(got) == b"early"
        tr.close()
        b.close()
        await asyncio.sleep(0)

    loop.run_until_complete(main())
