"""Child processes on simul's loop: asyncio.create_subprocess_exec/_shell, the stdio
choices, the Popen keywords, exit watching and reaping (no zombie, no descriptor left)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile

import pytest

PIPE = asyncio.subprocess.PIPE


def zombies_of_this_process() -> list[int]:
    me = os.getpid()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == "Z" and int(fields[1]) == me:
            found.append(int(name))
    return found


def test_communicate_feeds_stdin_and_reads_stdout_and_stderr(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> tuple[bytes, bytes, int]:
        p = await asyncio.create_subprocess_exec(
            "sh", "-c", "cat; echo oops >&2; exit 7", stdin=PIPE, stdout=PIPE, stderr=PIPE
        )
        out, err = await p.communicate(b"x" * 300_000)
        return out, err, p.returncode

    out, err, code = loop.run_until_complete(main())
    assert out == b"x" * 300_000
    assert err == b"oops\n"
    assert code == 7


def test_shell_wait_and_returncode(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> tuple[int | None, int, int | None]:
        p = await asyncio.create_subprocess_shell("exit 3")
        before = p.returncode
        return before, await p.wait(), p.returncode

    before, code, after = loop.run_until_complete(main())
    assert code == 3 and after == 3
    assert before in (None, 3)


@pytest.mark.parametrize("how", ["terminate", "kill", "send_signal"])
def test_signals_end_a_running_child(loop: asyncio.AbstractEventLoop, how: str) -> None:
    async def main() -> int:
        p = await asyncio.create_subprocess_exec("sleep", "30")
        if how == "send_signal":
            p.send_signal(signal.SIGINT)
        else:
            getattr(p, how)()
        return await p.wait()

    expected = {"terminate": -signal.SIGTERM, "kill": -signal.SIGKILL, "send_signal": -signal.SIGINT}
    assert loop.run_until_complete(main()) == expected[how]


def test_devnull_file_and_stdout_redirections(loop: asyncio.AbstractEventLoop) -> None:
    with tempfile.TemporaryFile() as f:
        async def main() -> bytes:
            p = await asyncio.create_subprocess_exec(
                "sh", "-c", "echo out; echo err >&2", stdin=subprocess.DEVNULL, stdout=f,
                stderr=subprocess.STDOUT,
            )
            await p.wait()
            p = await asyncio.create_subprocess_exec(
                "sh", "-c", "cat; echo merged >&2", stdin=subprocess.DEVNULL, stdout=PIPE,
                stderr=subprocess.STDOUT,
            )
            out, _ = await p.communicate()
            return out

        merged = loop.run_until_complete(main())
        f.seek(0)
        assert f.read() == b"out\nerr\n"
    assert merged == b"merged\n"


def test_cwd_env_pass_fds_and_new_session(loop: asyncio.AbstractEventLoop) -> None:
    r, w = os.pipe()
    try:
        with tempfile.TemporaryDirectory() as d:
            async def main() -> bytes:
                code = (
                    "import os, sys; os.write(int(sys.argv[1]), b'fd ok');"
                    "print(os.getcwd(), os.environ['SIMUL_X'], os.getsid(0) == os.getpid())"
                )
                p = await asyncio.create_subprocess_exec(
                    sys.executable, "-c", code, str(w), stdout=PIPE, cwd=d,
                    env={**os.environ, "SIMUL_X": "42"}, pass_fds=(w,), start_new_session=True,
                )
                out, _ = await p.communicate()
                return out

            out = loop.run_until_complete(main())
            assert out.decode().split() == [os.path.realpath(d), "42", "True"]
            assert os.read(r, 100) == b"fd ok"
    finally:
        os.close(r)
        os.close(w)


def test_a_program_that_does_not_exist_raises_and_leaves_nothing(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        await asyncio.create_subprocess_exec("/nonexistent/simul-test", stdin=PIPE, stdout=PIPE)

    with pytest.raises(FileNotFoundError):
        loop.run_until_complete(main())


def test_a_thousand_children_at_once_leave_no_zombie_and_no_descriptor(loop: asyncio.AbstractEventLoop) -> None:
    async def one(i: int) -> tuple[int, bytes]:
        p = await asyncio.create_subprocess_exec("sh", "-c", f"echo {i}", stdout=PIPE)
        out, _ = await p.communicate()
        return p.returncode, out

    async def main() -> list[tuple[int, bytes]]:
        # 1,000 children alive at once: each holds a pipe and a pidfd (3 descriptors), so
        # they are started in waves that stay under a default 1,024-descriptor limit.
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        wave = max(50, min(1000, (soft - 100) // 3))
        results: list[tuple[int, bytes]] = []
        for start in range(0, 1000, wave):
            results += await asyncio.gather(*(one(i) for i in range(start, min(1000, start + wave))))
        return results

    results = loop.run_until_complete(main())
    assert [r for r, _ in results] == [0] * 1000
    assert [int(o) for _, o in results] == list(range(1000))
    assert zombies_of_this_process() == []


def test_a_child_nobody_reads_is_killed_when_wait_for_times_out(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> int:
        p = await asyncio.create_subprocess_exec(
            sys.executable, "-c", "import sys; sys.stdout.buffer.write(b'x' * 100_000_000)", stdout=PIPE
        )
        # The child blocks on a full pipe: wait() cannot finish.
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(p.wait(), timeout=0.5)
        p.kill()
        # As on the stock loop, wait() also waits for the pipes to close: communicate()
        # drains what the killed child left in its pipe and returns.
        out, _ = await asyncio.wait_for(p.communicate(), timeout=60)
        # On a loaded machine the child may be killed before its interpreter has written
        # anything: only "not all of it" is certain.
        assert len(out) < 100_000_000
        return p.returncode

    assert loop.run_until_complete(main()) == -signal.SIGKILL
    assert zombies_of_this_process() == []


def test_a_child_still_running_when_the_loop_closes_is_reaped(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> int:
        p = await asyncio.create_subprocess_exec("sleep", "0.2")
        return p.pid

    pid = loop.run_until_complete(main())
    loop.close()
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if not os.path.exists(f"/proc/{pid}") or pid not in zombies_of_this_process():
            if not os.path.exists(f"/proc/{pid}"):
                break
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{pid}")
