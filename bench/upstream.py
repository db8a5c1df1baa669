"""A v2 upstream for the benchmark: the fake Glance's own answers, built once, then served as
bytes, so that the upstream is never what is measured.

    python bench/upstream.py PORT
"""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime, timedelta, timezone

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from proxy.fake_glance import FakeGlance

SIZES = (25, 1000)


def catalogue() -> FakeGlance:
    """1000 public images with the custom properties real clouds carry."""
    glance = FakeGlance()
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    for n in range(max(SIZES)):
        glance.add_image(
            owner="bench", name=f"image-{n:04d}", visibility="public", disk_format="qcow2",
            container_format="bare", status="active", size=1_000_000 + n,
            checksum=f"{n:032x}", created_at=start + timedelta(seconds=n),
            os_distro="ubuntu", os_version="22.04", hw_disk_bus="virtio",
            __os_version="Ubuntu 22.04 64bit", __platform="Ubuntu", __imagetype="gold")
    return glance


async def prebuilt_bodies() -> dict[str, bytes]:
    """``limit`` -> the fake Glance's answer to ``GET /v2/images?limit=<n>`` (any other
    parameters the proxy adds do not change a listing of public images)."""
    client = TestClient(TestServer(catalogue().app()))
    await client.start_server()
    try:
        bodies = {}
        for size in SIZES:
            response = await client.get("/v2/images", params={"limit": str(size)},
                                        headers={"X-Auth-Token": "bench:reader,member"})
            bodies[str(size)] = await response.read()
        versions = await (await client.get("/versions")).read()
    finally:
        await client.close()
    bodies["versions"] = versions
    return bodies


def make_app(bodies: dict[str, bytes]) -> web.Application:
    async def images(request: web.Request) -> web.Response:
        return web.Response(body=bodies[request.query.get("limit", "25")],
                            content_type="application/json")

    async def versions(request: web.Request) -> web.Response:
        return web.Response(body=bodies["versions"], content_type="application/json")

    app = web.Application()
    app.router.add_get("/v2/images", images)
    app.router.add_get("/versions", versions)
    return app


if __name__ == "__main__":
    web.run_app(make_app(asyncio.run(prebuilt_bodies())), host="127.0.0.1",
                port=int(sys.argv[1]), access_log=None, print=None)
