"""The Rust socket transports: asyncio streams on top, flow control, BufferedProtocol,
protocols that raise, many connections byte-exact, Unix sockets."""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile

import simul
from conftest import assert_core_methods_work


async def echo(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    while data := await r.read(65536):
        w.write(data)
        await w.drain()
    w.close()


def test_streams_echo_many_connections_byte_exact(loop: simul.EventLoop) -> None:
    async def client(port: int, i: int) -> bytes:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        msg = os.urandom(1000 + i)
        w.write(msg)
        await w.drain()
        got = await r.readexactly(len(msg))
        w.close()
        await w.wait_closed()
        assert got == msg
        return got

    async def main() -> int:
        srv = await asyncio.start_server(echo, "127.0.0.1", 0, backlog=1000)
        port = srv.sockets[0].getsockname()[1]
        got = await asyncio.gather(*[client(port, i) for i in range(500)])
        srv.close()
        await srv.wait_closed()
        await asyncio.sleep(0.05)
        return len(got)

    assert loop.run_until_complete(main()) == 500


def test_large_transfer_both_ways(loop: simul.EventLoop) -> None:
    async def main() -> None:
        srv = await asyncio.start_server(echo, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        r, w = await asyncio.open_connection("127.0.0.1", port)
        payload = os.urandom(8_000_000)

        async def send() -> None:
            w.write(payload)
            await w.drain()
            w.write_eof()

        sender = asyncio.ensure_future(send())
        got = await r.read(-1)
        await sender
        assert got == payload
        w.close()
        await w.wait_closed()
        srv.close()
        await srv.wait_closed()
        await asyncio.sleep(0.05)

    loop.run_until_complete(main())


class Recorder(asyncio.Protocol):
    def __init__(self) -> None:
        self.events: list[str] = []
        self.transport: asyncio.Transport | None = None
        self.lost = asyncio.get_event_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def pause_writing(self) -> None:
        self.events.append("pause")

    def resume_writing(self) -> None:
        self.events.append("resume")

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.set_result(exc)


def test_flow_control_pauses_above_high_and_resumes_at_low(loop: simul.EventLoop) -> None:
    async def main() -> list[str]:
        a, b = socket.socketpair()
        b.setblocking(False)
        t, p = await loop.connect_accepted_socket(Recorder, a)
        t.set_write_buffer_limits(high=100_000, low=10_000)
        assert t.get_write_buffer_limits() == (10_000, 100_000)
        t.write(b"x" * 5_000_000)  # far more than the socket buffers take
        assert p.events == ["pause"]
        assert t.get_write_buffer_size() > 100_000
        received = 0
        while p.events == ["pause"]:
            try:
                received += len(b.recv(1 << 20))
            except BlockingIOError:
                await asyncio.sleep(0.001)
        assert p.events == ["pause", "resume"]
        assert t.get_write_buffer_size() <= 10_000
        t.close()
        while True:
            try:
                chunk = b.recv(1 << 20)
            except BlockingIOError:
                await asyncio.sleep(0.001)
                continue
            if not chunk:
                break
            received += len(chunk)
        assert received == 5_000_000
        assert await p.lost is None
        b.close()
        return p.events

    loop.run_until_complete(main())


def test_a_protocol_raising_in_data_received_is_reported_and_closed(loop: simul.EventLoop) -> None:
    seen: list[dict] = []
    loop.set_exception_handler(lambda lp, ctx: seen.append(ctx))

    class Bad(Recorder):
        def data_received(self, data: bytes) -> None:
            raise ValueError("bad protocol")

    async def main() -> None:
        a, b = socket.socketpair()
        t, p = await loop.connect_accepted_socket(Bad, a)
        b.send(b"hi")
        exc = await asyncio.wait_for(p.lost, 10)
        assert isinstance(exc, ValueError)
        b.close()

    loop.run_until_complete(main())
    assert any(isinstance(c.get("exception"), ValueError) for c in seen)
    assert "data_received" in seen[0]["message"]


def test_buffered_protocol_and_pause_reading(loop: simul.EventLoop) -> None:
    class Buf(asyncio.BufferedProtocol):
        def __init__(self) -> None:
            self.buf = bytearray(7)
            self.got = bytearray()
            self.done = asyncio.get_event_loop().create_future()

        def get_buffer(self, sizehint: int) -> bytearray:
            return self.buf

        def buffer_updated(self, nbytes: int) -> None:
            self.got += self.buf[:nbytes]

        def eof_received(self) -> None:
            self.done.set_result(bytes(self.got))

        def connection_lost(self, exc: Exception | None) -> None:
            pass

    async def main() -> None:
        a, b = socket.socketpair()
        t, p = await loop.connect_accepted_socket(Buf, a)
        assert t.is_reading()
        t.pause_reading()
        assert not t.is_reading()
        b.sendall(b"hello buffered world")
        await asyncio.sleep(0.02)
        assert p.got == b""
        t.resume_reading()
        b.shutdown(socket.SHUT_WR)
        assert await asyncio.wait_for(p.done, 10) == b"hello buffered world"
        assert t.get_extra_info("peername") is not None or t.get_extra_info("socket") is not None
        t.close()
        await asyncio.sleep(0.01)
        b.close()

    loop.run_until_complete(main())


def test_unix_server_and_connection(loop: simul.EventLoop) -> None:
    async def main() -> bytes:
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "s.sock")
            srv = await asyncio.start_unix_server(echo, path)
            r, w = await asyncio.open_unix_connection(path)
            w.write(b"over unix\n")
            line = await r.readline()
            w.close()
            await w.wait_closed()
            srv.close()
            await srv.wait_closed()
            await asyncio.sleep(0.02)
            return line

    assert loop.run_until_complete(main()) == b"over unix\n"


def test_eof_arriving_with_the_last_data_is_not_lost(loop: simul.EventLoop) -> None:
    import threading

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(128)
    port = srv.getsockname()[1]
    rounds = 200

    def peer() -> None:
        for _ in range(rounds):
            conn, _ = srv.accept()
            conn.sendall(b"HTTP/1.0 200 OK\r\n\r\n")
            conn.sendall(b"body")
            conn.close()

    t = threading.Thread(target=peer)
    t.start()

    async def main() -> None:
        for _ in range(rounds):
            r, w = await asyncio.open_connection("127.0.0.1", port)
            assert await r.readline() == b"HTTP/1.0 200 OK\r\n"
            assert await asyncio.wait_for(r.read(), 10) == b"\r\nbody"
            w.close()
            await w.wait_closed()

    try:
        loop.run_until_complete(main())
    finally:
        t.join()
        srv.close()


CLIENTS_PROGRAM = r"""
import asyncio, os, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
async def one(i, sem):
    async with sem:
        r, w = await asyncio.open_connection("127.0.0.1", port)
    msg = (b"%08d" % i) * 16
    w.write(msg)
    await w.drain()
    got = await r.readexactly(len(msg))
    await opened.wait()
    w.close()
    return got == msg
async def main():
    global opened
    opened = asyncio.Event()
    sem = asyncio.Semaphore(500)
    tasks = [asyncio.ensure_future(one(i, sem)) for i in range(n)]
    print("started", flush=True)
    await asyncio.sleep(0)
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    opened.set()
    print(sum(await asyncio.gather(*tasks)), flush=True)
asyncio.run(main())
"""


def test_ten_thousand_concurrent_connections_byte_exact(loop: simul.EventLoop) -> None:
    import resource
    import subprocess
    import sys

    n = 10_000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n + 500:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 1000), hard))
    live = [0, 0]  # open now, most at once

    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        live[0] += 1
        live[1] = max(live[1], live[0])
        try:
            await echo(r, w)
        finally:
            live[0] -= 1

    async def main() -> str:
        srv = await asyncio.start_server(handler, "127.0.0.1", 0, backlog=4096)
        port = srv.sockets[0].getsockname()[1]
        # The clients run on the stock loop in a child process (subprocesses on simul's
        # loop are issue 16); each holds its connection open until told to go.
        p = subprocess.Popen([sys.executable, "-c", CLIENTS_PROGRAM, str(port), str(n)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert p.stdout is not None and p.stdin is not None
        deadline = loop.time() + 120
        while live[1] < n and loop.time() < deadline:
            await asyncio.sleep(0.05)
        assert live[1] == n, f"only {live[1]} connections were open at once"
        p.stdin.write("go\n")
        p.stdin.flush()
        out = await loop.run_in_executor(None, p.stdout.read)
        p.wait(timeout=60)
        srv.close()
        await srv.wait_closed()
        while live[0] and loop.time() < deadline:
            await asyncio.sleep(0.05)
        return out

    out = loop.run_until_complete(main())
    assert out.split()[-1] == str(n)


def _serve_closing_in_connection_made(loop: simul.EventLoop, payload: bytes, abort: bool) -> tuple[bytes, list[object]]:
    """A server whose protocol writes `payload` and closes (or aborts) inside
    `connection_made`; what a plain client socket reads to EOF, and the lost calls."""
    lost: list[object] = []

    class CloseAtOnce(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            assert isinstance(transport, asyncio.Transport)
            transport.write(payload)
            transport.abort() if abort else transport.close()

        def connection_lost(self, exc: Exception | None) -> None:
            lost.append(exc)

    async def main() -> bytes:
        srv = await loop.create_server(CloseAtOnce, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        c = socket.create_connection(("127.0.0.1", port))
        c.setblocking(False)
        out = b""
        try:
            while chunk := await asyncio.wait_for(loop.sock_recv(c, 1 << 16), 5):
                out += chunk
        except ConnectionResetError:
            pass
        await asyncio.sleep(0)
        c.close()
        srv.close()
        await srv.wait_closed()
        return out

    return loop.run_until_complete(main()), lost


def test_transport_closed_in_connection_made_loses_the_connection(loop: simul.EventLoop) -> None:
    got, lost = _serve_closing_in_connection_made(loop, b"bye", abort=False)
    assert got == b"bye"
    assert lost == [None]


def test_transport_closed_in_connection_made_flushes_queued_data_first(loop: simul.EventLoop) -> None:
    payload = os.urandom(8 << 20)  # more than the socket buffers take at once
    got, lost = _serve_closing_in_connection_made(loop, payload, abort=False)
    assert got == payload
    assert lost == [None]


def test_transport_aborted_in_connection_made_loses_the_connection(loop: simul.EventLoop) -> None:
    got, lost = _serve_closing_in_connection_made(loop, b"", abort=True)
    assert got == b""
    assert lost == [None]


def test_socket_transport_has_the_flow_control_mixins_fields(loop: simul.EventLoop) -> None:
    """``_FlowControlMixin`` code (asyncio's ``sendfile`` fallback, user code reading the
    stock transport's fields) finds them on simul's socket transport as on the stock one."""
    a, b = socket.socketpair()

    async def main() -> None:
        tr, _ = await loop.create_connection(asyncio.Protocol, sock=a)
        assert isinstance(tr, asyncio.transports._FlowControlMixin)
        assert tr._loop is loop
        assert tr._extra["socket"].fileno() == a.fileno()
        assert (tr._high_water, tr._low_water) == (64 * 1024, 16 * 1024)
        assert tr._protocol_paused is False
        assert tr.get_write_buffer_limits() == (16 * 1024, 64 * 1024)
        tr.close()
        await asyncio.sleep(0)

    loop.run_until_complete(main())
    b.close()


def test_socket_transport_methods_are_the_cores_bound_or_looked_up(loop: simul.EventLoop) -> None:
    """Every transport method is its Rust core's: the hot ones bound once per transport,
    the others looked up on the core at each access (so a connection that never calls
    them never binds them); both behave as the core's own method."""
    a, b = socket.socketpair()

    async def main() -> None:
        tr, proto = await loop.create_connection(asyncio.Protocol, sock=a)
        assert_core_methods_work(tr)
        assert tr.get_protocol() is proto
        other = asyncio.Protocol()
        tr.set_protocol(other)
        assert tr.get_protocol() is other
        tr.set_protocol(proto)
        tr.set_write_buffer_limits(high=4096)
        assert tr.get_write_buffer_limits() == (1024, 4096)
        assert tr.get_write_buffer_size() == 0
        assert tr.can_write_eof() is True
        tr.write(b"x")
        tr.write_eof()
        assert b.recv(10) == b"x"
        assert b.recv(10) == b""
        tr.abort()
        await asyncio.sleep(0)
        assert tr.is_closing()

    loop.run_until_complete(main())
    b.close()
