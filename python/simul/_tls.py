"""TLS: ``ssl=`` on ``create_connection``/``create_server`` (and ``open_connection``/
``start_server``), ``loop.start_tls`` and ``StreamWriter.start_tls``.

asyncio's own ``sslproto.SSLProtocol`` (a ``BufferedProtocol`` driving ``ssl.MemoryBIO``)
runs over simul's Rust socket transport, which feeds it through ``get_buffer``/
``buffer_updated`` and honours the ``pause_reading``/``resume_reading`` it uses for flow
control: the user's ``ssl.SSLContext``, ``server_hostname``, ``ssl_handshake_timeout`` and
``ssl_shutdown_timeout`` behave exactly as on the stock loop, because it is the stock
loop's code. ``BaseEventLoop.start_tls`` needs nothing from the loop beyond this.
"""

from __future__ import annotations

from asyncio import constants, sslproto
from typing import Any

__all__ = ["TlsMixin"]


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
        ssl_protocol = sslproto.SSLProtocol(
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

    async def _accept_tls(
        self, protocol_factory: Any, conn: Any, addr: Any, sslcontext: Any, server: Any,
        ssl_handshake_timeout: Any, ssl_shutdown_timeout: Any,
    ) -> None:
        """Serves one accepted connection of a TLS server: the handshake runs before the
        protocol sees ``connection_made``; a failed handshake closes the connection (and
        is reported to the exception handler in debug mode, as the stock loop does)."""
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
            try:
                await waiter
            except BaseException:
                transport.close()
                waiter = None  # no reference cycle through the exception
                raise
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
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
