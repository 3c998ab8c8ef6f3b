#!/usr/bin/env python3
"""N TLS handshakes (proc_tls_bench.py's row: connect, handshake, close; client and server
in one process) on one loop, after two for warm-up: the callgrind and strace probe for the
per-handshake cost. Run it at two N and divide the difference by the difference of N.

usage: PYTHONHASHSEED=0 valgrind --tool=callgrind python tls_handshakes.py LOOP N [calls]
       strace -c -f python tls_handshakes.py LOOP N
LOOP is stock, uvloop or simul; ``calls`` prints Python calls per handshake instead
(``sys.setprofile`` "call" events, coroutine resumptions included), by function.
"""
import asyncio
import collections
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from proc_tls_bench import loops, tls_handshakes  # noqa: E402

kind, n = sys.argv[1], int(sys.argv[2])
profile = len(sys.argv) > 3
loop = loops()[kind]()
asyncio.set_event_loop(loop)
loop.run_until_complete(tls_handshakes(2))
counts: collections.Counter[str] = collections.Counter()


def count(frame, event, arg):
    if event == "call":
        code = frame.f_code
        counts[f"{os.path.basename(code.co_filename)}:{code.co_name}"] += 1


if profile:
    sys.setprofile(count)
loop.run_until_complete(tls_handshakes(n))
sys.setprofile(None)
loop.close()
if profile:
    print(f"Python calls per handshake: {sum(counts.values()) / n:.2f}")
    for name, c in counts.most_common(60):
        print(f"{c / n:8.2f} {name}")
