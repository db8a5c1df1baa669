"""A small v2 upstream for tests of real proxy processes, and their patient waiting.

``HeldUpstream`` answers ``/versions`` and ``/v2/images`` (one good image); while ``hold``
is set, a listing waits (``arrived`` is set once one has come) until ``hold`` is cleared,
so a test knows a request is in flight and keeps it so as long as it wants. ``listings``
counts the listings answered. ``wait_for`` polls a condition with a deadline: a slow
machine makes a test slower, never weaker.
"""

from __future__ import annotations

import asyncio
import threading
import time

from aiohttp import web

from tests.support.faulty import GOOD_LIST
from tests.support.servers import ThreadedApp

PATIENCE = 60.0  # the deadline for anything awaited; only a broken proxy uses it up


class HeldUpstream:
    def __init__(self, *, hold: bool = False) -> None:
        self.listings = 0
        self.hold = threading.Event()
        if hold:
            self.hold.set()
        self.arrived = threading.Event()
        self._server = ThreadedApp(self._app).start()
        self.url = self._server.url

    def stop(self) -> None:
        self.hold.clear()
        self._server.stop()

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/versions", self._versions)
        app.router.add_get("/v2/images", self._images)
        return app

    async def _versions(self, request):
        return web.json_response(
            {"versions": [{"id": "v2.17", "status": "CURRENT", "links": []}]})

    async def _images(self, request):
        if self.hold.is_set():
            self.arrived.set()
            deadline = time.monotonic() + PATIENCE
            while self.hold.is_set() and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
        self.listings += 1
        return web.Response(body=GOOD_LIST, content_type="application/json")


def wait_for(probe, done, what, log=lambda: ""):
    """Call ``probe`` until ``done(result)``; that result. Fails after PATIENCE seconds."""
    deadline = time.monotonic() + PATIENCE
    while True:
        result = probe()
        if done(result):
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {PATIENCE} s (last: {result!r})\n{log()}")
        time.sleep(0.02)
