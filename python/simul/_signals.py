"""Signals on ``simul.EventLoop``: ``add_signal_handler`` and ``remove_signal_handler``.

# Design

The stock loop's design, on this loop's descriptor watchers: the first handler creates a
non-blocking socket pair and points ``signal.set_wakeup_fd`` at its writing end; each
handled signal gets a Python-level handler that does nothing, so CPython's C handler
writes the signal number into the pair from whatever thread the kernel picked. The
reading end is watched with ``add_reader``: a signal that arrives while the loop waits
in the selector (the GIL released) wakes it at once, and each number read schedules the
signal's ``asyncio.Handle`` as a loop callback (``call_soon``). Signals the loop does not
handle (SIGINT with its default handler: ``KeyboardInterrupt``) keep Python's own path:
the park hook runs Python's signal handlers after every wait.

# Invariants
- The wakeup descriptor is set while at least one handler is installed, and reset to
  ``-1`` when the last one is removed or the loop closes; ``close()`` removes every
  handler, restoring ``SIG_DFL`` (``default_int_handler`` for SIGINT).
- Errors are the stock loop's: ``TypeError`` for a coroutine (function) or a non-int
  signal, ``ValueError`` for an invalid signal number, ``RuntimeError`` off the main
  thread or for a signal that cannot be caught (SIGKILL, SIGSTOP).

The ``signal`` and ``sys`` modules are looked up through ``asyncio.unix_events`` and
the private names (``_signal_handlers``, ``_check_signal``, ``_handle_signal``) are the
stock loop's, so that CPython's own tests of the stock loop's signal handling, which
patch those, run unchanged against this loop (``stdlib_tests/run.py``).
"""

from __future__ import annotations

import errno
import socket
import sys
import warnings
from asyncio import coroutines, events, unix_events
from asyncio.log import logger
from typing import Any, Callable


def _noop_handler(signum: int, frame: Any) -> None:
    """The Python-level handler of a signal the loop handles: CPython's C handler has
    already written the number to the wakeup descriptor."""


class SignalMixin:
    """``EventLoop``'s signal methods (see the module doc)."""

    _signal_handlers: dict[int, events.Handle]
    _signal_pair: tuple[socket.socket, socket.socket] | None

    def __init__(self) -> None:
        super().__init__()
        self._signal_handlers = {}
        self._signal_pair = None

    def _check_signal(self, sig: Any) -> None:
        """``TypeError`` unless ``sig`` is an int, ``ValueError`` unless it is a valid
        signal number."""
        if not isinstance(sig, int):
            raise TypeError(f"sig must be an int, not {sig!r}")
        if sig not in unix_events.signal.valid_signals():
            raise ValueError(f"invalid signal number {sig}")

    def _wakeup_fd(self) -> int:
        """The socket pair's writing end, created (and its reading end watched) on first
        use."""
        if self._signal_pair is None:
            rsock, wsock = socket.socketpair()
            rsock.setblocking(False)
            wsock.setblocking(False)
            self._signal_pair = (rsock, wsock)
            self._add_reader(rsock.fileno(), self._read_signals, (rsock,))  # type: ignore[attr-defined]
        return self._signal_pair[1].fileno()

    def _read_signals(self, rsock: socket.socket) -> None:
        while True:
            try:
                data = rsock.recv(4096)
            except InterruptedError:
                continue
            except BlockingIOError:
                return
            if not data:
                return
            for signum in data:
                if signum:
                    self._handle_signal(signum)

    def _handle_signal(self, sig: int) -> None:
        """Schedules the handler of signal ``sig`` (removes it if it was cancelled)."""
        handle = self._signal_handlers.get(sig)
        if handle is None:
            return  # removed while its signal was on the way
        if handle._cancelled:  # type: ignore[attr-defined]
            self.remove_signal_handler(sig)
        else:
            self.call_soon(handle._run)  # type: ignore[attr-defined]

    def _reset_wakeup_fd(self) -> None:
        try:
            unix_events.signal.set_wakeup_fd(-1)
        except (ValueError, OSError) as exc:
            logger.info("set_wakeup_fd(-1) failed: %s", exc)

    def add_signal_handler(self, sig: int, callback: Callable[..., object], *args: Any) -> None:
        """Calls ``callback(*args)`` as a loop callback whenever signal ``sig`` arrives.

        Raises ``ValueError`` for an invalid signal number, ``RuntimeError`` off the main
        thread or for a signal that cannot be caught, ``TypeError`` for a coroutine."""
        if coroutines.iscoroutine(callback) or coroutines.iscoroutinefunction(callback):
            raise TypeError("coroutines cannot be used with add_signal_handler()")
        self._check_signal(sig)
        self._check_closed()  # type: ignore[attr-defined]
        signal = unix_events.signal
        try:
            # Raises ValueError off the main thread: checked before anything changes.
            signal.set_wakeup_fd(self._wakeup_fd())
        except (ValueError, OSError) as exc:
            raise RuntimeError(str(exc))
        self._signal_handlers[sig] = events.Handle(callback, args, self, None)  # type: ignore[arg-type]
        try:
            signal.signal(sig, _noop_handler)
            signal.siginterrupt(sig, False)
        except OSError as exc:
            del self._signal_handlers[sig]
            if not self._signal_handlers:
                self._reset_wakeup_fd()
            if exc.errno == errno.EINVAL:
                raise RuntimeError(f"sig {sig} cannot be caught")
            raise

    def remove_signal_handler(self, sig: int) -> bool:
        """Removes the handler of ``sig``, restoring the default disposition
        (``default_int_handler`` for SIGINT); whether there was one."""
        self._check_signal(sig)
        try:
            del self._signal_handlers[sig]
        except KeyError:
            return False
        signal = unix_events.signal
        handler = signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL
        try:
            signal.signal(sig, handler)
        except OSError as exc:
            if exc.errno == errno.EINVAL:
                raise RuntimeError(f"sig {sig} cannot be caught")
            raise
        if not self._signal_handlers:
            self._reset_wakeup_fd()
        return True

    def close(self) -> None:
        """Closes the loop (see ``EventLoop.close``), then removes every signal handler."""
        super().close()  # type: ignore[misc]
        if not self._signal_handlers and self._signal_pair is None:
            return  # also what a loop collected at interpreter shutdown meets
        if not (getattr(unix_events, "sys", None) or sys).is_finalizing():
            for sig in list(self._signal_handlers):
                self.remove_signal_handler(sig)
        elif self._signal_handlers:
            warnings.warn(
                f"Closing the loop {self!r} on interpreter shutdown stage, "
                "skipping signal handlers removal",
                ResourceWarning,
                source=self,
            )
            self._signal_handlers.clear()
        pair, self._signal_pair = self._signal_pair, None
        if pair is not None:
            self._remove_reader(pair[0].fileno())  # type: ignore[attr-defined]
            pair[0].close()
            pair[1].close()
