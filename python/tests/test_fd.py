"""add_reader/add_writer and the sock_* coroutines."""

from __future__ import annotations

import asyncio
import socket

import pytest

import simul


def pair() -> tuple[socket.socket, socket.socket]:
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    return a, b


def test_add_reader_is_level_triggered(loop: simul.EventLoop) -> None:
    a, b = pair()
    got: list[bytes] = []

    def on_readable() -> None:
        got.append(a.recv(1))  # one byte per call: the rest must call again
        if len(got) == 3:
            loop.remove_reader(a)
            loop.stop()

    loop.add_reader(a, on_readable)
    b.send(b"xyz")
    loop.run_forever()
    assert got == [b"x", b"y", b"z"]
    a.close()
    b.close()


def test_remove_reader_reports_whether_it_watched(loop: simul.EventLoop) -> None:
    a, b = pair()
    assert loop.remove_reader(a) is False
    loop.add_reader(a.fileno(), lambda: None)
    assert loop.remove_reader(a.fileno()) is True
    assert loop.remove_reader(a.fileno()) is False
    # watch again at once: the descriptor was deregistered synchronously
    loop.add_reader(a.fileno(), lambda: None)
    loop.add_writer(a.fileno(), lambda: None)
    assert loop.remove_writer(a.fileno()) is True
    assert loop.remove_reader(a.fileno()) is True
    a.close()
    b.close()


def test_add_writer_then_reader_on_the_same_fd(loop: simul.EventLoop) -> None:
    a, b = pair()
    events: list[str] = []

    def on_writable() -> None:
        events.append("w")
        loop.remove_writer(a)
        b.send(b"!")

    def on_readable() -> None:
        events.append("r")
        a.recv(10)
        loop.remove_reader(a)
        loop.stop()

    loop.add_reader(a, on_readable)
    loop.add_writer(a, on_writable)
    loop.run_forever()
    assert events == ["w", "r"]
    a.close()
    b.close()


def test_sock_roundtrip_over_tcp(loop: simul.EventLoop) -> None:
    async def main() -> bytes:
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        srv.setblocking(False)
        cli = socket.socket()
        cli.setblocking(False)
        accept = asyncio.ensure_future(loop.sock_accept(srv))
        await loop.sock_connect(cli, srv.getsockname())
        conn, _ = await accept
        payload = b"x" * 3_000_000
        send = asyncio.ensure_future(loop.sock_sendall(cli, payload))
        got = bytearray()
        while len(got) < len(payload):
            chunk = await loop.sock_recv(conn, 65536)
            assert chunk
            got += chunk
        await send
        buf = bytearray(4)
        await loop.sock_sendall(conn, b"pong")
        n = await loop.sock_recv_into(cli, buf)
        for s in (srv, cli, conn):
            s.close()
        assert bytes(got) == payload
        return bytes(buf[:n])

    assert loop.run_until_complete(main()) == b"pong"


def test_sock_connect_refused(loop: simul.EventLoop) -> None:
    async def main() -> None:
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        addr = probe.getsockname()
        probe.close()
        cli = socket.socket()
        cli.setblocking(False)
        try:
            with pytest.raises(ConnectionRefusedError):
                await loop.sock_connect(cli, addr)
        finally:
            cli.close()

    loop.run_until_complete(main())


def test_cancelled_sock_recv_stops_watching(loop: simul.EventLoop) -> None:
    a, b = pair()

    async def main() -> None:
        t = asyncio.ensure_future(loop.sock_recv(a, 10))
        await asyncio.sleep(0.01)
        t.cancel()
        with pytest.raises(asyncio.CancelledError):
            await t
        await asyncio.sleep(0)
        assert loop.remove_reader(a) is False

    loop.run_until_complete(main())
    a.close()
    b.close()


def test_a_cancelled_sock_recv_does_not_stop_the_next_one(loop: simul.EventLoop) -> None:
    a, b = pair()

    async def main() -> bytes:
        first = asyncio.ensure_future(loop.sock_recv(a, 10))
        await asyncio.sleep(0)
        first.cancel()
        loop.call_later(0.01, b.send, b"data")
        me = asyncio.current_task()
        assert me is not None
        guard = loop.call_later(5, me.cancel)  # a lost watch would hang here
        # Called in the same step, before the cancelled one's clean-up runs.
        data = await loop.sock_recv(a, 10)
        guard.cancel()
        return data

    assert loop.run_until_complete(main()) == b"data"
    a.close()
    b.close()
