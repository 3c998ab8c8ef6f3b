#!/usr/bin/env python3
"""Per-operation self cost by function and by ELF object, loop A against loop B, from
four callgrind profiles (each loop at two N): the function-level diff behind issue 16.

usage: callgrind_diff.py DIR LO HI [A B [ROWS]]
DIR holds A.LO.out, A.HI.out, B.LO.out and B.HI.out (A, B default to simul, uvloop), made by
  PYTHONHASHSEED=0 valgrind --tool=callgrind --dump-instr=no --collect-jumps=no \\
      --callgrind-out-file=DIR/LOOP.N.out python tls_handshakes.py LOOP N
Each cost is (cost at HI - cost at LO) / (HI - LO), from ``callgrind_annotate
--inclusive=no --threshold=100 --auto=no``; functions are merged by name (recursion
levels and inlined copies together), a symbol-less address is named by its object. The
objects' rows name the object callgrind_annotate gave (``?`` for lines without one).
"""
import re
import subprocess
import sys
from collections import defaultdict

LINE = re.compile(r"\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(\S.*?)\s*(\[(.*)\])?$")


def load(path: str) -> tuple[dict[str, int], dict[str, int]]:
    out = subprocess.run(
        ["callgrind_annotate", "--inclusive=no", "--threshold=100", "--auto=no", path],
        capture_output=True, text=True, check=True,
    ).stdout
    by_fn: dict[str, int] = defaultdict(int)
    by_obj: dict[str, int] = defaultdict(int)
    for line in out.splitlines():
        m = LINE.match(line)
        if not m or ":" not in m.group(2):
            continue
        cost = int(m.group(1).replace(",", ""))
        obj = (m.group(4) or "?").split("/")[-1]
        name = re.sub(r"'\d+$", "", m.group(2)).split(":")[-1]
        if name.startswith("0x"):
            name = f"{obj}:{name}"
        by_fn[name] += cost
        by_obj[obj] += cost
    return by_fn, by_obj


def per_op(d: str, loop: str, lo: int, hi: int) -> tuple[dict[str, float], dict[str, float]]:
    (fa, oa), (fb, ob) = load(f"{d}/{loop}.{lo}.out"), load(f"{d}/{loop}.{hi}.out")
    f = {k: (fb.get(k, 0) - fa.get(k, 0)) / (hi - lo) for k in set(fa) | set(fb)}
    o = {k: (ob.get(k, 0) - oa.get(k, 0)) / (hi - lo) for k in set(oa) | set(ob)}
    return f, o


def table(title: str, a: dict[str, float], b: dict[str, float], rows: int) -> None:
    print(f"{title}: A, B, A - B")
    keys = sorted(set(a) | set(b), key=lambda k: -(a.get(k, 0) - b.get(k, 0)))
    for k in keys[:rows] + keys[-rows // 3:]:
        x, y = a.get(k, 0), b.get(k, 0)
        if abs(x - y) >= 500:
            print(f"{x:12.0f} {y:12.0f} {x - y:+10.0f}  {k[:90]}")


def main() -> None:
    d, lo, hi = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    a_name = sys.argv[4] if len(sys.argv) > 4 else "simul"
    b_name = sys.argv[5] if len(sys.argv) > 5 else "uvloop"
    rows = int(sys.argv[6]) if len(sys.argv) > 6 else 40
    (fa, oa), (fb, ob) = per_op(d, a_name, lo, hi), per_op(d, b_name, lo, hi)
    print(f"per operation: {a_name} {sum(fa.values()):.0f}, {b_name} {sum(fb.values()):.0f}")
    table("by object", oa, ob, rows)
    table("by function", fa, fb, rows)


if __name__ == "__main__":
    main()
