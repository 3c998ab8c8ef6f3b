"""Helpers the Rust core calls on cold paths: formatting callbacks, reporting errors.

Kept in Python because they are asyncio's own conventions (message texts, the logger,
``format_helpers``) and run only when something went wrong or in debug mode.
"""

from __future__ import annotations

import contextvars
import types
from asyncio import coroutines, events, format_helpers
from asyncio.log import logger
from typing import Any

copy_context = contextvars.copy_context
function_types = (types.FunctionType, types.MethodType)


def callback_source(callback: Any, args: tuple[Any, ...]) -> str:
    """``cb(args) at file:line``, as asyncio's handles show their callback."""
    return format_helpers._format_callback_source(callback, args)


def check_callback(callback: Any, method: str) -> None:
    """Raises ``TypeError`` as the stock loop does for a coroutine or a non-callable."""
    if coroutines.iscoroutine(callback) or coroutines.iscoroutinefunction(callback):
        raise TypeError(f"coroutines cannot be used with {method}()")
    if not callable(callback):
        raise TypeError(
            f"a callable object was expected by {method}(), got {callback!r}"
        )


def report_callback_error(handle: Any, callback: Any, args: Any, exc: BaseException) -> None:
    """Hands a callback's exception to the running loop's exception handler."""
    context = {
        "message": f"Exception in callback {callback_source(callback, args)}",
        "exception": exc,
        "handle": handle,
    }
    loop = events._get_running_loop()
    if loop is None:  # a handle run by hand outside the loop
        from asyncio import get_event_loop_policy

        loop = get_event_loop_policy().get_event_loop()
    loop.call_exception_handler(context)


def report_slow_callback(handle: Any, callback: Any, took: float) -> None:
    """Debug mode: logs a callback that held the loop for ``slow_callback_duration``."""
    owner = getattr(callback, "__self__", None)
    from asyncio import Task

    what = repr(owner) if isinstance(owner, Task) else repr(handle)
    logger.warning("Executing %s took %.3f seconds", what, took)
