"""``--demo``: the proxy in front of an embedded fake Glance holding a small sample catalogue.

The fake Glance listens on a loopback port of its own and the proxy calls it over HTTP, as it
would call a real upstream, so the demo exercises the same code paths.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import tempfile

from aiohttp import web

from proxy.config import Settings
from proxy.fake_glance.catalogue import demo_catalogue


@contextlib.asynccontextmanager
async def start_demo_upstream(settings: Settings):
    """Serve the demo catalogue on loopback; yield ``settings`` pointed at it."""
    runner = web.AppRunner(demo_catalogue().app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    upstream = dataclasses.replace(settings.upstream, url=f"http://127.0.0.1:{port}")
    # The demo upstream lets anyone in (as the lab's auth does), so that curl just works.
    identity = dataclasses.replace(settings.identity, require_token=False)
    # the demo's deletions are as short-lived as its catalogue
    scratch = tempfile.mkdtemp(prefix="image-v1-proxy-demo-")
    tombstones = dataclasses.replace(settings.tombstones, database_url="",
                                     sqlite_path=f"{scratch}/tombstones.sqlite")
    try:
        yield dataclasses.replace(settings, upstream=upstream, identity=identity,
                                  tombstones=tombstones)
    finally:
        await runner.cleanup()
        shutil.rmtree(scratch, ignore_errors=True)
