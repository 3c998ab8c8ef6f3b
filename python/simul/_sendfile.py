"""sendfile on ``simul.EventLoop``: the native ``os.sendfile`` paths behind
``loop.sock_sendfile`` and ``loop.sendfile``.

``asyncio.BaseEventLoop`` keeps the front ends (argument checks, ``fallback=``, the
read-and-send fallback): it calls ``_sock_sendfile_native`` and, for a transport whose
``_sendfile_compatible`` is ``TRY_NATIVE`` (the stream transport of ``_loop.py``),
``_sendfile_native``. Either raises ``SendfileNotAvailableError`` when the kernel path
does not apply (not a regular file, ``os.sendfile`` refused the first call), and asyncio
falls back to reading the file and sending it, as the stock loop does.

``os.sendfile`` is looked up through ``asyncio.unix_events`` as the stock loop does, so
CPython's tests that patch it there run unchanged against this loop.

# Invariants
- ``sock_sendfile`` leaves the file position after the last byte sent (also when it is
  cancelled or fails midway), as the stock loop does; it does not change it when it sent
  nothing.
- ``sendfile`` on a transport first pauses its reading and waits until its write queue is
  empty; ``write()`` raises meanwhile. The ``os.sendfile`` calls then wait on the
  transport's own write watch (``_writable``: the selector takes a descriptor once, so
  the loop's ``add_writer`` could not); reading resumes if it was on.
"""

from __future__ import annotations

import asyncio
import errno
import io
import os
import socket
from asyncio import constants, exceptions, transports, unix_events
from typing import Any


def _set_ready(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class SendfileTransportMixin(transports._FlowControlMixin):
    """What ``BaseEventLoop.sendfile`` asks of a stream transport, for ``_loop.SocketTransport``
    (whose ``_core`` is the Rust transport). The fallback's protocol wants an
    ``asyncio.transports._FlowControlMixin``, as the stock loop's transports are; the flow
    control itself is the Rust transport's (its methods are bound over the mixin's)."""

    _core: Any
    _sendfile_compatible = constants._SendfileMode.TRY_NATIVE

    @property  # type: ignore[override]
    def _protocol_paused(self) -> bool:
        return bool(self._core._protocol_paused)

    @_protocol_paused.setter
    def _protocol_paused(self, value: bool) -> None:
        pass  # the Rust transport keeps the state; _FlowControlMixin's own init sets it

    @property
    def _sock(self) -> socket.socket | None:
        return self._core._sock  # type: ignore[no-any-return]

    def _make_empty_waiter(self) -> asyncio.Future[None]:
        return self._core._make_empty_waiter()  # type: ignore[no-any-return]

    def _reset_empty_waiter(self) -> None:
        self._core._reset_empty_waiter()

    def _writable(self) -> asyncio.Future[None]:
        return self._core._writable()  # type: ignore[no-any-return]


class SendfileMixin:
    """``EventLoop``'s native sendfile hooks (see the module doc)."""

    _sendfile_lenders: dict[int, Any]

    async def _sock_writable(self, sock: socket.socket) -> None:
        lender = getattr(self, "_sendfile_lenders", {}).get(sock.fileno())
        if lender is not None:
            await lender._writable()
            return
        fut = self.create_future()  # type: ignore[attr-defined]
        self._wait_fd(sock.fileno(), True, fut, _set_ready)  # type: ignore[attr-defined]
        await fut

    async def _sock_sendfile_native(self, sock: socket.socket, file: Any, offset: int, count: int | None) -> int:
        try:
            sendfile = unix_events.os.sendfile
        except AttributeError:
            raise exceptions.SendfileNotAvailableError("os.sendfile() is not available")
        try:
            fileno = file.fileno()
        except (AttributeError, io.UnsupportedOperation):
            raise exceptions.SendfileNotAvailableError("not a regular file")
        try:
            fsize = os.fstat(fileno).st_size
        except OSError:
            raise exceptions.SendfileNotAvailableError("not a regular file")
        if not (count or fsize):
            return 0  # an empty file
        fd = sock.fileno()
        total = 0
        try:
            while True:
                blocksize = count - total if count else fsize
                if blocksize <= 0:
                    return total
                try:
                    sent = sendfile(fd, fileno, offset + total, blocksize)
                except (BlockingIOError, InterruptedError):
                    await self._sock_writable(sock)
                    continue
                except OSError as exc:
                    if total == 0:
                        # Not a file the kernel can send from (a pipe, a special
                        # file): asyncio falls back on plain sends.
                        raise exceptions.SendfileNotAvailableError("os.sendfile call failed")
                    if exc.errno == errno.ENOTCONN and type(exc) is not ConnectionError:
                        # The peer went away midway: the same error on every POSIX system.
                        raise ConnectionError("socket is not connected", errno.ENOTCONN) from exc
                    raise
                if sent == 0:
                    return total  # the end of the file
                total += sent
        finally:
            if total > 0:
                os.lseek(fileno, offset + total, os.SEEK_SET)

    async def _sendfile_native(self, transp: Any, file: Any, offset: int, count: int | None) -> int:
        sock = transp._sock
        if sock is None:
            raise exceptions.SendfileNotAvailableError("the transport is closed")
        fd = sock.fileno()
        transports = self._transports  # type: ignore[attr-defined]
        transports.pop(fd, None)  # the socket's descriptor is ours for the while
        resume_reading = transp.is_reading()
        transp.pause_reading()
        if not hasattr(self, "_sendfile_lenders"):
            self._sendfile_lenders = {}
        try:
            await transp._make_empty_waiter()
            self._sendfile_lenders[fd] = transp
            return await self.sock_sendfile(sock, file, offset, count, fallback=False)  # type: ignore[attr-defined, no-any-return]
        finally:
            self._sendfile_lenders.pop(fd, None)
            transp._reset_empty_waiter()
            if resume_reading:
                transp.resume_reading()
            transports[fd] = transp
