"""Where a TLS connection's steps fall in the loop's iterations: a client's first
handshake flight leaves in the iteration its connect is taken up (its TLS protocol's
``connection_made`` runs inside ``create_connection``), and a finished shutdown closes the
raw transport at once (as uvloop's ``sslproto`` does), so ``connection_lost`` comes an
iteration sooner than on the stock loop, in the same order. Iterations are counted by a
callback that reschedules itself (one run per iteration on both loops)."""

from __future__ import annotations

import asyncio
import socket
from typing import Any, Callable

from test.test_asyncio import utils as tu

import simul
import simul._tls as tls


def ticker(loop: asyncio.AbstractEventLoop, step: Callable[[int], bool]) -> None:
    """Calls ``step(n)`` once per iteration (n from 1) until it returns ``False``."""
    n = 0

    def tick() -> None:
        nonlocal n
        n += 1
        if step(n):
            loop.call_soon(tick)

    loop.call_soon(tick)


def on(factory: Callable[[], asyncio.AbstractEventLoop], main: Callable[[asyncio.AbstractEventLoop], Any]) -> Any:
    loop = factory()
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(main(loop))
    finally:
        asyncio.set_event_loop(None)
        loop.close()


async def client_hello_iteration(loop: asyncio.AbstractEventLoop) -> int:
    """The iteration in which a plain listener (accepted in the first) can read the first
    byte of a TLS client's handshake."""
    lsn = socket.socket()
    lsn.bind(("127.0.0.1", 0))
    lsn.listen(1)
    lsn.setblocking(False)
    conn: list[socket.socket] = []
    seen = loop.create_future()

    def step(n: int) -> bool:
        if not conn:
            try:
                c, _ = lsn.accept()
            except BlockingIOError:
                return n < 1000
            c.setblocking(False)
            conn.append(c)
            return True
        try:
            if conn[0].recv(1, socket.MSG_PEEK):
                seen.set_result(n)
                return False
        except BlockingIOError:
            pass
        return n < 1000

    connecting = asyncio.ensure_future(loop.create_connection(
        asyncio.Protocol, "127.0.0.1", lsn.getsockname()[1],
        ssl=tu.simple_client_sslcontext(), server_hostname="localhost",
    ))
    ticker(loop, step)
    n: int = await asyncio.wait_for(seen, 5)
    connecting.cancel()
    try:
        await connecting
    except (asyncio.CancelledError, OSError):
        pass
    for c in conn:
        c.close()
    lsn.close()
    return n


def test_a_tls_clients_first_flight_leaves_when_its_connect_is_taken_up() -> None:
    stock = on(asyncio.SelectorEventLoop, client_hello_iteration)
    mine = on(simul.new_event_loop, client_hello_iteration)
    # Accepted in iteration 1 (the connect was done in the kernel at once); simul's
    # connect watch sees it in that iteration's look, the task takes it up in the next,
    # and the ClientHello leaves there. The stock loop takes two iterations more.
    assert mine == 3
    assert mine < stock


async def shutdown_iterations(loop: asyncio.AbstractEventLoop) -> list[tuple[str, int]]:
    """A client's callbacks after its own ``close()``, with the iteration of each."""
    events: list[tuple[str, int]] = []
    now = [0]
    done = loop.create_future()

    class Client(asyncio.Protocol):
        def eof_received(self) -> None:
            events.append(("eof", now[0]))

        def connection_lost(self, exc: BaseException | None) -> None:
            events.append(("lost", now[0]))
            done.set_result(None)

    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await r.read()
        w.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=tu.simple_server_sslcontext())
    tr, _ = await loop.create_connection(
        Client, "127.0.0.1", srv.sockets[0].getsockname()[1],
        ssl=tu.simple_client_sslcontext(), server_hostname="localhost",
    )

    def step(n: int) -> bool:
        now[0] = n
        return not done.done() and n < 1000

    ticker(loop, step)
    tr.close()
    await asyncio.wait_for(done, 5)
    srv.close()
    await srv.wait_closed()
    return events


def test_a_finished_tls_shutdown_closes_the_raw_transport_at_once() -> None:
    stock = on(asyncio.SelectorEventLoop, shutdown_iterations)
    saved = tls.FASTPATH
    try:
        tls.FASTPATH = True  # the fast path, whatever SIMUL_TLS_FASTPATH says
        mine = on(simul.new_event_loop, shutdown_iterations)
        tls.FASTPATH = False  # plain ``sslproto``: its scheduled close, as on stock
        plain = on(simul.new_event_loop, shutdown_iterations)
    finally:
        tls.FASTPATH = saved
    # The same callbacks in the same order everywhere: the peer's close_notify, then the
    # loss; an iteration apart fewer on the fast path (the raw transport's close, then
    # its ``connection_lost``, then the application's, each an iteration later).
    for events in (stock, mine, plain):
        assert [e for e, _ in events] == ["eof", "lost"]

    def gap(events: list[tuple[str, int]]) -> int:
        return events[1][1] - events[0][1]

    assert gap(stock) == gap(plain) == 3
    assert gap(mine) == 2


def test_an_error_in_a_tls_clients_connection_made_goes_to_the_exception_handler() -> None:
    # The TLS protocol's ``connection_made`` runs inside ``create_connection`` on simul
    # (in a callback on the stock loop): an error it raises is reported as a callback's,
    # and the connection then waits for a handshake that never starts, as on stock.
    async def main(loop: asyncio.AbstractEventLoop) -> tuple[str, str]:
        seen: list[dict[str, Any]] = []
        loop.set_exception_handler(lambda _l, ctx: seen.append(ctx))
        srv = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0,
                                         ssl=tu.simple_server_sslcontext())
        try:
            await asyncio.wait_for(loop.create_connection(
                asyncio.Protocol, "127.0.0.1", srv.sockets[0].getsockname()[1],
                ssl=tu.simple_client_sslcontext(), server_hostname="localhost",
            ), 0.3)
        except asyncio.TimeoutError:
            pass
        srv.close()
        await srv.wait_closed()
        ctx = next(c for c in seen if isinstance(c.get("exception"), ZeroDivisionError))
        # the message as the stock loop words it, but for the transport's repr (whose
        # class differs): "Exception in callback <callback>(<transport>) at <file:line>"
        msg = ctx["message"]
        return msg.split("(")[0], msg.rsplit(")", 1)[1], str(ctx["exception"])

    def boom(self: Any, transport: Any) -> None:
        raise ZeroDivisionError("in connection_made")

    import asyncio.sslproto as sslproto

    results = []
    fastpath = tls.FASTPATH
    tls.FASTPATH = True  # simul's side on the fast path, whatever SIMUL_TLS_FASTPATH says
    try:
        for factory, cls in ((asyncio.SelectorEventLoop, sslproto.SSLProtocol),
                             (simul.new_event_loop, tls._FastSSLProtocol)):
            saved = cls.__dict__.get("connection_made")
            cls.connection_made = boom  # type: ignore[method-assign]
            try:
                results.append(on(factory, main))
            finally:
                if saved is None:
                    del cls.connection_made
                else:
                    cls.connection_made = saved  # type: ignore[method-assign]
    finally:
        tls.FASTPATH = fastpath
    assert results[0] == results[1]
    assert results[0][0].startswith("Exception in callback ")
    assert results[0][0].endswith(".boom")
    assert results[0][2] == "in connection_made"
