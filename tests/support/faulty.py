"""A v2 upstream that misbehaves at the socket level, on a real loopback port.

Each connection reads one request, then does what ``mode`` says: answer well, reset the
connection (before or inside a body), say nothing, stall after the headers, send a bad or
truncated or oversized body, or an error status.
"""

from __future__ import annotations

import asyncio
import socket
import struct

import orjson

GOOD_IMAGE = {
    "id": "3c3d1d01-b48a-4639-8a88-08be3b9b5d78", "name": "cirros", "status": "active",
    "visibility": "public", "protected": False, "checksum": None, "owner": "p", "size": 1,
    "virtual_size": None, "container_format": "bare", "disk_format": "raw", "min_ram": 0,
    "min_disk": 0, "created_at": "2016-05-22T06:04:20Z", "updated_at": "2016-05-22T06:04:22Z",
}
GOOD_LIST = orjson.dumps({"images": [GOOD_IMAGE]})


def _response(status: str, body: bytes, length: int | None = None, extra: str = "") -> bytes:
    length = len(body) if length is None else length
    return (f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{extra}"
            f"Content-Length: {length}\r\n\r\n").encode() + body


MODES = {
    "good": _response("200 OK", GOOD_LIST),
    "502": _response("502 Bad Gateway", b"<html>bad gateway at 10.1.2.3</html>"),
    "503": _response("503 Service Unavailable", b"down for maintenance",
                     extra="Retry-After: 120\r\n"),
    "503_date": _response("503 Service Unavailable", b"down",
                          extra="Retry-After: Fri, 31 Dec 2027 23:59:59 GMT\r\n"),
    "503_odd": _response("503 Service Unavailable", b"down", extra="Retry-After: soon-ish\r\n"),
    "504": _response("504 Gateway Timeout", b"timeout"),
    "not_json": _response("200 OK", b"<html>certainly not json</html>"),
    "no_images": _response("200 OK", b'{"imagez": []}'),
    "image_not_object": _response("200 OK", b'{"images": ["x"]}'),
    "wrong_type": _response("200 OK", orjson.dumps({"images": [dict(GOOD_IMAGE, size="big")]})),
    "truncated": _response("200 OK", GOOD_LIST[:20], length=len(GOOD_LIST)),
    "too_large": _response("200 OK", b'{"images": [], "pad": "' + b"x" * 4096 + b'"}'),
}


class FaultyUpstream:
    def image_list_requests(self) -> int:
        return sum(line.startswith("GET /v2/images") for line in self.request_lines)

    def __init__(self) -> None:
        self.mode = "good"
        self.connections = 0
        self.request_lines: list[str] = []
        self.abandoned = 0  # silent requests whose caller closed the connection
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._released = asyncio.Event()  # ends the silences at stop()
        self.url = ""

    async def start(self) -> "FaultyUpstream":
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        self._released.set()
        for writer in list(self._writers):
            writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                self.request_lines.append(head.split(b"\r\n", 1)[0].decode())
                if not await self._answer(reader, writer):
                    return
        finally:
            self._writers.discard(writer)
            if not writer.is_closing():
                writer.close()

    async def _until_released_or_abandoned(self, reader: asyncio.StreamReader) -> None:
        eof = asyncio.ensure_future(_wait_for_eof(reader))
        released = asyncio.ensure_future(self._released.wait())
        done, pending = await asyncio.wait({eof, released}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        if eof in done:
            self.abandoned += 1

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; False when the connection is done with."""
        mode = self.mode
        if mode == "reset_before":
            _reset(writer)
            return False
        if mode == "reset_mid_body":
            writer.write(MODES["good"][:-10])
            await writer.drain()
            _reset(writer)
            return False
        if mode in ("silent", "stall_after_headers"):
            if mode == "stall_after_headers":
                writer.write(MODES["good"].split(b"\r\n\r\n")[0] + b"\r\n\r\n")
                await writer.drain()
            await self._until_released_or_abandoned(reader)
            return False
        writer.write(MODES[mode])
        await writer.drain()
        return mode != "truncated"


async def _wait_for_eof(reader: asyncio.StreamReader) -> None:
    try:
        while await reader.read(1024):
            pass
    except ConnectionError:
        pass


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST rather than FIN, as a crashed or firewalled peer does."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
