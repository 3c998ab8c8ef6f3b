"""The sockets of a connection, as its transports' ``get_extra_info("socket")`` shows them:
non-blocking with timeout 0.0, close-on-exec, the plain ``type`` and the right addresses,
on a connecting socket made non-blocking at ``socket(2)`` and an accepted one that comes
non-blocking out of ``accept4(2)`` (no ``setblocking`` afterwards). Each test runs on
both loops, the stock loop first."""

from __future__ import annotations

import asyncio
import fcntl
import os
import socket
from typing import Any

import pytest
from test.test_asyncio import utils as tu

from conftest import finish


def has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def mode(sock: Any) -> dict[str, Any]:
    sock = sock._sock  # under the ``TransportSocket`` (which has no ``getblocking``)
    fd = sock.fileno()
    return {
        "timeout": sock.gettimeout(),
        "blocking": sock.getblocking(),
        "O_NONBLOCK": bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK),
        "FD_CLOEXEC": bool(fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC),
        "inheritable": sock.get_inheritable(),
        "type": int(sock.type),
        "proto": sock.proto,
    }


NON_BLOCKING = {
    "timeout": 0.0, "blocking": False, "O_NONBLOCK": True, "FD_CLOEXEC": True,
    "inheritable": False, "type": int(socket.SOCK_STREAM), "proto": socket.IPPROTO_TCP,
}


@pytest.mark.parametrize("tls", [False, True])
@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_both_ends_are_non_blocking_with_the_addresses_of_the_connection(
    any_loop: asyncio.AbstractEventLoop, tls: bool, host: str
) -> None:
    if host == "::1" and not has_ipv6_loopback():
        pytest.skip("no IPv6 loopback")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET

    async def main() -> None:
        accepted: asyncio.Future[dict[str, Any]] = any_loop.create_future()

        async def serve(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            sock = w.get_extra_info("socket")
            accepted.set_result({
                "mode": mode(sock), "family": sock.family,
                "sockname": sock.getsockname(), "peername": sock.getpeername(),
                "extra_peername": w.get_extra_info("peername"),
                "extra_sockname": w.get_extra_info("sockname"),
            })
            await r.read()
            w.close()

        sctx = tu.simple_server_sslcontext() if tls else None
        srv = await asyncio.start_server(serve, host, 0, ssl=sctx)
        port = srv.sockets[0].getsockname()[1]
        kw: dict[str, Any] = {"ssl": tu.simple_client_sslcontext(), "server_hostname": "localhost"} if tls else {}
        r, w = await asyncio.open_connection(host, port, **kw)
        client = w.get_extra_info("socket")
        assert mode(client) == NON_BLOCKING
        assert client.family == family
        server = await accepted
        assert server["mode"] == NON_BLOCKING
        assert server["family"] == family
        # The accepted socket's ends are the client's, crossed, in the shape of
        # ``socket.accept`` (a 4-tuple for IPv6).
        assert server["peername"] == client.getsockname() == server["extra_peername"]
        assert server["sockname"] == client.getpeername() == server["extra_sockname"]
        assert len(server["extra_peername"]) == (4 if family == socket.AF_INET6 else 2)
        await finish(srv, w)

    any_loop.run_until_complete(main())


def test_an_accepted_socket_is_non_blocking_whatever_the_default_timeout(
    any_loop: asyncio.AbstractEventLoop,
) -> None:
    # ``socket.setdefaulttimeout`` makes new sockets blocking with a timeout; asyncio's
    # accepted and connecting sockets stay non-blocking all the same.
    async def main() -> tuple[dict[str, Any], dict[str, Any]]:
        accepted: asyncio.Future[dict[str, Any]] = any_loop.create_future()

        class Keep(asyncio.Protocol):
            def connection_made(self, transport: Any) -> None:
                accepted.set_result(mode(transport.get_extra_info("socket")))
                transport.close()

        srv = await any_loop.create_server(Keep, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        tr, _ = await any_loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
        client = mode(tr.get_extra_info("socket"))
        server = await accepted
        tr.close()
        srv.close()
        await srv.wait_closed()
        return client, server

    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(5.0)
    try:
        client, server = any_loop.run_until_complete(main())
    finally:
        socket.setdefaulttimeout(old)
    assert client == NON_BLOCKING
    assert server == NON_BLOCKING


def test_a_unix_server_accepts_as_before(any_loop: asyncio.AbstractEventLoop, tmp_path: Any) -> None:
    # Not an IPv4/IPv6 listener: ``socket.accept``'s own path, made non-blocking after.
    path = str(tmp_path / "s")

    async def main() -> tuple[dict[str, Any], Any, bytes]:
        accepted: asyncio.Future[tuple[dict[str, Any], Any]] = any_loop.create_future()

        async def serve(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            sock = w.get_extra_info("socket")
            accepted.set_result((mode(sock), w.get_extra_info("peername")))
            w.write(b"hi")
            w.close()

        srv = await asyncio.start_unix_server(serve, path)
        r, w = await asyncio.open_unix_connection(path)
        data = await r.read()
        got, peer = await accepted
        w.close()
        srv.close()
        await srv.wait_closed()
        return got, peer, data

    got, peer, data = any_loop.run_until_complete(main())
    assert data == b"hi"
    assert peer == ""
    assert got == {**NON_BLOCKING, "proto": 0}


def test_a_transports_descriptor_is_refused_to_add_reader_until_it_is_gone(
    any_loop: asyncio.AbstractEventLoop,
) -> None:
    # ``add_reader``/``add_writer``/``remove_*`` on a live transport's descriptor raise;
    # once it is gone and the number is reused they do not.
    async def main() -> tuple[int, list[str]]:
        out: list[str] = []
        srv = await any_loop.create_server(asyncio.Protocol, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        tr, _ = await any_loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
        fd = tr.get_extra_info("socket").fileno()
        for call in (lambda: any_loop.add_reader(fd, print), lambda: any_loop.add_writer(fd, print),
                     lambda: any_loop.remove_reader(fd), lambda: any_loop.remove_writer(fd)):
            try:
                call()
                out.append("allowed")
            except RuntimeError as exc:
                out.append(str(exc).split(" is used by ")[0])
        tr.close()
        for _ in range(5):
            await asyncio.sleep(0)
        del tr
        # The descriptor number, reused by a plain socket once the transport closed it.
        a, b = socket.socketpair()
        assert fd in (a.fileno(), b.fileno())
        any_loop.add_reader(fd, print)
        out.append(str(any_loop.remove_reader(fd)))
        a.close()
        b.close()
        srv.close()
        await srv.wait_closed()
        return fd, out

    fd, out = any_loop.run_until_complete(main())
    assert out == [f"File descriptor {fd}"] * 4 + ["True"]
