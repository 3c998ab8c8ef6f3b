"""Child processes: ``subprocess_exec``/``subprocess_shell`` (and so
``asyncio.create_subprocess_exec``/``_shell``) on simul's engine.

# Design
The transport is asyncio's ``base_subprocess.BaseSubprocessTransport`` (``communicate``,
``wait``, ``send_signal``, ``terminate``, ``kill``, ``returncode`` and the pipe protocols
are asyncio's own), spawning with ``subprocess.Popen`` as the stock loop does (so every
``Popen`` keyword works: ``cwd``, ``env``, ``pass_fds``, ``start_new_session``, ...) and
running its pipes on simul's Rust pipe transports (``_pipes.py``).

A child's exit is watched without asyncio's child watchers: ``os.pidfd_open(pid)`` is
registered with the loop's reactor like any descriptor; when it turns readable the child
has exited and ``waitpid`` reaps it without blocking. Without pidfds (Linux < 5.3, or
``SIMUL_PROCESS_NO_PIDFD=1``) one thread per running child blocks in ``waitpid`` and hands
the status to the loop with ``call_soon_threadsafe`` (asyncio's ``ThreadedChildWatcher``
scheme).

A child watcher the program installed itself (``asyncio.set_child_watcher``, or one
``asyncio.get_child_watcher()`` created) is honoured as the stock loop honours it: it is
entered, must be active (``RuntimeError`` otherwise), and reports the exit. A watcher
that reaps every child (``FastChildWatcher``) would otherwise steal the pidfd path's. A
``PidfdChildWatcher`` is the scheme this module uses already, so it is not needed.

# Invariants
- No zombie: every child spawned here is reaped, also when the loop is closed before the
  child exits (``close()`` hands the still-running children to a reaper thread).
- The exit status reaches the transport one iteration after the reap (``call_soon``), as
  the stock loop does, so output already in the pipes is delivered first.
"""

from __future__ import annotations

import os
import subprocess
import threading
import warnings
from asyncio import base_subprocess, events, unix_events
from asyncio.log import logger
from typing import Any

__all__ = ["SubprocessMixin", "SubprocessTransport"]


class SubprocessTransport(base_subprocess.BaseSubprocessTransport):
    """asyncio's subprocess transport, spawning with ``subprocess.Popen``."""

    def _start(self, args: Any, shell: bool, stdin: Any, stdout: Any, stderr: Any, bufsize: int, **kwargs: Any) -> None:
        self._proc = subprocess.Popen(
            args, shell=shell, stdin=stdin, stdout=stdout, stderr=stderr,
            universal_newlines=False, bufsize=bufsize, **kwargs,
        )


def _exit_code(pid: int, blocking: bool) -> int | None:
    """Reaps ``pid``; its returncode (``-signal`` if killed), ``None`` if it still runs."""
    try:
        got, status = os.waitpid(pid, 0 if blocking else os.WNOHANG)
    except ChildProcessError:
        # Reaped elsewhere (``Popen.poll`` of a user, or another reaper).
        logger.warning("Unknown child process pid %d, will report returncode 255", pid)
        return 255
    if got == 0:
        return None
    return os.waitstatus_to_exitcode(status)


def _installed_child_watcher() -> Any:
    """The child watcher the program installed on the policy, if any (never creates one)."""
    policy = events.get_event_loop_policy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        watcher = getattr(policy, "_watcher", None)
    if isinstance(watcher, unix_events.PidfdChildWatcher):
        return None  # the same scheme as ours, which needs no watcher
    return watcher


def _reap_in_thread(pids: list[int]) -> None:
    def run() -> None:
        for pid in pids:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass

    threading.Thread(target=run, name="simul-reaper", daemon=True).start()


class SubprocessMixin:
    """``simul.EventLoop``'s subprocess hooks (see the module doc)."""

    _children: dict[int, int | None]

    async def _make_subprocess_transport(
        self, protocol: Any, args: Any, shell: bool, stdin: Any, stdout: Any, stderr: Any,
        bufsize: int, extra: Any = None, **kwargs: Any,
    ) -> SubprocessTransport:
        watcher = _installed_child_watcher()
        if watcher is not None:
            return await self._spawn_with_watcher(
                watcher, protocol, args, shell, stdin, stdout, stderr, bufsize, extra, **kwargs
            )
        waiter = self.create_future()  # type: ignore[attr-defined]
        transp = SubprocessTransport(
            self, protocol, args, shell, stdin, stdout, stderr, bufsize,
            waiter=waiter, extra=extra, **kwargs,
        )
        self._watch_child(transp.get_pid(), transp)
        try:
            await waiter
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException:
            transp.close()
            await transp._wait()
            raise
        return transp

    async def _spawn_with_watcher(
        self, watcher: Any, protocol: Any, args: Any, shell: bool, stdin: Any, stdout: Any,
        stderr: Any, bufsize: int, extra: Any, **kwargs: Any,
    ) -> SubprocessTransport:
        with watcher as watcher:
            if not watcher.is_active():
                raise RuntimeError(
                    "asyncio.get_child_watcher() is not activated, subprocess support is not installed."
                )
            waiter = self.create_future()  # type: ignore[attr-defined]
            transp = SubprocessTransport(
                self, protocol, args, shell, stdin, stdout, stderr, bufsize,
                waiter=waiter, extra=extra, **kwargs,
            )
            watcher.add_child_handler(transp.get_pid(), self._watcher_reported, transp)
            try:
                await waiter
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException:
                transp.close()
                await transp._wait()
                raise
        return transp

    def _watcher_reported(self, pid: int, returncode: int, transp: SubprocessTransport) -> None:
        # Possibly on the watcher's thread; one iteration later, as the stock loop.
        self.call_soon_threadsafe(self.call_soon, transp._process_exited, returncode)  # type: ignore[attr-defined]

    def _watch_child(self, pid: int, transp: SubprocessTransport) -> None:
        if not hasattr(self, "_children"):
            self._children = {}
        pidfd = None
        if os.environ.get("SIMUL_PROCESS_NO_PIDFD") != "1" and hasattr(os, "pidfd_open"):
            try:
                pidfd = os.pidfd_open(pid)
            except OSError:
                pidfd = None
        self._children[pid] = pidfd
        if pidfd is not None:
            self._add_reader(pidfd, self._child_pidfd_ready, (pid, pidfd, transp))  # type: ignore[attr-defined]
            return

        def wait() -> None:
            code = _exit_code(pid, blocking=True)
            try:
                self.call_soon_threadsafe(self._child_exited, pid, transp, code)  # type: ignore[attr-defined]
            except RuntimeError:  # the loop is closed; the child is reaped anyway
                pass

        threading.Thread(target=wait, name=f"simul-waitpid-{pid}", daemon=True).start()

    def _child_pidfd_ready(self, pid: int, pidfd: int, transp: SubprocessTransport) -> None:
        code = _exit_code(pid, blocking=False)
        if code is None:  # a spurious wake-up: the child still runs
            return
        self._remove_reader(pidfd)  # type: ignore[attr-defined]
        os.close(pidfd)
        self._children.pop(pid, None)
        self.call_soon(transp._process_exited, code)  # type: ignore[attr-defined]

    def _child_exited(self, pid: int, transp: SubprocessTransport, code: int) -> None:
        self._children.pop(pid, None)
        transp._process_exited(code)

    def close(self) -> None:
        """Closes the loop; children still running are reaped by a thread (no zombie)."""
        children = getattr(self, "_children", None)
        if children and not self.is_running():  # type: ignore[attr-defined]
            pids = []
            for pid, pidfd in list(children.items()):
                if pidfd is None:
                    continue  # its waitpid thread reaps it
                self._remove_reader(pidfd)  # type: ignore[attr-defined]
                os.close(pidfd)
                pids.append(pid)
                del children[pid]
            if pids:
                _reap_in_thread(pids)
        super().close()  # type: ignore[misc]
