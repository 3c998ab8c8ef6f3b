"""Protocol callbacks run in the `contextvars` context the stock loop gives them.

On the stock loop (3.11 `selector_events`) `connection_made` is a `call_soon` from the
transport's `__init__` and the reads are one `add_reader` handle, each with a copy of the
context taken then; an accepted connection is set up in a task of its own. So a variable
set before `create_connection`, or in a server's protocol factory, is seen by every
callback of that connection and by no other; one set in `data_received` is seen by the
later reads and `eof_received`, one set in `connection_made` is not (another copy).
Each test runs on the stock loop and on simul's."""

from __future__ import annotations

import asyncio
import contextvars
import os
import socket
import ssl
import subprocess
import sys
import tempfile
from typing import Any

import pytest


var: contextvars.ContextVar[str] = contextvars.ContextVar("var")


class Recorder(asyncio.Protocol):
    """Records `var` in each callback; sets it to `mark_made` / `mark_data` when given."""

    def __init__(self, mark_made: str | None = None, mark_data: str | None = None) -> None:
        self.seen: list[tuple[str, str | None]] = []
        self.mark_made = mark_made
        self.mark_data = mark_data
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def note(self, what: str) -> None:
        self.seen.append((what, var.get(None)))

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.note("made")
        if self.mark_made is not None:
            var.set(self.mark_made)

    def data_received(self, data: bytes) -> None:
        self.note("data")
        if self.mark_data is not None:
            var.set(self.mark_data)

    def eof_received(self) -> None:
        self.note("eof")

    def connection_lost(self, exc: Exception | None) -> None:
        self.note("lost")
        if not self.lost.done():
            self.lost.set_result(None)


class Sender(asyncio.Protocol):
    """Sends two chunks, a moment apart, then EOF."""

    def connection_made(self, transport: Any) -> None:
        loop = asyncio.get_running_loop()
        transport.write(b"one")
        loop.call_later(0.01, transport.write, b"two")
        loop.call_later(0.02, transport.close)


def kinds(seen: list[tuple[str, str | None]]) -> list[str]:
    out: list[str] = []
    for what, _ in seen:
        if not out or out[-1] != what:
            out.append(what)
    return out


def test_client_callbacks_see_the_context_of_create_connection(any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> list[tuple[str, str | None]]:
        server = await asyncio.get_running_loop().create_server(Sender, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        var.set("client")
        _, proto = await asyncio.get_running_loop().create_connection(Recorder, "127.0.0.1", port)
        var.set("changed later")
        await proto.lost
        server.close()
        await server.wait_closed()
        return proto.seen

    seen = any_loop.run_until_complete(main())
    assert kinds(seen) == ["made", "data", "eof", "lost"]
    assert {v for _, v in seen} == {"client"}


def test_unix_client_callbacks_see_the_context_of_create_unix_connection(any_loop: asyncio.AbstractEventLoop) -> None:
    async def main(path: str) -> list[tuple[str, str | None]]:
        server = await asyncio.get_running_loop().create_unix_server(Sender, path)
        var.set("client")
        _, proto = await asyncio.get_running_loop().create_unix_connection(Recorder, path)
        var.set("changed later")
        await proto.lost
        server.close()
        await server.wait_closed()
        return proto.seen

    with tempfile.TemporaryDirectory() as d:
        seen = any_loop.run_until_complete(main(os.path.join(d, "s")))
    assert kinds(seen) == ["made", "data", "eof", "lost"]
    assert {v for _, v in seen} == {"client"}


def test_accepted_connections_each_see_their_own_factory_context(any_loop: asyncio.AbstractEventLoop) -> None:
    protos: list[Recorder] = []

    def factory() -> Recorder:
        var.set(f"conn{len(protos)}")
        p = Recorder()
        protos.append(p)
        return p

    async def main() -> None:
        loop = asyncio.get_running_loop()
        var.set("serving task")
        server = await loop.create_server(factory, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        await asyncio.gather(
            loop.create_connection(Sender, "127.0.0.1", port),
            loop.create_connection(Sender, "127.0.0.1", port),
        )
        while len(protos) < 2:
            await asyncio.sleep(0.001)
        await asyncio.gather(*(p.lost for p in protos))
        server.close()
        await server.wait_closed()
        assert var.get() == "serving task"

    any_loop.run_until_complete(main())
    for i, p in enumerate(protos):
        assert kinds(p.seen) == ["made", "data", "eof", "lost"]
        assert {v for _, v in p.seen} == {f"conn{i}"}


def test_a_value_set_in_data_received_is_seen_by_later_reads_not_one_set_in_connection_made(
    any_loop: asyncio.AbstractEventLoop,
) -> None:
    async def main() -> list[tuple[str, str | None]]:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Sender, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        var.set("client")
        _, proto = await loop.create_connection(
            lambda: Recorder(mark_made="made", mark_data="data"), "127.0.0.1", port
        )
        await proto.lost
        server.close()
        await server.wait_closed()
        return proto.seen

    seen = any_loop.run_until_complete(main())
    assert kinds(seen) == ["made", "data", "eof", "lost"]
    assert seen[0] == ("made", "client")
    assert seen[1] == ("data", "client")
    assert all(v == "data" for _, v in seen[2:])


class DatagramRecorder(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None]] = []
        self.got: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: Any) -> None:
        self.seen.append(("made", var.get(None)))

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.seen.append(("datagram", var.get(None)))
        if not self.got.done():
            self.got.set_result(None)

    def error_received(self, exc: Exception) -> None:
        self.seen.append(("error", var.get(None)))

    def connection_lost(self, exc: Exception | None) -> None:
        self.seen.append(("lost", var.get(None)))


def test_datagram_callbacks_see_the_context_of_create_datagram_endpoint(any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> list[tuple[str, str | None]]:
        loop = asyncio.get_running_loop()
        var.set("endpoint")
        transport, proto = await loop.create_datagram_endpoint(DatagramRecorder, local_addr=("127.0.0.1", 0))
        var.set("changed later")
        addr = transport.get_extra_info("sockname")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b"hi", addr)
            await proto.got
        transport.close()
        await asyncio.sleep(0.01)
        return proto.seen

    seen = any_loop.run_until_complete(main())
    assert [k for k, _ in seen] == ["made", "datagram", "lost"]
    assert seen[0][1] == "endpoint" and seen[1][1] == "endpoint"
    # connection_lost runs in the context that called close(), as on the stock loop.
    assert seen[2][1] == "changed later"


class PipeRecorder(asyncio.Protocol):
    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None]] = []
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: Any) -> None:
        self.seen.append(("made", var.get(None)))

    def data_received(self, data: bytes) -> None:
        self.seen.append(("data", var.get(None)))

    def eof_received(self) -> None:
        self.seen.append(("eof", var.get(None)))

    def connection_lost(self, exc: Exception | None) -> None:
        self.seen.append(("lost", var.get(None)))
        self.lost.set_result(None)


def test_read_pipe_callbacks_see_the_context_of_connect_read_pipe(any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> list[tuple[str, str | None]]:
        loop = asyncio.get_running_loop()
        r, w = os.pipe()
        var.set("pipe")
        _, proto = await loop.connect_read_pipe(PipeRecorder, os.fdopen(r, "rb", 0))
        var.set("changed later")
        os.write(w, b"data")
        await asyncio.sleep(0.01)
        os.close(w)
        await proto.lost
        return proto.seen

    seen = any_loop.run_until_complete(main())
    assert kinds(seen) == ["made", "data", "eof", "lost"]
    assert {v for _, v in seen} == {"pipe"}


class ProcRecorder(asyncio.SubprocessProtocol):
    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None]] = []
        self.exited: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: Any) -> None:
        self.seen.append(("made", var.get(None)))

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        self.seen.append(("data", var.get(None)))

    def process_exited(self) -> None:
        self.seen.append(("exited", var.get(None)))
        self.exited.set_result(None)


def test_subprocess_pipe_data_sees_the_context_of_subprocess_exec(any_loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> list[tuple[str, str | None]]:
        loop = asyncio.get_running_loop()
        var.set("proc")
        transport, proto = await loop.subprocess_exec(
            ProcRecorder, sys.executable, "-c", "print('hi')", stdin=None, stdout=subprocess.PIPE, stderr=None
        )
        var.set("changed later")
        await proto.exited
        transport.close()
        return proto.seen

    seen = any_loop.run_until_complete(main())
    assert ("data", "proc") in seen
    assert all(v == "proc" for k, v in seen if k in ("made", "data"))


def test_tls_client_callbacks_see_the_context_of_create_connection(any_loop: asyncio.AbstractEventLoop) -> None:
    certs = pytest.importorskip("test.test_asyncio.utils")
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(certs.ONLYCERT, certs.ONLYKEY)
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.check_hostname = False
    client_ctx.verify_mode = ssl.CERT_NONE

    async def main() -> list[tuple[str, str | None]]:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Sender, "127.0.0.1", 0, ssl=server_ctx)
        port = server.sockets[0].getsockname()[1]
        var.set("client")
        _, proto = await loop.create_connection(
            lambda: Recorder(mark_data="data"), "127.0.0.1", port, ssl=client_ctx
        )
        var.set("changed later")
        await proto.lost
        server.close()
        await server.wait_closed()
        return proto.seen

    seen = any_loop.run_until_complete(main())
    assert kinds(seen)[:2] == ["made", "data"]
    assert seen[0] == ("made", "client")
    assert seen[1] == ("data", "client")
    assert all(v == "data" for k, v in seen[2:] if k == "data")


class FlowRecorder(Recorder):
    def pause_writing(self) -> None:
        self.note("pause")

    def resume_writing(self) -> None:
        self.note("resume")


class Drain(asyncio.Protocol):
    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        pass


def test_write_side_callbacks_see_the_context_of_the_write_that_found_the_socket_full(
    any_loop: asyncio.AbstractEventLoop,
) -> None:
    async def main() -> list[tuple[str, str | None]]:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Drain, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        var.set("client")
        transport, proto = await loop.create_connection(FlowRecorder, "127.0.0.1", port)
        transport.set_write_buffer_limits(high=4096)
        var.set("writer")
        transport.write(b"x" * (8 << 20))
        var.set("closer")
        transport.close()
        await proto.lost
        server.close()
        await server.wait_closed()
        return proto.seen

    seen = any_loop.run_until_complete(main())
    assert seen == [("made", "client"), ("pause", "writer"), ("resume", "writer"), ("lost", "writer")]


def test_write_pipe_callbacks_see_the_context_of_the_write_that_found_the_pipe_full(
    any_loop: asyncio.AbstractEventLoop,
) -> None:
    async def main() -> list[tuple[str, str | None]]:
        loop = asyncio.get_running_loop()
        r, w = os.pipe()
        os.set_blocking(r, False)

        def drain() -> None:
            try:
                while os.read(r, 1 << 16):
                    pass
            except BlockingIOError:
                pass

        var.set("pipe")
        transport, proto = await loop.connect_write_pipe(FlowRecorder, os.fdopen(w, "wb", 0))
        transport.set_write_buffer_limits(high=4096)
        var.set("writer")
        transport.write(b"x" * (1 << 20))
        var.set("closer")
        transport.close()
        loop.add_reader(r, drain)
        await proto.lost
        loop.remove_reader(r)
        os.close(r)
        return proto.seen

    seen = any_loop.run_until_complete(main())
    assert seen == [("made", "pipe"), ("pause", "writer"), ("resume", "writer"), ("lost", "writer")]
