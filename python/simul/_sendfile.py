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

``sock_sendfile``'s native path is a chain of callback steps
(``_sock_sendfile_native_impl``, with the stock loop's arguments): each step makes one
``os.sendfile`` call and either ends the future or arms a writer watch that runs the next
step. No coroutine or task is involved per wait, and code that drives the step directly
(CPython's tests do) sees what it sees on the stock loop, including the watch in
``loop._selector``.

# Invariants
- ``sock_sendfile`` leaves the file position after the last byte sent (also when it is
  cancelled or fails midway), as the stock loop does; it does not change it when it sent
  nothing. A cancelled one drops its writer watch at once.
- ``sendfile`` on a transport first pauses its reading and waits until its write queue is
  empty; ``write()`` raises meanwhile. The ``os.sendfile`` calls then wait on the
  transport's own write watch (``_writable``: the selector takes a descriptor once, so
  the loop's ``add_writer`` could not); reading resumes if it was on.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import io
import os
import socket
import weakref
from asyncio import constants, exceptions, transports, unix_events
from typing import Any


def _leave_file_at(fileno: int, position: int, total_sent: int) -> None:
    """Moves the file position to ``position`` (after the last byte sent), if anything was."""
    if total_sent > 0:
        os.lseek(fileno, position, os.SEEK_SET)


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
    _sendfile_positions: dict[Any, int]

    def __init__(self) -> None:
        super().__init__()
        # The transports that lent their socket to loop.sendfile, by descriptor.
        self._sendfile_lenders = {}
        # Where each waiting sock_sendfile has got to in its file (-1: nothing sent).
        self._sendfile_positions = {}

    def _sock_sendfile_native_impl(
        self, fut: Any, registered_fd: int | None, sock: socket.socket, fileno: int,
        offset: int, count: int | None, blocksize: int, total_sent: int,
    ) -> None:
        """One step of ``sock_sendfile``: one ``os.sendfile`` call from file position
        ``offset`` (the next byte to send; ``total_sent`` bytes are already out), then either
        ``fut``'s result or exception, or a wait for the socket to be writable that runs the
        next step. ``registered_fd`` is the descriptor whose writer watch called this step
        (``None`` on the first step). The step structure and arguments are the stock
        loop's, so code that drives the step directly behaves the same on both loops."""
        fd = sock.fileno()
        if registered_fd is not None:
            self.remove_writer(registered_fd)  # type: ignore[attr-defined]
        if fut.cancelled():
            _leave_file_at(fileno, offset, total_sent)
            return
        if count:
            blocksize = count - total_sent
            if blocksize <= 0:
                _leave_file_at(fileno, offset, total_sent)
                fut.set_result(total_sent)
                return
        try:
            sent = unix_events.os.sendfile(fd, fileno, offset, blocksize)
        except (BlockingIOError, InterruptedError):
            self._sock_sendfile_wait(fut, registered_fd, sock, fileno, offset, count, blocksize, total_sent, True)
            return
        except OSError as exc:
            _leave_file_at(fileno, offset, total_sent)
            if total_sent == 0:
                # Not a file the kernel can send from (a pipe, a special file): asyncio
                # falls back on plain sends.
                fut.set_exception(exceptions.SendfileNotAvailableError("os.sendfile call failed"))
            elif registered_fd is not None and exc.errno == errno.ENOTCONN and type(exc) is not ConnectionError:
                # The peer went away midway: the same error on every POSIX system.
                err = ConnectionError("socket is not connected", errno.ENOTCONN)
                err.__cause__ = exc
                fut.set_exception(err)
            else:
                fut.set_exception(exc)
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            _leave_file_at(fileno, offset, total_sent)
            fut.set_exception(exc)
            return
        if sent == 0:  # the end of the file
            _leave_file_at(fileno, offset, total_sent)
            fut.set_result(total_sent)
            return
        self._sock_sendfile_wait(
            fut, registered_fd, sock, fileno, offset + sent, count, blocksize, total_sent + sent, False
        )

    def _sock_sendfile_wait(
        self, fut: Any, registered_fd: int | None, sock: socket.socket, fileno: int,
        offset: int, count: int | None, blocksize: int, total_sent: int, blocked: bool,
    ) -> None:
        """Runs the next step of ``_sock_sendfile_native_impl`` once ``sock`` is writable
        (``blocked``: the last call found it full).

        The first wait also arranges for ``fut``'s end to drop the watch and, if ``fut`` was
        cancelled while waiting, to leave the file position after the bytes sent (the
        position of the latest wait is kept in ``_sendfile_positions``)."""
        fd = sock.fileno()
        positions = self._sendfile_positions
        if registered_fd is None and fut not in positions:
            fut.add_done_callback(functools.partial(self._sock_sendfile_done, fd, fileno))
        positions[fut] = offset if total_sent else -1
        lender = self._sendfile_lenders.get(fd)
        if lender is not None:
            # A transport lent its socket to loop.sendfile: the transport's own write
            # watch tells when it is writable (the driver takes a descriptor once). That
            # watch reports a change, so it is asked only once the socket was found full.
            if not blocked:
                self.call_soon(  # type: ignore[attr-defined]
                    self._sock_sendfile_native_impl, fut, fd, sock, fileno, offset, count, blocksize, total_sent
                )
                return
            lender._writable().add_done_callback(
                lambda _w: self._sock_sendfile_native_impl(
                    fut, fd, sock, fileno, offset, count, blocksize, total_sent
                )
            )
            return
        self.add_writer(  # type: ignore[attr-defined]
            fd, self._sock_sendfile_native_impl, fut, fd, sock, fileno, offset, count, blocksize, total_sent
        )

    def _sock_sendfile_done(self, fd: int, fileno: int, fut: Any) -> None:
        position = self._sendfile_positions.pop(fut, -1)
        if not fut.cancelled():
            return
        if fd not in self._sendfile_lenders:
            self.remove_writer(fd)  # type: ignore[attr-defined]
        if position >= 0:
            os.lseek(fileno, position, os.SEEK_SET)

    async def _sock_sendfile_native(self, sock: socket.socket, file: Any, offset: int, count: int | None) -> int:
        try:
            unix_events.os.sendfile
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
        fut = self.create_future()  # type: ignore[attr-defined]
        self._sock_sendfile_native_impl(fut, None, sock, fileno, offset, count, count or fsize, 0)
        return await fut  # type: ignore[no-any-return]

    async def _sendfile_native(self, transp: Any, file: Any, offset: int, count: int | None) -> int:
        sock = transp._sock
        if sock is None:
            raise exceptions.SendfileNotAvailableError("the transport is closed")
        fd = sock.fileno()
        transports = self._transports  # type: ignore[attr-defined]
        transports.pop(fd, None)  # the socket's descriptor is ours for the while
        resume_reading = transp.is_reading()
        transp.pause_reading()
        try:
            await transp._make_empty_waiter()
            self._sendfile_lenders[fd] = transp
            return await self.sock_sendfile(sock, file, offset, count, fallback=False)  # type: ignore[attr-defined, no-any-return]
        finally:
            self._sendfile_lenders.pop(fd, None)
            transp._reset_empty_waiter()
            if resume_reading:
                transp.resume_reading()
            transports[fd] = weakref.ref(transp)  # as every entry (``EventLoop.__init__``)
