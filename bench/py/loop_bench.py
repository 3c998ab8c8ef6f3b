#!/usr/bin/env python3
"""simul's Python event loop against the stock asyncio loop and uvloop, one run, side by side.

usage: loop_bench.py [--quick] [--cpu]

Every row runs the same workload on each loop (fresh loop per repetition, best of
REPEAT), in the same process and run; the table gives seconds and the ratios
simul/uvloop and simul/stock (below 1 means simul is faster). ``--cpu`` measures the
process's CPU time instead of wall time and interleaves the loops repetition by
repetition (steadier on a loaded machine; the echo rows then count both ends' work). uvloop comes from PyPI
(``pip install uvloop``); a loop that is not installed is left out.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import time
from typing import Any, Callable

REPEAT = 3


def loops() -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    out: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {"stock": asyncio.SelectorEventLoop}
    try:
        import uvloop

        out["uvloop"] = uvloop.new_event_loop
    except ImportError:
        pass
    import simul

    out["simul"] = simul.new_event_loop
    return out


# -- workloads: each takes a loop and returns after doing the work --------------------

def call_soon(loop: asyncio.AbstractEventLoop, n: int) -> None:
    count = [0]
    done = loop.create_future()

    def cb() -> None:
        count[0] += 1
        if count[0] == n:
            done.set_result(None)

    def fill() -> None:
        for _ in range(n):
            loop.call_soon(cb)

    loop.call_soon(fill)
    loop.run_until_complete(done)


def timers(loop: asyncio.AbstractEventLoop, n: int) -> None:
    count = [0]
    done = loop.create_future()

    def cb() -> None:
        count[0] += 1
        if count[0] == n:
            done.set_result(None)

    for i in range(n):
        loop.call_later((i % 1000) / 100_000, cb)  # 0..10 ms
    loop.run_until_complete(done)


def tasks_gathered(loop: asyncio.AbstractEventLoop, n: int) -> None:
    async def one() -> int:
        await asyncio.sleep(0)
        return 1

    async def main() -> None:
        assert sum(await asyncio.gather(*(one() for _ in range(n)))) == n

    loop.run_until_complete(main())


def ping_pong(loop: asyncio.AbstractEventLoop, n: int) -> None:
    async def player() -> None:
        for _ in range(n):
            await asyncio.sleep(0)

    async def main() -> None:
        await asyncio.gather(player(), player())

    loop.run_until_complete(main())


class EchoServer(asyncio.Protocol):
    def connection_made(self, transport: Any) -> None:
        self.t = transport

    def data_received(self, data: bytes) -> None:
        self.t.write(data)


class EchoClient(asyncio.Protocol):
    def __init__(self, msg: bytes, rounds: int, done: asyncio.Future[None]) -> None:
        self.msg, self.left, self.done, self.got = msg, rounds, done, 0

    def connection_made(self, transport: Any) -> None:
        self.t = transport
        transport.write(self.msg)

    def data_received(self, data: bytes) -> None:
        self.got += len(data)
        if self.got == len(self.msg):
            self.got = 0
            self.left -= 1
            if self.left == 0:
                self.t.close()
                self.done.set_result(None)
            else:
                self.t.write(self.msg)


def echo_protocols(size: int, conns: int, rounds: int) -> Callable[[asyncio.AbstractEventLoop, int], None]:
    def run(loop: asyncio.AbstractEventLoop, _n: int) -> None:
        async def main() -> None:
            srv = await loop.create_server(EchoServer, "127.0.0.1", 0)
            port = srv.sockets[0].getsockname()[1]
            msg = b"x" * size
            futs = []
            for _ in range(conns):
                f = loop.create_future()
                await loop.create_connection(lambda f=f: EchoClient(msg, rounds, f), "127.0.0.1", port)
                futs.append(f)
            await asyncio.gather(*futs)
            srv.close()
            await srv.wait_closed()

        loop.run_until_complete(main())

    return run


def echo_streams(size: int, conns: int, rounds: int) -> Callable[[asyncio.AbstractEventLoop, int], None]:
    def run(loop: asyncio.AbstractEventLoop, _n: int) -> None:
        handlers: list[asyncio.Future[None]] = []

        async def serve(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            while data := await r.read(1 << 20):
                w.write(data)
                await w.drain()
            w.close()
            await w.wait_closed()

        def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> asyncio.Future[None]:
            # Kept, so the run ends only once every server side has seen its EOF: a
            # handler still waiting when the loop closes would be destroyed pending.
            t = asyncio.ensure_future(serve(r, w))
            handlers.append(t)
            return t

        async def client(port: int) -> None:
            r, w = await asyncio.open_connection("127.0.0.1", port)
            msg = b"y" * size
            for _ in range(rounds):
                w.write(msg)
                await w.drain()
                await r.readexactly(size)
            w.close()
            await w.wait_closed()

        async def main() -> None:
            srv = await asyncio.start_server(handle, "127.0.0.1", 0)
            port = srv.sockets[0].getsockname()[1]
            await asyncio.gather(*(client(port) for _ in range(conns)))
            await asyncio.gather(*handlers)
            srv.close()
            await srv.wait_closed()

        loop.run_until_complete(main())

    return run


ROWS: dict[str, tuple[Callable[[asyncio.AbstractEventLoop, int], None], int]] = {
    "call_soon 1M": (call_soon, 1_000_000),
    "call_later 100k timers": (timers, 100_000),
    "gather 100k tasks": (tasks_gathered, 100_000),
    "sleep(0) ping-pong 2x200k": (ping_pong, 200_000),
    "echo protocols 1 KiB (10 conns x 2k)": (echo_protocols(1024, 10, 2000), 0),
    "echo protocols 100 KiB (10 conns x 1k)": (echo_protocols(100 * 1024, 10, 1000), 0),
    "echo streams 1 KiB (10 conns x 2k)": (echo_streams(1024, 10, 2000), 0),
    "echo streams 100 KiB (10 conns x 1k)": (echo_streams(100 * 1024, 10, 1000), 0),
}


def measure_once(factory: Callable[[], asyncio.AbstractEventLoop], work: Callable[..., None], n: int, clock: Callable[[], float]) -> float:
    loop = factory()
    try:
        t0 = clock()
        work(loop, n)
        return clock() - t0
    finally:
        loop.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="one repetition, a tenth of the work")
    ap.add_argument("--cpu", action="store_true", help="CPU time (process_time), loops interleaved")
    args = ap.parse_args()
    clock = time.process_time if args.cpu else time.perf_counter
    repeat = 1 if args.quick else REPEAT
    kinds = loops()
    names = list(kinds)
    print(f"{'row':42}" + "".join(f"{k:>10}" for k in names) + "  simul/uvloop  simul/stock")
    for row, (work, n) in ROWS.items():
        if args.quick and n:
            n //= 10
        secs = {k: float("inf") for k in names}
        for _ in range(repeat):
            for k in names:
                secs[k] = min(secs[k], measure_once(kinds[k], work, n, clock))
        line = f"{row:42}" + "".join(f"{secs[k]:>9.3f}s" for k in names)
        uv = f"{secs['simul'] / secs['uvloop']:.2f}" if "uvloop" in secs else "-"
        line += f"  {uv:>12}  {secs['simul'] / secs['stock']:>11.2f}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
