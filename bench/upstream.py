"""A v2 upstream for the benchmark: the fake Glance's own answers, built once, then served as
bytes, so that the upstream is never what is measured.

    python bench/upstream.py PORT

Its mode is switched at run time, so that every server stays up between the benchmark's
phases: ``PUT /bench/mode?churn=SHARE`` (``GET`` reads it), where SHARE is

- ``0``: identical answers, each the pre-built body, byte for byte;
- ``1``: churn: every image of every answer differs from the previous answer's, by a
  custom property ``"revision":"<counter>"`` inserted right after the image's ``{``;
- anything between, e.g. ``0.05``: about that share of the images (every 20th, a
  different 20th each answer, rotating) gets a new revision; the others keep the one they
  had (their bytes repeat).

Each body is split into its image fragments once; an answer is the fragments joined (one
``bytes.join``, plus one small format per changed image), cheap enough to stay out of the
measured figures (the upstream runs on the load generator's core).
"""

from __future__ import annotations

import asyncio
import ctypes
import sys
from datetime import datetime, timedelta, timezone

import msgspec
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


class _Images(msgspec.Struct):
    images: list[msgspec.Raw]


HEAD = b'{"images":['


class Answers:
    """Successive answers to one listing: the pre-built ``body``, or (``churn`` > 0) the
    same with revisions counting up in the images that change."""

    def __init__(self, body: bytes):
        self.body = body
        fragments = [bytes(raw) for raw in msgspec.json.decode(body, type=_Images).images]
        joined = b",".join(fragments)
        if not body.startswith(HEAD + joined) or not all(f[:1] == b"{" for f in fragments):
            raise ValueError("a list body that is not '{\"images\":[{...},...],...}'")
        self.tail = body[len(HEAD) + len(joined):]
        self.rests = [f[1:] for f in fragments]  # each image without its opening brace
        self.current = list(fragments)  # the mixed mode's images as last answered
        self.every = 0  # 0: identical; 1: all change; n: every nth changes
        self.count = 0

    def set_churn(self, share: float) -> None:
        self.every = 0 if share <= 0 else max(1, round(1 / share))
        self.current = [b"{" + rest for rest in self.rests]
        self.count = 0

    def next(self) -> bytes:
        every = self.every
        if not every:
            return self.body
        self.count += 1
        revision = b'{"revision":"%d",' % self.count
        if every == 1:
            return HEAD + revision + (b"," + revision).join(self.rests) + self.tail
        current, rests = self.current, self.rests
        for k in range(-self.count % every, len(rests), every):
            current[k] = revision + rests[k]
        return HEAD + b",".join(current) + self.tail


def make_app(bodies: dict[str, bytes]) -> web.Application:
    answers = {size: Answers(body) for size, body in bodies.items() if size != "versions"}
    mode = {"churn": 0.0}

    async def images(request: web.Request) -> web.Response:
        return web.Response(body=answers[request.query.get("limit", "25")].next(),
                            content_type="application/json")

    async def versions(request: web.Request) -> web.Response:
        return web.Response(body=bodies["versions"], content_type="application/json")

    async def set_mode(request: web.Request) -> web.Response:
        try:
            share = float(request.query["churn"])
        except (KeyError, ValueError):
            raise web.HTTPBadRequest(text="churn=SHARE wanted, 0 to 1") from None
        if not 0 <= share <= 1:
            raise web.HTTPBadRequest(text="churn=SHARE wanted, 0 to 1")
        mode["churn"] = share
        for listing in answers.values():
            listing.set_churn(share)
        return web.json_response(mode)

    async def get_mode(request: web.Request) -> web.Response:
        return web.json_response(mode)

    app = web.Application()
    app.router.add_get("/v2/images", images)
    app.router.add_get("/versions", versions)
    app.router.add_put("/bench/mode", set_mode)
    app.router.add_get("/bench/mode", get_mode)
    return app


def keep_freed_memory() -> None:
    """glibc hands each freed 700 KiB answer back to the kernel and faults the next one's
    pages in afresh: 1.3 ms an answer here, where joining it takes 0.07 ms. Kept instead
    (malloc's thresholds fixed high; glibc only, best effort)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-1, 256 << 20)  # M_TRIM_THRESHOLD
        libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD (its maximum on 64 bits)
    except (OSError, AttributeError):
        pass


if __name__ == "__main__":
    keep_freed_memory()
    web.run_app(make_app(asyncio.run(prebuilt_bodies())), host="127.0.0.1",
                port=int(sys.argv[1]), access_log=None, print=None)
