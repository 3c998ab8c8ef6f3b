"""Datagrams on ``simul.EventLoop``: the UDP transport hook and the ``sock_*`` datagram calls.

``asyncio.BaseEventLoop.create_datagram_endpoint`` does the address work (resolving
``local_addr``/``remote_addr``, ``reuse_port``, ``allow_broadcast``, ``sock=``, family,
proto and flags) and then calls ``_make_datagram_transport``, which builds the Rust
``DatagramTransport`` (``src/datagram.rs``). ``sock_recvfrom``, ``sock_recvfrom_into``
and ``sock_sendto`` try the call at once and otherwise wait on the descriptor watchers,
as the ``sock_*`` stream calls of ``_loop.py`` do.
"""

from __future__ import annotations

import asyncio
import socket
import weakref
from asyncio import futures, trsock
from typing import Any

from . import _simul



def add_socket_names(sock: socket.socket, info: dict[str, Any]) -> None:
    """``_SelectorTransport.__init__``'s names: ``sockname`` unless ``info`` has it, and
    ``peername`` unless it has it, each ``None`` where the socket cannot say (the datagram
    transport's, and the socket transport's for sockets its Rust set-up does not cover)."""
    try:
        info.setdefault("sockname", sock.getsockname())
    except OSError:
        info.setdefault("sockname", None)
    if "peername" not in info:
        try:
            info["peername"] = sock.getpeername()
        except OSError:
            info["peername"] = None

class DatagramTransport(asyncio.Transport, asyncio.DatagramTransport):
    """asyncio's datagram transport; its methods are those of the Rust core
    (``_simul.DatagramTransport``), bound once per transport. Like the stock loop's, it
    is an ``asyncio.Transport`` as well as an ``asyncio.DatagramTransport``."""

    _METHODS = (
        "sendto", "close", "abort", "is_closing", "get_extra_info", "get_protocol",
        "set_protocol", "get_write_buffer_size", "get_write_buffer_limits",
        "set_write_buffer_limits", "_call_connection_lost",
    )

    def __init__(self, loop: Any, sock: socket.socket, protocol: Any, address: Any, extra: dict[str, Any]) -> None:
        super().__init__(extra)
        core = _simul.DatagramTransport(loop, sock, protocol, address, extra)
        self._core = core
        for name in self._METHODS:
            setattr(self, name, getattr(core, name))

    def __repr__(self) -> str:
        return repr(self._core).replace("DatagramTransport", type(self).__name__, 1)


class DatagramMixin:
    """``EventLoop``'s datagram methods (see the module doc)."""

    def _make_datagram_transport(
        self, sock: socket.socket, protocol: Any, address: Any = None, waiter: Any = None, extra: Any = None
    ) -> DatagramTransport:
        info = dict(extra or {})
        info["socket"] = trsock.TransportSocket(sock)
        add_socket_names(sock, info)
        transport = DatagramTransport(self, sock, protocol, address, info)
        # by weak reference, as every entry of that map (see ``EventLoop.__init__``)
        self._transports[sock.fileno()] = weakref.ref(transport)  # type: ignore[attr-defined]
        self.call_soon(protocol.connection_made, transport)  # type: ignore[attr-defined]
        self.call_soon(transport._core._start, transport)  # type: ignore[attr-defined]
        if waiter is not None:
            self.call_soon(futures._set_result_unless_cancelled, waiter, None)  # type: ignore[attr-defined]
        return transport

    def _sock_retry_method(self, fut: asyncio.Future[Any], sock: socket.socket, name: str, *args: Any) -> None:
        """Retries ``sock.<name>(*args)`` once ready, looking the method up at each try
        (as the stock loop does: a wrapped or patched socket stays in charge)."""
        self._sock_retry_ready(fut, getattr(sock, name), *args)  # type: ignore[attr-defined]

    async def sock_recvfrom(self, sock: socket.socket, bufsize: int) -> tuple[bytes, Any]:
        """Receives a datagram of up to ``bufsize`` bytes from the non-blocking ``sock``:
        ``(data, address)``."""
        self._check_sock(sock)  # type: ignore[attr-defined]
        try:
            return sock.recvfrom(bufsize)
        except (BlockingIOError, InterruptedError):
            pass
        fut = self.create_future()  # type: ignore[attr-defined]
        self._wait_fd(sock.fileno(), False, fut, self._sock_retry_method, sock, "recvfrom", bufsize)  # type: ignore[attr-defined]
        return await fut

    async def sock_recvfrom_into(self, sock: socket.socket, buf: Any, nbytes: int = 0) -> tuple[int, Any]:
        """Receives a datagram into ``buf`` from the non-blocking ``sock``:
        ``(nbytes, address)``; ``nbytes=0`` means up to ``len(buf)``."""
        self._check_sock(sock)  # type: ignore[attr-defined]
        if not nbytes:
            nbytes = len(buf)
        try:
            return sock.recvfrom_into(buf, nbytes)
        except (BlockingIOError, InterruptedError):
            pass
        fut = self.create_future()  # type: ignore[attr-defined]
        self._wait_fd(sock.fileno(), False, fut, self._sock_retry_method, sock, "recvfrom_into", buf, nbytes)  # type: ignore[attr-defined]
        return await fut

    async def sock_sendto(self, sock: socket.socket, data: Any, address: Any) -> int:
        """Sends the datagram ``data`` to ``address`` from the non-blocking ``sock``; the
        byte count."""
        self._check_sock(sock)  # type: ignore[attr-defined]
        try:
            return sock.sendto(data, address)
        except (BlockingIOError, InterruptedError):
            pass
        fut = self.create_future()  # type: ignore[attr-defined]
        self._wait_fd(sock.fileno(), True, fut, self._sock_retry_method, sock, "sendto", data, address)  # type: ignore[attr-defined]
        return await fut
