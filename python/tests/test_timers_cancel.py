"""Cancelled timers leave simul's wheel at ``cancel()``, so arming and cancelling many long
timers keeps the loop's memory flat."""

from __future__ import annotations

import asyncio
import gc
import tracemalloc

import simul


def test_cancelled_timers_leave_the_wheel_at_once(loop: simul.EventLoop) -> None:
    assert loop._armed_timers() == 0
    handles = [loop.call_later(3600, print) for _ in range(1000)]
    assert loop._armed_timers() == 1000
    for h in handles:
        h.cancel()
    assert loop._armed_timers() == 0
    # Cancelling twice, or after the loop ran, is harmless.
    handles[0].cancel()
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert loop._armed_timers() == 0


def test_arming_and_cancelling_100k_long_timers_keeps_memory_flat(loop: simul.EventLoop) -> None:
    async def main() -> tuple[int, int, int]:
        tracemalloc.start()
        try:
            for _ in range(10_000):  # warm up the allocators
                loop.call_later(3600, print).cancel()
            gc.collect()
            before = tracemalloc.get_traced_memory()[0]
            peak_entries = 0
            for i in range(100_000):
                h = loop.call_later(3600 + i, print)
                peak_entries = max(peak_entries, loop._armed_timers())
                h.cancel()
                if i % 1000 == 0:
                    await asyncio.sleep(0)
            gc.collect()
            after = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        return peak_entries, before, after

    peak_entries, before, after = loop.run_until_complete(main())
    assert peak_entries <= 2  # this timer (and at most a sleep's)
    assert loop._armed_timers() == 0
    # Python-side memory: 100k leaked handles would be megabytes.
    assert after - before < 200_000, (before, after)


def test_cancelling_a_timer_before_the_loop_runs_removes_it(loop: simul.EventLoop) -> None:
    fired: list[int] = []
    h = loop.call_later(0.001, fired.append, 1)
    loop.call_later(0.01, loop.stop)
    h.cancel()
    assert loop._armed_timers() == 1
    loop.run_forever()
    assert fired == []


def test_cancel_from_another_thread_still_keeps_the_callback_from_running(loop: simul.EventLoop) -> None:
    import threading

    fired: list[int] = []
    h = loop.call_later(0.02, fired.append, 1)
    t = threading.Thread(target=h.cancel)
    t.start()
    t.join()
    assert h.cancelled()
    loop.run_until_complete(asyncio.sleep(0.05))
    assert fired == []
