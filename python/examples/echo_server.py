"""An echo server and 2,000 concurrent clients, every byte checked."""
import asyncio
import sys

CLIENTS = int(sys.argv[1]) if len(sys.argv) > 1 else 2000


async def handle_echo(reader, writer):
    while True:
        data = await reader.read(1024)
        if not data:
            break
        writer.write(data)
        await writer.drain()
    writer.close()


async def client(port, i):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    message = f"message {i} ".encode() * 20
    writer.write(message)
    await writer.drain()
    echoed = await reader.readexactly(len(message))
    writer.close()
    await writer.wait_closed()
    return echoed == message


async def main():
    server = await asyncio.start_server(handle_echo, "127.0.0.1", 0, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    results = await asyncio.gather(*(client(port, i) for i in range(CLIENTS)))
    print(f"{sum(results)} of {CLIENTS} clients got their bytes back")
    server.close()
    await server.wait_closed()


loop = asyncio.get_event_loop()
loop.run_until_complete(main())
