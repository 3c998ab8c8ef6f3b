#!/usr/bin/env python3
"""loop_bench.py's gather row once, for N tasks, on simul's loop or uvloop: the callgrind
probe for the per-task cost (create_task, two steps, the done callback). Run it at two N
and divide the difference by the difference of N.

usage: PYTHONHASHSEED=0 valgrind --tool=callgrind python gather_rounds.py simul|uvloop N
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import loop_bench  # noqa: E402

which, n = sys.argv[1], int(sys.argv[2])
if which == "uvloop":
    import uvloop

    new = uvloop.new_event_loop
else:
    import simul

    new = simul.new_event_loop

loop = new()
loop_bench.tasks_gathered(loop, 10)  # warm up: imports, first-call caches
loop_bench.tasks_gathered(loop, n)
loop.close()
