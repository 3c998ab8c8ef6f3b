"""``loop._selector``: a read-only, ``selectors.BaseSelector``-shaped view of the watches
that ``add_reader``/``add_writer`` (and the ``sock_*`` operations built on them) hold.

simul's loop has no Python selector: its descriptors are registered with the Rust I/O
driver. Code written against the stock selector loop (CPython's own tests among it) asks
``loop._selector.get_key(fd)`` whether a descriptor is being watched; this view answers
from the loop's real watch table (``LoopCore._has_watch``), so the answer is always the
current state, never a copy.

# Invariants
- ``get_key(f)`` raises ``KeyError`` exactly when ``f`` has neither a reader nor a writer
  watch; otherwise its ``events`` are the ``EVENT_READ``/``EVENT_WRITE`` bits of the
  watches it has. ``data`` is ``None`` (the callbacks live in Rust).
- Descriptors owned by simul's Rust transports are watched by the transports themselves,
  not through this table, and are not reported.
- Nothing here can change a watch: the view has no ``register``/``modify``/``unregister``.
"""

from __future__ import annotations

import selectors
from selectors import _fileobj_to_fd  # type: ignore[attr-defined]
from typing import Any

__all__ = ["WatchView"]


class WatchView:
    """The view behind ``EventLoop._selector`` (see the module doc)."""

    __slots__ = ("_loop",)

    def __init__(self, loop: Any) -> None:
        self._loop = loop

    def get_key(self, fileobj: Any) -> selectors.SelectorKey:
        """The key of ``fileobj`` (a descriptor or an object with ``fileno()``).

        Raises ``KeyError`` if the loop does not watch it, ``ValueError`` for a negative or
        non-descriptor ``fileobj``, as ``selectors.BaseSelector.get_key`` does."""
        fd = _fileobj_to_fd(fileobj)
        events = 0
        if not self._loop.is_closed():
            if self._loop._has_watch(fd, False):
                events |= selectors.EVENT_READ
            if self._loop._has_watch(fd, True):
                events |= selectors.EVENT_WRITE
        if not events:
            raise KeyError(f"{fileobj!r} is not registered")
        return selectors.SelectorKey(fileobj, fd, events, None)

    def __repr__(self) -> str:
        return f"<simul watch view of {self._loop!r}>"
