"""``simul.EventLoop``: asyncio's event loop on simul's Rust engine.

The class derives from the Rust ``LoopCore`` first and from ``asyncio.BaseEventLoop``
second. ``LoopCore`` supplies the engine and the hot paths: ``call_soon``,
``call_later``, ``call_at``, ``call_soon_threadsafe``, ``time``, ``stop`` and the loop's
iteration itself, all entries in simul's ready queue and timer wheel. ``BaseEventLoop``
supplies asyncio's own cold-path code unchanged: ``run_until_complete``,
``create_task`` and the task factory, the exception handler, executors, ``getaddrinfo``,
``shutdown_asyncgens``. This module adds what the stock loop keeps in its selector
classes: descriptor callbacks (``add_reader``/``add_writer``) and the ``sock_*``
coroutines, here on the Rust descriptor watchers; and one shortened ``BaseEventLoop`` path,
``create_connection`` to a numeric host, whose steps (``_connect_sock``, ``sock_connect``,
``_create_connection_transport``) run in its own frame with the same checks and errors.
"""

from __future__ import annotations

import asyncio
import contextvars
import errno
import os
import _socket
import socket
import sys
import threading
import weakref
from asyncio import unix_events
from asyncio import base_events, events, format_helpers, futures, trsock
from selectors import _fileobj_to_fd  # type: ignore[attr-defined]
from typing import Any, Callable

from . import _simul
from ._datagram import DatagramMixin, add_socket_names
from ._pipes import PipesMixin
from ._selector import WatchView
from ._sendfile import SendfileMixin, SendfileTransportMixin
from ._signals import SignalMixin
from ._subprocess import SubprocessMixin
from ._tls import TlsMixin

__all__ = ["EventLoop", "EventLoopPolicy"]

# A ``socket.socket``'s family and type as plain ints: its ``family``/``type`` properties
# convert them to enums in three Python calls each, on every connection's setup path.
_RAW_FAMILY = _socket.socket.family.__get__  # type: ignore[attr-defined]
_RAW_TYPE = _socket.socket.type.__get__  # type: ignore[attr-defined]
_NEW = object.__new__
_INET = (socket.AF_INET, socket.AF_INET6)
# A socket made (or, with ``fileno=``, wrapped) with this bit in its type starts with
# timeout 0.0 and CPython sets no blocking mode (no ``ioctl(FIONBIO)``); its ``type``
# reads without the bit.
_NONBLOCK = socket.SOCK_NONBLOCK
_WEAKREF = weakref.ref
# ``socket.socket(family, kind, proto, fileno)`` for explicit ints is, without its
# ``__init__`` frame, ``sock = _SOCKET_NEW(socket.socket)``, ``_SOCKET_INIT(sock, family,
# kind, proto, fileno)``, then the two fields ``socket.socket`` adds (``_io_refs = 0``,
# ``_closed = False``); ``trsock.TransportSocket(sock)`` is ``_NEW`` and its one slot.
_SOCKET_NEW = _socket.socket.__new__
_SOCKET_INIT = _socket.socket.__init__
_SOCKET = socket.socket
_TRANSPORT_SOCKET = trsock.TransportSocket
_IPADDR_INFO = base_events._ipaddr_info  # type: ignore[attr-defined]
_INET_PTON = _socket.inet_pton
_STRERROR = os.strerror
# The errnos of ``connect`` raising ``BlockingIOError`` or ``InterruptedError``.
_CONNECT_PENDING = frozenset(
    (errno.EINPROGRESS, errno.EALREADY, errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR)
)
_UNSPEC_OR_INET = (socket.AF_UNSPEC, socket.AF_INET)
_SOCK_STREAM = int(socket.SOCK_STREAM)
_IPPROTO_TCP = int(socket.IPPROTO_TCP)
# The protocols ``_ipaddr_info`` takes a stream socket's address with (it answers
# ``IPPROTO_TCP`` for each).
_STREAM_PROTOS = (0, socket.IPPROTO_TCP, socket.IPPROTO_UDP)


class EventLoop(  # type: ignore[misc]
    TlsMixin,  # first: their close() runs before the loop core's (see _subprocess.py)
    PipesMixin,
    SubprocessMixin,
    _simul.LoopCore,
    DatagramMixin,
    SignalMixin,
    SendfileMixin,
    asyncio.BaseEventLoop,
):
    """An asyncio event loop that runs on simul's engine.

    A drop-in replacement for the stock loop (``asyncio.new_event_loop()``): every
    ``asyncio.AbstractEventLoop`` method of part 1 behaves as the stock loop's does.

    One difference: the loop is bound to the thread that created it. It runs, schedules
    (``call_soon``, ``call_later``, ``create_task``, ...) and closes only there; from other
    threads use ``call_soon_threadsafe``, ``stop`` or ``asyncio.run_coroutine_threadsafe``.
    Running or closing it on another thread raises ``RuntimeError`` saying so (the stock
    loop allows running it on another thread, one at a time). To run a loop on a worker
    thread, create it inside that thread.
    """

    def __init__(self) -> None:
        super().__init__()
        # The socket transport on each descriptor, as the stock loop's
        # ``WeakValueDictionary``, but a plain dict of weak references (made and read in C,
        # where that class makes and drops each entry in Python frames): a dead transport's
        # entry stays until the next transport on that descriptor number replaces it, and
        # reads as no transport.
        self._transports: dict[int, Any] = {}
        # Bound once: asyncio's C futures and tasks get ``loop.call_soon`` as an attribute
        # (a new bound method per call otherwise) and ask ``get_debug`` at every future.
        # The loop's dict then holds the loop (a cycle); ``close`` unbinds them again.
        for name in self._BOUND:
            setattr(self, name, getattr(_simul.LoopCore, name).__get__(self))

    _BOUND = ("call_soon", "get_debug")

    # -- running ---------------------------------------------------------------

    def run_forever(self) -> None:
        """Runs the loop until ``stop()`` is called."""
        self._check_closed()
        self._check_running()
        self._check_thread()
        self._set_coroutine_origin_tracking(self._debug)
        old_agen_hooks = sys.get_asyncgen_hooks()
        try:
            self._thread_id = threading.get_ident()
            sys.set_asyncgen_hooks(
                firstiter=self._asyncgen_firstiter_hook,
                finalizer=self._asyncgen_finalizer_hook,
            )
            events._set_running_loop(self)
            self._run()
        finally:
            self._thread_id = None
            events._set_running_loop(None)
            self._set_coroutine_origin_tracking(False)
            sys.set_asyncgen_hooks(*old_agen_hooks)

    def run_until_complete(self, future: Any) -> Any:
        """Runs the loop until ``future`` is done; returns its result."""
        self._check_closed()
        self._check_thread()
        return super().run_until_complete(future)

    def close(self) -> None:
        """Closes the loop: drops pending callbacks, shuts the default executor down."""
        if self.is_running():
            raise RuntimeError("Cannot close a running event loop")
        if self._closed:
            return
        self._check_thread()
        super().close()
        self._close_core()
        self._unbind()

    def _unbind(self) -> None:
        """Drops the methods ``__init__`` bound into the instance (unless replaced since),
        so a closed loop is freed without the cycle collector."""
        for name in self._BOUND:
            if self.__dict__.get(name) == getattr(_simul.LoopCore, name).__get__(self):
                del self.__dict__[name]

    def set_debug(self, enabled: bool) -> None:
        """Turns debug mode on or off (slow-callback warnings, thread checks)."""
        super().set_debug(enabled)

    def __repr__(self) -> str:
        return (
            f"<{self.__class__.__name__} running={self.is_running()} "
            f"closed={self.is_closed()} debug={self.get_debug()}>"
        )

    # -- descriptors ---------------------------------------------------------------

    @property
    def _selector(self) -> WatchView:
        """A read-only view of the ``add_reader``/``add_writer`` watches, shaped as the
        stock loop's selector for code that asks it ``get_key`` (see ``_selector.py``)."""
        return WatchView(self)

    def _ensure_fd_no_transport(self, fd: Any) -> None:
        fileno = _fileobj_to_fd(fd)
        ref = self._transports.get(fileno)
        transport = None if ref is None else ref()
        if transport is not None and not transport.is_closing():
            raise RuntimeError(
                f"File descriptor {fd!r} is used by transport {transport!r}"
            )

    def add_reader(self, fd: Any, callback: Callable[..., Any], *args: Any) -> None:
        """Calls ``callback(*args)`` whenever ``fd`` is readable."""
        self._ensure_fd_no_transport(fd)
        self._check_closed()
        self._add_reader(_fileobj_to_fd(fd), callback, args)

    def remove_reader(self, fd: Any) -> bool:
        """Stops watching ``fd`` for reading; whether it was watched."""
        self._ensure_fd_no_transport(fd)
        if self.is_closed():
            return False
        return self._remove_reader(_fileobj_to_fd(fd))

    def add_writer(self, fd: Any, callback: Callable[..., Any], *args: Any) -> None:
        """Calls ``callback(*args)`` whenever ``fd`` is writable."""
        self._ensure_fd_no_transport(fd)
        self._check_closed()
        self._add_writer(_fileobj_to_fd(fd), callback, args)

    def remove_writer(self, fd: Any) -> bool:
        """Stops watching ``fd`` for writing; whether it was watched."""
        self._ensure_fd_no_transport(fd)
        if self.is_closed():
            return False
        return self._remove_writer(_fileobj_to_fd(fd))

    # -- transports -------------------------------------------------------------------

    async def create_connection(  # type: ignore[override]
        self, protocol_factory: Callable[[], Any], host: Any = None, port: Any = None, *,
        ssl: Any = None, family: int = 0, proto: int = 0, flags: int = 0, sock: Any = None,
        local_addr: Any = None, server_hostname: Any = None, ssl_handshake_timeout: Any = None,
        ssl_shutdown_timeout: Any = None, happy_eyeballs_delay: Any = None, interleave: Any = None,
        **more: Any,
    ) -> Any:
        """``BaseEventLoop.create_connection``; to a numeric host (one address, nothing to
        resolve) with no ``sock``, ``local_addr`` or happy eyeballs, its steps run here in
        one frame: the same checks, socket, connect, transport and errors, without the
        resolver and ``sock_connect`` rounds, the socket made non-blocking by ``socket(2)``
        itself (``SOCK_NONBLOCK``), and a TLS protocol's ``connection_made`` (the
        handshake's first flight) run at once (see ``_make_socket_transport``)."""
        info = None
        if (
            sock is None and local_addr is None and happy_eyeballs_delay is None
            and interleave is None and not more and host and port is not None
            and (ssl or (server_hostname is None and ssl_handshake_timeout is None
                         and ssl_shutdown_timeout is None))
        ):
            if (
                type(host) is str and type(port) is int and family in _UNSPEC_OR_INET
                and proto in _STREAM_PROTOS
            ):
                # ``_ipaddr_info``'s first try (an IPv4 address), without its frame; any
                # other host goes to it.
                try:
                    _INET_PTON(socket.AF_INET, host)
                    info = (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (host, port))
                except OSError:
                    info = _IPADDR_INFO(host, port, family, socket.SOCK_STREAM, proto)
            else:
                info = _IPADDR_INFO(host, port, family, socket.SOCK_STREAM, proto)
        if info is None:
            return await super().create_connection(  # type: ignore[misc]
                protocol_factory, host, port, ssl=ssl, family=family, proto=proto, flags=flags,
                sock=sock, local_addr=local_addr, server_hostname=server_hostname,
                ssl_handshake_timeout=ssl_handshake_timeout,
                ssl_shutdown_timeout=ssl_shutdown_timeout,
                happy_eyeballs_delay=happy_eyeballs_delay, interleave=interleave, **more,
            )
        if server_hostname is None and ssl:
            server_hostname = host
        # ``_connect_sock`` and ``sock_connect`` (whose ``_ensure_resolved`` of a numeric
        # address gives it back as it is).
        sock_family, sock_type, sock_proto, _, address = info
        sock = None
        try:
            new = _SOCKET_NEW(_SOCKET)  # ``socket.socket(...)``, see ``_SOCKET_NEW``
            new._io_refs = 0
            new._closed = False
            _SOCKET_INIT(new, sock_family, sock_type | _NONBLOCK, sock_proto)
            sock = new  # made: from here on the handler below closes it
            fut = self.create_future()
            # ``sock.connect(address)``, whose ``BlockingIOError`` (or ``InterruptedError``)
            # means "pending", as an errno: no exception made per connection. Any other
            # errno is raised as the ``OSError`` ``connect`` raises (the same subclass,
            # errno and message).
            err = sock.connect_ex(address)
            if err:
                if err not in _CONNECT_PENDING:
                    raise OSError(err, _STRERROR(err))
                fd = sock.fileno()
                # ``_ensure_fd_no_transport(fd)``, for an int ``fd``.
                ref = self._transports.get(fd)
                transport = None if ref is None else ref()
                if transport is not None and not transport.is_closing():
                    raise RuntimeError(f"File descriptor {fd!r} is used by transport {transport!r}")
                handle = self._add_writer(fd, self._sock_connect_ready, (fut, sock, address))
                try:
                    await fut
                finally:
                    # ``_wait_fd``'s done callback: the watch ends with ``fut`` (if a
                    # cancel came before the connect's outcome).
                    if not handle.cancelled() and not self.is_closed():
                        self._remove_writer(fd)
            fut = None  # type: ignore[assignment]  # break the traceback cycle
        except BaseException:
            if sock is not None:
                sock.close()
            raise
        # ``_create_connection_transport``, for a socket already non-blocking.
        protocol = protocol_factory()
        waiter = self.create_future()
        if ssl:
            sslcontext = None if isinstance(ssl, bool) else ssl
            transport = self._ssl_transport(
                sock, protocol, sslcontext, waiter, False, server_hostname, None, None,
                ssl_handshake_timeout, ssl_shutdown_timeout, True, True,
            )
        else:
            transport = self._make_socket_transport(sock, protocol, waiter)
        try:
            await waiter
        except BaseException:
            transport.close()
            raise
        if self._debug:
            base_events.logger.debug(
                "%r connected to %s:%r: (%r, %r)",
                transport.get_extra_info("socket"), host, port, transport, protocol,
            )
        return transport, protocol

    def _make_socket_transport(
        self, sock: socket.socket, protocol: Any, waiter: Any = None, extra: Any = None, server: Any = None,
        made_now: bool = False, tls: bool = False,
    ) -> Any:
        """``_SelectorSocketTransport(self, sock, protocol, waiter, extra, server)``, on the
        Rust core. ``made_now``: ``protocol.connection_made`` runs here rather than an
        iteration later (``create_connection``'s TLS protocol, whose ``connection_made``
        sends the first handshake flight: it calls no user code, and the user's protocol
        still sees ``connection_made`` after the handshake); an error it raises goes to
        the exception handler as a callback's would. ``tls``: the transport under one of
        simul's TLS protocols (``_ssl_transport``), a ``TlsSocketTransport``."""
        info = dict(extra) if extra else {}
        info["socket"] = tsock = _NEW(_TRANSPORT_SOCKET)
        tsock._sock = sock
        plain = type(sock) is _SOCKET
        if (
            plain and _RAW_FAMILY(sock) in _INET and _RAW_TYPE(sock) == _SOCK_STREAM
            and sock.proto == _IPPROTO_TCP
        ):
            # The names and ``base_events._set_nodelay`` below, in one Rust call.
            want = "peername" not in info
            sockname, peername = self._tcp_setup(sock.fileno(), want)
            info.setdefault("sockname", sockname)
            if want:
                info["peername"] = peername
        else:
            add_socket_names(sock, info)
            if not plain and sock.family in _INET and sock.type == socket.SOCK_STREAM:
                base_events._set_nodelay(sock)
        # ``SocketTransport(self, sock, protocol, info, server)``, its ``__init__``'s steps
        # here.
        if tls:
            transport = _NEW(TlsSocketTransport)
            bound = _TLS_TRANSPORT_BOUND
        else:
            transport = _NEW(SocketTransport)
            bound = _SOCKET_TRANSPORT_BOUND
        transport._extra = info
        transport._loop = self
        core = transport._core = _simul.SocketTransport(self, sock, protocol, info, server)
        core._bind_methods(transport, bound)
        self._transports[sock.fileno()] = _WEAKREF(transport)
        if not made_now:
            self.call_soon(protocol.connection_made, transport)
        else:
            try:
                protocol.connection_made(transport)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                # the stock loop's message for a failing callback (``Handle._run``'s)
                cb = format_helpers._format_callback_source(protocol.connection_made, (transport,))
                self.call_exception_handler({
                    "message": f"Exception in callback {cb}",
                    "exception": exc, "protocol": protocol, "transport": transport,
                })
        self.call_soon(core._start, transport)
        if waiter is not None:
            self.call_soon(futures._set_result_unless_cancelled, waiter, None)
        return transport

    def _start_serving(
        self,
        protocol_factory: Callable[[], Any],
        sock: socket.socket,
        sslcontext: Any = None,
        server: Any = None,
        backlog: int = 100,
        ssl_handshake_timeout: Any = None,
        ssl_shutdown_timeout: Any = None,
    ) -> None:
        self._add_reader(
            sock.fileno(),
            self._accept_ready,
            (protocol_factory, sock, server, backlog, sslcontext, ssl_handshake_timeout, ssl_shutdown_timeout),
        )

    def _accept_ready(
        self,
        protocol_factory: Callable[[], Any],
        sock: socket.socket,
        server: Any,
        backlog: int,
        sslcontext: Any = None,
        ssl_handshake_timeout: Any = None,
        ssl_shutdown_timeout: Any = None,
    ) -> None:
        # ``socket.accept`` and ``setblocking(False)``, on the listening socket's raw family
        # and type; an IPv4 or IPv6 listener's connections come non-blocking out of
        # ``accept4`` (``_accept_inet``, which also marks the watch drained at the end).
        plain = type(sock) is socket.socket
        family = _RAW_FAMILY(sock) if plain else None
        if family in _INET:
            kind, proto, lfd = _RAW_TYPE(sock) | _NONBLOCK, sock.proto, sock.fileno()
        else:
            lfd = -1
        for _ in range(backlog):
            try:
                if lfd >= 0:
                    # Read each round: a callback of the last round (a protocol factory)
                    # may have closed the listener, and its number may be another's now.
                    lfd = sock.fileno()
                    if lfd < 0:
                        return
                    got = self._accept_inet(lfd)
                    if got is None:
                        return
                    fd, addr = got
                    conn = _SOCKET_NEW(_SOCKET)  # ``socket.socket(...)``, see ``_SOCKET_NEW``
                    conn._io_refs = 0
                    conn._closed = False
                    try:
                        _SOCKET_INIT(conn, family, kind, proto, fd)
                    except BaseException:
                        os.close(fd)
                        raise
                elif plain:
                    fd, addr = sock._accept()  # type: ignore[attr-defined]
                    conn = socket.socket(family, _RAW_TYPE(sock), sock.proto, fileno=fd)
                    conn.setblocking(False)
                else:
                    conn, addr = sock.accept()
                    conn.setblocking(False)
            except BlockingIOError:
                # The backlog is empty: the watcher need not ask the kernel again.
                self._watch_drained(sock.fileno(), False)
                return
            except (InterruptedError, ConnectionAbortedError):
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    self.call_exception_handler(
                        {"message": "socket.accept() out of system resource", "exception": exc, "socket": trsock.TransportSocket(sock)}
                    )
                    self._remove_reader(sock.fileno())
                    self.call_later(
                        1.0, self._start_serving, protocol_factory, sock, sslcontext, server, backlog,
                        ssl_handshake_timeout, ssl_shutdown_timeout,
                    )
                    return
                raise
            if sslcontext is not None:
                # ``_accept_tls``, in one frame less.
                contextvars.copy_context().run(
                    self._accept_tls_start, protocol_factory, conn, addr, sslcontext, server,
                    ssl_handshake_timeout, ssl_shutdown_timeout,
                )
                continue
            # Each connection is set up in a copy of the context, as the stock loop's task
            # per accept (``_accept_connection2``): what its protocol factory sets, its
            # callbacks see, and no other connection's.
            contextvars.copy_context().run(self._accept_plain, protocol_factory, conn, addr, server)

    def _accept_plain(self, protocol_factory: Callable[[], Any], conn: socket.socket, addr: Any, server: Any) -> None:
        try:
            protocol = protocol_factory()
            self._make_socket_transport(conn, protocol, None, {"peername": addr}, server)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self.call_exception_handler({"message": "Error on transport creation for incoming connection", "exception": exc})
            conn.close()

    def _stop_serving(self, sock: socket.socket) -> None:
        self._remove_reader(sock.fileno())
        sock.close()

    # asyncio's own Unix-socket front ends, on this loop's transports and servers.
    create_unix_connection = unix_events._UnixSelectorEventLoop.create_unix_connection
    create_unix_server = unix_events._UnixSelectorEventLoop.create_unix_server

    # -- sock_* coroutines -----------------------------------------------------------

    def _check_sock(self, sock: socket.socket) -> None:
        base_events._check_ssl_socket(sock)
        if self._debug and sock.gettimeout() != 0:
            raise ValueError("the socket must be non-blocking")

    def _wait_fd(self, fd: int, write: bool, fut: asyncio.Future[Any], cb: Callable[..., Any], *args: Any) -> None:
        """Watches ``fd`` until ``fut`` is done, calling ``cb(fut, *args)`` when ready.

        The watch ends with ``fut`` unless another operation replaced it meanwhile (which
        cancelled this one's handle): a cancelled ``sock_recv`` must not stop the
        ``sock_recv`` that followed it on the same socket."""
        self._ensure_fd_no_transport(fd)
        add, remove = (self._add_writer, self._remove_writer) if write else (self._add_reader, self._remove_reader)
        handle = add(fd, cb, (fut, *args))

        def done(_f: Any) -> None:
            if not handle.cancelled() and not self.is_closed():
                remove(fd)

        fut.add_done_callback(done)

    async def sock_recv(self, sock: socket.socket, n: int) -> bytes:
        """Receives up to ``n`` bytes from the non-blocking ``sock``."""
        self._check_sock(sock)
        try:
            return sock.recv(n)
        except (BlockingIOError, InterruptedError):
            pass
        fut = self.create_future()
        self._wait_fd(sock.fileno(), False, fut, self._sock_retry_ready, sock.recv, n)
        return await fut

    def _sock_retry_ready(self, fut: asyncio.Future[Any], op: Callable[..., Any], *args: Any) -> None:
        """Retries a non-blocking ``op(*args)`` once the descriptor is ready; settles ``fut``."""
        if fut.done():
            return
        try:
            result = op(*args)
        except (BlockingIOError, InterruptedError):
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            fut.set_exception(exc)
        else:
            fut.set_result(result)

    async def sock_recv_into(self, sock: socket.socket, buf: Any) -> int:
        """Receives into ``buf`` from the non-blocking ``sock``; the byte count."""
        self._check_sock(sock)
        try:
            return sock.recv_into(buf)
        except (BlockingIOError, InterruptedError):
            pass
        fut = self.create_future()
        self._wait_fd(sock.fileno(), False, fut, self._sock_retry_ready, sock.recv_into, buf)
        return await fut

    async def sock_sendall(self, sock: socket.socket, data: Any) -> None:
        """Sends all of ``data`` on the non-blocking ``sock``."""
        self._check_sock(sock)
        try:
            n = sock.send(data)
        except (BlockingIOError, InterruptedError):
            n = 0
        if n == len(data):
            return
        fut = self.create_future()
        view = memoryview(data)
        self._wait_fd(sock.fileno(), True, fut, self._sock_sendall_ready, sock, view, [n])
        return await fut

    def _sock_sendall_ready(self, fut: asyncio.Future[Any], sock: socket.socket, view: memoryview, pos: list[int]) -> None:
        if fut.done():
            return
        start = pos[0]
        try:
            n = sock.send(view[start:])
        except (BlockingIOError, InterruptedError):
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            fut.set_exception(exc)
            return
        start += n
        if start == len(view):
            fut.set_result(None)
        else:
            pos[0] = start

    async def sock_connect(self, sock: socket.socket, address: Any) -> None:
        """Connects the non-blocking ``sock`` to ``address``."""
        self._check_sock(sock)
        if type(sock) is socket.socket:
            family, kind = _RAW_FAMILY(sock), _RAW_TYPE(sock)
        else:
            family, kind = sock.family, sock.type
        if family == socket.AF_INET or (base_events._HAS_IPv6 and family == socket.AF_INET6):
            resolved = await self._ensure_resolved(
                address, family=family, type=kind, proto=sock.proto, loop=self
            )
            _, _, _, _, address = resolved[0]
        fut = self.create_future()
        try:
            sock.connect(address)
        except (BlockingIOError, InterruptedError):
            self._wait_fd(sock.fileno(), True, fut, self._sock_connect_ready, sock, address)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            fut.set_exception(exc)
        else:
            fut.set_result(None)
        try:
            return await fut
        finally:
            fut = None  # type: ignore[assignment]  # break the traceback cycle

    def _sock_connect_ready(self, fut: asyncio.Future[Any], sock: socket.socket, address: Any) -> None:
        """The connect watch's callback. Once the connect has an outcome the watch ends here
        rather than in ``fut``'s done callback: the watcher then has no ``poll(2)`` to make
        for a direction nobody waits on. A connected socket's registration is handed on to
        the transport that takes it over next (``_hand_over_writer``), saving a
        deregistration and a registration. (This handle runs only while it is ``fut``'s,
        so the watch is ours to end.)"""
        if fut.done():
            return
        try:
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err != 0:
                raise OSError(err, f"Connect call failed {address}")
        except (BlockingIOError, InterruptedError):
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._remove_writer(sock.fileno())
            fut.set_exception(exc)
        else:
            self._hand_over_writer(sock.fileno(), sock)
            fut.set_result(None)

    async def sock_accept(self, sock: socket.socket) -> tuple[socket.socket, Any]:
        """Accepts a connection on the non-blocking listening ``sock``."""
        self._check_sock(sock)
        fut = self.create_future()
        self._sock_accept_ready(fut, sock, first=True)
        return await fut

    def _sock_accept_ready(self, fut: asyncio.Future[Any], sock: socket.socket, first: bool = False) -> None:
        if fut.done():
            return
        try:
            conn, address = sock.accept()
            conn.setblocking(False)
        except (BlockingIOError, InterruptedError):
            if first:
                self._wait_fd(sock.fileno(), False, fut, self._sock_accept_ready, sock)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            fut.set_exception(exc)
        else:
            fut.set_result((conn, address))


# The transport's methods a connection calls on its way (``sslproto`` and the streams
# included), bound once per transport; the others are looked up on the core at each
# access (``_simul.CoreMethod``), so a connection that never calls them never binds them.
_SOCKET_TRANSPORT_BOUND = (
    "write", "writelines", "close", "is_closing", "pause_reading", "resume_reading",
    "get_extra_info", "get_write_buffer_size", "_call_connection_lost",
)
_SOCKET_TRANSPORT_LOOKED_UP = (
    "write_eof", "can_write_eof", "abort", "is_reading", "get_protocol", "set_protocol",
    "get_write_buffer_limits", "set_write_buffer_limits", "_force_close",
)
_SOCKET_TRANSPORT_METHODS = _SOCKET_TRANSPORT_BOUND + _SOCKET_TRANSPORT_LOOKED_UP


class SocketTransport(SendfileTransportMixin, asyncio.Transport):
    """asyncio's TCP/Unix stream transport; its methods are those of the Rust core
    (``_simul.SocketTransport``), so a call costs no Python frame. The ones a connection
    calls on its way are bound once per transport and kept in slots, not in the instance
    dict: a slot is a data descriptor of the class, which attribute lookup takes without
    probing the dict (the instance still has one, as the stock loop's transports do, for
    attributes set on it). The others are ``_simul.CoreMethod`` descriptors of the class,
    which look the method up on the core at each access (binding all 18 per transport
    cost more than a TLS handshake's connection ever calls)."""

    _METHODS = _SOCKET_TRANSPORT_BOUND
    __slots__ = _SOCKET_TRANSPORT_BOUND + ("_core",)
    _start_tls_compatible = True  # BaseEventLoop.start_tls may wrap it (see _tls.py)
    # ``_FlowControlMixin``'s default limits, as class defaults (the methods use the
    # core's; these are for code that reads the fields).
    _high_water = 64 * 1024
    _low_water = 16 * 1024

    def __init__(self, loop: Any, sock: socket.socket, protocol: Any, extra: dict[str, Any], server: Any) -> None:
        # (``EventLoop._make_socket_transport`` takes these steps itself.)
        # ``_FlowControlMixin.__init__`` (and ``BaseTransport``'s), whose fields are set
        # here rather than in its three Python frames; ``_protocol_paused`` is the Rust
        # core's (``SendfileTransportMixin``), and so are the limits the methods use.
        self._extra = extra
        self._loop = loop
        core = _simul.SocketTransport(loop, sock, protocol, extra, server)
        self._core = core
        core._bind_methods(self, self._METHODS)

    def __repr__(self) -> str:
        return repr(self._core).replace("SocketTransport", type(self).__name__, 1)


for _name in _SOCKET_TRANSPORT_LOOKED_UP:
    setattr(SocketTransport, _name, _simul.CoreMethod(_name))

# The methods a TLS connection's socket transport is called by on its way (by
# ``TlsFeed``: ``write``, ``close``; by the core itself: ``_call_connection_lost``).
_TLS_TRANSPORT_BOUND = ("write", "close", "_call_connection_lost")


class TlsSocketTransport(SocketTransport):
    """The socket transport under one of simul's TLS protocols: a ``SocketTransport``
    (named so), with only the methods the TLS protocol calls on its way bound per
    transport; the other hot ones of ``SocketTransport`` (``sslproto``'s flow control,
    ``get_extra_info``'s fallback, ...) are ``_simul.CoreMethod`` descriptors here, which
    come first in the MRO: a handshake then binds 3 methods per transport, not 9."""

    __slots__ = ()


TlsSocketTransport.__name__ = TlsSocketTransport.__qualname__ = "SocketTransport"
for _name in _SOCKET_TRANSPORT_BOUND:
    if _name not in _TLS_TRANSPORT_BOUND:
        setattr(TlsSocketTransport, _name, _simul.CoreMethod(_name))
del _name


class EventLoopPolicy(events.BaseDefaultEventLoopPolicy if sys.platform == "win32" else asyncio.DefaultEventLoopPolicy):  # type: ignore[misc]
    """The default policy, with ``simul.EventLoop`` as its loop factory."""

    _loop_factory = EventLoop
