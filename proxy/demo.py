"""``--demo``: the proxy in front of an embedded simulator holding a small sample catalogue.

The simulator listens on a loopback port of its own and the proxy calls it over HTTP, as it
would call a real upstream, so the demo exercises the same code paths.
"""

from __future__ import annotations

import contextlib
import dataclasses
from datetime import datetime, timezone

from aiohttp import web

from proxy.config import Settings
from proxy.simulator import Simulator

SEED_OWNER = "23f4cb75768d4febb39542ef6fe169f3"


def sample_simulator() -> Simulator:
    simulator = Simulator()
    # The image of the seed page (ims-v1.1-images-detail.rst), as v1.1 showed it.
    simulator.add_image(
        owner=SEED_OWNER, id="3c3d1d01-b48a-4639-8a88-08be3b9b5d78", name="cirros",
        visibility="public", disk_format="qcow2", container_format="bare", status="active",
        size=13167616, checksum="64d7c1cd2b6f60c92c14662941cb7913",
        created_at=datetime(2016, 5, 22, 6, 4, 20, 425843, tzinfo=timezone.utc),
        updated_at=datetime(2016, 5, 22, 6, 4, 22, 719791, tzinfo=timezone.utc),
    )
    simulator.add_image(
        owner=SEED_OWNER, name="Ubuntu 22.04 64bit", visibility="public", disk_format="qcow2",
        container_format="bare", data=b"\0" * 4096, min_disk=40, min_ram=1024,
        os_distro="ubuntu", __os_version="Ubuntu 22.04 64bit", __platform="Ubuntu",
        __os_type="Linux", __os_bit="64", __imagetype="gold", __isregistered="true",
    )
    simulator.add_image(
        owner=SEED_OWNER, name="debian-12", visibility="public", disk_format="raw",
        container_format="bare", data=b"debian" * 512, os_distro="debian",
    )
    simulator.add_image(
        owner="demo", name="my-snapshot", visibility="private", disk_format="qcow2",
        container_format="bare", data=b"snapshot" * 256, hw_disk_bus="virtio",
    )
    simulator.add_image(
        owner="demo", name="pending-upload", visibility="private", disk_format="raw",
        container_format="bare",
    )
    return simulator


@contextlib.asynccontextmanager
async def start_demo_upstream(settings: Settings):
    """Serve the sample simulator on loopback; yield ``settings`` pointed at it."""
    runner = web.AppRunner(sample_simulator().app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    upstream = dataclasses.replace(settings.upstream, url=f"http://127.0.0.1:{port}")
    # The demo upstream lets anyone in (as the lab's auth does), so that curl just works.
    identity = dataclasses.replace(settings.identity, require_token=False)
    try:
        yield dataclasses.replace(settings, upstream=upstream, identity=identity)
    finally:
        await runner.cleanup()
