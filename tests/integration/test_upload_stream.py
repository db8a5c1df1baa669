"""POST /v1/images with data streams it to v2 in constant memory, verified on the way."""

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
CHUNK = b"y" * (1024 * 1024)
SIZE = 256 * len(CHUNK)  # 256 MiB through the proxy


class SinkingUpstream:
    """Creates one image, takes its data counting and hashing it (holding none), deletes."""

    def __init__(self, create_delay: float = 0.0, busy_deletes: int = 0) -> None:
        self.received, self.md5, self.deleted = 0, hashlib.md5(), False
        self.busy_deletes = busy_deletes  # deletes answered 500 first, as Glance mid-upload
        self.create_delay, self.created = create_delay, asyncio.Event()

    async def create(self, request):
        await asyncio.sleep(self.create_delay)
        self.created.set()
        return web.json_response(dict(V2_IMAGE, status="queued", size=None, checksum=None),
                                 status=201)

    async def upload(self, request):
        self.framing = (request.headers.get("Content-Length"),
                        request.headers.get("Transfer-Encoding"))
        async for chunk in request.content.iter_chunked(1024 * 1024):
            self.received += len(chunk)
            self.md5.update(chunk)
        return web.Response(status=204)

    async def image(self, request):
        return web.json_response(dict(V2_IMAGE, size=self.received,
                                      checksum=self.md5.hexdigest()))

    async def versions(self, request):
        return web.json_response({"versions": []})

    async def delete(self, request):
        if self.busy_deletes:
            self.busy_deletes -= 1
            return web.Response(status=500)
        self.deleted = True
        return web.Response(status=204)

    def app(self):
        app = web.Application(client_max_size=0)
        app.router.add_get("/versions", self.versions)
        app.router.add_post("/v2/images", self.create)
        app.router.add_put(f"/v2/images/{IMAGE_ID}/file", self.upload)
        app.router.add_get(f"/v2/images/{IMAGE_ID}", self.image)
        app.router.add_delete(f"/v2/images/{IMAGE_ID}", self.delete)
        return app


async def body():
    for _ in range(SIZE // len(CHUNK)):
        yield CHUNK


async def post(aiohttp_server, aiohttp_client, announced_size: int, **behaviour):
    upstream = SinkingUpstream(**behaviour)
    server = await aiohttp_server(upstream.app())
    client = await aiohttp_client(make_app(proxy_settings(str(server.make_url("")))))
    response = await client.post("/v1/images", data=body(), headers={
        "Content-Type": "application/octet-stream", "x-image-meta-disk_format": "raw",
        "x-image-meta-container_format": "bare", "x-image-meta-size": str(announced_size)})
    return upstream, response


async def test_a_large_upload_streams_in_constant_memory(aiohttp_server, aiohttp_client):
    tracemalloc.start()
    try:
        upstream, response = await post(aiohttp_server, aiohttp_client, SIZE)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert response.status == 201, await response.text()
    image = (await response.json())["image"]
    assert (image["size"], upstream.received, upstream.deleted) == (SIZE, SIZE, False)
    assert upstream.framing == (None, "chunked")  # the caller's body was chunked too
    assert image["checksum"] == hashlib.md5(CHUNK * 256).hexdigest()
    # client, proxy and upstream all run in this process: a copy of the data would show
    assert peak < 32 * 1024 * 1024, f"peak traced memory {peak} bytes"


async def test_an_upload_shorter_than_announced_is_deleted_and_said(aiohttp_server,
                                                                    aiohttp_client):
    upstream, response = await post(aiohttp_server, aiohttp_client, SIZE + 1)
    assert response.status == 400
    assert (f"Supplied size ({SIZE + 1}) and size generated from uploaded image ({SIZE}) did "
            "not match. The image was deleted.") in await response.text()
    assert upstream.deleted


async def test_a_caller_who_leaves_while_v2_creates_leaves_no_image(aiohttp_server,
                                                                    aiohttp_client):
    upstream = SinkingUpstream(create_delay=0.3)  # the caller gives up meanwhile
    server = await aiohttp_server(upstream.app())
    client = await aiohttp_client(make_app(proxy_settings(str(server.make_url("")))))
    with pytest.raises(asyncio.TimeoutError):
        await client.post("/v1/images", headers={"x-image-meta-name": "left"},
                          timeout=aiohttp.ClientTimeout(total=0.1))
    await asyncio.wait_for(upstream.created.wait(), 2)
    for _ in range(50):
        if upstream.deleted:
            break
        await asyncio.sleep(0.02)
    assert upstream.deleted


async def test_a_sized_upload_goes_upstream_sized(aiohttp_server, aiohttp_client):
    upstream = SinkingUpstream()
    server = await aiohttp_server(upstream.app())
    client = await aiohttp_client(make_app(proxy_settings(str(server.make_url("")))))
    response = await client.post("/v1/images", data=CHUNK, headers={
        "Content-Type": "application/octet-stream", "x-image-meta-disk_format": "raw",
        "x-image-meta-container_format": "bare"})
    assert response.status == 201
    assert upstream.framing == (str(len(CHUNK)), None)  # for servers that take no chunks


async def test_a_delete_the_upstream_is_too_busy_for_is_tried_again(aiohttp_server,
                                                                    aiohttp_client):
    upstream, response = await post(aiohttp_server, aiohttp_client, SIZE + 1, busy_deletes=2)
    assert response.status == 400
    assert upstream.deleted and upstream.busy_deletes == 0
