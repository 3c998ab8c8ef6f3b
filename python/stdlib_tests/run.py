"""Runs CPython's own ``test.test_asyncio`` against simul's loop and the stock loop.

Usage::

    python run.py [--loop simul|stock|both] [--check expected.json] [--write expected.json]
                  [--modules test_locks,test_queues,...]

Each (loop, module) pair runs in its own subprocess. For ``test_events`` the
loop-agnostic ``EventLoopTestsMixin`` runs through a subclass whose
``create_event_loop()`` returns the loop under test (so do ``test_sock_lowlevel``'s
``BaseSockTestsMixin``, ``test_sendfile``'s ``SendfileTestsBase`` and
``test_unix_events``' signal tests); the other suites build their loops
through the event loop policy (``asyncio.new_event_loop()``, ``asyncio.run``,
``asyncio.Runner``), whose loop factory is pointed at the loop under test.

``--check`` compares simul's results with the recorded expectation: the run fails when
a test that passes on the stock loop and is not listed as a known gap fails on simul.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import unittest
from typing import Any

MODULES = [
    "test_events",
    "test_locks",
    "test_queues",
    "test_timeouts",
    "test_waitfor",
    "test_runners",
    "test_taskgroups",
    "test_context",
    "test_pep492",
    "test_sock_lowlevel",
    "test_streams",
    "test_server",
    "test_buffered_proto",
    "test_futures2",
    "test_threads",
    "test_sendfile",
    "test_unix_events",
    "test_subprocess",
    "test_sslproto",
    "test_ssl",
]


class Collect(unittest.TextTestResult):
    """Records each test's outcome by id."""

    def __init__(self, *a: Any, **k: Any) -> None:
        super().__init__(*a, **k)
        self.outcomes: dict[str, str] = {}

    def addSuccess(self, test: unittest.TestCase) -> None:
        super().addSuccess(test)
        self.outcomes[test.id()] = "pass"

    def addFailure(self, test: unittest.TestCase, err: Any) -> None:
        super().addFailure(test, err)
        self.outcomes[test.id()] = "fail"

    def addError(self, test: unittest.TestCase, err: Any) -> None:
        super().addError(test, err)
        self.outcomes[test.id()] = "fail"

    def addSkip(self, test: unittest.TestCase, reason: str) -> None:
        super().addSkip(test, reason)
        self.outcomes[test.id()] = "skip"

    def addExpectedFailure(self, test: unittest.TestCase, err: Any) -> None:
        super().addExpectedFailure(test, err)
        self.outcomes[test.id()] = "pass"

    def addUnexpectedSuccess(self, test: unittest.TestCase) -> None:
        super().addUnexpectedSuccess(test)
        self.outcomes[test.id()] = "fail"


def child(loop_kind: str, module: str, out: str) -> None:
    """Runs one module in this process and writes its outcomes to ``out``."""
    import asyncio
    import importlib

    if loop_kind == "simul":
        import simul

        asyncio.DefaultEventLoopPolicy._loop_factory = simul.EventLoop  # type: ignore[attr-defined]
        factory = simul.new_event_loop
    else:
        factory = asyncio.SelectorEventLoop

    mod = importlib.import_module(f"test.test_asyncio.{module}")
    loader = unittest.TestLoader()
    if module == "test_events":
        from test.test_asyncio import test_events
        from test.test_asyncio import utils as test_utils

        class LoopUnderTest(  # type: ignore[misc]
            test_events.EventLoopTestsMixin, test_events.SubprocessTestsMixin, test_utils.TestCase
        ):
            def create_event_loop(self) -> Any:
                return factory()

        LoopUnderTest.__module__ = "test.test_asyncio.test_events"
        LoopUnderTest.__qualname__ = "LoopUnderTest"
        suite = loader.loadTestsFromTestCase(LoopUnderTest)
    elif module == "test_sock_lowlevel":
        from test.test_asyncio import test_sock_lowlevel as tsl
        from test.test_asyncio import utils as test_utils

        class SockUnderTest(tsl.BaseSockTestsMixin, test_utils.TestCase):  # type: ignore[misc]
            def create_event_loop(self) -> Any:
                return factory()

        SockUnderTest.__module__ = "test.test_asyncio.test_sock_lowlevel"
        SockUnderTest.__qualname__ = "SockUnderTest"
        suite = loader.loadTestsFromTestCase(SockUnderTest)
    elif module == "test_sendfile":
        from test.test_asyncio import test_sendfile as tsf
        from test.test_asyncio import utils as test_utils

        class SendfileUnderTest(tsf.SendfileTestsBase, test_utils.TestCase):  # type: ignore[misc]
            def create_event_loop(self) -> Any:
                return factory()

        SendfileUnderTest.__module__ = "test.test_asyncio.test_sendfile"
        SendfileUnderTest.__qualname__ = "SendfileUnderTest"
        suite = loader.loadTestsFromTestCase(SendfileUnderTest)
    elif module == "test_unix_events":
        # The signal tests (through a subclass: they build a SelectorEventLoop) and the
        # sock_sendfile tests (they build their loop through the policy); the rest of the
        # module tests the stock loop's pipe and child-watcher classes themselves.
        from test.test_asyncio import test_unix_events as tue
        from test.test_asyncio import utils as test_utils

        class SignalUnderTest(tue.SelectorEventLoopSignalTests):  # type: ignore[misc]
            def setUp(self) -> None:
                test_utils.TestCase.setUp(self)
                self.loop = factory()
                self.set_event_loop(self.loop)

        SignalUnderTest.__module__ = "test.test_asyncio.test_unix_events"
        SignalUnderTest.__qualname__ = "SignalUnderTest"
        suite = loader.loadTestsFromTestCase(SignalUnderTest)
        suite.addTests(loader.loadTestsFromTestCase(tue.SelectorEventLoopUnixSockSendfileTests))
    elif module == "test_sslproto":
        # Its functional class hard-codes ``asyncio.SelectorEventLoop()``; this one runs
        # the same tests on the loop under test.
        from test.test_asyncio import test_sslproto as tsp

        class StartTLSUnderTest(tsp.BaseStartTLS, unittest.TestCase):  # type: ignore[misc]
            def new_loop(self) -> Any:
                return factory()

        StartTLSUnderTest.__module__ = "test.test_asyncio.test_sslproto"
        StartTLSUnderTest.__qualname__ = "StartTLSUnderTest"
        suite = unittest.TestSuite(
            [loader.loadTestsFromTestCase(tsp.SslProtoHandshakeTests), loader.loadTestsFromTestCase(StartTLSUnderTest)]
        )
    else:
        suite = loader.loadTestsFromModule(mod)
    stream = open(os.devnull, "w")
    runner = unittest.TextTestRunner(stream=stream, resultclass=Collect, verbosity=0)
    result = runner.run(suite)
    if hasattr(mod, "tearDownModule"):
        mod.tearDownModule()
    with open(out, "w") as f:
        json.dump(result.outcomes, f)  # type: ignore[attr-defined]


def run_module(loop_kind: str, module: str, timeout: float) -> dict[str, str]:
    out = f"/tmp/simul-stdlib-{os.getpid()}-{loop_kind}-{module}.json"
    cmd = [sys.executable, __file__, "--child", loop_kind, module, out]
    try:
        subprocess.run(cmd, timeout=timeout, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return {f"{module} (whole module)": "timeout"}
    try:
        with open(out) as f:
            data = json.load(f)
        os.unlink(out)
        return data
    except (OSError, ValueError):
        return {f"{module} (whole module)": "crash"}


def main() -> int:
    if len(sys.argv) >= 2 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], sys.argv[4])
        return 0
    ap = argparse.ArgumentParser()
    ap.add_argument("--modules", default=",".join(MODULES))
    ap.add_argument("--check")
    ap.add_argument("--write")
    ap.add_argument("--timeout", type=float, default=300)
    args = ap.parse_args()
    results: dict[str, dict[str, dict[str, str]]] = {"stock": {}, "simul": {}}
    for module in args.modules.split(","):
        t0 = time.monotonic()
        for kind in ("stock", "simul"):
            results[kind][module] = run_module(kind, module, args.timeout)
        row = []
        for kind in ("stock", "simul"):
            counts = {"pass": 0, "fail": 0, "skip": 0}
            for v in results[kind][module].values():
                counts[v if v in counts else "fail"] += 1
            row.append(f"{kind} {counts['pass']}/{counts['fail']}/{counts['skip']}")
        print(f"{module:22} pass/fail/skip  " + "   ".join(row) + f"   ({time.monotonic() - t0:.0f}s)", flush=True)
    gaps = {}
    for module, outcomes in results["simul"].items():
        stock = results["stock"][module]
        # A test the stock loop passes counts against simul when simul fails it, skips it,
        # or never reports it (its module timed out or crashed).
        for test, outcome in sorted(stock.items()):
            if outcome == "pass" and outcomes.get(test) != "pass":
                gaps[test] = outcomes.get(test, "missing")
        for test, outcome in outcomes.items():
            if test.endswith("(whole module)"):
                gaps[test] = outcome
    tot = {k: {"pass": 0, "fail": 0, "skip": 0} for k in results}
    for k, mods in results.items():
        for outcomes in mods.values():
            for v in outcomes.values():
                tot[k][v if v in tot[k] else "fail"] += 1
    for k in ("stock", "simul"):
        print(f"{k}: {tot[k]['pass']} passed, {tot[k]['fail']} failed, {tot[k]['skip']} skipped")
    print(f"passing on stock, not on simul: {len(gaps)}")
    if args.write:
        try:
            with open(args.write) as f:
                old = json.load(f)["gaps"]
        except (OSError, ValueError, KeyError):
            old = {}
        record = {
            t: {"outcome": o, "reason": old.get(t, {}).get("reason", "TODO: say why")}
            for t, o in gaps.items()
        }
        with open(args.write, "w") as f:
            json.dump({"gaps": record}, f, indent=1, sort_keys=True)
    if args.check:
        with open(args.check) as f:
            known = json.load(f)["gaps"]
        new = sorted(t for t in gaps if t not in known)
        fixed = sorted(t for t in known if t not in gaps)
        for t in new:
            print(f"REGRESSION: {t} ({gaps[t]})")
        if fixed:
            print(f"{len(fixed)} known gaps now pass (update the expectation with --write)")
        print(f"stdlib: {tot['simul']['pass']} passed, {len(new)} failed")
        return 1 if new else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
