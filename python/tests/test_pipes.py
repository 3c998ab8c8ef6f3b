"""connect_read_pipe / connect_write_pipe on simul's Rust pipe transports."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest


class Collect(asyncio.Protocol):
    def __init__(self) -> None:
        self.data = bytearray()
        self.events: list[str] = []
        self.done: asyncio.Future[Any] = asyncio.get_event_loop().create_future()

    def connection_made(self, transport: Any) -> None:
        self.events.append("made")

    def data_received(self, data: bytes) -> None:
        self.data += data

    def eof_received(self) -> None:
        self.events.append("eof")

    def connection_lost(self, exc: Any) -> None:
        self.events.append("lost")
        self.done.set_result(exc)


class Writer(asyncio.Protocol):
    def __init__(self) -> None:
        self.paused = 0
        self.resumed = 0
        self.done: asyncio.Future[Any] = asyncio.get_event_loop().create_future()

    def pause_writing(self) -> None:
        self.paused += 1

    def resume_writing(self) -> None:
        self.resumed += 1

    def connection_lost(self, exc: Any) -> None:
        self.done.set_result(exc)


def test_bytes_written_to_a_write_pipe_arrive_on_a_read_pipe_then_eof(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> tuple[Collect, Writer, Any]:
        r, w = os.pipe()
        rp = Collect()
        rt, _ = await loop.connect_read_pipe(lambda: rp, os.fdopen(r, "rb", 0))
        wp = Writer()
        wt, _ = await loop.connect_write_pipe(lambda: wp, os.fdopen(w, "wb", 0))
        wt.write(b"a" * 1_000_000)  # far more than the pipe holds: queued
        assert wt.get_write_buffer_size() > 0
        wt.close()  # flushes, then connection_lost(None)
        exc = await wp.done
        await rp.done
        return rp, wp, exc

    rp, wp, exc = loop.run_until_complete(main())
    assert exc is None
    assert bytes(rp.data) == b"a" * 1_000_000
    assert rp.events == ["made", "eof", "lost"]
    assert wp.paused == 1 and wp.resumed == 1


def test_pause_reading_stops_data_received_until_resumed(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        r, w = os.pipe()
        rp = Collect()
        rt, _ = await loop.connect_read_pipe(lambda: rp, os.fdopen(r, "rb", 0))
        rt.pause_reading()
        assert not rt.is_reading()
        os.write(w, b"hello")
        await asyncio.sleep(0.05)
        assert rp.data == b""
        rt.resume_reading()
        for _ in range(200):
            if rp.data:
                break
            await asyncio.sleep(0.01)
        assert rp.data == b"hello"
        os.close(w)
        await rp.done

    loop.run_until_complete(main())


def test_a_write_pipe_whose_reader_is_gone_loses_its_connection(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> Any:
        r, w = os.pipe()
        wp = Writer()
        wt, _ = await loop.connect_write_pipe(lambda: wp, os.fdopen(w, "wb", 0))
        wt.write(b"x" * 200_000)  # leaves bytes queued
        os.close(r)
        return await asyncio.wait_for(wp.done, 10)

    assert isinstance(loop.run_until_complete(main()), BrokenPipeError)


def test_an_idle_write_pipe_closes_cleanly_when_its_reader_goes(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> Any:
        r, w = os.pipe()
        wp = Writer()
        wt, _ = await loop.connect_write_pipe(lambda: wp, os.fdopen(w, "wb", 0))
        os.close(r)
        exc = await asyncio.wait_for(wp.done, 10)
        assert wt.is_closing()
        return exc

    assert loop.run_until_complete(main()) is None


def test_a_regular_file_is_refused(loop: asyncio.AbstractEventLoop, tmp_path: Any) -> None:
    f = open(tmp_path / "f", "wb")

    async def main() -> None:
        await loop.connect_write_pipe(asyncio.Protocol, f)

    with pytest.raises(ValueError, match="Pipe transport is only for pipes, sockets and character devices"):
        loop.run_until_complete(main())
    f.close()


def test_write_rejects_str(loop: asyncio.AbstractEventLoop) -> None:
    async def main() -> None:
        r, w = os.pipe()
        wt, wp = await loop.connect_write_pipe(Writer, os.fdopen(w, "wb", 0))
        with pytest.raises(TypeError):
            wt.write("text")
        wt.close()
        await wp.done
        os.close(r)

    loop.run_until_complete(main())


def test_a_write_pipe_on_a_terminal_stays_open_when_input_arrives(loop: asyncio.AbstractEventLoop) -> None:
    master, slave = os.openpty()
    import tty

    tty.setraw(slave)

    async def main() -> bool:
        wp = Writer()
        wt, _ = await loop.connect_write_pipe(lambda: wp, os.fdopen(slave, "wb", 0))
        os.write(master, b"typed")  # the slave turns readable: not a closed reader
        await asyncio.sleep(0.1)
        closing = wt.is_closing()
        wt.write(b"out")
        wt.close()
        await wp.done
        return closing

    try:
        assert loop.run_until_complete(main()) is False
        assert os.read(master, 100) == b"out"
    finally:
        os.close(master)
