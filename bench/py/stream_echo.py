#!/usr/bin/env python3
"""asyncio streams echo server, the reference for simul's examples/stream_echo.rs.

usage: stream_echo.py PORT [--read] [--uvloop]

Default: line echo with readline(); --read echoes whatever arrives with read(65536)
(the mode ../../../shared/bench/echo_cpu.sh needs: its messages carry no newline);
--uvloop runs it on uvloop (pip install uvloop) instead of the default asyncio loop.
Listens on 127.0.0.1, TCP_NODELAY on (asyncio's default for TCP transports).
"""
import asyncio
import sys


async def echo_lines(reader, writer):
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            writer.write(line)
            await writer.drain()
    except (ConnectionError, ValueError):
        pass
    finally:
        writer.close()


async def echo_chunks(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def main(port, handler):
    server = await asyncio.start_server(handler, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    args = sys.argv[1:]
    port = int(args[0]) if args and args[0].isdigit() else 8888
    handler = echo_chunks if "--read" in args else echo_lines
    if "--uvloop" in args:
        import uvloop
        uvloop.run(main(port, handler))
    else:
        asyncio.run(main(port, handler))
