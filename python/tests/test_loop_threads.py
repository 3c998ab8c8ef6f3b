"""A simul loop is bound to the thread that created it (the stock loop may run on
another thread, one at a time): running or closing it elsewhere raises a clear
``RuntimeError`` and leaves the loop intact; a loop made inside a worker thread runs
there and serves other threads through the thread-safe calls."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Callable

import simul


def on_thread(fn: Callable[[], Any]) -> BaseException | None:
    out: list[BaseException | None] = [None]

    def body() -> None:
        try:
            fn()
        except BaseException as e:  # noqa: BLE001 - handed back to the test
            out[0] = e

    t = threading.Thread(target=body, name="worker")
    t.start()
    t.join()
    return out[0]


def test_running_on_another_thread_raises_a_clear_error(loop: simul.EventLoop) -> None:
    coro = asyncio.sleep(0)
    err = on_thread(lambda: loop.run_until_complete(coro))
    coro.close()
    assert isinstance(err, RuntimeError)
    assert "bound to the thread that created it" in str(err)
    assert '"worker"' in str(err)
    err = on_thread(loop.run_forever)
    assert isinstance(err, RuntimeError) and "bound to the thread" in str(err)
    # The loop is intact and still runs on its own thread.
    assert not loop.is_running()
    assert loop.run_until_complete(asyncio.sleep(0, "ok")) == "ok"


def test_closing_on_another_thread_raises_and_leaves_the_loop_open(loop: simul.EventLoop) -> None:
    err = on_thread(loop.close)
    assert isinstance(err, RuntimeError) and "bound to the thread" in str(err)
    assert not loop.is_closed()
    assert loop.run_until_complete(asyncio.sleep(0, 7)) == 7


def test_scheduling_from_another_thread_while_running_uses_the_stock_message(loop: simul.EventLoop) -> None:
    seen: list[BaseException | None] = []

    async def main() -> None:
        done = asyncio.Event()

        def other() -> None:
            seen.append(on_thread(lambda: loop.call_soon(print)))
            loop.call_soon_threadsafe(done.set)

        threading.Thread(target=other).start()
        await asyncio.wait_for(done.wait(), 10)

    loop.run_until_complete(main())
    assert isinstance(seen[0], RuntimeError)
    assert "Non-thread-safe operation" in str(seen[0])


def test_a_loop_made_inside_a_worker_serves_other_threads() -> None:
    ready = threading.Event()
    box: dict[str, Any] = {}

    def worker() -> None:
        lp = simul.new_event_loop()
        box["loop"] = lp
        ready.set()
        lp.run_forever()
        lp.close()

    t = threading.Thread(target=worker)
    t.start()
    assert ready.wait(10)
    lp = box["loop"]

    async def double(x: int) -> int:
        await asyncio.sleep(0.001)
        return 2 * x

    futs = [asyncio.run_coroutine_threadsafe(double(i), lp) for i in range(20)]
    assert [f.result(10) for f in futs] == [2 * i for i in range(20)]
    lp.call_soon_threadsafe(lp.stop)
    t.join(10)
    assert not t.is_alive()
    assert lp.is_closed()


def test_the_stock_loop_allows_what_simul_refuses() -> None:
    # The contract we document: the stock loop may run on another thread.
    lp = asyncio.SelectorEventLoop()
    try:
        assert on_thread(lambda: lp.run_until_complete(asyncio.sleep(0))) is None
    finally:
        lp.close()
