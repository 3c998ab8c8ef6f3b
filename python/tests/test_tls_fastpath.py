"""simul's TLS fast path (``_FastSSLProtocol`` and its Rust ``TlsFeed``) behaves as
asyncio's ``sslproto``: each scenario runs on the stock loop and on simul in every mode of
the ``SIMUL_TLS_FASTPATH`` switch, and the outcomes must match."""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any, Callable, Iterator

import pytest
from test.test_asyncio import utils as tu

import simul
import simul._tls as tls
from conftest import assert_core_methods_work, finish

MODES = {"native": (True, True), "python": (True, False), "sslproto": (False, False)}


@pytest.fixture(params=list(MODES))
def mode(request: pytest.FixtureRequest) -> Iterator[str]:
    saved = tls.FASTPATH, tls.NATIVE
    tls.FASTPATH, tls.NATIVE = MODES[request.param]
    try:
        yield request.param
    finally:
        tls.FASTPATH, tls.NATIVE = saved


def on(factory: Callable[[], asyncio.AbstractEventLoop], scenario: Callable[[], Any]) -> Any:
    loop = factory()
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(scenario())
    finally:
        asyncio.set_event_loop(None)
        loop.close()


def same_on_both(scenario: Callable[[], Any]) -> Any:
    """The scenario's result on simul, asserted equal to the stock loop's."""
    stock = on(asyncio.SelectorEventLoop, scenario)
    mine = on(simul.new_event_loop, scenario)
    assert mine == stock
    return mine


async def pair(
    handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any],
) -> tuple[asyncio.Server, asyncio.StreamReader, asyncio.StreamWriter]:
    srv = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=tu.simple_server_sslcontext())
    port = srv.sockets[0].getsockname()[1]
    r, w = await asyncio.open_connection(
        "127.0.0.1", port, ssl=tu.simple_client_sslcontext(), server_hostname="localhost"
    )
    return srv, r, w


async def echo(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    try:
        while data := await r.read(1 << 16):
            w.write(data)
            await w.drain()
    finally:
        w.close()


def test_the_fast_path_is_the_one_in_use(loop: asyncio.AbstractEventLoop, mode: str) -> None:
    async def main() -> tuple[str, bool, int]:
        srv, r, w = await pair(echo)
        proto = w.transport._ssl_protocol  # type: ignore[attr-defined]
        kind = type(proto).__name__
        native = getattr(proto, "_simul_tls_native", False)
        w.write(b"z" * 100_000)
        assert await r.readexactly(100_000) == b"z" * 100_000
        scratch = len(proto._ssl_buffer)
        await finish(srv, w)
        return kind, native, scratch

    kind, native, scratch = loop.run_until_complete(main())
    assert kind == ("SSLProtocol" if mode == "sslproto" else "_FastSSLProtocol")
    assert native == (mode == "native")
    # sslproto's 256 KiB read buffer: never made when the feed takes the chunks.
    assert scratch == (0 if mode == "native" else 256 * 1024)


def test_small_and_large_writes_echo_byte_exact(mode: str) -> None:
    async def main() -> bytes:
        srv, r, w = await pair(echo)
        sent = bytearray()
        for i in range(200):
            chunk = bytes([i % 251]) * (1 + (i * 997) % 70000)
            w.write(chunk)  # several writes queue while the raw transport is paused
            sent += chunk
            if i % 7 == 0:
                w.writelines([b"ab", memoryview(b"cd"), bytearray(b"ef")])
                sent += b"abcdef"
        got = await r.readexactly(len(sent))
        assert got == sent
        await finish(srv, w)
        return got[:64] + got[-64:]

    same_on_both(main)


def test_pause_reading_holds_data_until_resumed(mode: str) -> None:
    async def main() -> tuple[int, bytes]:
        ready = asyncio.get_running_loop().create_future()

        async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            w.transport.pause_reading()
            ready.set_result(w)
            await asyncio.sleep(3600)

        srv, r, w = await pair(handler)
        w.write(b"x" * 300_000)
        sw = await ready
        await asyncio.sleep(0.05)
        held = len(sw.transport.get_protocol()._stream_reader._buffer)
        sw.transport.resume_reading()
        got = await sw.transport.get_protocol()._stream_reader.readexactly(300_000)
        sw.close()
        await finish(srv, w)
        return held, got[:10]

    held, head = same_on_both(main)
    assert held < 300_000 and head == b"x" * 10


def test_write_errors_and_writes_after_close_are_sslprotos(mode: str, caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> list[str]:
        srv, r, w = await pair(echo)
        t = w.transport
        out: list[str] = []
        for bad in ("text", 7, None):
            try:
                t.write(bad)  # type: ignore[arg-type]
            except TypeError as exc:
                out.append(str(exc))
        t.write(b"")
        t.write(b"ping")
        out.append((await r.readexactly(4)).decode())
        t.close()
        with caplog.at_level(logging.WARNING, logger="asyncio"):
            for _ in range(6):
                t.write(b"late")  # sslproto counts these, and logs from the fifth on
        out.append(str(sum("SSL connection is closed" in m for m in caplog.messages)))
        caplog.clear()
        t.close()  # a second close forgets the protocol
        try:
            t.write(b"later")
        except AttributeError:
            out.append("AttributeError")
        try:
            await w.wait_closed()
        except (ConnectionError, ssl.SSLError):
            pass
        srv.close()
        await srv.wait_closed()
        return out

    out = same_on_both(main)
    assert out[-1] == "AttributeError"


def test_the_peers_close_notify_ends_the_stream(mode: str) -> None:
    async def main() -> tuple[bytes, bytes]:
        async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            w.write(b"bye" * 1000)
            w.close()  # TLS shutdown: close_notify after the data

        srv, r, w = await pair(handler)
        data = await r.read()  # to EOF
        tail = await r.read()
        await finish(srv, w)
        return data[:6] + bytes([len(data) % 256]), tail

    data, tail = same_on_both(main)
    assert data[:6] == b"byebye" and tail == b""


def test_set_protocol_mid_stream_moves_the_data(mode: str) -> None:
    async def main() -> bytes:
        srv, r, w = await pair(echo)
        loop = asyncio.get_running_loop()
        got = bytearray()
        done = loop.create_future()

        class Collect(asyncio.Protocol):
            def data_received(self, data: bytes) -> None:
                got.extend(data)
                if len(got) >= 5000 and not done.done():
                    done.set_result(None)

            def connection_lost(self, exc: BaseException | None) -> None:
                lost.set_result(None)

        lost = loop.create_future()
        w.transport.set_protocol(Collect())
        w.write(b"y" * 5000)
        await done
        w.transport.close()
        await lost  # the new protocol's, not the stream's
        srv.close()
        await srv.wait_closed()
        return bytes(got)

    assert same_on_both(main) == b"y" * 5000


def test_a_closed_connections_protocol_is_freed_without_the_cycle_collector(mode: str) -> None:
    async def main() -> bool:
        import gc
        import weakref

        srv, r, w = await pair(echo)
        proto = weakref.ref(w.transport._ssl_protocol)  # type: ignore[attr-defined]
        await finish(srv, w)
        await asyncio.sleep(0.05)
        del r, w
        gc.disable()
        try:
            await asyncio.sleep(0)
            return proto() is None
        finally:
            gc.enable()

    assert same_on_both(main) is True


def test_water_marks_and_flags_set_by_name_are_the_ones_the_path_reads(mode: str) -> None:
    """sslproto's code sets the connection's state by name (``TlsFeed``'s fields in the
    fast modes): int and float write marks, the write-paused flag they drive, and the
    data flowing again once the peer reads."""

    async def main() -> list[Any]:
        srv, r, w = await pair(echo)
        seen: list[Any] = []
        for high in (4096, 8192.0):
            w.transport.set_write_buffer_limits(high=high)
            seen.append(w.transport.get_write_buffer_limits())
            w.write(b"q" * 20_000)
            seen.append(w.transport.get_write_buffer_size() > 0)
            await w.drain()
            assert await r.readexactly(20_000) == b"q" * 20_000
            seen.append(w.transport._ssl_protocol._app_writing_paused)  # type: ignore[attr-defined]
        seen.append(w.transport._ssl_protocol._state.name)  # type: ignore[attr-defined]
        await finish(srv, w)
        return seen

    seen = same_on_both(main)
    assert seen[0] == (1024, 4096) and seen[3] == (2048.0, 8192.0) and seen[-1] == "WRAPPED"


class Recorder(asyncio.Protocol):
    """Records its callbacks, as names (the exception's type for ``connection_lost``)."""

    def __init__(self, events: list[Any], side: str) -> None:
        self.events = events
        self.side = side
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.events.append((self.side, "made", transport.get_extra_info("cipher") is not None))

    def data_received(self, data: bytes) -> None:
        self.events.append((self.side, "data", data))
        if self.side == "server":
            self.transport.write(data.upper())

    def eof_received(self) -> None:
        self.events.append((self.side, "eof"))

    def connection_lost(self, exc: BaseException | None) -> None:
        self.events.append((self.side, "lost", type(exc).__name__))


def test_protocol_callbacks_come_in_the_stock_order_on_both_sides(mode: str) -> None:
    """connection_made only once the handshake is done (with the cipher known), then
    data, then the close: on the client and on the server, in the stock loop's order."""

    async def main() -> list[Any]:
        loop = asyncio.get_running_loop()
        events: list[Any] = []
        server_lost = loop.create_future()

        class Server(Recorder):
            def connection_lost(self, exc: BaseException | None) -> None:
                super().connection_lost(exc)
                server_lost.set_result(None)

        srv = await loop.create_server(lambda: Server(events, "server"), "127.0.0.1", 0,
                                       ssl=tu.simple_server_sslcontext())
        port = srv.sockets[0].getsockname()[1]
        tr, proto = await loop.create_connection(
            lambda: Recorder(events, "client"), "127.0.0.1", port,
            ssl=tu.simple_client_sslcontext(), server_hostname="localhost",
        )
        events.append(("client", "returned"))
        tr.write(b"ping")
        for _ in range(1000):
            if ("client", "data", b"PING") in events:
                break
            await asyncio.sleep(0.001)
        tr.close()
        await asyncio.wait_for(server_lost, 5)
        # The client's connection_lost follows its own close within a few iterations (how
        # many is the loop's: simul runs the wake-ups an I/O wait scheduled before looking
        # at the selector again, as uvloop does); wait for it, bounded.
        for _ in range(1000):
            if ("client", "lost", "NoneType") in events:
                break
            await asyncio.sleep(0.001)
        srv.close()
        await srv.wait_closed()
        # The server's connection_made may come before or after the client's return: only
        # each side's own order is the stock loop's promise.
        return [[e for e in events if e[0] == side] for side in ("client", "server")]

    assert same_on_both(main) == [
        [("client", "made", True), ("client", "returned"), ("client", "data", b"PING"),
         ("client", "eof"), ("client", "lost", "NoneType")],
        [("server", "made", True), ("server", "data", b"ping"), ("server", "eof"),
         ("server", "lost", "NoneType")],
    ]


def test_a_failed_handshake_raises_as_stock_and_the_server_protocol_never_starts(mode: str) -> None:
    """A client that rejects the server's certificate: create_connection raises the
    verification error, the client protocol sees nothing, the server protocol is made but
    gets no callback (its connection_made waits for the handshake), as on the stock loop."""

    async def main() -> tuple[str, list[Any]]:
        loop = asyncio.get_running_loop()
        events: list[Any] = []
        made = []

        def server() -> Recorder:
            made.append(1)
            return Recorder(events, "server")

        srv = await loop.create_server(server, "127.0.0.1", 0, ssl=tu.simple_server_sslcontext())
        port = srv.sockets[0].getsockname()[1]
        ctx = ssl.create_default_context(cafile=tu.ONLYCERT)
        try:
            await loop.create_connection(lambda: Recorder(events, "client"), "127.0.0.1", port,
                                         ssl=ctx, server_hostname="wrong.example")
            raised = "nothing"
        except Exception as exc:
            raised = type(exc).__name__
        for _ in range(1000):
            if srv._active_count == 0 and made:  # type: ignore[attr-defined]
                break
            await asyncio.sleep(0.001)
        srv.close()
        await srv.wait_closed()
        return raised, [len(made), *events]

    assert same_on_both(main) == ("SSLCertVerificationError", [1])


def test_a_server_side_handshake_times_out_and_drops_the_connection(mode: str) -> None:
    """A client that connects and never speaks TLS: the server's ssl_handshake_timeout
    closes the connection (the client reads EOF) and its protocol never starts."""

    async def main() -> tuple[bytes, list[Any]]:
        loop = asyncio.get_running_loop()
        events: list[Any] = []
        srv = await loop.create_server(lambda: Recorder(events, "server"), "127.0.0.1", 0,
                                       ssl=tu.simple_server_sslcontext(), ssl_handshake_timeout=0.2)
        port = srv.sockets[0].getsockname()[1]
        r, w = await asyncio.open_connection("127.0.0.1", port)
        got = await asyncio.wait_for(r.read(), 5)
        w.close()
        srv.close()
        await srv.wait_closed()
        return got, events

    assert same_on_both(main) == (b"", [])


def test_state_transitions_are_sslprotos(loop: asyncio.AbstractEventLoop) -> None:
    """``TlsFeed._set_state`` allows what ``sslproto``'s allows, and refuses the rest
    with the same ``RuntimeError``."""
    from asyncio import sslproto

    states = list(sslproto.SSLProtocolState)

    def outcomes(cls: Any) -> list[Any]:
        out = []
        for old in states:
            for new in states:
                proto = cls(loop, asyncio.Protocol(), tu.simple_client_sslcontext(), None)
                proto._state = old
                try:
                    proto._set_state(new)
                    out.append(("ok", proto._state))
                except RuntimeError as exc:
                    out.append(("refused", str(exc), proto._state))
        return out

    assert outcomes(tls._FastSSLProtocol) == outcomes(sslproto.SSLProtocol)


def test_each_accepted_tls_connection_runs_in_its_own_context(mode: str) -> None:
    """What a server's protocol factory sets in a context variable does not leak into the
    next connection's (the stock loop runs each accept in a task, so in a copy of the
    context). (Which context the protocol's callbacks run in is another matter: on the
    stock loop the one the transport was made in, on simul not yet, so it is not
    compared here.)"""
    import contextvars

    var: contextvars.ContextVar[int] = contextvars.ContextVar("var", default=0)

    async def main() -> list[Any]:
        loop = asyncio.get_running_loop()
        seen: list[Any] = []
        lost = [loop.create_future() for _ in range(3)]
        count = iter(range(1, 4))

        class Server(asyncio.Protocol):
            def __init__(self) -> None:
                self.before = var.get()
                self.n = next(count)
                var.set(self.n)

            def connection_made(self, transport: Any) -> None:
                seen.append((self.n, self.before))
                transport.close()

            def connection_lost(self, exc: BaseException | None) -> None:
                lost[self.n - 1].set_result(None)

        srv = await loop.create_server(Server, "127.0.0.1", 0, ssl=tu.simple_server_sslcontext())
        port = srv.sockets[0].getsockname()[1]
        for _ in range(3):
            tr, _ = await loop.create_connection(
                asyncio.Protocol, "127.0.0.1", port, ssl=tu.simple_client_sslcontext(),
                server_hostname="localhost",
            )
            tr.close()
        await asyncio.wait_for(asyncio.gather(*lost), 5)
        srv.close()
        await srv.wait_closed()
        return sorted(seen)

    assert same_on_both(main) == [(1, 0), (2, 0), (3, 0)]


def test_a_failed_server_handshake_is_reported_in_debug_mode(mode: str) -> None:
    """A client that sends garbage instead of a ClientHello: in debug mode the server
    reports the error to the exception handler with the stock loop's message and closes
    the connection."""

    async def main() -> tuple[list[Any], bytes]:
        loop = asyncio.get_running_loop()
        loop.set_debug(True)
        reported: list[Any] = []
        done = loop.create_future()

        def handler(_loop: Any, context: dict[str, Any]) -> None:
            reported.append((context["message"], type(context["exception"]).__name__,
                             "protocol" in context, "transport" in context))
            if not done.done():
                done.set_result(None)

        loop.set_exception_handler(handler)
        srv = await loop.create_server(asyncio.Protocol, "127.0.0.1", 0,
                                       ssl=tu.simple_server_sslcontext())
        port = srv.sockets[0].getsockname()[1]
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(b"this is not a TLS record\r\n" * 4)
        await asyncio.wait_for(done, 5)
        got = await asyncio.wait_for(r.read(), 5)
        w.close()
        srv.close()
        await srv.wait_closed()
        return reported, got[:0]

    assert same_on_both(main) == (
        [("Error on transport creation for incoming connection", "SSLError", True, True)], b""
    )


def test_eof_received_returning_true_or_raising_is_handled_as_stock(mode: str) -> None:
    """The peer's close_notify reaches ``eof_received`` once; a true return is logged
    as having no effect, an exception goes to the exception handler as sslproto's
    ``Error calling eof_received()``; either way the connection is then lost."""

    class Records(logging.Handler):
        def __init__(self) -> None:
            super().__init__()
            self.messages: list[str] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.messages.append(record.getMessage())

    async def main(behaviour: str) -> list[Any]:
        loop = asyncio.get_running_loop()
        events: list[Any] = []
        lost = loop.create_future()
        loop.set_exception_handler(lambda _l, ctx: events.append(("handler", ctx["message"])))

        class Client(asyncio.Protocol):
            def eof_received(self) -> bool:
                events.append("eof")
                if behaviour == "raise":
                    raise ValueError("boom")
                return True

            def connection_lost(self, exc: BaseException | None) -> None:
                events.append(("lost", type(exc).__name__))
                lost.set_result(None)

        async def close_at_once(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            w.close()

        srv = await asyncio.start_server(close_at_once, "127.0.0.1", 0,
                                         ssl=tu.simple_server_sslcontext())
        port = srv.sockets[0].getsockname()[1]
        await loop.create_connection(Client, "127.0.0.1", port, ssl=tu.simple_client_sslcontext(),
                                     server_hostname="localhost")
        await asyncio.wait_for(lost, 5)
        srv.close()
        await srv.wait_closed()
        return events

    log = logging.getLogger("asyncio")
    for behaviour, expected in (
        ("true", ["eof", ("lost", "NoneType")]),
        ("raise", ["eof", ("handler", "Error calling eof_received()"), ("lost", "ValueError")]),
    ):
        handler = Records()
        log.addHandler(handler)
        try:
            assert same_on_both(lambda: main(behaviour)) == expected
        finally:
            log.removeHandler(handler)
        warned = [m for m in handler.messages if "eof_received" in m]
        assert warned == (
            ["returning true from eof_received() has no effect when using ssl"] * 2
            if behaviour == "true" else []
        )


def test_a_debug_mode_handshake_logs_as_stock_and_disarms_its_timeout(mode: str) -> None:
    """In debug mode the handshake is logged and timed as sslproto does; in either mode
    its timeout is disarmed once it is done."""

    class Records(logging.Handler):
        def __init__(self) -> None:
            super().__init__()
            self.messages: list[str] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.messages.append(record.getMessage())

    async def main(debug: bool) -> list[Any]:
        loop = asyncio.get_running_loop()
        loop.set_debug(debug)
        srv, r, w = await pair(echo)
        proto = w.transport._ssl_protocol  # type: ignore[attr-defined]
        out = [proto._handshake_timeout_handle, proto._handshake_start_time is None]
        await finish(srv, w)
        return out

    log = logging.getLogger("asyncio")
    for debug in (False, True):
        handler = Records()
        old_level = log.level
        log.addHandler(handler)
        log.setLevel(logging.DEBUG)
        try:
            assert same_on_both(lambda: main(debug)) == [None, not debug]
        finally:
            log.removeHandler(handler)
            log.setLevel(old_level)
        took = [m for m in handler.messages if "SSL handshake took" in m]
        started = [m for m in handler.messages if "starts SSL handshake" in m]
        # two connections (client and server) on each of the two loops
        assert (len(started), len(took)) == ((4, 4) if debug else (0, 0))


def test_a_client_side_handshake_times_out_with_sslprotos_error(mode: str) -> None:
    """A server that accepts and never answers the ClientHello: the client's
    ssl_handshake_timeout aborts the connection with sslproto's ConnectionAbortedError."""

    async def main() -> tuple[str, str, bool]:
        loop = asyncio.get_running_loop()
        held: list[asyncio.StreamWriter] = []

        async def silent(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            held.append(w)

        srv = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        t0 = loop.time()
        try:
            await asyncio.open_connection("127.0.0.1", port, ssl=tu.simple_client_sslcontext(),
                                          server_hostname="localhost", ssl_handshake_timeout=0.2)
        except ConnectionAbortedError as exc:
            err = (type(exc).__name__, str(exc))
        waited = loop.time() - t0
        for w in held:
            w.close()
        srv.close()
        await srv.wait_closed()
        return err[0], err[1], 0.15 < waited < 3

    assert same_on_both(main) == (
        "ConnectionAbortedError",
        "SSL handshake is taking longer than 0.2 seconds: aborting the connection",
        True,
    )


def test_a_peer_that_never_answers_close_notify_hits_the_shutdown_timeout(mode: str) -> None:
    """The client closes; the server (a plain TCP reader handing the bytes to its own
    ``ssl.SSLObject``) completes the handshake but never sends its close_notify: the
    client's ssl_shutdown_timeout ends the connection with a TimeoutError."""

    async def main() -> tuple[str, bool]:
        loop = asyncio.get_running_loop()
        sctx = tu.simple_server_sslcontext()

        class Server(asyncio.Protocol):
            def connection_made(self, transport: Any) -> None:
                self.tr = transport
                self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
                self.obj = sctx.wrap_bio(self.inc, self.out, server_side=True)

            def data_received(self, data: bytes) -> None:
                self.inc.write(data)
                try:
                    self.obj.do_handshake()
                except ssl.SSLWantReadError:
                    pass
                self.tr.write(self.out.read())  # the handshake, then nothing

        lost = loop.create_future()

        class Client(asyncio.Protocol):
            def connection_lost(self, exc: Any) -> None:
                lost.set_result(exc)

        srv = await loop.create_server(Server, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        tr, _ = await loop.create_connection(
            Client, "127.0.0.1", port, ssl=tu.simple_client_sslcontext(),
            server_hostname="localhost", ssl_shutdown_timeout=0.2,
        )
        t0 = loop.time()
        tr.close()
        exc = await asyncio.wait_for(lost, 5)
        waited = loop.time() - t0
        srv.close()
        await srv.wait_closed()
        return type(exc).__name__, 0.15 < waited < 3

    assert same_on_both(main) == ("TimeoutError", True)


def test_buffer_limits_extra_info_and_closing_are_sslprotos(mode: str) -> None:
    """The application transport's defaults and set limits (on both directions), its
    extra info (the handshake's, the socket's, a default; after the close, only the
    handshake's) and ``is_closing`` across two closes, as ``sslproto``'s."""

    async def main() -> list[Any]:
        srv, r, w = await pair(echo)
        t = w.transport
        p = t._ssl_protocol  # type: ignore[attr-defined]
        out: list[Any] = [
            t.get_write_buffer_limits(),
            (p._incoming_low_water, p._incoming_high_water),
        ]
        t.set_write_buffer_limits(high=1000)
        p._set_read_buffer_limits(low=100)
        out += [t.get_write_buffer_limits(), (p._incoming_low_water, p._incoming_high_water)]
        t.set_write_buffer_limits()
        out.append(t.get_write_buffer_limits())
        for name in ("cipher", "peername", "socket", "nope"):
            out.append(t.get_extra_info(name, "default") is not None)
        out.append(t.get_extra_info("nope", "default"))
        out.append(t.is_closing())
        t.close()
        out.append(t.is_closing())
        try:
            await w.wait_closed()
        except (ConnectionError, ssl.SSLError):
            pass
        out.append(t.get_extra_info("cipher") is not None)
        out.append(t.get_extra_info("socket", "gone"))
        t.close()  # the second close forgets the protocol
        out.append(t.is_closing())
        try:
            t.get_extra_info("cipher")
        except AttributeError:
            out.append("AttributeError")
        srv.close()
        await srv.wait_closed()
        return out

    out = same_on_both(main)
    assert out[0] == (128 * 1024, 512 * 1024) and out[-1] == "AttributeError"


def test_a_lost_connection_is_handled_as_sslprotos(mode: str) -> None:
    """The server drops the raw connection mid-stream: the client's protocol gets
    ``connection_lost`` once, after ``eof_received``, and the TLS protocol has counted the
    loss and forgotten its transports and application protocol, as ``sslproto``."""

    async def main() -> list[Any]:
        loop = asyncio.get_running_loop()
        raws: list[Any] = []
        events: list[Any] = []
        lost = loop.create_future()

        async def grab(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            raws.append(w.transport._ssl_protocol._transport)  # type: ignore[attr-defined]
            w.write(b"hello")

        class Client(asyncio.Protocol):
            def connection_made(self, transport: Any) -> None:
                events.append("made")

            def data_received(self, data: bytes) -> None:
                events.append(data)
                raws[0].abort()

            def eof_received(self) -> None:
                events.append("eof")

            def connection_lost(self, exc: Any) -> None:
                events.append(("lost", type(exc).__name__))
                lost.set_result(None)

        srv = await asyncio.start_server(grab, "127.0.0.1", 0, ssl=tu.simple_server_sslcontext())
        port = srv.sockets[0].getsockname()[1]
        tr, _ = await loop.create_connection(
            Client, "127.0.0.1", port, ssl=tu.simple_client_sslcontext(), server_hostname="localhost"
        )
        p = tr._ssl_protocol  # type: ignore[attr-defined]
        await asyncio.wait_for(lost, 5)
        out = [events, p._conn_lost, p._transport, p._app_protocol, p._app_transport,
               str(p._state), tr.is_closing()]
        srv.close()
        await srv.wait_closed()
        return out

    same_on_both(main)


@pytest.mark.parametrize("server_side", [False, True])
@pytest.mark.parametrize("buffered", [False, True])
def test_a_new_protocols_fields_are_sslprotos(loop: asyncio.AbstractEventLoop, server_side: bool, buffered: bool) -> None:
    """``_FastSSLProtocol.__init__`` (sslproto's steps in one frame) leaves the protocol,
    its SSL object and its application transport as ``sslproto.SSLProtocol.__init__``
    does, and refuses the same timeouts."""
    ctx = tu.simple_server_sslcontext() if server_side else tu.simple_client_sslcontext()
    app = asyncio.BufferedProtocol() if buffered else asyncio.Protocol()
    waiter = loop.create_future()
    args = (loop, app, ctx, waiter, server_side, "localhost")
    kw: dict[str, Any] = {"ssl_handshake_timeout": 7.0}
    fast, stock = tls._FastSSLProtocol(*args, **kw), asyncio.sslproto.SSLProtocol(*args, **kw)
    fields = (
        "_server_side", "_server_hostname", "_sslcontext", "_extra", "_write_buffer_size",
        "_waiter", "_loop", "_app_protocol", "_app_protocol_is_buffer", "_app_transport_created",
        "_transport", "_ssl_handshake_timeout", "_ssl_shutdown_timeout", "_state", "_conn_lost",
        "_app_state", "_ssl_writing_paused", "_app_reading_paused", "_ssl_reading_paused",
        "_incoming_high_water", "_incoming_low_water", "_eof_received", "_app_writing_paused",
        "_outgoing_high_water", "_outgoing_low_water",
    )
    for name in fields:
        assert getattr(fast, name) == getattr(stock, name), name
    assert list(fast._write_backlog) == list(stock._write_backlog) == []
    assert type(fast._incoming) is type(fast._outgoing) is ssl.MemoryBIO
    assert (fast._sslobj.server_side, fast._sslobj.server_hostname) == (
        stock._sslobj.server_side, stock._sslobj.server_hostname)
    assert fast._sslobj.context is ctx
    if buffered:
        assert fast._app_protocol_get_buffer == app.get_buffer
        assert fast._app_protocol_buffer_updated == app.buffer_updated
    else:
        assert not hasattr(fast, "_app_protocol_get_buffer")
    tr = fast._app_transport
    assert isinstance(tr, tls._FastSSLTransport)
    assert (tr._loop, tr._ssl_protocol, tr._closed) == (loop, fast, False)
    assert fast._get_app_transport() is tr
    assert len(fast._ssl_buffer_view) == 0
    with pytest.raises(ValueError, match="ssl_handshake_timeout should be a positive number, got 0"):
        tls._FastSSLProtocol(*args, ssl_handshake_timeout=0)
    with pytest.raises(ValueError, match="ssl_shutdown_timeout should be a positive number, got -1"):
        tls._FastSSLProtocol(*args, ssl_shutdown_timeout=-1)
    fast._app_transport.close()
    stock._app_transport.close()


class Chunks(asyncio.Protocol):
    """A client protocol that keeps what ``data_received`` is given; ``until(n)`` waits
    for ``n`` bytes in all."""

    def __init__(self) -> None:
        self.chunks: list[Any] = []
        self.size = 0
        self.waits: list[tuple[int, asyncio.Event]] = []
        self.eof = asyncio.Event()

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        self.size += len(data)
        for n, event in self.waits:
            if self.size >= n:
                event.set()

    def eof_received(self) -> None:
        self.eof.set()

    async def until(self, n: int) -> None:
        event = asyncio.Event()
        self.waits.append((n, event))
        if self.size >= n:
            event.set()
        await asyncio.wait_for(event.wait(), 10)


async def manual_tls_server(
    script: Callable[[ssl.SSLObject, ssl.MemoryBIO, asyncio.StreamWriter], Any],
) -> tuple[asyncio.Server, int, asyncio.Future[None]]:
    """A plain TCP server that does TLS by hand (an ``ssl.SSLObject`` over memory BIOs),
    so a test chooses which ciphertext goes out in which socket write: the handshake, then
    ``await script(sslobj, outgoing, writer)``, then it reads to EOF and sets the future
    it returns."""
    done = asyncio.get_running_loop().create_future()

    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        sslobj = tu.simple_server_sslcontext().wrap_bio(incoming, outgoing, server_side=True)
        while True:
            try:
                sslobj.do_handshake()
                break
            except ssl.SSLWantReadError:
                w.write(outgoing.read())
                incoming.write(await r.read(1 << 16))
        w.write(outgoing.read())
        await script(sslobj, outgoing, w)
        await r.read()
        w.close()
        done.set_result(None)

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    return srv, srv.sockets[0].getsockname()[1], done


async def manual_client(port: int) -> tuple[asyncio.Transport, Chunks]:
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_connection(
        Chunks, "127.0.0.1", port, ssl=tu.simple_client_sslcontext(), server_hostname="localhost"
    )
    return transport, proto  # type: ignore[return-value]


def test_records_split_across_socket_reads_arrive_whole_as_exact_bytes(mode: str) -> None:
    # 300 KB of records, the first socket write ending inside a record: the client decrypts
    # the whole records of the first write, holds the start of the split one, and gets the
    # rest (more than one record) in the next write; every byte arrives once, in order, in
    # `bytes` objects that behave as any other (length, hash, equality).
    body = bytes(range(256)) * 1200

    async def main() -> tuple[bool, bool, int]:
        client: list[Chunks] = []

        async def script(sslobj: ssl.SSLObject, outgoing: ssl.MemoryBIO, w: asyncio.StreamWriter) -> None:
            sent = 0
            while sent < len(body):
                sent += sslobj.write(body[sent:])
            ct = outgoing.read()
            cut = 3 * (16384 + 22) + 5000  # three and a bit TLS 1.3 records
            while not client:
                await asyncio.sleep(0)
            w.write(ct[:cut])
            await client[0].until(3 * 16384)
            w.write(ct[cut:])

        srv, port, done = await manual_tls_server(script)
        transport, proto = await manual_client(port)
        client.append(proto)
        await proto.until(len(body))
        got = proto.chunks
        data = b"".join(got)
        exact = all(type(c) is bytes and hash(c) == hash(bytes(bytearray(c))) for c in got)
        transport.abort()
        await done
        srv.close()
        await srv.wait_closed()
        return data == body, exact, len(data)

    assert same_on_both(main) == (True, True, len(body))


@pytest.mark.parametrize("size", [3000, 300_000])
def test_a_close_notify_in_the_same_socket_read_as_the_body_follows_it(mode: str, size: int) -> None:
    body = b"z" * size

    async def main() -> tuple[int, bool, bool]:
        async def script(sslobj: ssl.SSLObject, outgoing: ssl.MemoryBIO, w: asyncio.StreamWriter) -> None:
            sent = 0
            while sent < len(body):
                sent += sslobj.write(body[sent:])
            try:
                sslobj.unwrap()
            except ssl.SSLWantReadError:
                pass
            w.write(outgoing.read())  # the body's records and the close_notify, one write

        srv, port, done = await manual_tls_server(script)
        transport, proto = await manual_client(port)
        await asyncio.wait_for(proto.eof.wait(), 10)
        data = b"".join(proto.chunks)
        transport.abort()
        await done
        srv.close()
        await srv.wait_closed()
        return len(data), data == body, all(type(c) is bytes for c in proto.chunks)

    assert same_on_both(main) == (size, True, True)


def test_a_subclass_override_of_a_rust_step_is_called(monkeypatch: pytest.MonkeyPatch) -> None:
    """On ``_FastSSLProtocol`` itself one Rust step calls the next directly; on a subclass
    they go by name, so its overrides of them run (here for a whole connection: handshake,
    read, the peer's close_notify, shutdown)."""
    if not tls.NATIVE:
        pytest.skip("the Rust feed is off")
    seen: list[str] = []

    class Sub(tls._FastSSLProtocol):
        def _on_handshake_complete(self, exc: Any) -> None:
            seen.append("handshake")
            super()._on_handshake_complete(exc)

        def _do_read(self) -> None:
            seen.append("read")
            super()._do_read()

        def _call_eof_received(self) -> None:
            seen.append("eof")
            super()._call_eof_received()

        def _start_shutdown(self) -> None:
            seen.append("shutdown")
            super()._start_shutdown()

        def _on_shutdown_complete(self, exc: Any) -> None:
            seen.append("shutdown complete")
            super()._on_shutdown_complete(exc)

    monkeypatch.setattr(tls, "_FastSSLProtocol", Sub)

    async def main() -> bytes:
        async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            w.write(b"hi")
            await w.drain()
            w.close()

        srv, r, w = await pair(handle)
        data = await r.read()
        await finish(srv, w)
        return data

    assert on(simul.new_event_loop, main) == b"hi"
    for step in ("handshake", "read", "eof", "shutdown", "shutdown complete"):
        assert step in seen, (step, seen)


def test_a_tls_connections_socket_transport_has_every_socket_transport_method(mode: str) -> None:
    """Under simul's TLS protocols (both sides) the socket transport binds only the
    methods the TLS path calls on its way; every other one is still its core's, looked up
    at each access, and works; its type and repr are a ``SocketTransport``'s."""
    loop = simul.new_event_loop()
    seen: list[Any] = []

    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        seen.append(w.transport)
        await echo(r, w)

    async def main() -> None:
        srv, r, w = await pair(handler)
        w.write(b"ping")
        assert await r.readexactly(4) == b"ping"
        for app in (w.transport, seen[0]):
            raw = app._ssl_protocol._transport
            assert isinstance(raw, simul._loop.SocketTransport)
            assert type(raw).__name__ == "SocketTransport"
            assert repr(raw).startswith("<SocketTransport")
            assert_core_methods_work(raw)
            assert raw.get_extra_info("peername") == app.get_extra_info("peername")
            assert raw.get_write_buffer_size() == 0
            assert raw.is_closing() is False
        w.write(b"pong")
        assert await r.readexactly(4) == b"pong"
        await finish(srv, w)

    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(main())
    finally:
        asyncio.set_event_loop(None)
        loop.close()
