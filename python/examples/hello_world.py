"""Ten tasks print Hello, sleep 3 s and print World! -- in 3 s, not 30."""
import asyncio
import time


async def greet(i):
    print(f"Hello ({i})")
    await asyncio.sleep(3)
    print(f"World! ({i})")


start = time.monotonic()
loop = asyncio.get_event_loop()
tasks = [asyncio.ensure_future(greet(i)) for i in range(10)]
loop.run_until_complete(asyncio.wait(tasks))
print(f"10 greetings took {time.monotonic() - start:.1f} s")
