"""GET /v1/images/{id} streams: constant memory whatever the size, and a caller who stops
reading stops the upstream transfer."""

from __future__ import annotations

import asyncio
import hashlib
import tracemalloc

import aiohttp
import pytest

from aiohttp import web

from proxy.shell.app import make_app
from tests.support.scripted import V2_IMAGE, proxy_settings

IMAGE_ID = V2_IMAGE["id"]
CHUNK = b"x" * (1024 * 1024)


class StreamingUpstream:
    """An upstream whose file endpoint generates ``size`` bytes without holding them.

    ``announced``: the size its image record claims (default: ``size``); ``chunked``: send
    no Content-Length; ``break_after``: drop the connection after that many bytes."""

    def __init__(self, size: int, *, announced="same", chunked=False, break_after=None):
        self.size = size
        self.announced = size if announced == "same" else announced
        self.chunked = chunked
        self.break_after = break_after
        self.sent = 0
        self.data_requests = 0
        self.stopped = asyncio.Event()

    async def image(self, request):
        return web.json_response(dict(V2_IMAGE, size=self.announced, checksum=None))

    async def data(self, request):
        self.data_requests += 1
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        if not self.chunked:
            response.content_length = self.size
        await response.prepare(request)
        try:
            while self.sent < self.size:
                if self.break_after is not None and self.sent >= self.break_after:
                    request.transport.abort()
                    return response
                piece = CHUNK[: self.size - self.sent]
                await response.write(piece)
                self.sent += len(piece)
        except (ConnectionResetError, asyncio.CancelledError):
            self.stopped.set()
            raise
        return response

    async def versions(self, request):
        return web.json_response({"versions": []})

    def app(self):
        app = web.Application(handler_args={"handler_cancellation": True})
        app.router.add_get("/versions", self.versions)
        app.router.add_get(f"/v2/images/{IMAGE_ID}", self.image)
        app.router.add_get(f"/v2/images/{IMAGE_ID}/file", self.data)
        return app


async def start(aiohttp_server, aiohttp_client, size, **behaviour):
    upstream = StreamingUpstream(size, **behaviour)
    server = await aiohttp_server(upstream.app())
    client = await aiohttp_client(make_app(proxy_settings(str(server.make_url("")))))
    return upstream, client


async def test_a_large_image_streams_in_constant_memory(aiohttp_server, aiohttp_client):
    size = 256 * len(CHUNK)  # 256 MiB through the proxy
    upstream, client = await start(aiohttp_server, aiohttp_client, size)
    tracemalloc.start()
    try:
        response = await client.get(f"/v1/images/{IMAGE_ID}")
        assert response.status == 200
        assert response.headers["Content-Length"] == str(size)
        digest, received = hashlib.md5(), 0
        async for chunk in response.content.iter_chunked(256 * 1024):
            digest.update(chunk)
            received += len(chunk)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert received == size
    assert digest.hexdigest() == hashlib.md5(CHUNK * 256).hexdigest()
    # Upstream, proxy and client all run in this process: a copy of the image would show.
    assert peak < 32 * 1024 * 1024, f"peak traced memory {peak} bytes"


async def test_a_caller_who_stops_reading_stops_the_upstream_transfer(aiohttp_server,
                                                                      aiohttp_client):
    size = 4096 * len(CHUNK)  # 4 GiB: far more than any buffer between the two
    upstream, client = await start(aiohttp_server, aiohttp_client, size)
    response = await client.get(f"/v1/images/{IMAGE_ID}")
    await response.content.readexactly(8 * len(CHUNK))
    response.close()  # the caller goes away
    await asyncio.wait_for(upstream.stopped.wait(), timeout=10)
    # What is in flight between the two (socket buffers) is a few MiB, not the image.
    assert upstream.sent < 64 * len(CHUNK)


async def test_an_empty_image_is_an_empty_body_without_asking_for_data(aiohttp_server,
                                                                     aiohttp_client):
    upstream, client = await start(aiohttp_server, aiohttp_client, 0)
    response = await client.get(f"/v1/images/{IMAGE_ID}")
    assert (response.status, response.headers["Content-Length"], await response.read()) == (
        200, "0", b"")
    assert upstream.data_requests == 0


async def test_an_image_of_unknown_size_streams_as_it_comes(aiohttp_server, aiohttp_client):
    upstream, client = await start(aiohttp_server, aiohttp_client, 3 * len(CHUNK) + 5,
                                   announced=None, chunked=True)
    response = await client.get(f"/v1/images/{IMAGE_ID}")
    assert response.status == 200 and "x-image-meta-size" not in response.headers
    assert len(await response.read()) == 3 * len(CHUNK) + 5


@pytest.mark.parametrize("behaviour", [
    {"break_after": 2 * len(CHUNK)},                      # announced length, then a break
    {"break_after": 2 * len(CHUNK), "chunked": True},     # chunked, then a break
    {"announced": 8 * len(CHUNK), "chunked": True},       # chunked, shorter than the image
])
async def test_data_that_breaks_off_is_a_broken_transfer_never_a_complete_looking_body(
        aiohttp_server, aiohttp_client, behaviour):
    upstream, client = await start(aiohttp_server, aiohttp_client, 4 * len(CHUNK), **behaviour)
    response = await client.get(f"/v1/images/{IMAGE_ID}")
    assert response.status == 200  # sent before the break: only the body can tell
    with pytest.raises(aiohttp.ClientPayloadError):
        await response.read()
