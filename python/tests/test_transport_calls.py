"""The socket transport's `write` and `is_closing` (raw C methods on the Rust transport,
bound into each Python transport): every case runs on the stock loop and on simul's in
the same test, and what each call returns or raises must agree."""

from __future__ import annotations

import asyncio
import socket
from typing import Any, Callable

import pytest

import simul

LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "stock": asyncio.SelectorEventLoop,
    "simul": simul.new_event_loop,
}


def on_both(script: Callable[[asyncio.Transport, socket.socket], Any]) -> dict[str, Any]:
    """Runs `script(transport, peer)` on a fresh connected client transport of each loop;
    its results, by loop."""
    out = {}
    for name, factory in LOOPS.items():
        lp = factory()

        async def main() -> Any:
            lsock = socket.socket()
            lsock.bind(("127.0.0.1", 0))
            lsock.listen(1)
            tr, _ = await lp.create_connection(asyncio.Protocol, *lsock.getsockname())
            peer, _ = lsock.accept()
            peer.settimeout(5)
            try:
                return await script(tr, peer)
            finally:
                tr.abort()
                await asyncio.sleep(0)
                peer.close()
                lsock.close()

        try:
            out[name] = lp.run_until_complete(main())
        finally:
            lp.close()
    return out


def outcome(call: Callable[[], Any]) -> Any:
    try:
        return ("ok", call())
    except Exception as exc:  # noqa: BLE001 - the outcome is what is compared
        return (type(exc).__name__, str(exc))


def test_write_rejects_what_is_not_bytes_like_and_bad_arity_as_the_stock_loop() -> None:
    async def script(tr: Any, peer: socket.socket) -> Any:
        return [
            outcome(lambda: tr.write("text")),
            outcome(lambda: tr.write(12)),
            outcome(lambda: tr.write()),
            outcome(lambda: tr.write(b"a", b"b")),
            outcome(lambda: tr.write(data=b"a")),
        ]

    got = on_both(script)
    assert got["simul"][:2] == got["stock"][:2]
    assert got["stock"][0] == ("TypeError", "data argument must be a bytes-like object, not 'str'")
    # The arity errors' wording is each implementation's own; both are TypeErrors, and
    # `data` may be given by name.
    kinds = [o[0] for o in got["simul"][2:]]
    assert kinds == [o[0] for o in got["stock"][2:]] == ["TypeError", "TypeError", "ok"]


def test_write_sends_bytes_bytearray_and_memoryview_and_returns_none() -> None:
    async def script(tr: Any, peer: socket.socket) -> Any:
        results = [tr.write(b"ab"), tr.write(bytearray(b"cd")), tr.write(memoryview(b"xefx")[1:3]), tr.write(b"")]
        await asyncio.sleep(0)
        got = b""
        while len(got) < 6:
            got += peer.recv(16)
        return results, got

    got = on_both(script)
    assert got["simul"] == got["stock"] == ([None, None, None, None], b"abcdef")


def test_write_after_write_eof_raises_and_after_close_is_dropped() -> None:
    async def script(tr: Any, peer: socket.socket) -> Any:
        tr.write_eof()
        after_eof = outcome(lambda: tr.write(b"x"))
        return after_eof

    got = on_both(script)
    assert got["simul"] == got["stock"] == ("RuntimeError", "Cannot call write() after write_eof()")

    async def closed(tr: Any, peer: socket.socket) -> Any:
        tr.close()
        return outcome(lambda: tr.write(b"x")), tr.is_closing()

    got = on_both(closed)
    assert got["simul"] == got["stock"] == (("ok", None), True)


def test_is_closing_false_while_open_true_after_close_and_after_abort() -> None:
    async def script(tr: Any, peer: socket.socket) -> Any:
        states = [tr.is_closing()]
        tr.abort()
        states.append(tr.is_closing())
        await asyncio.sleep(0)
        states.append(tr.is_closing())
        states.append(outcome(lambda: tr.is_closing(1)))
        return states

    got = on_both(script)
    assert got["simul"][:3] == got["stock"][:3] == [False, True, True]
    assert got["simul"][3][0] == got["stock"][3][0] == "TypeError"


@pytest.mark.parametrize("name", ["write", "is_closing"])
def test_the_raw_methods_are_the_rust_transports_own(name: str) -> None:
    # Bound once into each Python transport from the Rust class's method descriptors.
    descr = getattr(simul._simul.SocketTransport, name)
    assert type(descr).__name__ == "method_descriptor"
    with pytest.raises(TypeError):
        descr(object(), b"x") if name == "write" else descr(object())


def test_transport_methods_live_in_slots_and_other_attributes_still_set() -> None:
    import weakref

    async def script(tr: Any, peer: socket.socket) -> Any:
        tr.note = "mine"  # the stock loop's transports take attributes; so do simul's
        ref = weakref.ref(tr)
        return ("write" in vars(tr), tr.note, ref() is tr, isinstance(tr, asyncio.Transport))

    got = on_both(script)
    assert got["stock"] == (False, "mine", True, True)
    assert got["simul"] == got["stock"]
    bound = simul._loop.SocketTransport.__dict__["write"]
    assert type(bound).__name__ == "member_descriptor"  # a slot: no instance-dict probe
