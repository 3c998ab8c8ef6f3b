"""TLS: ``ssl=`` on ``create_connection``/``create_server`` (and ``open_connection``/
``start_server``), ``loop.start_tls`` and ``StreamWriter.start_tls``.

asyncio's own ``sslproto.SSLProtocol`` (a ``BufferedProtocol`` driving ``ssl.MemoryBIO``)
runs over simul's Rust socket transport, which feeds it through ``get_buffer``/
``buffer_updated`` and honours the ``pause_reading``/``resume_reading`` it uses for flow
control: the user's ``ssl.SSLContext``, ``server_hostname``, ``ssl_handshake_timeout`` and
``ssl_shutdown_timeout`` behave exactly as on the stock loop, because it is the stock
loop's code. ``BaseEventLoop.start_tls`` needs nothing from the loop beyond this.

Connections made by ``create_connection``/``create_server`` run ``_FastSSLProtocol``, a
subclass whose data path (one TLS record in, one ``write()`` out, in the ``WRAPPED`` state
with nothing queued) does in one method what ``sslproto`` does in eight, calls the
``_ssl`` object under ``ssl.SSLObject`` directly, and stops reading records once the
incoming BIO and the decrypted bytes are both empty instead of catching the
``SSLWantReadError`` of one more read. Shorter still, the same path runs in Rust
(``_simul.TlsFeed``, ``python/src/tls.rs``): simul's socket transport hands each chunk it
receives to the feed (no ``get_buffer``/``buffer_updated``), and the application
transport's ``write`` is the feed's. Everything else (the handshake, shutdown, flow
control across the marks, errors, partial writes) is ``sslproto``'s own code, and the
connection's state stays in the Python object. ``loop.start_tls`` builds a plain
``sslproto.SSLProtocol`` (``BaseEventLoop``'s code, over whatever transport it is given).

The switch: ``SIMUL_TLS_FASTPATH=0`` in the environment runs plain
``sslproto.SSLProtocol``; ``SIMUL_TLS_FASTPATH=python`` runs ``_FastSSLProtocol`` without
the Rust feed.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import ssl
from asyncio import constants, sslproto
from typing import Any

from ._simul import TlsFeed

__all__ = ["TlsMixin"]


_WRAPPED = sslproto.SSLProtocolState.WRAPPED
_AGAIN = sslproto.SSLAgainErrors
_MODE = os.environ.get("SIMUL_TLS_FASTPATH", "native")
# ``0``: plain ``sslproto.SSLProtocol``; ``python``: ``_FastSSLProtocol`` without the Rust
# feed; anything else: ``_FastSSLProtocol`` with it.
FASTPATH = _MODE != "0"
NATIVE = FASTPATH and _MODE != "python"


class _FastSSLProtocol(TlsFeed, sslproto.SSLProtocol):
    """``sslproto.SSLProtocol`` with the steady-state data path in fewer Python calls
    (its application transport is a ``_FastSSLTransport``). ``TlsFeed`` holds the
    connection's hot state (``_state``, the flags, the water marks) in Rust fields that
    ``sslproto``'s code reads and writes by name.

    Each fast method handles only the common case and hands every other one to
    ``sslproto``'s method of the same name, so behaviour is ``sslproto``'s.
    """

    # The ``_ssl._SSLSocket`` under a plain ``ssl.SSLObject`` once the handshake is done
    # (``ssl.SSLObject.read``/``write``/``pending`` only forward to it; set by
    # ``TlsFeed._on_handshake_complete``); None otherwise.
    _raw: Any = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # simul's socket transport hands each chunk to ``TlsFeed.feed``, and the
        # application transport (made in ``__init__``) takes ``_simul_write`` as its
        # ``write`` (``python/src/tls.rs``).
        self._simul_tls_native = NATIVE
        # sslproto's ``__init__`` zeroes a 256 KiB read buffer per connection (page faults
        # and a memset per handshake); its ``get_buffer`` grows the buffer when asked, so
        # start it empty: with the feed it is never asked.
        self.max_size = 0
        super().__init__(*args, **kwargs)
        del self.max_size  # the class's 256 KiB again, for reads

    def buffer_updated(self, nbytes: int) -> None:
        """One chunk from the socket (a transport other than simul's): into the incoming
        BIO, then on by state."""
        self._incoming.write(self._ssl_buffer_view[:nbytes])
        self._after_incoming()

    def _after_incoming(self) -> None:
        """``sslproto``'s ``buffer_updated`` after its BIO write (the Rust feed's way out of
        its fast path)."""
        state = self._state
        if state is _WRAPPED:
            self._do_read()
        elif state is sslproto.SSLProtocolState.DO_HANDSHAKE:
            self._do_handshake()
        elif state is sslproto.SSLProtocolState.FLUSHING:
            self._do_flush()
        elif state is sslproto.SSLProtocolState.SHUTDOWN:
            self._do_shutdown()

    def _do_read(self) -> None:
        """``_do_read`` and ``_do_read__copied`` in one: every decrypted record to
        ``data_received`` in one call (``eof_received`` and the shutdown on the peer's
        close_notify), then what OpenSSL has to send, then the read marks.

        The record loop ends when the BIO is empty and no decrypted byte waits (the next
        read could only want more: ``sslproto`` never writes an EOF into the incoming
        BIO), or on the ``SSLWantReadError`` of a partial record."""
        raw = self._raw
        if (
            raw is None or self._state is not _WRAPPED or self._app_reading_paused
            or self._app_protocol_is_buffer
        ):
            return super()._do_read()  # type: ignore[no-any-return]
        try:
            incoming = self._incoming
            max_size = self.max_size
            chunk = b"1"
            first = None
            rest: list[bytes] | None = None
            try:
                while True:
                    chunk = raw.read(max_size)
                    if not chunk:
                        break
                    if first is None:
                        first = chunk
                    elif rest is None:
                        rest = [first, chunk]
                    else:
                        rest.append(chunk)
                    if not incoming.pending and not raw.pending():
                        break
            except _AGAIN:
                pass
            if rest is not None:
                self._app_protocol.data_received(b"".join(rest))
            elif first is not None:
                self._app_protocol.data_received(first)
            if not chunk:
                # close_notify
                self._call_eof_received()
                self._start_shutdown()
            if self._write_backlog:
                self._do_write()
            else:
                self._send_outgoing()
            # ``_control_ssl_reading`` only when a mark is crossed.
            size = incoming.pending
            if self._ssl_reading_paused:
                if size <= self._incoming_low_water:
                    self._control_ssl_reading()
            elif size >= self._incoming_high_water:
                self._control_ssl_reading()
        except Exception as ex:
            self._fatal_error(ex, "Fatal error on SSL protocol")

    def _send_outgoing(self) -> None:
        """``_process_outgoing``, with ``_control_app_writing`` only when a mark is
        crossed."""
        outgoing = self._outgoing
        if not self._ssl_writing_paused and outgoing.pending:
            self._transport.write(outgoing.read())
        size = outgoing.pending + self._write_buffer_size
        if self._app_writing_paused:
            if size <= self._outgoing_low_water:
                self._control_app_writing()
        elif size >= self._outgoing_high_water:
            self._control_app_writing()

    def _write_one(self, data: Any) -> None:
        """``_write_appdata((data,))``. With nothing queued in the ``WRAPPED`` state the
        data is encrypted and sent at once; a queue, another state or a write OpenSSL
        refuses for now go through ``sslproto`` (which queues them as it would have)."""
        raw = self._raw
        if raw is None or self._state is not _WRAPPED or self._write_backlog:
            return super()._write_appdata((data,))  # type: ignore[no-any-return]
        try:
            count = raw.write(data)
        except BaseException as exc:
            self._write_refused(data, exc)
            return
        if count < len(data):
            self._write_partial(data, count)
            return
        try:
            self._send_outgoing()
        except Exception as ex:
            self._fatal_error(ex, "Fatal error on SSL protocol")

    def _write_refused(self, data: Any, exc: BaseException) -> None:
        """The first ``SSLObject.write`` of ``data`` raised ``exc``: queued and retried
        later when OpenSSL wants to read first, a fatal error otherwise (``sslproto``)."""
        if not isinstance(exc, Exception):
            raise exc
        try:
            if not isinstance(exc, _AGAIN):
                raise exc
            self._write_backlog.append(data)
            self._write_buffer_size += len(data)
            self._process_outgoing()
        except Exception as ex:
            self._fatal_error(ex, "Fatal error on SSL protocol")

    def _write_partial(self, data: Any, count: int) -> None:
        """OpenSSL took ``count`` bytes of ``data``: ``sslproto``'s write loop takes the
        rest."""
        try:
            self._write_backlog.append(data[count:])
            self._write_buffer_size += len(data) - count
            self._do_write()
        except Exception as ex:
            self._fatal_error(ex, "Fatal error on SSL protocol")

    def _get_app_transport(self) -> Any:
        if self._app_transport is None:
            if self._app_transport_created:
                raise RuntimeError("Creating _SSLProtocolTransport twice")
            self._app_transport = _FastSSLTransport(self._loop, self)
            self._app_transport_created = True
        return self._app_transport


class _FastSSLTransport(sslproto._SSLProtocolTransport):
    """``sslproto``'s application transport, whose ``write`` goes straight to the
    protocol's Rust feed (or to ``_FastSSLProtocol._write_one`` without one)."""

    def __init__(self, loop: Any, ssl_protocol: Any) -> None:
        super().__init__(loop, ssl_protocol)
        if ssl_protocol._simul_tls_native:
            self.write = ssl_protocol._simul_write  # type: ignore[method-assign]

    def write(self, data: Any) -> None:
        """Write some data bytes to the transport (encrypted and sent at once when
        nothing is queued)."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data: expecting a bytes-like instance, got {type(data).__name__}")
        if data:
            self._ssl_protocol._write_one(data)

    def close(self) -> None:
        """Close the transport (``sslproto``'s); a second ``close()`` forgets the protocol,
        and a ``write()`` after it fails as ``sslproto``'s does."""
        super().close()
        if self._ssl_protocol is None:
            self.__dict__.pop("write", None)


class TlsMixin:
    """``simul.EventLoop``'s ``_make_ssl_transport`` hook."""

    def _make_ssl_transport(
        self, rawsock: Any, protocol: Any, sslcontext: Any, waiter: Any = None, *,
        server_side: bool = False, server_hostname: Any = None, extra: Any = None,
        server: Any = None,
        ssl_handshake_timeout: float = constants.SSL_HANDSHAKE_TIMEOUT,
        ssl_shutdown_timeout: float = constants.SSL_SHUTDOWN_TIMEOUT,
        call_connection_made: bool = True,
    ) -> Any:
        ssl_protocol = (_FastSSLProtocol if FASTPATH else sslproto.SSLProtocol)(
            self, protocol, sslcontext, waiter, server_side, server_hostname,
            ssl_handshake_timeout=ssl_handshake_timeout,
            ssl_shutdown_timeout=ssl_shutdown_timeout,
            call_connection_made=call_connection_made,
        )
        raw = self._make_socket_transport(rawsock, ssl_protocol, extra=extra, server=server)  # type: ignore[attr-defined]
        # sslproto asks its socket transport for these while it has one, and forgets them
        # when the socket closes; simul's transport may read a reply and the peer's close
        # in one step, so keep them as a plain transport does (for as long as it lives).
        for name in ("sockname", "peername"):
            value = raw.get_extra_info(name)
            if value is not None:
                ssl_protocol._extra.setdefault(name, value)
        return ssl_protocol._app_transport

    def _accept_tls(
        self, protocol_factory: Any, conn: Any, addr: Any, sslcontext: Any, server: Any,
        ssl_handshake_timeout: Any, ssl_shutdown_timeout: Any,
    ) -> None:
        """Serves one accepted connection of a TLS server: the handshake runs before the
        protocol sees ``connection_made``; a failed handshake closes the connection (and
        is reported to the exception handler in debug mode, as the stock loop does).

        The stock loop runs this as a task (its ``_accept_connection2``); here it runs at
        once, in a copy of the context as a task would (so what the protocol factory sets
        in it stays with the connection), and the handshake's outcome arrives by the
        waiter's done callback, one step after the waiter is set, as the task's
        ``await`` would resume."""
        contextvars.copy_context().run(
            self._accept_tls_start, protocol_factory, conn, addr, sslcontext, server,
            ssl_handshake_timeout, ssl_shutdown_timeout,
        )

    def _accept_tls_start(
        self, protocol_factory: Any, conn: Any, addr: Any, sslcontext: Any, server: Any,
        ssl_handshake_timeout: Any, ssl_shutdown_timeout: Any,
    ) -> None:
        protocol = None
        transport = None
        try:
            protocol = protocol_factory()
            waiter = self.create_future()  # type: ignore[attr-defined]
            transport = self._make_ssl_transport(
                conn, protocol, sslcontext, waiter=waiter, server_side=True,
                extra={"peername": addr}, server=server,
                ssl_handshake_timeout=ssl_handshake_timeout,
                ssl_shutdown_timeout=ssl_shutdown_timeout,
            )
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._accept_tls_failed(exc, protocol, transport)
            return
        waiter.add_done_callback(
            lambda w: self._accept_tls_done(w, protocol, transport)
        )

    def _accept_tls_done(self, waiter: Any, protocol: Any, transport: Any) -> None:
        if waiter.cancelled():
            exc: BaseException = asyncio.CancelledError()
        else:
            exc = waiter.exception()
            if exc is None:
                return
        transport.close()
        if isinstance(exc, (SystemExit, KeyboardInterrupt)):
            raise exc
        self._accept_tls_failed(exc, protocol, transport)

    def _accept_tls_failed(self, exc: BaseException, protocol: Any, transport: Any) -> None:
        if self._debug:  # type: ignore[attr-defined]
            context: dict[str, Any] = {
                "message": "Error on transport creation for incoming connection",
                "exception": exc,
            }
            if protocol is not None:
                context["protocol"] = protocol
            if transport is not None:
                context["transport"] = transport
            self.call_exception_handler(context)  # type: ignore[attr-defined]
