"""The demo's sample catalogue: a ``FakeGlance`` holding a few images.

In: nothing. Out: a new ``FakeGlance`` with public images of ``SEED_OWNER`` (the seed page's
cirros, an Ubuntu carrying Huawei IMS ``__*`` properties, a Debian) and two private images
of project ``demo`` (one active, one queued without data).
"""

from __future__ import annotations

from datetime import datetime, timezone

from proxy.fake_glance.routes import FakeGlance

SEED_OWNER = "23f4cb75768d4febb39542ef6fe169f3"


def demo_catalogue() -> FakeGlance:
    glance = FakeGlance()
    # The seed page's image (v1.1's detail example, kept in tests/support/seed.py as a v1
    # client gets it), as v1.1 showed it.
    glance.add_image(
        owner=SEED_OWNER, id="3c3d1d01-b48a-4639-8a88-08be3b9b5d78", name="cirros",
        visibility="public", disk_format="qcow2", container_format="bare", status="active",
        size=13167616, checksum="64d7c1cd2b6f60c92c14662941cb7913",
        created_at=datetime(2016, 5, 22, 6, 4, 20, 425843, tzinfo=timezone.utc),
        updated_at=datetime(2016, 5, 22, 6, 4, 22, 719791, tzinfo=timezone.utc),
    )
    glance.add_image(
        owner=SEED_OWNER, name="Ubuntu 22.04 64bit", visibility="public", disk_format="qcow2",
        container_format="bare", data=b"\0" * 4096, min_disk=40, min_ram=1024,
        os_distro="ubuntu", __os_version="Ubuntu 22.04 64bit", __platform="Ubuntu",
        __os_type="Linux", __os_bit="64", __imagetype="gold", __isregistered="true",
    )
    glance.add_image(
        owner=SEED_OWNER, name="debian-12", visibility="public", disk_format="raw",
        container_format="bare", data=b"debian" * 512, os_distro="debian",
    )
    glance.add_image(
        owner="demo", name="my-snapshot", visibility="private", disk_format="qcow2",
        container_format="bare", data=b"snapshot" * 256, hw_disk_bus="virtio",
    )
    glance.add_image(
        owner="demo", name="pending-upload", visibility="private", disk_format="raw",
        container_format="bare",
    )
    return glance
