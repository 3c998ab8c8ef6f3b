"""simul: asyncio's event loop on simul's Rust engine.

Use it like uvloop::

    import simul
    simul.run(main())          # asyncio.run(main()) on simul's loop

    simul.install()            # asyncio.new_event_loop()/get_event_loop()/run() use simul
    asyncio.run(main())

    loop = simul.new_event_loop()
"""

from __future__ import annotations

import asyncio
from typing import Any, Coroutine, TypeVar

from ._loop import EventLoop, EventLoopPolicy

__all__ = ["EventLoop", "EventLoopPolicy", "new_event_loop", "run", "install"]
__version__ = "0.1.0"

_T = TypeVar("_T")


def new_event_loop() -> EventLoop:
    """A new ``simul.EventLoop`` (not set as the current loop)."""
    return EventLoop()


def run(main: Coroutine[Any, Any, _T], *, debug: bool | None = None) -> _T:
    """``asyncio.run(main)`` on a new simul loop: runs ``main``, cancels what is left,
    shuts async generators and the default executor down, closes the loop."""
    with asyncio.Runner(debug=debug, loop_factory=new_event_loop) as runner:
        return runner.run(main)


def install() -> None:
    """Makes simul the loop of ``asyncio.new_event_loop()``, ``get_event_loop()`` and
    ``asyncio.run()`` (sets an ``EventLoopPolicy``)."""
    asyncio.set_event_loop_policy(EventLoopPolicy())
