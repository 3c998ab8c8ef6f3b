"""Connection setup: the connect watch handed on to the transport, the accept loop's
drained backlog, and the descriptor watcher's `_watch_drained` shortcut."""

from __future__ import annotations

import asyncio
import socket

import simul


def pair() -> tuple[socket.socket, socket.socket]:
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    return a, b


def test_drained_reader_still_sees_data_sent_later(loop: simul.EventLoop) -> None:
    a, b = pair()
    got: list[bytes] = []

    def on_readable() -> None:
        while True:
            try:
                chunk = a.recv(100)
            except BlockingIOError:
                loop._watch_drained(a.fileno(), False)
                break
            got.append(chunk)
        if got == [b"one"]:
            loop.call_later(0.01, b.send, b"two")
        elif len(got) == 2:
            loop.remove_reader(a)
            loop.stop()

    loop.add_reader(a, on_readable)
    b.send(b"one")
    loop.run_forever()
    assert got == [b"one", b"two"]
    a.close()
    b.close()


def test_drained_mark_for_the_other_direction_keeps_reads_level_triggered(
    loop: simul.EventLoop,
) -> None:
    a, b = pair()
    got: list[bytes] = []

    def on_readable() -> None:
        got.append(a.recv(1))  # one byte a call: the watcher must call again
        loop._watch_drained(a.fileno(), True)  # a claim about writing, not reading
        if len(got) == 3:
            loop.remove_reader(a)
            loop.stop()

    loop.add_reader(a, on_readable)
    b.send(b"xyz")
    loop.run_forever()
    assert got == [b"x", b"y", b"z"]
    a.close()
    b.close()


def test_watch_drained_on_an_unwatched_descriptor_is_harmless(loop: simul.EventLoop) -> None:
    a, b = pair()
    loop._watch_drained(a.fileno(), False)
    loop._watch_drained(12345, True)
    a.close()
    b.close()


class Collect(asyncio.Protocol):
    def __init__(self) -> None:
        self.data = bytearray()
        self.eof = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        self.data += data

    def eof_received(self) -> None:
        self.eof.set_result(bytes(self.data))


def test_transport_made_right_after_sock_connect_gets_data_and_eof(loop: simul.EventLoop) -> None:
    async def main() -> bytes:
        async def serve(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            w.write(b"hello from the server")
            await w.drain()
            w.close()

        srv = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        sock = socket.socket()
        sock.setblocking(False)
        await loop.sock_connect(sock, ("127.0.0.1", port))
        assert not loop._has_watch(sock.fileno(), True)
        tr, proto = await loop.create_connection(Collect, sock=sock)
        got = await asyncio.wait_for(proto.eof, 5)
        tr.close()
        srv.close()
        await srv.wait_closed()
        return got

    assert loop.run_until_complete(main()) == b"hello from the server"


def test_refused_sock_connect_raises_and_leaves_no_watch(loop: simul.EventLoop) -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nobody listens there now

    async def main() -> None:
        sock = socket.socket()
        sock.setblocking(False)
        try:
            try:
                await loop.sock_connect(sock, ("127.0.0.1", port))
            except ConnectionRefusedError:
                pass
            else:
                raise AssertionError("connect to a closed port succeeded")
            assert not loop._has_watch(sock.fileno(), True)
        finally:
            sock.close()

    loop.run_until_complete(main())


def test_accept_burst_of_100_connections_all_served(loop: simul.EventLoop) -> None:
    n = 100

    async def main() -> list[bytes]:
        served = 0

        class Echo(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                nonlocal served
                served += 1
                assert isinstance(transport, asyncio.WriteTransport)
                transport.write(b"%d" % served)
                transport.close()

        srv = await loop.create_server(Echo, "127.0.0.1", 0, backlog=n)
        port = srv.sockets[0].getsockname()[1]
        # All connect before the loop accepts any: one readiness event, a full backlog.
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
        for c in clients:
            c.setblocking(False)
        replies = await asyncio.gather(*(read_all(c) for c in clients))
        # The backlog was drained: a later connection is still accepted.
        late = socket.create_connection(("127.0.0.1", port))
        late.setblocking(False)
        replies.append(await read_all(late))
        for c in [*clients, late]:
            c.close()
        srv.close()
        await srv.wait_closed()
        return replies

    async def read_all(c: socket.socket) -> bytes:
        out = b""
        while chunk := await asyncio.wait_for(loop.sock_recv(c, 100), 5):
            out += chunk
        return out

    replies = loop.run_until_complete(main())
    assert sorted(int(r) for r in replies) == list(range(1, n + 2))


async def _connected_socket(loop: simul.EventLoop, port: int) -> socket.socket:
    sock = socket.socket()
    sock.setblocking(False)
    await loop.sock_connect(sock, ("127.0.0.1", port))
    return sock


def _listener() -> tuple[socket.socket, int]:
    lsn = socket.socket()
    lsn.bind(("127.0.0.1", 0))
    lsn.listen(8)
    return lsn, lsn.getsockname()[1]


def test_watch_of_a_reused_number_survives_the_connect_watch_before_it(loop: simul.EventLoop) -> None:
    lsn, port = _listener()

    async def main() -> bytes:
        sock = await _connected_socket(loop, port)
        n = sock.fileno()
        sock.close()  # never made a transport; its number is free again
        kept = []
        while True:  # new descriptors take the lowest free number: find `n` again
            a, b = pair()
            if a.fileno() == n:
                break
            kept.append((a, b))
        got = loop.create_future()
        loop.add_reader(a, lambda: got.done() or got.set_result(a.recv(10)))
        b.send(b"ping")
        data = await asyncio.wait_for(got, 5)
        loop.remove_reader(a)
        for x, y in [*kept, (a, b)]:
            x.close()
            y.close()
        return data

    assert loop.run_until_complete(main()) == b"ping"
    lsn.close()


def test_connected_socket_used_with_sock_recv_instead_of_a_transport(loop: simul.EventLoop) -> None:
    lsn, port = _listener()

    async def main() -> bytes:
        sock = await _connected_socket(loop, port)
        other = await _connected_socket(loop, port)  # replaces the first one's spare
        peer, _ = lsn.accept()
        peer.sendall(b"to the first")
        data = await asyncio.wait_for(loop.sock_recv(sock, 100), 5)
        peer.close()
        sock.close()
        other.close()
        return data

    assert loop.run_until_complete(main()) == b"to the first"
    lsn.close()


def test_connected_socket_dropped_unclosed_is_not_kept_open(loop: simul.EventLoop) -> None:
    import gc
    import os
    import warnings
    import weakref

    lsn, port = _listener()

    async def main() -> None:
        sock = await _connected_socket(loop, port)
        n = sock.fileno()
        ref = weakref.ref(sock)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            del sock
            gc.collect()
        assert ref() is None
        try:
            os.fstat(n)
        except OSError:
            pass
        else:
            raise AssertionError(f"descriptor {n} of the dropped socket is still open")

    loop.run_until_complete(main())
    lsn.close()
