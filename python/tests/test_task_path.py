"""The per-task path of the loop (`create_task`, `create_future`, the task's steps and its
done callbacks): what it costs must not grow with hidden work, and asyncio's behaviour
around it (task factory, debug mode, names, contexts, cancellation) stays the stock
loop's."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap


def run_child(code: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_tasks_and_futures_are_made_without_asking_for_the_running_loop() -> None:
    # Asking for the running loop costs a `getpid` system call in CPython 3.11's C
    # `_get_running_loop` (callgrind does not see it; a clock does). `create_task` and
    # `create_future` name their loop instead, as the stock loop's do. Counted through the
    # Python-level `asyncio.events._get_running_loop`, replaced before simul first looks
    # it up.
    got = run_child(
        """
        import asyncio, asyncio.events as ev
        calls = [0]
        real = ev._get_running_loop
        def counting():
            calls[0] += 1
            return real()
        ev._get_running_loop = counting
        import simul
        loop = simul.new_event_loop()
        async def one():
            await asyncio.sleep(0)
            return 1
        async def main():
            futs = [loop.create_future() for _ in range(200)]
            for f in futs:
                f.set_result(1)
            tasks = [loop.create_task(one()) for _ in range(200)]
            return sum(await asyncio.gather(*tasks, *futs))
        before = calls[0]
        assert loop.run_until_complete(main()) == 400
        print(calls[0] - before)
        loop.close()
        """
    )
    assert int(got) < 10, f"{got} running-loop lookups for 200 tasks and 200 futures"
