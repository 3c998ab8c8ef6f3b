#!/usr/bin/env python3
"""Self cost per function, per operation, from one callgrind dump (bench/http_cache.sh).

usage: callgrind_self.py FILE OPS [ROWS [EVENT]]   (ROWS 30, sorted by EVENT, default D1mr)

Reads the dump itself rather than through ``callgrind_annotate``: on a dump taken after
``callgrind_control -z`` (a measured window), callgrind_annotate 3.19 charges every cost to
``__libc_start_main``. A cost line right after a ``calls=`` line is the call's inclusive
cost and is skipped; every other cost line is the current function's own. Name
compression (``fn=(id) name``, later ``fn=(id)``) is undone; positions are not needed.
"""
import re
import sys
from collections import defaultdict

REF = re.compile(r"\((\d+)\)(?: (.*))?$")


def self_costs(path):
    names, events = {}, []
    cost = defaultdict(lambda: None)
    fn, after_call = "?", False
    for line in open(path, errors="replace"):
        line = line.rstrip("\n")
        if line.startswith("events:"):
            events = line.split()[1:]
        elif line.startswith(("fn=", "cfn=")):
            m = REF.match(line.split("=", 1)[1])
            name = line.split("=", 1)[1]
            if m:
                if m.group(2) is not None:
                    names[m.group(1)] = m.group(2)
                name = names.get(m.group(1), name)
            if line.startswith("fn="):
                fn = name
        elif line.startswith("calls="):
            after_call = True
        elif line and (line[0].isdigit() or line[0] in "+-*"):
            if after_call:
                after_call = False
                continue
            vals = [int(x) for x in line.split()[1:]]
            vals += [0] * (len(events) - len(vals))
            c = cost[fn]
            if c is None:
                cost[fn] = vals
            else:
                for i, v in enumerate(vals):
                    c[i] += v
    return events, cost


def main():
    path, ops = sys.argv[1], float(sys.argv[2])
    rows = int(sys.argv[3]) if len(sys.argv) > 3 else 30
    sort = sys.argv[4] if len(sys.argv) > 4 else "D1mr"
    events, cost = self_costs(path)
    show = [e for e in ("Ir", "D1mr", "D1mw", "I1mr", "DLmr") if e in events]
    col = [events.index(e) for e in show]
    total = [sum(c[i] for c in cost.values()) / ops for i in col]
    print(" ".join("%8s" % e for e in show), " function (per operation)")
    print(" ".join("%8.1f" % t for t in total), " TOTAL")
    key = events.index(sort)
    for f, c in sorted(cost.items(), key=lambda kv: -kv[1][key])[:rows]:
        print(" ".join("%8.2f" % (c[i] / ops) for i in col), "", f[:120])


if __name__ == "__main__":
    main()
