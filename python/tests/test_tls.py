"""TLS on simul's loop (asyncio's sslproto over the Rust socket transport), against
Python's own blocking ``ssl`` sockets in a thread."""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import threading
from typing import Any

import pytest
from test.test_asyncio import utils as tu

BODY = 8 * 1024 * 1024


def echo_reversed_server(ctx: ssl.SSLContext) -> tuple[socket.socket, threading.Thread, list[Any]]:
    """A blocking TLS server in a thread: reads BODY bytes, sends them back reversed."""
    lsock = socket.create_server(("127.0.0.1", 0))
    errors: list[Any] = []

    def serve() -> None:
        try:
            conn, _ = lsock.accept()
            with ctx.wrap_socket(conn, server_side=True) as s:
                got = bytearray()
                while len(got) < BODY:
                    chunk = s.recv(1 << 20)
                    if not chunk:
                        break
                    got += chunk
                s.sendall(bytes(got[::-1]))
                s.unwrap()
        except Exception as exc:  # reported by the test
            errors.append(exc)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return lsock, t, errors


def test_a_large_body_both_ways_against_a_blocking_ssl_server(loop: asyncio.AbstractEventLoop) -> None:
    lsock, t, errors = echo_reversed_server(tu.simple_server_sslcontext())
    body = os.urandom(BODY)

    async def main() -> bytes:
        port = lsock.getsockname()[1]
        r, w = await asyncio.open_connection(
            "127.0.0.1", port, ssl=tu.simple_client_sslcontext(), server_hostname="localhost",
            ssl_handshake_timeout=60,
        )
        assert w.get_extra_info("sslcontext") is not None
        w.write(body)
        await w.drain()
        got = await r.readexactly(BODY)
        w.close()
        try:
            await w.wait_closed()
        except (ConnectionError, ssl.SSLError):
            pass
        return got

    got = loop.run_until_complete(main())
    t.join(30)
    lsock.close()
    assert not errors, errors
    assert got == body[::-1]


def test_a_tls_server_serves_a_blocking_ssl_client(loop: asyncio.AbstractEventLoop) -> None:
    result: list[Any] = []

    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        data = await r.readexactly(BODY)
        w.write(data[::-1])
        await w.drain()
        w.close()

    def client(port: int, body: bytes) -> None:
        try:
            ctx = tu.simple_client_sslcontext()
            with socket.create_connection(("127.0.0.1", port)) as raw:
                with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                    s.sendall(body)
                    got = bytearray()
                    while len(got) < BODY:
                        chunk = s.recv(1 << 20)
                        if not chunk:
                            break
                        got += chunk
                    result.append(bytes(got))
        except Exception as exc:
            result.append(exc)

    async def main() -> bytes:
        srv = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=tu.simple_server_sslcontext())
        port = srv.sockets[0].getsockname()[1]
        body = os.urandom(BODY)
        t = threading.Thread(target=client, args=(port, body), daemon=True)
        t.start()
        while t.is_alive():
            await asyncio.sleep(0.01)
        srv.close()
        await srv.wait_closed()
        assert result and result[0] == body[::-1], result and type(result[0])
        return body

    loop.run_until_complete(main())


def test_start_tls_upgrades_a_plain_stream_both_sides(loop: asyncio.AbstractEventLoop) -> None:
    async def plain(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        line = await r.readline()
        w.write(b"go\n")
        await w.drain()
        await w.start_tls(tu.simple_server_sslcontext())
        w.write(b"secure " + line)
        await w.drain()
        w.close()
        await w.wait_closed()
        done.set_result(None)

    done = loop.create_future()

    async def main() -> bytes:
        srv = await asyncio.start_server(plain, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(b"hello\n")
        await w.drain()
        assert await r.readline() == b"go\n"
        await w.start_tls(tu.simple_client_sslcontext(), server_hostname="localhost")
        data = await r.read()
        w.close()
        await w.wait_closed()
        await done
        srv.close()
        await srv.wait_closed()
        return data

    assert loop.run_until_complete(main()) == b"secure hello\n"


def test_a_handshake_that_never_answers_times_out(loop: asyncio.AbstractEventLoop) -> None:
    lsock = socket.create_server(("127.0.0.1", 0))  # accepts (backlog) but never speaks TLS

    async def main() -> None:
        await asyncio.open_connection(
            "127.0.0.1", lsock.getsockname()[1], ssl=tu.simple_client_sslcontext(),
            server_hostname="localhost", ssl_handshake_timeout=0.3,
        )

    with pytest.raises(ConnectionAbortedError, match="handshake"):
        loop.run_until_complete(main())
    lsock.close()


def test_a_wrong_hostname_fails_verification(loop: asyncio.AbstractEventLoop) -> None:
    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.close()

    async def main() -> None:
        srv = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=tu.simple_server_sslcontext())
        port = srv.sockets[0].getsockname()[1]
        ctx = ssl.create_default_context(cafile=tu.ONLYCERT)
        try:
            with pytest.raises(ssl.SSLCertVerificationError):
                await asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname="wrong.example")
            # The server side sees the client's alert and drops the connection.
            for _ in range(1000):
                if srv._active_count == 0:  # type: ignore[attr-defined]
                    break
                await asyncio.sleep(0.01)
            assert srv._active_count == 0  # type: ignore[attr-defined]
        finally:
            srv.close()
            await srv.wait_closed()

    loop.run_until_complete(main())


def test_a_tls_transport_still_names_its_addresses_after_the_connection_is_lost(
    loop: asyncio.AbstractEventLoop,
) -> None:
    """A plain transport keeps ``sockname``/``peername`` once closed; so does a TLS one
    (the stock loop's TLS transport forgets them when the socket closes, which made
    CPython's ``test_create_ssl_connection`` depend on how fast the peer's close came)."""
    lsock = socket.create_server(("127.0.0.1", 0))
    ctx = tu.simple_server_sslcontext()

    def serve() -> None:
        conn, _ = lsock.accept()
        with ctx.wrap_socket(conn, server_side=True) as s:
            s.sendall(b"bye")

    t = threading.Thread(target=serve, daemon=True)
    t.start()

    async def main() -> tuple[Any, Any, Any]:
        lost = loop.create_future()

        class Client(asyncio.Protocol):
            def connection_lost(self, exc: Exception | None) -> None:
                lost.set_result(None)

        tr, _ = await loop.create_connection(
            Client, "127.0.0.1", lsock.getsockname()[1],
            ssl=tu.simple_client_sslcontext(), server_hostname="localhost",
        )
        sockname = tr.get_extra_info("sockname")
        await asyncio.wait_for(lost, 10)
        return sockname, tr.get_extra_info("sockname"), tr.get_extra_info("peername")

    before, after, peer = loop.run_until_complete(main())
    t.join(10)
    server_addr = lsock.getsockname()
    lsock.close()
    assert before is not None and before[0] == "127.0.0.1"
    assert after == before
    assert peer == server_addr
