"""UDP on simul's loop: create_datagram_endpoint, the datagram transport, sock_recvfrom/sendto."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import pytest

import simul


class Recorder(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.transport: Any = None
        self.datagrams: list[tuple[bytes, Any]] = []
        self.errors: list[Exception] = []
        self.lost: list[Any] = []
        self.got = asyncio.Event()
        self.error = asyncio.Event()
        self.closed = asyncio.Event()
        self.want = 1

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.datagrams.append((data, addr))
        if len(self.datagrams) >= self.want:
            self.got.set()

    def error_received(self, exc: Exception) -> None:
        self.errors.append(exc)
        self.error.set()

    def connection_lost(self, exc: Any) -> None:
        self.lost.append(exc)
        self.closed.set()


class Echo(asyncio.DatagramProtocol):
    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.transport.sendto(data, addr)


def test_sendto_and_receive_with_extra_info(loop: simul.EventLoop) -> None:
    async def main() -> None:
        st, sp = await loop.create_datagram_endpoint(Echo, local_addr=("127.0.0.1", 0))
        addr = st.get_extra_info("sockname")
        ct, cp = await loop.create_datagram_endpoint(Recorder, remote_addr=addr)
        assert isinstance(ct, asyncio.DatagramTransport)
        assert ct.get_extra_info("peername") == addr
        assert ct.get_extra_info("socket").family == socket.AF_INET
        assert ct.get_extra_info("nope", 7) == 7
        ct.sendto(b"hello")
        await asyncio.wait_for(cp.got.wait(), 10)
        assert cp.datagrams == [(b"hello", addr)]
        # A connected transport refuses another address, as the stock loop does.
        with pytest.raises(ValueError, match="Invalid address"):
            ct.sendto(b"x", ("127.0.0.1", 1))
        with pytest.raises(TypeError, match="bytes-like"):
            ct.sendto("text")  # type: ignore[arg-type]
        ct.close()
        assert ct.is_closing()
        await asyncio.wait_for(cp.closed.wait(), 10)
        assert cp.lost == [None]
        st.abort()
        await asyncio.sleep(0)

    loop.run_until_complete(main())


def test_unconnected_sendto_needs_and_uses_the_address(loop: simul.EventLoop) -> None:
    async def main() -> None:
        st, sp = await loop.create_datagram_endpoint(Recorder, local_addr=("127.0.0.1", 0))
        ct, cp = await loop.create_datagram_endpoint(Recorder, local_addr=("127.0.0.1", 0))
        assert ct.get_extra_info("peername") is None
        ct.sendto(bytearray(b"abc"), st.get_extra_info("sockname"))
        ct.sendto(memoryview(b"def"), st.get_extra_info("sockname"))
        sp.want = 2
        await asyncio.wait_for(sp.got.wait(), 10)
        assert [d for d, _ in sp.datagrams] == [b"abc", b"def"]
        assert sp.datagrams[0][1] == ct.get_extra_info("sockname")
        ct.close()
        st.close()
        await asyncio.wait_for(cp.closed.wait(), 10)
        await asyncio.wait_for(sp.closed.wait(), 10)

    loop.run_until_complete(main())


def test_peer_gone_delivers_the_error_without_a_busy_loop(loop: simul.EventLoop) -> None:
    """ICMP port unreachable on a connected socket reaches error_received, and then the
    loop sleeps: the thread's CPU time stays low over 500 ms."""

    async def main() -> None:
        gone = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        gone.bind(("127.0.0.1", 0))
        addr = gone.getsockname()
        gone.close()
        t, p = await loop.create_datagram_endpoint(Recorder, remote_addr=addr)
        t.sendto(b"anyone?")
        await asyncio.wait_for(p.error.wait(), 10)
        assert isinstance(p.errors[0], ConnectionRefusedError)
        cpu0 = time.thread_time()
        await asyncio.sleep(0.5)
        cpu = time.thread_time() - cpu0
        assert cpu < 0.2, f"the loop spun for {cpu:.3f} s of CPU while idle"
        assert len(p.errors) == 1
        assert not t.is_closing()  # an ICMP error does not close the transport
        t.close()
        await asyncio.wait_for(p.closed.wait(), 10)

    loop.run_until_complete(main())


def test_add_reader_on_a_socket_whose_peer_is_gone_does_not_spin(loop: simul.EventLoop) -> None:
    """The descriptor watchers forget the error state too once the descriptor is no
    longer ready: a reader of a socket whose ICMP error was read runs no more."""

    async def main() -> None:
        gone = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        gone.bind(("127.0.0.1", 0))
        addr = gone.getsockname()
        gone.close()
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setblocking(False)
        s.connect(addr)
        outcomes: list[str] = []
        refused = asyncio.Event()

        def on_readable() -> None:
            try:
                s.recv(100)
                outcomes.append("data")
            except BlockingIOError:
                outcomes.append("eagain")
            except ConnectionRefusedError:
                outcomes.append("refused")
                refused.set()

        loop.add_reader(s, on_readable)
        await asyncio.sleep(0.01)
        s.send(b"anyone?")
        await asyncio.wait_for(refused.wait(), 10)
        cpu0 = time.thread_time()
        await asyncio.sleep(0.5)
        cpu = time.thread_time() - cpu0
        loop.remove_reader(s)
        assert outcomes.count("refused") == 1
        assert len(outcomes) < 10, f"the reader ran {len(outcomes)} times"
        assert cpu < 0.2, f"the loop spun for {cpu:.3f} s of CPU while idle"
        s.close()

    loop.run_until_complete(main())


def test_ten_thousand_datagrams_round_trip_none_lost(loop: simul.EventLoop) -> None:
    """10,000 datagrams echoed on loopback, at most 64 in flight (the socket buffers hold
    that many): every one comes back."""
    total, window = 10_000, 64

    async def main() -> None:
        st, _ = await loop.create_datagram_endpoint(Echo, local_addr=("127.0.0.1", 0))
        done = loop.create_future()
        seen: set[int] = set()
        state = {"next": 0}

        class Client(asyncio.DatagramProtocol):
            def connection_made(self, transport: Any) -> None:
                self.transport = transport
                for _ in range(window):
                    self.send_next()

            def send_next(self) -> None:
                if state["next"] < total:
                    self.transport.sendto(state["next"].to_bytes(4, "big") * 16)
                    state["next"] += 1

            def datagram_received(self, data: bytes, addr: Any) -> None:
                n = int.from_bytes(data[:4], "big")
                assert data == n.to_bytes(4, "big") * 16
                seen.add(n)
                if len(seen) == total and not done.done():
                    done.set_result(None)
                self.send_next()

        ct, _ = await loop.create_datagram_endpoint(Client, remote_addr=st.get_extra_info("sockname"))
        await asyncio.wait_for(done, 60)
        assert seen == set(range(total))
        ct.close()
        st.close()
        await asyncio.sleep(0)

    loop.run_until_complete(main())


def test_a_full_socket_queues_sends_and_flushes_them_in_order(loop: simul.EventLoop) -> None:
    async def main() -> None:
        rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        tx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        path = f"\0simul-dgram-{id(rx)}"
        rx.bind(path)
        rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        tx.connect(path)
        tx.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        tx.setblocking(False)
        paused = []

        class P(Recorder):
            def pause_writing(self) -> None:
                paused.append(True)

            def resume_writing(self) -> None:
                paused.append(False)

        t, p = await loop.create_datagram_endpoint(P, sock=tx)
        t.set_write_buffer_limits(high=2000, low=0)
        payloads = [bytes([i]) * 100 for i in range(200)]
        for d in payloads:
            t.sendto(d)
        assert t.get_write_buffer_size() > 0  # the receiver's queue is full
        assert paused == [True]
        rx.setblocking(False)
        got: list[bytes] = []
        while len(got) < len(payloads):
            got.append(await asyncio.wait_for(loop.sock_recv(rx, 1000), 10))
        assert got == payloads
        assert t.get_write_buffer_size() == 0
        assert paused == [True, False]
        t.close()
        await asyncio.wait_for(p.closed.wait(), 10)
        rx.close()

    loop.run_until_complete(main())


def test_close_flushes_queue_and_abort_drops_it(loop: simul.EventLoop) -> None:
    async def main() -> None:
        for how in ("close", "abort"):
            rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            path = f"\0simul-dgram-{how}-{id(rx)}"
            rx.bind(path)
            tx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            tx.connect(path)
            tx.setblocking(False)
            t, p = await loop.create_datagram_endpoint(Recorder, sock=tx)
            for i in range(200):
                t.sendto(bytes([i]) * 100)
            assert t.get_write_buffer_size() > 0
            getattr(t, how)()
            assert t.is_closing()
            rx.setblocking(False)
            got = []
            if how == "close":
                while len(got) < 200:
                    got.append(await asyncio.wait_for(loop.sock_recv(rx, 1000), 10))
                assert got[-1] == bytes([199]) * 100
            await asyncio.wait_for(p.closed.wait(), 10)
            assert p.lost == [None]
            assert tx.fileno() == -1  # the transport closed its socket
            rx.close()

    loop.run_until_complete(main())


def test_datagram_received_error_is_reported_and_reading_goes_on(loop: simul.EventLoop) -> None:
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda lp, ctx: errors.append(ctx))

    async def main() -> None:
        class Bad(Recorder):
            def datagram_received(self, data: bytes, addr: Any) -> None:
                super().datagram_received(data, addr)
                if data == b"boom":
                    raise RuntimeError("boom")

        t, p = await loop.create_datagram_endpoint(Bad, local_addr=("127.0.0.1", 0))
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.sendto(b"boom", t.get_extra_info("sockname"))
        s.sendto(b"ok", t.get_extra_info("sockname"))
        p.want = 2
        await asyncio.wait_for(p.got.wait(), 10)
        assert isinstance(errors[0]["exception"], RuntimeError)
        assert not t.is_closing()
        s.close()
        t.close()
        await asyncio.sleep(0)

    loop.run_until_complete(main())


def test_sock_recvfrom_sendto_and_recvfrom_into(loop: simul.EventLoop) -> None:
    async def main() -> None:
        a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for s in (a, b):
            s.bind(("127.0.0.1", 0))
            s.setblocking(False)
        pending = asyncio.ensure_future(loop.sock_recvfrom(a, 100))
        await asyncio.sleep(0.01)
        assert not pending.done()
        assert await loop.sock_sendto(b, b"ping", a.getsockname()) == 4
        data, addr = await asyncio.wait_for(pending, 10)
        assert (data, addr) == (b"ping", b.getsockname())
        buf = bytearray(10)
        await loop.sock_sendto(a, b"pong", b.getsockname())
        n, addr = await asyncio.wait_for(loop.sock_recvfrom_into(b, buf), 10)
        assert (bytes(buf[:n]), addr) == (b"pong", a.getsockname())
        await loop.sock_sendto(a, b"pong-pong", b.getsockname())
        n, _ = await asyncio.wait_for(loop.sock_recvfrom_into(b, buf, 4), 10)
        assert bytes(buf[:n]) == b"pong"
        a.close()
        b.close()

    loop.run_until_complete(main())


def test_reuse_port_and_broadcast_options(loop: simul.EventLoop) -> None:
    async def main() -> None:
        t1, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0), reuse_port=True
        )
        addr = t1.get_extra_info("sockname")
        t2, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=addr, reuse_port=True, allow_broadcast=True
        )
        s = t2.get_extra_info("socket")
        assert s.getsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST)
        assert s.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT)
        t1.close()
        t2.close()
        await asyncio.sleep(0)

    loop.run_until_complete(main())


@pytest.mark.parametrize("how", ["close", "abort", "sendto then close"])
def test_a_transport_closed_in_connection_made_reports_connection_lost(
    loop: simul.EventLoop, how: str
) -> None:
    """Closing (or aborting) the transport inside `connection_made` still ends with
    `connection_lost` and a closed socket, and a datagram sent before `close` is flushed."""

    async def main() -> None:
        peer = Recorder()
        pt, _ = await loop.create_datagram_endpoint(lambda: peer, local_addr=("127.0.0.1", 0))
        addr = pt.get_extra_info("sockname")

        class Quick(Recorder):
            def connection_made(self, transport: Any) -> None:
                super().connection_made(transport)
                if how == "abort":
                    transport.abort()
                else:
                    if how == "sendto then close":
                        transport.sendto(b"last words", addr)
                    transport.close()

        proto = Quick()
        t, _ = await loop.create_datagram_endpoint(lambda: proto, local_addr=("127.0.0.1", 0))
        await asyncio.wait_for(proto.closed.wait(), 5)
        assert proto.lost == [None]
        assert t.is_closing()
        sock = t.get_extra_info("socket")
        assert sock is None or sock.fileno() == -1, "the socket is closed"
        if how == "sendto then close":
            await asyncio.wait_for(peer.got.wait(), 5)
            assert peer.datagrams[0][0] == b"last words"
        pt.close()
        await asyncio.wait_for(peer.closed.wait(), 5)

    loop.run_until_complete(main())


def test_sendto_of_what_is_not_bytes_like_names_its_type_as_the_stock_loop() -> None:
    def message(factory: Any) -> str:
        lp = factory()
        try:

            async def main() -> str:
                tr, _ = await lp.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))
                try:
                    tr.sendto("text", ("127.0.0.1", 9))
                except TypeError as exc:
                    return str(exc)
                finally:
                    tr.close()
                    await asyncio.sleep(0)
                return "no error"

            return lp.run_until_complete(main())
        finally:
            lp.close()

    stock = message(asyncio.SelectorEventLoop)
    assert stock == "data argument must be a bytes-like object, not 'str'"
    assert message(simul.new_event_loop) == stock
