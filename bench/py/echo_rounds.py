#!/usr/bin/env python3
"""N line round trips through asyncio streams on simul's loop, server (stream_echo.py's
echo_lines handler) and client in one process: the callgrind probe for the transports'
per-step cost. Run it at two N and divide the difference by the difference of N.
``--uvloop`` runs the same on uvloop.

usage: PYTHONHASHSEED=0 valgrind --tool=callgrind python echo_rounds.py [--uvloop] N
"""
import asyncio
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stream_echo  # noqa: E402

import simul  # noqa: E402


async def main(n):
    server = await asyncio.start_server(stream_echo.echo_lines, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    msg = b"x" * 100 + b"\n"
    for _ in range(n):
        writer.write(msg)
        await reader.readline()
    writer.close()
    await writer.wait_closed()
    server.close()
    await server.wait_closed()


if __name__ == "__main__":
    if sys.argv[1] == "--uvloop":
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(main(int(sys.argv[2])))
    else:
        simul.run(main(int(sys.argv[1])))
