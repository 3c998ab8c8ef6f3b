"""How the socket transport reads: large reads straight into the ``bytes`` handed to
``data_received``, a ``BufferedProtocol``'s buffer filled in place, and asyncio's errors
for a buffer that cannot take data."""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Any

import simul


def test_large_reads_deliver_every_byte_in_order(loop: simul.EventLoop) -> None:
    # Sizes around and above the direct-read threshold (32 KiB) and the 256 KiB cap,
    # so reads go both through the read buffer and straight into bytes objects.
    chunks = [os.urandom(n) for n in (40_000, 1, 300_000, 70_000, 5, 262_144, 33_000)]
    payload = b"".join(chunks)
    a, b = socket.socketpair()

    class Sink(asyncio.Protocol):
        def __init__(self) -> None:
            self.parts: list[bytes] = []
            self.done: asyncio.Future[None] = loop.create_future()

        def data_received(self, data: bytes) -> None:
            assert type(data) is bytes and data
            self.parts.append(data)

        def eof_received(self) -> None:
            self.done.set_result(None)

    async def main() -> bytes:
        tr, sink = await loop.create_connection(Sink, sock=a)
        w_tr, _ = await loop.create_connection(asyncio.Protocol, sock=b)
        for c in chunks:
            w_tr.write(c)
            await asyncio.sleep(0.001)
        w_tr.write_eof()
        await sink.done
        tr.close()
        w_tr.close()
        await asyncio.sleep(0)
        return b"".join(sink.parts)

    assert loop.run_until_complete(main()) == payload


def test_buffered_protocol_receives_into_its_own_buffer(loop: simul.EventLoop) -> None:
    payload = os.urandom(200_000)
    a, b = socket.socketpair()

    class Buf(asyncio.BufferedProtocol):
        def __init__(self) -> None:
            self.buf = bytearray(7000)
            self.got = bytearray()
            self.done: asyncio.Future[None] = loop.create_future()

        def get_buffer(self, sizehint: int) -> Any:
            return self.buf

        def buffer_updated(self, nbytes: int) -> None:
            self.got += self.buf[:nbytes]
            # Resizing needs the transport to hold no export of the buffer any more.
            self.buf[:] = bytearray(1 + len(self.got) % 6999)

        def eof_received(self) -> None:
            self.done.set_result(None)

        def connection_lost(self, exc: Any) -> None:
            if not self.done.done():
                self.done.set_exception(exc or ConnectionError("lost before EOF"))

    async def main() -> bytes:
        tr, proto = await loop.create_connection(Buf, sock=a)
        b.sendall(payload)
        b.shutdown(socket.SHUT_WR)
        await proto.done
        tr.close()
        await asyncio.sleep(0)
        return bytes(proto.got)

    try:
        assert loop.run_until_complete(main()) == payload
    finally:
        b.close()


def _fatal_get_buffer(loop: simul.EventLoop, buffer: Any) -> tuple[Any, list[dict[str, Any]]]:
    a, b = socket.socketpair()
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _lp, ctx: errors.append(ctx))

    class Bad(asyncio.BufferedProtocol):
        def __init__(self) -> None:
            self.lost: asyncio.Future[Any] = loop.create_future()

        def get_buffer(self, sizehint: int) -> Any:
            return buffer

        def buffer_updated(self, nbytes: int) -> None:
            raise AssertionError("no data can land in this buffer")

        def connection_lost(self, exc: Any) -> None:
            self.lost.set_result(exc)

    async def main() -> Any:
        _tr, proto = await loop.create_connection(Bad, sock=a)
        b.send(b"data")
        return await proto.lost

    try:
        return loop.run_until_complete(main()), errors
    finally:
        b.close()


def test_an_empty_buffer_from_get_buffer_is_a_fatal_error(loop: simul.EventLoop) -> None:
    exc, errors = _fatal_get_buffer(loop, bytearray())
    assert isinstance(exc, RuntimeError) and "empty buffer" in str(exc)
    assert errors and errors[0]["message"] == "Fatal error: protocol.get_buffer() call failed."


def test_a_read_only_buffer_from_get_buffer_is_a_fatal_error(loop: simul.EventLoop) -> None:
    exc, errors = _fatal_get_buffer(loop, b"read-only bytes")
    assert isinstance(exc, TypeError)
    assert errors and errors[0]["message"] == "Fatal read error on socket transport"
