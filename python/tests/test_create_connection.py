"""``create_connection`` to a numeric host (simul's shortened path: no resolver step, no
``sock_connect`` round, the socket's blocking mode set once) behaves as the stock loop's:
the same errors, extra info, debug report, cleanup on cancel and on a failing factory.
Each test runs on both loops."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import socket
from typing import Any

import pytest
from test.test_asyncio import utils as tu

from conftest import finish


def open_fds() -> set[int]:
    return {int(n) for n in os.listdir("/proc/self/fd")}


def open_fds_before() -> set[int]:
    """The open descriptors before a test's step, earlier tests' garbage collected first
    (a collection during the step would close their sockets and count as a change)."""
    gc.collect()
    return open_fds()


def closed_port() -> int:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port: int = probe.getsockname()[1]
    probe.close()  # nobody listens there now
    return port


def test_refused_connect_raises_the_stock_error(any_loop: asyncio.AbstractEventLoop) -> None:
    port = closed_port()
    before = open_fds_before()
    with pytest.raises(ConnectionRefusedError) as info:
        any_loop.run_until_complete(any_loop.create_connection(asyncio.Protocol, "127.0.0.1", port))
    assert info.value.errno == 111
    assert str(info.value) == f"[Errno 111] Connect call failed ('127.0.0.1', {port})"
    assert open_fds() == before


def test_connect_cancelled_while_pending_closes_its_socket(any_loop: asyncio.AbstractEventLoop) -> None:
    # A listener that never accepts, with its one-slot backlog taken: the next SYN is
    # dropped, so the connect stays in progress.
    lsn = socket.socket()
    lsn.bind(("127.0.0.1", 0))
    lsn.listen(0)
    port = lsn.getsockname()[1]
    filler = [socket.socket() for _ in range(2)]
    for f in filler:
        f.setblocking(False)
        f.connect_ex(("127.0.0.1", port))
    before = open_fds_before()

    async def main() -> None:
        task = asyncio.ensure_future(any_loop.create_connection(asyncio.Protocol, "127.0.0.1", port))
        await asyncio.sleep(0.05)
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    any_loop.run_until_complete(main())
    assert open_fds() == before
    for s in [*filler, lsn]:
        s.close()


def test_failing_protocol_factory_propagates(any_loop: asyncio.AbstractEventLoop) -> None:
    lsn = socket.socket()
    lsn.bind(("127.0.0.1", 0))
    lsn.listen(8)
    port = lsn.getsockname()[1]

    def factory() -> asyncio.Protocol:
        raise LookupError("no protocol")

    with pytest.raises(LookupError, match="no protocol"):
        any_loop.run_until_complete(any_loop.create_connection(factory, "127.0.0.1", port))
    lsn.close()


@pytest.mark.parametrize("tls", [False, True])
def test_numeric_connect_has_the_stock_extra_info(any_loop: asyncio.AbstractEventLoop, tls: bool) -> None:
    async def main() -> None:
        async def serve(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            w.write(b"hi")
            await w.drain()
            w.close()

        sctx = tu.simple_server_sslcontext() if tls else None
        srv = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=sctx)
        port = srv.sockets[0].getsockname()[1]
        kw: dict[str, Any] = {"ssl": tu.simple_client_sslcontext(), "server_hostname": "localhost"} if tls else {}
        r, w = await asyncio.open_connection("127.0.0.1", port, **kw)
        tr = w.transport
        assert tr.get_extra_info("peername") == ("127.0.0.1", port)
        assert tr.get_extra_info("sockname")[0] == "127.0.0.1"
        sock = tr.get_extra_info("socket")
        assert sock.gettimeout() == 0.0 and sock.family == socket.AF_INET
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        assert (tr.get_extra_info("ssl_object") is not None) == tls
        assert await r.read() == b"hi"
        await finish(srv, w)

    any_loop.run_until_complete(main())


def test_server_hostname_without_ssl_is_refused(any_loop: asyncio.AbstractEventLoop) -> None:
    with pytest.raises(ValueError, match="server_hostname is only meaningful with ssl"):
        any_loop.run_until_complete(
            any_loop.create_connection(asyncio.Protocol, "127.0.0.1", 1, server_hostname="x")
        )
    with pytest.raises(ValueError, match="ssl_handshake_timeout is only meaningful with ssl"):
        any_loop.run_until_complete(
            any_loop.create_connection(asyncio.Protocol, "127.0.0.1", 1, ssl_handshake_timeout=1)
        )


def test_debug_mode_reports_the_connection(
    any_loop: asyncio.AbstractEventLoop, caplog: pytest.LogCaptureFixture
) -> None:
    lsn = socket.socket()
    lsn.bind(("127.0.0.1", 0))
    lsn.listen(8)
    port = lsn.getsockname()[1]
    any_loop.set_debug(True)

    async def main() -> None:
        tr, _ = await any_loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
        tr.close()
        await asyncio.sleep(0)

    with caplog.at_level(logging.DEBUG, logger="asyncio"):
        any_loop.run_until_complete(main())
    assert any(f"connected to 127.0.0.1:{port}: (" in m for m in caplog.messages)
    lsn.close()


def _closed_transport_socket(lp: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
    async def main() -> None:
        tr, _ = await lp.create_connection(asyncio.Protocol, sock=sock)
        tr.close()
        for _ in range(5):
            await asyncio.sleep(0)

    lp.run_until_complete(main())


def test_closed_transport_closes_its_socket_object(any_loop: asyncio.AbstractEventLoop) -> None:
    a, b = socket.socketpair()
    _closed_transport_socket(any_loop, a)
    assert a._closed and a.fileno() == -1  # type: ignore[attr-defined]
    b.close()


def test_a_makefile_object_keeps_the_descriptor_until_it_closes(any_loop: asyncio.AbstractEventLoop) -> None:
    a, b = socket.socketpair()
    fd = a.fileno()
    f = a.makefile("rb")
    _closed_transport_socket(any_loop, a)
    assert a._closed  # type: ignore[attr-defined]
    os.fstat(fd)  # still open: socket.close leaves it to the file
    f.close()
    with pytest.raises(OSError):
        os.fstat(fd)
    b.close()


def test_a_socket_subclass_close_is_called(any_loop: asyncio.AbstractEventLoop) -> None:
    calls: list[str] = []

    class Sock(socket.socket):
        def close(self) -> None:
            calls.append("close")
            super().close()

    a, b = socket.socketpair()
    mine = Sock(a.family, a.type, a.proto, fileno=a.detach())
    _closed_transport_socket(any_loop, mine)
    assert calls == ["close"] and mine.fileno() == -1
    b.close()


@pytest.mark.parametrize(
    "host,port_kind,family",
    [
        ("127.0.0.1", "int", 0),
        ("127.0.0.1", "int", socket.AF_INET),
        ("127.0.0.1", "str", 0),
        ("::1", "int", 0),
        ("::1", "int", socket.AF_INET6),
    ],
)
def test_a_numeric_host_connects_as_on_the_stock_loop(
    any_loop: asyncio.AbstractEventLoop, host: str, port_kind: str, family: int,
) -> None:
    """An IPv4 literal with an int port (taken without ``_ipaddr_info``) and the other
    numeric forms (through it) reach the same peer with the same socket family."""
    srv_family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        srv = socket.socket(srv_family)
        srv.bind((host, 0))
    except OSError:
        pytest.skip(f"no {host} here")
    srv.listen(1)
    port = srv.getsockname()[1]

    async def main() -> Any:
        tr, _ = await any_loop.create_connection(
            asyncio.Protocol, host, port if port_kind == "int" else str(port), family=family)
        sock = tr.get_extra_info("socket")
        out = (sock.family, sock.type, sock.proto, tr.get_extra_info("peername")[:2])
        tr.close()
        return out

    try:
        got = any_loop.run_until_complete(main())
    finally:
        srv.close()
    assert got == (srv_family, socket.SOCK_STREAM, socket.IPPROTO_TCP, (host, port))


def test_an_ipv4_literal_of_the_wrong_family_fails_as_on_the_stock_loop(
    any_loop: asyncio.AbstractEventLoop,
) -> None:
    """An IPv4 literal asked for as IPv6 goes to the resolver (which refuses it), and a
    host with a NUL raises the ``ValueError`` of ``inet_pton``, on both loops."""
    port = closed_port()
    with pytest.raises(socket.gaierror):
        any_loop.run_until_complete(
            any_loop.create_connection(asyncio.Protocol, "127.0.0.1", port, family=socket.AF_INET6))
    with pytest.raises(ValueError):
        any_loop.run_until_complete(any_loop.create_connection(asyncio.Protocol, "127.0.0.1\0", port))


def test_a_port_out_of_range_raises_connects_error(any_loop: asyncio.AbstractEventLoop) -> None:
    """The connect's own argument error (``connect_ex`` on simul, ``connect`` on stock)
    propagates as the same exception, and the socket is closed."""
    before = open_fds_before()
    with pytest.raises(OverflowError, match="port must be 0-65535"):
        any_loop.run_until_complete(any_loop.create_connection(asyncio.Protocol, "127.0.0.1", 70000))
    assert open_fds() == before


@pytest.mark.parametrize("host", ["127.0.0.1", "127.10.200.5", "127.99.9.250", "::1"])
def test_tcp_transports_name_their_socket_and_peer_as_the_socket_does(
    any_loop: asyncio.AbstractEventLoop, host: str
) -> None:
    """Both sides' ``sockname`` and ``peername`` (made in Rust on simul) are the socket's
    own ``getsockname()``/``getpeername()``, for dotted quads of one, two and three digits
    and for IPv6, and ``TCP_NODELAY`` is on, as on the stock loop."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        probe = socket.socket(family)
        probe.bind((host, 0))
        probe.close()
    except OSError:
        pytest.skip(f"cannot bind {host}")
    accepted: list[asyncio.Transport] = []

    class Server(asyncio.Protocol):
        def connection_made(self, transport: Any) -> None:
            accepted.append(transport)

    async def main() -> None:
        srv = await any_loop.create_server(Server, host, 0)
        port = srv.sockets[0].getsockname()[1]
        tr, _ = await any_loop.create_connection(asyncio.Protocol, host, port)
        while not accepted:
            await asyncio.sleep(0)
        for t in (tr, accepted[0]):
            sock = t.get_extra_info("socket")
            assert t.get_extra_info("sockname") == sock.getsockname()
            assert t.get_extra_info("peername") == sock.getpeername()
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        assert tr.get_extra_info("peername") == accepted[0].get_extra_info("sockname")
        assert tr.get_extra_info("sockname") == accepted[0].get_extra_info("peername")
        tr.close()
        accepted[0].close()
        srv.close()
        await srv.wait_closed()

    any_loop.run_until_complete(main())
