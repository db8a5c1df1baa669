"""The demo's sample catalogue: a ``FakeGlance`` holding a few images.

In: nothing. Out: a new ``FakeGlance`` with public images of ``SEED_OWNER`` (the seed page's
cirros, an Ubuntu carrying Huawei IMS ``__*`` properties, a Debian) and two private images
of project ``demo`` (one active, one queued without data). Every active image has data, so
that its download gives exactly its listed size and checksum.
"""

from __future__ import annotations

from datetime import datetime, timezone

from proxy.fake_glance.routes import FakeGlance

SEED_OWNER = "23f4cb75768d4febb39542ef6fe169f3"

# The seed's cirros lists 13167616 bytes of MD5 64d7c1cd2b6f60c92c14662941cb7913, bytes the
# demo does not have (and an MD5 cannot be forged): its data here is a text line repeated
# to exactly that size, so that a download checks out. Only the checksum differs from the
# seed page: the MD5 of these bytes (tests/integration/test_demo.py checks both).
CIRROS_SIZE = 13167616
CIRROS_CHECKSUM = "d653f2d8bd160ba0d3eee67a46ba77c7"
_CIRROS_LINE = b"image-v1-proxy demo: the data of the demo's cirros image (not a bootable disk)\n"


def cirros_data() -> bytes:
    return (_CIRROS_LINE * (CIRROS_SIZE // len(_CIRROS_LINE) + 1))[:CIRROS_SIZE]


def demo_catalogue() -> FakeGlance:
    glance = FakeGlance()
    # The seed page's image (v1.1's detail example, kept in tests/support/seed.py as a v1
    # client gets it), as v1.1 showed it but for its checksum (above).
    glance.add_image(
        owner=SEED_OWNER, id="3c3d1d01-b48a-4639-8a88-08be3b9b5d78", name="cirros",
        visibility="public", disk_format="qcow2", container_format="bare",
        data=cirros_data(),
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
