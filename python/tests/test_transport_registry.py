"""The loop's transports by descriptor (``_ensure_fd_no_transport``'s map): a descriptor
a live transport owns is refused to ``add_reader``/``add_writer``/``sock_*`` with the
stock loop's ``RuntimeError``, whichever kind of transport owns it (stream, datagram, a
stream back from ``loop.sendfile``), and a closed transport's number is free again.
Each test runs on both loops, the stock loop first."""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
from typing import Any

import pytest


def refused(lp: asyncio.AbstractEventLoop, fd: int) -> str:
    """What ``add_reader`` on ``fd`` raises: the exception's type name, or "accepted"."""
    try:
        lp.add_reader(fd, lambda: None)
    except Exception as exc:  # noqa: BLE001 - the type is what the test compares
        return type(exc).__name__
    lp.remove_reader(fd)
    return "accepted"


def test_a_live_datagram_transports_descriptor_is_refused_and_freed_by_close(any_loop: Any) -> None:
    async def main() -> tuple[str, str, str]:
        tr, _ = await any_loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))
        fd = tr.get_extra_info("socket").fileno()
        live = refused(any_loop, fd)
        tr.close()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        # the number comes back for the next socket; the closed transport no longer owns it
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            again = s.fileno() == fd
            reused = refused(any_loop, s.fileno())
        return live, str(again), reused

    live, again, reused = any_loop.run_until_complete(main())
    assert live == "RuntimeError"
    assert again == "True"
    assert reused == "accepted"


def test_a_stream_transport_back_from_sendfile_still_owns_its_descriptor(any_loop: Any) -> None:
    with tempfile.TemporaryFile() as f:
        f.write(b"x" * 10_000)
        f.flush()

        async def main() -> tuple[int, str, bytes]:
            got = bytearray()
            done = any_loop.create_future()

            class Sink(asyncio.Protocol):
                def data_received(self, data: bytes) -> None:
                    got.extend(data)
                    if len(got) >= 10_000 and not done.done():
                        done.set_result(None)

            srv = await any_loop.create_server(Sink, "127.0.0.1", 0)
            port = srv.sockets[0].getsockname()[1]
            tr, _ = await any_loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
            sent = await any_loop.sendfile(tr, f, 0)
            await done
            fd = tr.get_extra_info("socket").fileno()
            after = refused(any_loop, fd)
            tr.close()
            srv.close()
            await srv.wait_closed()
            return sent, after, bytes(got[:3])

        sent, after, head = any_loop.run_until_complete(main())
    assert sent == 10_000
    assert after == "RuntimeError"
    assert head == b"xxx"


def test_a_live_stream_transports_descriptor_is_refused(any_loop: Any) -> None:
    async def main() -> str:
        srv = await any_loop.create_server(asyncio.Protocol, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        tr, _ = await any_loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
        out = refused(any_loop, tr.get_extra_info("socket").fileno())
        tr.close()
        srv.close()
        await srv.wait_closed()
        return out

    assert any_loop.run_until_complete(main()) == "RuntimeError"


def test_a_failing_socket_call_in_create_connection_raises_its_oserror(
    any_loop: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``socket(2)`` failing (EMFILE here, as at the descriptor limit) reaches the caller
    as that ``OSError``, with no descriptor left behind."""
    import simul._loop

    def no_socket(*args: Any, **kwargs: Any) -> None:
        raise OSError(24, "Too many open files")

    # the stock loop makes its socket with socket.socket, simul's with _SOCKET_INIT
    monkeypatch.setattr(socket, "socket", no_socket)
    monkeypatch.setattr(simul._loop, "_SOCKET_INIT", no_socket)
    before = set(os.listdir("/proc/self/fd"))

    async def main() -> BaseException:
        try:
            await any_loop.create_connection(asyncio.Protocol, "127.0.0.1", 9)
        except BaseException as exc:  # noqa: BLE001 - the test compares it
            return exc
        raise AssertionError("create_connection succeeded")

    exc = any_loop.run_until_complete(main())
    monkeypatch.undo()
    assert type(exc) is OSError, repr(exc)
    assert exc.errno == 24
    assert set(os.listdir("/proc/self/fd")) <= before
