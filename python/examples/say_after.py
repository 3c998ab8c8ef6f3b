"""say_after: awaited in sequence (3 s), then run as tasks (2 s)."""
import asyncio
import time


async def say_after(delay, what):
    await asyncio.sleep(delay)
    print(what)


async def in_sequence():
    start = time.monotonic()
    await say_after(1, "hello")
    await say_after(2, "world")
    print(f"in sequence: {time.monotonic() - start:.1f} s")


async def as_tasks():
    start = time.monotonic()
    task1 = asyncio.ensure_future(say_after(1, "hello"))
    task2 = asyncio.ensure_future(say_after(2, "world"))
    await task1
    await task2
    print(f"as tasks: {time.monotonic() - start:.1f} s")


loop = asyncio.get_event_loop()
loop.run_until_complete(in_sequence())
loop.run_until_complete(as_tasks())
