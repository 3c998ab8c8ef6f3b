"""The tutorial programs in python/examples/, unmodified, on the stock loop and on simul
(``python -m simul``): the same output, and the same timings within a loaded machine's
margin."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"
PROGRAMS = ["hello_world.py", "say_after.py", "await_twice.py", "producer_consumer.py",
            "two_connections.py", "echo_server.py", "subprocess_shell.py", "to_thread.py"]
TIMING = re.compile(r"(\d+\.\d) s")
# Wall-clock times (``time.strftime('%X')``), compared as seconds of the day.
CLOCK = re.compile(r"(\d\d):(\d\d):(\d\d)")


def split(out: str) -> tuple[str, list[float]]:
    return CLOCK.sub("<clock>", TIMING.sub("<t> s", out)), [float(t) for t in TIMING.findall(out)]


def clocks(out: str) -> list[int]:
    return [int(h) * 3600 + int(m) * 60 + int(s) for h, m, s in CLOCK.findall(out)]


@pytest.mark.parametrize("program", PROGRAMS)
def test_same_output_and_timings_as_the_stock_loop(program: str) -> None:
    path = str(EXAMPLES / program)
    stock = subprocess.Popen([sys.executable, path], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    simul = subprocess.Popen([sys.executable, "-m", "simul", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out_stock, err_stock = stock.communicate(timeout=120)
    out_simul, err_simul = simul.communicate(timeout=120)
    assert stock.returncode == 0, err_stock
    assert simul.returncode == 0, err_simul
    text_stock, t_stock = split(out_stock)
    text_simul, t_simul = split(out_simul)
    assert text_simul == text_stock
    for a, b in zip(t_stock, t_simul):
        assert abs(a - b) <= 0.5, (t_stock, t_simul)
    # Clock times (1 s resolution): the same steps apart from the program's first one.
    c_stock, c_simul = clocks(out_stock), clocks(out_simul)
    for a, b in zip(c_stock, c_simul):
        assert abs((a - c_stock[0]) - (b - c_simul[0])) <= 1, (c_stock, c_simul)
    assert "Traceback" not in err_simul
