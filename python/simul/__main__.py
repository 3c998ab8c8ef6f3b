"""``python -m simul script.py [args...]``: runs an unmodified asyncio program on simul.

Installs simul's event loop policy, then runs the script as ``__main__``, so its
``asyncio.run()``, ``asyncio.new_event_loop()`` and ``asyncio.get_event_loop()`` all use
simul's loop.
"""

from __future__ import annotations

import runpy
import sys

import simul


def main() -> None:
    if len(sys.argv) < 2:
        print("usage: python -m simul script.py [args...]", file=sys.stderr)
        raise SystemExit(2)
    simul.install()
    sys.argv = sys.argv[1:]
    runpy.run_path(sys.argv[0], run_name="__main__")


if __name__ == "__main__":
    main()
