"""The transports' I/O system calls (plain ``syscall(2)``s on Linux, not libc's
cancellation-point wrappers) move bytes and report errors as before in a process with a
second thread, as any program that used ``run_in_executor`` or ``to_thread`` is: every
``recv``/``send``/``sendmsg`` of a socket transport, ``read``/``write`` of the pipe
transports and ``recvfrom``/``send`` of a datagram transport, each errno as the same
``OSError`` subclass."""

from __future__ import annotations

import asyncio
import errno
import os
import socket
import struct
import threading
from typing import Any, Iterator

import pytest

import simul


@pytest.fixture
def second_thread() -> Iterator[None]:
    stop = threading.Event()
    t = threading.Thread(target=stop.wait, daemon=True)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join()


class Recorder(asyncio.Protocol):
    def __init__(self) -> None:
        self.data = bytearray()
        self.lost: asyncio.Future[Any] = asyncio.get_event_loop().create_future()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.data += data

    def connection_lost(self, exc: Any) -> None:
        self.lost.set_result(exc)


class BufferedRecorder(asyncio.BufferedProtocol):
    def __init__(self) -> None:
        self.buf = bytearray(4096)
        self.data = bytearray()
        self.lost: asyncio.Future[Any] = asyncio.get_event_loop().create_future()

    def get_buffer(self, sizehint: int) -> memoryview:
        return memoryview(self.buf)

    def buffer_updated(self, nbytes: int) -> None:
        self.data += self.buf[:nbytes]

    def connection_lost(self, exc: Any) -> None:
        self.lost.set_result(exc)


def reset(sock: socket.socket) -> None:
    """Closes `sock` with an RST (linger 0) instead of a FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


@pytest.mark.parametrize("protocol", [Recorder, BufferedRecorder])
def test_socket_transport_moves_bytes_and_reports_a_reset_with_a_second_thread(
    loop: simul.EventLoop, second_thread: None, protocol: type
) -> None:
    async def main() -> None:
        assert threading.active_count() >= 2
        peer, listener = socket.socket(), socket.socket()
        try:
            listener.bind(("127.0.0.1", 0))
            listener.listen()
            t, p = await loop.create_connection(protocol, *listener.getsockname())
            peer, _ = listener.accept()
            peer.setblocking(False)
            # send (nothing queued) and recv (the socket transport's read).
            t.write(b"ping")
            assert await loop.sock_recv(peer, 4) == b"ping"
            await loop.sock_sendall(peer, b"pong")
            while bytes(p.data) != b"pong":
                await asyncio.sleep(0.001)
            # sendmsg: more than the socket takes at once queues, then flushes in order.
            big = os.urandom(4 << 20)
            t.write(big[: 1 << 20])
            t.write(big[1 << 20 :])
            assert t.get_write_buffer_size() > 0
            got = bytearray()
            while len(got) < len(big):
                got += await loop.sock_recv(peer, 1 << 20)
            assert got == big
            # A reset peer: the read's ECONNRESET is the transport's connection_lost.
            reset(peer)
            exc = await asyncio.wait_for(p.lost, 10)
            assert isinstance(exc, ConnectionResetError), exc
        finally:
            for s in (peer, listener):
                s.close()

    loop.run_until_complete(main())


def test_a_write_to_a_reset_socket_is_an_epipe_or_reset_error_with_a_second_thread(
    loop: simul.EventLoop, second_thread: None
) -> None:
    class Quiet(Recorder):
        def data_received(self, data: bytes) -> None:
            pass

    async def main() -> None:
        a, b = socket.socketpair()
        t, p = await loop.create_connection(Quiet, sock=a)
        b.shutdown(socket.SHUT_RD)
        b.close()
        # The peer is gone before anything is read: the first send fails with EPIPE
        # (MSG_NOSIGNAL: an error, not a signal) and the transport closes with it.
        t.write(b"late")
        exc = await asyncio.wait_for(p.lost, 10)
        assert isinstance(exc, (BrokenPipeError, ConnectionResetError)), exc

    loop.run_until_complete(main())


def test_pipe_transports_move_bytes_and_report_epipe_with_a_second_thread(
    loop: simul.EventLoop, second_thread: None
) -> None:
    async def main() -> None:
        r, w = os.pipe()
        rp = Recorder()
        rt, _ = await loop.connect_read_pipe(lambda: rp, os.fdopen(r, "rb", 0))
        wp = Recorder()
        wt, _ = await loop.connect_write_pipe(lambda: wp, os.fdopen(w, "wb", 0))
        data = os.urandom(1 << 20)  # more than a pipe holds: write, then queued writes
        wt.write(data)
        while len(rp.data) < len(data):
            await asyncio.sleep(0.001)
        assert bytes(rp.data) == data
        wt.close()
        assert await asyncio.wait_for(rp.lost, 10) is None
        assert await asyncio.wait_for(wp.lost, 10) is None

        # A write pipe whose reader is gone (before the loop sees it): write(2) fails
        # with EPIPE.
        r, w = os.pipe()
        wp = Recorder()
        wt, _ = await loop.connect_write_pipe(lambda: wp, os.fdopen(w, "wb", 0))
        os.close(r)
        wt.write(b"nobody reads")
        exc = await asyncio.wait_for(wp.lost, 10)
        assert isinstance(exc, BrokenPipeError), exc

    loop.run_until_complete(main())


class Datagrams(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.got: asyncio.Queue[tuple[bytes, Any]] = asyncio.Queue()
        self.errors: asyncio.Queue[Exception] = asyncio.Queue()
        self.lost: asyncio.Future[Any] = asyncio.get_event_loop().create_future()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.got.put_nowait((data, addr))

    def error_received(self, exc: Exception) -> None:
        self.errors.put_nowait(exc)

    def connection_lost(self, exc: Any) -> None:
        self.lost.set_result(exc)


def test_datagram_transport_moves_datagrams_and_reports_refusal_with_a_second_thread(
    loop: simul.EventLoop, second_thread: None
) -> None:
    async def main() -> None:
        t1, p1 = await loop.create_datagram_endpoint(Datagrams, local_addr=("127.0.0.1", 0))
        a1 = t1.get_extra_info("sockname")
        t2, p2 = await loop.create_datagram_endpoint(Datagrams, remote_addr=a1)
        a2 = t2.get_extra_info("sockname")
        t2.sendto(b"hello")  # connected: send(2)
        assert await asyncio.wait_for(p1.got.get(), 10) == (b"hello", a2)  # recvfrom(2)
        t1.sendto(b"back", a2)
        assert await asyncio.wait_for(p2.got.get(), 10) == (b"back", a1)
        # The peer gone: ICMP port unreachable, ECONNREFUSED through error_received.
        t1.close()
        await asyncio.wait_for(p1.lost, 10)
        t2.sendto(b"anyone?")
        exc = await asyncio.wait_for(p2.errors.get(), 10)
        assert isinstance(exc, ConnectionRefusedError), exc
        t2.close()

    loop.run_until_complete(main())


def test_transport_errors_carry_errno_and_strerror_as_on_the_stock_loop(
    loop: simul.EventLoop,
) -> None:
    """A transport's OS error is `OSError(errno, strerror)`, as the stock loop's (from
    `socket.recv`/`os.write`) is: `exc.errno` is set, not just the class."""

    async def main() -> None:
        # A socket transport's read meets a reset: ECONNRESET.
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        t, p = await loop.create_connection(Recorder, *listener.getsockname())
        peer, _ = listener.accept()
        listener.close()
        reset(peer)
        exc = await asyncio.wait_for(p.lost, 10)
        assert isinstance(exc, ConnectionResetError), exc
        assert (exc.errno, exc.strerror) == (errno.ECONNRESET, os.strerror(errno.ECONNRESET))

        # A socket transport's send to a gone peer: EPIPE (or a reset).
        a, b = socket.socketpair()
        t, p = await loop.create_connection(Recorder, sock=a)
        b.close()
        t.write(b"late")
        exc = await asyncio.wait_for(p.lost, 10)
        assert exc.errno in (errno.EPIPE, errno.ECONNRESET), exc
        assert exc.strerror == os.strerror(exc.errno)

        # A write pipe's write(2) to a gone reader: EPIPE.
        r, w = os.pipe()
        wp = Recorder()
        wt, _ = await loop.connect_write_pipe(lambda: wp, os.fdopen(w, "wb", 0))
        os.close(r)
        wt.write(b"nobody reads")
        exc = await asyncio.wait_for(wp.lost, 10)
        assert isinstance(exc, BrokenPipeError), exc
        assert (exc.errno, exc.strerror) == (errno.EPIPE, os.strerror(errno.EPIPE))

    loop.run_until_complete(main())
