"""sendfile on simul's loop: loop.sock_sendfile and loop.sendfile, native and fallback."""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
from typing import Any, Iterator

import pytest

import simul

DATA = bytes(range(256)) * 4096 * 4  # 4 MiB: more than the socket buffers hold


@pytest.fixture
def datafile() -> Iterator[Any]:
    with tempfile.TemporaryFile() as f:
        f.write(DATA)
        f.flush()
        f.seek(0)
        yield f


async def read_all(loop: simul.EventLoop, sock: socket.socket) -> bytes:
    chunks = []
    while True:
        chunk = await loop.sock_recv(sock, 65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def test_sock_sendfile_native_sends_a_range_and_moves_the_file_position(loop: simul.EventLoop, datafile: Any) -> None:
    async def main() -> None:
        a, b = socket.socketpair()
        for s in (a, b):
            s.setblocking(False)
        called: list[Any] = []
        orig = loop._sock_sendfile_native  # type: ignore[attr-defined]

        async def spy(*args: Any) -> int:
            called.append(args)
            return await orig(*args)

        loop._sock_sendfile_native = spy  # type: ignore[attr-defined]
        reader = asyncio.ensure_future(read_all(loop, b))
        n = await loop.sock_sendfile(a, datafile, 1000, len(DATA) - 2000, fallback=False)
        assert called, "the native path was not taken"
        assert n == len(DATA) - 2000
        assert datafile.tell() == len(DATA) - 1000
        a.close()
        assert await asyncio.wait_for(reader, 30) == DATA[1000:-1000]
        b.close()

    loop.run_until_complete(main())


def test_sock_sendfile_falls_back_for_a_non_file(loop: simul.EventLoop) -> None:
    async def main() -> None:
        a, b = socket.socketpair()
        for s in (a, b):
            s.setblocking(False)
        with pytest.raises(asyncio.SendfileNotAvailableError):
            await loop.sock_sendfile(a, __import__("io").BytesIO(b"xyz"), fallback=False)
        reader = asyncio.ensure_future(read_all(loop, b))
        n = await loop.sock_sendfile(a, __import__("io").BytesIO(b"xyz"))
        assert n == 3
        a.close()
        assert await asyncio.wait_for(reader, 10) == b"xyz"
        b.close()

    loop.run_until_complete(main())


def test_transport_sendfile_flushes_first_and_resumes_reading(loop: simul.EventLoop, datafile: Any) -> None:
    async def main() -> None:
        received = bytearray()
        done = loop.create_future()

        sinks: list[Any] = []

        class Sink(asyncio.Protocol):
            def connection_made(self, transport: Any) -> None:
                transport.pause_reading()  # until the client's queue is known to be full
                sinks.append(transport)

            def data_received(self, data: bytes) -> None:
                received.extend(data)

            def connection_lost(self, exc: Any) -> None:
                done.set_result(None)

        lsock = socket.socket()
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)  # inherited by accepted sockets
        lsock.bind(("127.0.0.1", 0))
        server = await loop.create_server(Sink, sock=lsock)
        port = server.sockets[0].getsockname()[1]
        got = bytearray()

        class Client(asyncio.Protocol):
            def data_received(self, data: bytes) -> None:
                got.extend(data)

        tr, _ = await loop.create_connection(Client, "127.0.0.1", port)
        while not sinks:
            await asyncio.sleep(0.01)
        tr.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
        tr.write(b"header:" * 1_000_000)  # 7 MB: more than the socket buffers take
        task = asyncio.ensure_future(loop.sendfile(tr, datafile))
        await asyncio.sleep(0.05)
        assert tr.get_write_buffer_size() > 0  # the header is still queued
        assert not tr.is_reading()  # paused while sendfile waits for the queue
        assert not task.done()
        with pytest.raises(RuntimeError, match="sendfile is in progress"):
            tr.write(b"x")
        sinks[0].resume_reading()
        n = await asyncio.wait_for(task, 30)
        assert n == len(DATA)
        assert tr.is_reading()
        tr.write(b"trailer")
        tr.close()
        await asyncio.wait_for(done, 30)
        assert bytes(received) == b"header:" * 1_000_000 + DATA + b"trailer"
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


def test_transport_sendfile_falls_back_for_a_non_file(loop: simul.EventLoop) -> None:
    async def main() -> None:
        received = bytearray()
        done = loop.create_future()

        class Sink(asyncio.Protocol):
            def data_received(self, data: bytes) -> None:
                received.extend(data)

            def connection_lost(self, exc: Any) -> None:
                done.set_result(None)

        server = await loop.create_server(Sink, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        tr, proto = await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
        body = b"not a regular file" * 10_000
        with pytest.raises(asyncio.SendfileNotAvailableError):
            await loop.sendfile(tr, __import__("io").BytesIO(body), fallback=False)
        assert await asyncio.wait_for(loop.sendfile(tr, __import__("io").BytesIO(body)), 30) == len(body)
        assert tr.get_protocol() is proto  # the fallback's protocol was put back
        tr.close()
        await asyncio.wait_for(done, 30)
        assert bytes(received) == body
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


def test_a_cancelled_sock_sendfile_leaves_the_file_position_after_the_bytes_sent(
    loop: simul.EventLoop, datafile: Any
) -> None:
    async def main() -> None:
        a, b = socket.socketpair()
        for s in (a, b):
            s.setblocking(False)
        a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        task = asyncio.ensure_future(loop.sock_sendfile(a, datafile, 0, fallback=False))
        while True:  # until it waits for the peer to read
            await asyncio.sleep(0)
            try:
                loop._selector.get_key(a)  # type: ignore[attr-defined]
                break
            except KeyError:
                pass
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        with pytest.raises(KeyError):
            loop._selector.get_key(a)  # type: ignore[attr-defined]
        a.close()
        received = await asyncio.wait_for(read_all(loop, b), 30)
        b.close()
        assert 0 < len(received) < len(DATA)
        assert received == DATA[: len(received)]
        assert datafile.tell() == len(received)

    loop.run_until_complete(main())


def test_the_selector_view_reports_the_reader_and_writer_watches(loop: simul.EventLoop) -> None:
    import selectors

    a, b = socket.socketpair()
    try:
        view = loop._selector  # type: ignore[attr-defined]
        with pytest.raises(KeyError):
            view.get_key(a)
        loop.add_reader(a, lambda: None)
        assert view.get_key(a).events == selectors.EVENT_READ
        assert view.get_key(a.fileno()).fd == a.fileno()
        loop.add_writer(a, lambda: None)
        assert view.get_key(a).events == selectors.EVENT_READ | selectors.EVENT_WRITE
        loop.remove_reader(a)
        assert view.get_key(a).events == selectors.EVENT_WRITE
        loop.remove_writer(a)
        with pytest.raises(KeyError):
            view.get_key(a)
        with pytest.raises(ValueError):
            view.get_key(-1)
    finally:
        a.close()
        b.close()
