"""TLS: ``ssl=`` on ``create_connection``/``create_server`` (and ``open_connection``/
``start_server``), ``loop.start_tls`` and ``StreamWriter.start_tls``.

asyncio's own ``sslproto.SSLProtocol`` (a ``BufferedProtocol`` driving ``ssl.MemoryBIO``)
runs over simul's Rust socket transport, which feeds it through ``get_buffer``/
``buffer_updated`` and honours the ``pause_reading``/``resume_reading`` it uses for flow
control: the user's ``ssl.SSLContext``, ``server_hostname``, ``ssl_handshake_timeout`` and
``ssl_shutdown_timeout`` behave exactly as on the stock loop, because it is the stock
loop's code. ``BaseEventLoop.start_tls`` needs nothing from the loop beyond this.

Connections made by ``create_connection``/``create_server`` run ``_FastSSLProtocol``, a
subclass of ``sslproto.SSLProtocol`` and of the Rust ``_simul.TlsFeed``
(``python/src/tls.rs``), which comes first in its MRO: the connection's hot state lives in
Rust fields that ``sslproto``'s code reads and writes by name, and ``TlsFeed`` replaces
``sslproto``'s handshake, read, shutdown and outgoing steps (``connection_made``,
``_start_handshake``, ``_do_handshake``, ``_on_handshake_complete``'s success path,
``_do_read``, ``_start_shutdown``, ``_do_flush``, ``_do_shutdown``,
``_on_shutdown_complete``, ``connection_lost``, ``_call_eof_received``, ``_process_outgoing``, ``_set_state``,
``_wakeup_waiter``) with
the same steps and outcomes in fewer Python frames (and ``_FastSSLProtocol.__init__`` runs
``sslproto``'s ``__init__`` steps, with the application transport's, in one frame); the record loop calls the ``_ssl``
object under ``ssl.SSLObject`` directly and stops once the incoming BIO and the decrypted
bytes are both empty instead of catching the ``SSLWantReadError`` of one more read. With
the feed on, simul's socket transport hands each chunk it receives to ``TlsFeed.feed``
(no ``get_buffer``/``buffer_updated``), and the application transport's ``write`` is the
feed's; without it, this module's ``buffer_updated`` and ``_write_one`` are the way in
and out. Everything else (flow control across the marks, errors, partial writes, a failed
handshake) is ``sslproto``'s own code, and the connection's state stays in the Python
object. ``loop.start_tls`` builds a plain ``sslproto.SSLProtocol`` (``BaseEventLoop``'s
code, over whatever transport it is given).

The switch: ``SIMUL_TLS_FASTPATH=0`` in the environment runs plain
``sslproto.SSLProtocol``; ``SIMUL_TLS_FASTPATH=python`` runs ``_FastSSLProtocol`` without
the Rust feed (chunks in through ``buffer_updated``, writes through ``_write_one``).
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import functools
import os
import ssl
from asyncio import constants, sslproto
from typing import Any

from ._simul import TlsFeed

__all__ = ["TlsMixin"]


_WRAPPED = sslproto.SSLProtocolState.WRAPPED
_AGAIN = sslproto.SSLAgainErrors
_READ_HIGH = constants.FLOW_CONTROL_HIGH_WATER_SSL_READ * 1024
_WRITE_HIGH = constants.FLOW_CONTROL_HIGH_WATER_SSL_WRITE * 1024
_READ_LOW = _READ_HIGH // 4
_WRITE_LOW = _WRITE_HIGH // 4
_UNWRAPPED = sslproto.SSLProtocolState.UNWRAPPED
_STATE_CON_MADE = sslproto.AppProtocolState.STATE_CON_MADE
_NEW = object.__new__
_BIO = ssl.MemoryBIO
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

    # ``_raw``: the ``_ssl._SSLSocket`` under a plain ``ssl.SSLObject`` once the handshake
    # is done (``ssl.SSLObject.read``/``write``/``pending`` only forward to it; set by
    # ``TlsFeed._on_handshake_complete``); None otherwise. A ``TlsFeed`` field.

    # ``sslproto.SSLProtocol.__init__``'s fields whose value it sets from no argument
    # (or from a default one), as class defaults: ``__init__`` stores only the others.
    # The fields of ``TlsFeed`` (the state, the flags, the water marks, the write
    # backlog, ``_waiter``, ``_app_transport``, ``_extra``, ``_app_state``, ``_conn_lost``,
    # ``_eof_received``, ``_handshake_start_time``, the two timeout handles) start at
    # ``sslproto``'s values in ``TlsFeed.__new__`` (none of them may be a class default
    # here: this class comes before ``TlsFeed`` in the MRO). ``_ssl_buffer``:
    # sslproto zeroes a 256 KiB read buffer per connection (page faults and a memset per
    # handshake); its ``get_buffer`` replaces the buffer by a larger one when asked (it
    # never grows this one in place), so start with an empty one: with the feed it is
    # never asked. ``_simul_tls_native`` (``TlsFeed``'s, on unless ``__init__`` turns it
    # off): simul's socket transport hands each chunk to ``TlsFeed.feed``, and the
    # application transport takes ``_simul_write`` as its ``write``
    # (``python/src/tls.rs``).
    _ssl_buffer = bytearray()
    _ssl_buffer_view = memoryview(_ssl_buffer)
    _server_side = False
    _server_hostname = None
    _ssl_handshake_timeout = constants.SSL_HANDSHAKE_TIMEOUT
    _ssl_shutdown_timeout = constants.SSL_SHUTDOWN_TIMEOUT
    _app_transport_created = True

    def __init__(
        self, loop: Any, app_protocol: Any, sslcontext: Any, waiter: Any,
        server_side: bool = False, server_hostname: Any = None,
        call_connection_made: bool = True, ssl_handshake_timeout: Any = None,
        ssl_shutdown_timeout: Any = None,
    ) -> None:
        """``sslproto.SSLProtocol.__init__``, its steps in this one frame: its
        ``_set_app_protocol``, the default buffer limits and ``_get_app_transport`` (with
        ``_FastSSLTransport.__init__``) inlined; the fields whose defaults (the class's,
        or ``TlsFeed``'s) are the values it sets are left as they are."""
        if ssl_handshake_timeout is not None:
            if ssl_handshake_timeout <= 0:
                raise ValueError(
                    f"ssl_handshake_timeout should be a positive number, got {ssl_handshake_timeout}"
                )
            self._ssl_handshake_timeout = ssl_handshake_timeout
        if ssl_shutdown_timeout is not None:
            if ssl_shutdown_timeout <= 0:
                raise ValueError(
                    f"ssl_shutdown_timeout should be a positive number, got {ssl_shutdown_timeout}"
                )
            self._ssl_shutdown_timeout = ssl_shutdown_timeout
        if not sslcontext:
            sslcontext = sslproto._create_transport_context(server_side, server_hostname)
        if server_side:
            self._server_side = server_side
            server_hostname = None
        elif server_hostname:
            self._server_hostname = server_hostname
        else:
            server_hostname = None
        self._sslcontext = sslcontext
        self._extra = {"sslcontext": sslcontext}
        self._waiter = waiter
        self._loop = loop
        # ``_set_app_protocol``.
        self._app_protocol = app_protocol
        if hasattr(app_protocol, "get_buffer") and isinstance(app_protocol, asyncio.BufferedProtocol):
            self._app_protocol_get_buffer = app_protocol.get_buffer
            self._app_protocol_buffer_updated = app_protocol.buffer_updated
            self._app_protocol_is_buffer = True
        self._incoming = incoming = _BIO()
        self._outgoing = outgoing = _BIO()
        if not call_connection_made:
            self._app_state = _STATE_CON_MADE
        self._sslobj = sslcontext.wrap_bio(
            incoming, outgoing, server_side=server_side, server_hostname=server_hostname
        )
        # ``_get_app_transport``.
        self._app_transport = transport = _NEW(_FastSSLTransport)
        transport._loop = loop
        transport._ssl_protocol = self
        if NATIVE:
            transport.write = self._simul_write
        else:
            self._simul_tls_native = False

    def buffer_updated(self, nbytes: int) -> None:
        """One chunk from the socket (a transport other than simul's): into the incoming
        BIO, then on by state."""
        self._incoming.write(self._ssl_buffer_view[:nbytes])
        self._after_incoming()

    def _after_incoming(self) -> None:
        """``sslproto``'s ``buffer_updated`` after its BIO write (the Rust feed takes the
        same steps itself, in ``TlsFeed.feed``)."""
        state = self._state
        if state is _WRAPPED:
            self._do_read()
        elif state is sslproto.SSLProtocolState.DO_HANDSHAKE:
            self._do_handshake()
        elif state is sslproto.SSLProtocolState.FLUSHING:
            self._do_flush()
        elif state is sslproto.SSLProtocolState.SHUTDOWN:
            self._do_shutdown()

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

    def _set_read_buffer_limits(self, high: Any = None, low: Any = None) -> None:
        """``sslproto``'s, with its defaults set without ``add_flowcontrol_defaults``."""
        if high is None and low is None:
            self._incoming_high_water = _READ_HIGH
            self._incoming_low_water = _READ_LOW
        else:
            super()._set_read_buffer_limits(high, low)

    def _set_write_buffer_limits(self, high: Any = None, low: Any = None) -> None:
        """``sslproto``'s, with its defaults set without ``add_flowcontrol_defaults``."""
        if high is None and low is None:
            self._outgoing_high_water = _WRITE_HIGH
            self._outgoing_low_water = _WRITE_LOW
        else:
            super()._set_write_buffer_limits(high, low)

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

    _closed = False  # (``sslproto``'s ``__init__`` sets it; a class default here)

    def __init__(self, loop: Any, ssl_protocol: Any) -> None:
        # ``sslproto._SSLProtocolTransport.__init__``'s three fields, without its frame.
        self._loop = loop
        self._ssl_protocol = ssl_protocol
        if ssl_protocol._simul_tls_native:
            self.write = ssl_protocol._simul_write  # type: ignore[method-assign]

    def get_extra_info(self, name: Any, default: Any = None) -> Any:
        """Get optional transport information (``sslproto``'s ``get_extra_info`` and
        ``SSLProtocol._get_extra_info`` in one frame)."""
        protocol = self._ssl_protocol
        extra = protocol._extra
        if name in extra:
            return extra[name]
        transport = protocol._transport
        if transport is not None:
            return transport.get_extra_info(name, default)
        return default

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
        if not self._closed:
            self._closed = True
            self._ssl_protocol._start_shutdown()
        else:
            self._ssl_protocol = None
            self.__dict__.pop("write", None)


# Its instances' steps call each other in Rust (it overrides none of them).
TlsFeed._simul_direct_type(_FastSSLProtocol)


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
        """``BaseEventLoop._make_ssl_transport`` (``_ssl_transport`` by keywords)."""
        return self._ssl_transport(
            rawsock, protocol, sslcontext, waiter, server_side, server_hostname, extra,
            server, ssl_handshake_timeout, ssl_shutdown_timeout, call_connection_made, False,
        )

    def _ssl_transport(
        self, rawsock: Any, protocol: Any, sslcontext: Any, waiter: Any, server_side: bool,
        server_hostname: Any, extra: Any, server: Any, ssl_handshake_timeout: Any,
        ssl_shutdown_timeout: Any, call_connection_made: bool, made_now: bool,
    ) -> Any:
        """``_make_ssl_transport``, its arguments by position (simul's own callers: no
        keywords to match per connection); ``made_now`` (``create_connection``'s): the
        TLS protocol's ``connection_made``, the handshake's start, runs at once (see
        ``EventLoop._make_socket_transport``)."""
        # (Its arguments by position: ``TlsFeed.__new__`` then takes no keywords dict.)
        ssl_protocol = (_FastSSLProtocol if FASTPATH else sslproto.SSLProtocol)(
            self, protocol, sslcontext, waiter, server_side, server_hostname,
            call_connection_made, ssl_handshake_timeout, ssl_shutdown_timeout,
        )
        raw = self._make_socket_transport(  # type: ignore[attr-defined]
            rawsock, ssl_protocol, None, extra, server, made_now, True
        )
        # sslproto asks its socket transport for these while it has one, and forgets them
        # when the socket closes; simul's transport may read a reply and the peer's close
        # in one step, so keep them as a plain transport does (for as long as it lives).
        # (``raw._extra`` is the dict its ``get_extra_info`` reads.)
        info, mine = raw._extra, ssl_protocol._extra
        value = info.get("sockname")
        if value is not None:
            mine.setdefault("sockname", value)
        value = info.get("peername")
        if value is not None:
            mine.setdefault("peername", value)
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
        """``_accept_tls`` in the connection's own context (``_accept_ready`` calls it
        so, saving a frame)."""
        protocol = None
        transport = None
        try:
            protocol = protocol_factory()
            waiter = self.create_future()  # type: ignore[attr-defined]
            transport = self._ssl_transport(
                conn, protocol, sslcontext, waiter, True, None, {"peername": addr}, server,
                ssl_handshake_timeout, ssl_shutdown_timeout, True, False,
            )
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._accept_tls_failed(exc, protocol, transport)
            return
        waiter.add_done_callback(
            functools.partial(self._accept_tls_done, protocol, transport)
        )

    def _accept_tls_done(self, protocol: Any, transport: Any, waiter: Any) -> None:
        """The handshake's outcome (``waiter``'s done callback, bound by position: a
        partial with keywords merges them into a new dict at each call)."""
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
