"""Two connections at once to two local servers that answer slowly: 1 s, not 2."""
import asyncio
import time


async def slow_server(reader, writer):
    line = await reader.readline()
    await asyncio.sleep(1)
    writer.write(b"answer to " + line)
    await writer.drain()
    writer.close()


async def ask(port, question):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(question.encode() + b"\n")
    answer = await reader.readline()
    writer.close()
    await writer.wait_closed()
    return answer.decode().strip()


async def main():
    servers = [await asyncio.start_server(slow_server, "127.0.0.1", 0) for _ in range(2)]
    ports = [s.sockets[0].getsockname()[1] for s in servers]
    start = time.monotonic()
    answers = await asyncio.gather(ask(ports[0], "first"), ask(ports[1], "second"))
    for a in answers:
        print(a)
    print(f"two connections took {time.monotonic() - start:.1f} s")
    for s in servers:
        s.close()
        await s.wait_closed()


loop = asyncio.get_event_loop()
loop.run_until_complete(main())
