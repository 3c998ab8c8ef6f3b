"""One task awaited twice: it runs once, and both awaits get the same result."""
import asyncio

runs = 0


async def compute():
    global runs
    runs += 1
    await asyncio.sleep(0.5)
    return 42


async def main():
    task = asyncio.ensure_future(compute())
    first = await task
    second = await task
    print(f"first={first} second={second} runs={runs}")


loop = asyncio.get_event_loop()
loop.run_until_complete(main())
