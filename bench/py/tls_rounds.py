#!/usr/bin/env python3
"""N TLS echo round trips of 1 KiB (proc_tls_bench.py's ``tls_echo`` row: asyncio streams
with ``ssl=``, server and client in one process): the callgrind probe for the TLS path's
per-round-trip cost. Run it at two N and divide the difference by the difference of N
(the handshake cancels out). ``--uvloop`` runs the same on uvloop, ``--size BYTES`` echoes
messages of that size instead (``102400``: the 100 KiB row).

usage: PYTHONHASHSEED=0 valgrind --tool=callgrind python tls_rounds.py [--uvloop] [--size BYTES] N
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import proc_tls_bench  # noqa: E402

if __name__ == "__main__":
    args = sys.argv[1:]
    size, factory = 1024, None
    while args[0].startswith("--"):
        if args[0] == "--uvloop":
            import uvloop

            factory = uvloop.new_event_loop
            args = args[1:]
        elif args[0] == "--size":
            size = int(args[1])
            args = args[2:]
        else:
            sys.exit(f"unknown option {args[0]}")
    if factory is None:
        import simul

        factory = simul.new_event_loop
    proc_tls_bench.once(factory, proc_tls_bench.tls_echo(size), int(args[0]))
