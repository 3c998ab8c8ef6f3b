"""Signals on simul's loop: add_signal_handler/remove_signal_handler."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import threading
import time

import pytest

import simul


def test_a_signal_during_a_long_sleep_is_handled_at_once(loop: simul.EventLoop) -> None:
    """The loop waits in a 10 s timer; a signal sent from another thread 100 ms later
    runs its handler (as a loop callback) at once."""
    got: list[tuple[str, float]] = []

    async def main() -> None:
        done = loop.create_future()

        def on_usr1(tag: str) -> None:
            assert asyncio.get_running_loop() is loop  # a loop callback
            got.append((tag, time.monotonic()))
            done.set_result(None)

        loop.add_signal_handler(signal.SIGUSR1, on_usr1, "usr1")
        timer = threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGUSR1))
        t0 = time.monotonic()
        timer.start()
        sleeper = asyncio.ensure_future(asyncio.sleep(10))
        await asyncio.wait([done, sleeper], return_when=asyncio.FIRST_COMPLETED)
        took = time.monotonic() - t0
        sleeper.cancel()
        timer.join()
        assert done.done(), "the signal was not handled while the loop slept"
        assert took < 5, f"the handler ran {took:.2f} s after the signal"
        assert [tag for tag, _ in got] == ["usr1"]
        assert loop.remove_signal_handler(signal.SIGUSR1)

    loop.run_until_complete(main())


def test_errors_are_the_stock_loops(loop: simul.EventLoop) -> None:
    async def coro() -> None:
        pass

    with pytest.raises(TypeError, match="coroutines cannot be used with add_signal_handler"):
        loop.add_signal_handler(signal.SIGUSR1, coro)
    with pytest.raises(TypeError, match="sig must be an int"):
        loop.add_signal_handler("1", lambda: None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="invalid signal number"):
        loop.add_signal_handler(signal.NSIG + 1, lambda: None)
    for sig in (signal.SIGKILL, signal.SIGSTOP):
        with pytest.raises(RuntimeError, match=f"sig {sig} cannot be caught"):
            loop.add_signal_handler(sig, lambda: None)
    assert not loop.remove_signal_handler(signal.SIGUSR2)
    assert signal.getsignal(signal.SIGKILL) == signal.SIG_DFL


def test_off_the_main_thread_is_a_runtime_error() -> None:
    errors: list[BaseException] = []

    def other() -> None:
        lp = simul.new_event_loop()
        try:
            lp.add_signal_handler(signal.SIGUSR1, lambda: None)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            lp.close()
            del lp  # the loop's engine is released on its own thread
            gc.collect()

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert len(errors) == 1 and isinstance(errors[0], RuntimeError)
    assert "main thread" in str(errors[0])


def test_removal_restores_the_default_and_close_cleans_up() -> None:
    lp = simul.new_event_loop()
    try:
        lp.add_signal_handler(signal.SIGINT, lambda: None)
        lp.add_signal_handler(signal.SIGUSR1, lambda: None)
        assert signal.getsignal(signal.SIGINT) not in (signal.default_int_handler, signal.SIG_DFL)
        assert signal.set_wakeup_fd(-1) != -1  # one was set; put it back
        signal.set_wakeup_fd(lp._signal_pair[1].fileno())  # type: ignore[attr-defined]
        assert lp.remove_signal_handler(signal.SIGINT)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        lp.close()
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL
    assert signal.set_wakeup_fd(-1) == -1  # close() reset it


def test_handler_errors_go_to_the_exception_handler(loop: simul.EventLoop) -> None:
    errors: list[dict[str, object]] = []
    loop.set_exception_handler(lambda lp, ctx: errors.append(ctx))

    async def main() -> None:
        def bad() -> None:
            raise ZeroDivisionError

        loop.add_signal_handler(signal.SIGUSR2, bad)
        os.kill(os.getpid(), signal.SIGUSR2)
        for _ in range(100):
            if errors:
                break
            await asyncio.sleep(0.01)
        loop.remove_signal_handler(signal.SIGUSR2)

    loop.run_until_complete(main())
    assert isinstance(errors[0]["exception"], ZeroDivisionError)


def test_ctrl_c_still_raises_keyboard_interrupt_without_a_handler(loop: simul.EventLoop) -> None:
    async def main() -> None:
        loop.add_signal_handler(signal.SIGUSR1, lambda: None)  # the wakeup fd is set
        threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGINT)).start()
        await asyncio.sleep(10)

    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        loop.run_until_complete(main())
    assert time.monotonic() - t0 < 5
    loop.remove_signal_handler(signal.SIGUSR1)
