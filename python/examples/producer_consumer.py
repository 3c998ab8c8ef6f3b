"""Producers and consumers over an asyncio.Queue: 2 producers, 3 consumers."""
import asyncio
import time


async def produce(name, queue, n):
    for i in range(n):
        await asyncio.sleep(0.1)  # making an item takes time
        await queue.put(f"{name}-{i}")
    print(f"producer {name} done")


async def consume(name, queue, log):
    while True:
        item = await queue.get()
        await asyncio.sleep(0.15)  # so does handling it
        log.append(item)
        queue.task_done()


async def main():
    queue = asyncio.Queue()
    log = []
    start = time.monotonic()
    consumers = [asyncio.ensure_future(consume(c, queue, log)) for c in "xyz"]
    await asyncio.gather(produce("a", queue, 5), produce("b", queue, 5))
    await queue.join()
    for c in consumers:
        c.cancel()
    print(f"consumed {len(log)} items: {sorted(log)}")
    print(f"took {time.monotonic() - start:.1f} s")


loop = asyncio.get_event_loop()
loop.run_until_complete(main())
