"""Pipe transports: ``connect_read_pipe``, ``connect_write_pipe`` and a child's pipes.

The transports are the Rust ``_simul.PipeTransport`` (``src/pipe.rs``: the descriptor
watched on simul's reactor, ``read(2)``/``write(2)``, the write queue and its water
marks), wrapped here in ``asyncio.ReadTransport`` / ``asyncio.WriteTransport`` classes
whose methods are the Rust object's bound methods. The checks and messages at creation
follow the stock loop's ``unix_events.py``: the descriptor must be a pipe, a socket or a
character device, and it is switched to non-blocking mode; ``connection_made`` and the
``connect_*_pipe`` waiter run through ``call_soon``, in that order.
"""

from __future__ import annotations

import asyncio
import os
import stat
import warnings
from asyncio import futures
from typing import Any

from . import _simul

__all__ = ["PipesMixin", "ReadPipeTransport", "WritePipeTransport"]


class _PipeTransportBase:
    """The shared front: binds the Rust core's methods onto the instance."""

    _METHODS: tuple[str, ...] = ()
    _core: Any

    def _setup(self, loop: Any, pipe: Any, protocol: Any, waiter: Any, extra: Any, writer: bool) -> None:
        info = dict(extra or {})
        info["pipe"] = pipe
        self._extra = info
        fileno = pipe.fileno()
        mode = os.fstat(fileno).st_mode
        if writer:
            ok = stat.S_ISCHR(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)
            if not ok:
                raise ValueError("Pipe transport is only for pipes, sockets and character devices")
        elif not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode)):
            raise ValueError("Pipe transport is for pipes/sockets only.")
        os.set_blocking(fileno, False)
        self._fileno = fileno
        self._pipe = pipe
        watch_close = stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)
        core = _simul.PipeTransport(loop, pipe, fileno, protocol, info, writer, watch_close)
        self._core = core
        for name in self._METHODS:
            setattr(self, name, getattr(core, name))
        loop.call_soon(protocol.connection_made, self)
        loop.call_soon(core._start, self)
        if waiter is not None:
            loop.call_soon(futures._set_result_unless_cancelled, waiter, None)

    def __repr__(self) -> str:
        core = getattr(self, "_core", None)
        state = repr(core) if core is not None else "closed"
        return f"<{type(self).__name__} {state}>"

    def __del__(self, _warn: Any = warnings.warn) -> None:
        core = getattr(self, "_core", None)
        if core is not None and getattr(self, "_pipe", None) is not None and core._is_open():
            _warn(f"unclosed transport {self!r}", ResourceWarning, source=self)
            core._release()


class ReadPipeTransport(_PipeTransportBase, asyncio.ReadTransport):
    """The read end of a pipe (or a socket, or a pty) as an asyncio read transport."""

    _METHODS = (
        "close", "is_closing", "is_reading", "pause_reading", "resume_reading",
        "get_extra_info", "get_protocol", "set_protocol", "_call_connection_lost",
    )

    def __init__(self, loop: Any, pipe: Any, protocol: Any, waiter: Any = None, extra: Any = None) -> None:
        asyncio.ReadTransport.__init__(self, extra)
        self._setup(loop, pipe, protocol, waiter, extra, writer=False)


class WritePipeTransport(_PipeTransportBase, asyncio.WriteTransport):
    """The write end of a pipe (or a socket, or a character device) as an asyncio write
    transport, with the stock loop's flow control."""

    _METHODS = (
        "write", "writelines", "write_eof", "can_write_eof", "close", "abort", "is_closing",
        "get_extra_info", "get_protocol", "set_protocol", "get_write_buffer_size",
        "get_write_buffer_limits", "set_write_buffer_limits", "_call_connection_lost",
    )

    def __init__(self, loop: Any, pipe: Any, protocol: Any, waiter: Any = None, extra: Any = None) -> None:
        asyncio.WriteTransport.__init__(self, extra)
        self._setup(loop, pipe, protocol, waiter, extra, writer=True)


class PipesMixin:
    """``simul.EventLoop``'s pipe hooks, which ``BaseEventLoop.connect_read_pipe`` and
    ``connect_write_pipe`` (and subprocess pipes) call."""

    def _make_read_pipe_transport(self, pipe: Any, protocol: Any, waiter: Any = None, extra: Any = None) -> ReadPipeTransport:
        return ReadPipeTransport(self, pipe, protocol, waiter, extra)

    def _make_write_pipe_transport(self, pipe: Any, protocol: Any, waiter: Any = None, extra: Any = None) -> WritePipeTransport:
        return WritePipeTransport(self, pipe, protocol, waiter, extra)
