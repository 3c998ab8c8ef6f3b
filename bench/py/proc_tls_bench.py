#!/usr/bin/env python3
"""Child processes and TLS: simul's Python loop against the stock loop and uvloop, one run.

usage: proc_tls_bench.py [--quick] [--only TEXT]

Rows: spawn-and-wait of ``true`` (one at a time, and 32 in flight), TLS echo round trips
of 1 KiB and 100 KiB over loopback, and TLS handshakes (connect, handshake, close). Each
row runs on every loop in turn, interleaved REPEAT times (3, or the REPEAT environment
variable; fresh loop each time, so the machine's load hits every loop alike, and each
repetition starts with the next loop, so none always runs first); the table gives the best wall time, the parent's
CPU time per operation, and the ratios simul/uvloop and simul/stock of CPU time (below 1:
simul is faster). uvloop comes from PyPI (``pip install uvloop``). ``--only TLS`` runs
the rows whose name holds that text. ``SIMUL_TLS_FASTPATH`` (``0``, ``python``) picks
simul's TLS path, see ``simul/_tls.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import ssl
import time
from typing import Any, Callable

from test.test_asyncio import utils as tu

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


async def spawn_serial(n: int) -> None:
    for _ in range(n):
        p = await asyncio.create_subprocess_exec("true")
        await p.wait()


async def spawn_32(n: int) -> None:
    sem = asyncio.Semaphore(32)

    async def one() -> None:
        async with sem:
            p = await asyncio.create_subprocess_exec("true")
            await p.wait()

    await asyncio.gather(*(one() for _ in range(n)))


def tls_echo(size: int) -> Callable[[int], Any]:
    async def run(n: int) -> None:
        finished = asyncio.get_running_loop().create_future()

        async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            try:
                while True:
                    data = await r.readexactly(size)
                    w.write(data)
            except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
                w.close()
            finally:
                finished.set_result(None)

        srv = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=tu.simple_server_sslcontext())
        port = srv.sockets[0].getsockname()[1]
        r, w = await asyncio.open_connection(
            "127.0.0.1", port, ssl=tu.simple_client_sslcontext(), server_hostname="localhost"
        )
        msg = b"x" * size
        for _ in range(n):
            w.write(msg)
            await r.readexactly(size)
        w.close()
        try:
            await w.wait_closed()
        except (ConnectionError, ssl.SSLError):
            pass
        await finished
        srv.close()

    return run


async def tls_handshakes(n: int) -> None:
    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        w.close()

    sctx = tu.simple_server_sslcontext()
    cctx = tu.simple_client_sslcontext()
    srv = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=sctx)
    port = srv.sockets[0].getsockname()[1]
    for _ in range(n):
        r, w = await asyncio.open_connection("127.0.0.1", port, ssl=cctx, server_hostname="localhost")
        w.close()
        try:
            await w.wait_closed()
        except (ConnectionError, ssl.SSLError):
            pass
    srv.close()


ROWS: dict[str, tuple[Callable[[int], Any], int]] = {
    "spawn+wait `true`, one at a time (1000)": (spawn_serial, 1000),
    "spawn+wait `true`, 32 in flight (1000)": (spawn_32, 1000),
    "TLS echo 1 KiB round trips (5000)": (tls_echo(1024), 5000),
    "TLS echo 100 KiB round trips (500)": (tls_echo(100 * 1024), 500),
    "TLS handshakes (300)": (tls_handshakes, 300),
}


def once(factory: Callable[[], asyncio.AbstractEventLoop], work: Callable[[int], Any], n: int) -> tuple[float, float]:
    loop = factory()
    asyncio.set_event_loop(loop)
    try:
        w0, c0 = time.perf_counter(), time.process_time()
        loop.run_until_complete(work(n))
        return time.perf_counter() - w0, time.process_time() - c0
    finally:
        asyncio.set_event_loop(None)
        loop.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="one repetition, a tenth of the work")
    ap.add_argument("--only", default="", help="run only the rows whose name holds this text")
    args = ap.parse_args()
    repeat = 1 if args.quick else int(os.environ.get("REPEAT", REPEAT))
    kinds = loops()
    names = list(kinds)
    print(f"{'row':42}" + "".join(f"{k + ' wall':>13}{k + ' cpu/op':>16}" for k in names)
          + "  cpu simul/uvloop  cpu simul/stock")
    for row, (work, n) in ROWS.items():
        if args.only not in row:
            continue
        if args.quick:
            n = max(1, n // 10)
        best: dict[str, tuple[float, float]] = {k: (float("inf"), float("inf")) for k in names}
        for i in range(repeat):
            # interleaved, so the load of the moment hits every loop, and each repetition
            # starts with the next loop, so no loop always runs first or last
            for k in names[i % len(names):] + names[:i % len(names)]:
                wall, cpu = once(kinds[k], work, n)
                best[k] = (min(best[k][0], wall), min(best[k][1], cpu))
        line = f"{row:42}"
        for k in names:
            line += f"{best[k][0]:>12.3f}s{best[k][1] / n * 1e6:>13.1f} us"
        uv = f"{best['simul'][1] / best['uvloop'][1]:.2f}" if "uvloop" in best else "-"
        line += f"  {uv:>16}  {best['simul'][1] / best['stock'][1]:>15.2f}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
