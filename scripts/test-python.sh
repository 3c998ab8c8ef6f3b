#!/usr/bin/env bash
# Builds the `simul` Python package and runs its tests:
#   1. a venv (target/pyvenv) with maturin and pytest from PyPI;
#   2. the extension built and installed with `pip install ./python` (as a user would);
#   3. the pytest suite (python/tests);
#   4. CPython's own test.test_asyncio against simul and the stock loop, failing on any
#      test that passes on the stock loop and is not a recorded gap
#      (python/stdlib_tests/expected.json).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
VENV="${SIMUL_VENV:-target/pyvenv}"
# Absolute, so the steps below may change directory (SIMUL_VENV may be either).
case "$VENV" in /*) ;; *) VENV="$PWD/$VENV" ;; esac
if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade "maturin>=1.9,<2" pytest
"$VENV/bin/python" -m pip install -q --force-reinstall --no-deps ./python
cd python
# Run from tests/ so `import simul` finds the installed package, not the source tree.
(cd tests && "$VENV/bin/python" -m pytest -q -p no:cacheprovider .)
"$VENV/bin/python" stdlib_tests/run.py --check stdlib_tests/expected.json
