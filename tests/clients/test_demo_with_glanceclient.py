"""The first thing anyone tries: the real python-glanceclient 2.17.1 v1 CLI against
``image-v1-proxy --demo``, downloading the seed's cirros (the CLI checks the MD5 itself)."""

from __future__ import annotations

import hashlib

import pytest

from proxy.fake_glance.catalogue import CIRROS_CHECKSUM, CIRROS_SIZE
from tests.integration.test_demo import Demo
from tests.support.legacy_client import parse_fields, parse_table, run_glance_v1


@pytest.mark.clients
def test_glance_image_download_cirros_from_the_demo(glance_cli, tmp_path):
    demo = Demo(env={"IMAGE_V1_PROXY_SHUTDOWN_GRACE": "0"})
    try:
        listed = run_glance_v1(glance_cli, demo.url, "demo", "image-list")
        assert listed.returncode == 0, listed.stderr
        assert {"cirros", "debian-12"} <= {row["Name"] for row in parse_table(listed.stdout)}
        shown = run_glance_v1(glance_cli, demo.url, "demo", "image-show", "cirros")
        assert shown.returncode == 0, shown.stderr
        fields = parse_fields(shown.stdout)
        assert (fields["status"], fields["size"], fields["checksum"]) == (
            "active", str(CIRROS_SIZE), CIRROS_CHECKSUM)
        target = tmp_path / "cirros.img"
        downloaded = run_glance_v1(glance_cli, demo.url, "demo", "image-download", "cirros",
                                   "--file", str(target))
        assert downloaded.returncode == 0, downloaded.stderr
        data = target.read_bytes()
        assert (len(data), hashlib.md5(data).hexdigest()) == (CIRROS_SIZE, CIRROS_CHECKSUM)
    finally:
        demo.stop()
