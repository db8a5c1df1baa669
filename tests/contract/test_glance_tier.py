"""Smoke test of the real tier itself: if these fail, the contract tests'
upstream (real Glance 33 under uWSGI) or legacy client is broken, not the
proxy."""
from __future__ import annotations

import subprocess
import uuid

import aiohttp
import pytest

from tests.support.legacy_client import GLANCECLIENT_VERSION, run_glance_v1_async

PROJ_A = {"X-Auth-Token": "projA:member,reader"}
PROJ_B = {"X-Auth-Token": "projB:member,reader"}


async def test_versions_document(real_glance):
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{real_glance.url}/versions") as resp:
            assert resp.status == 200
            doc = await resp.json()
    ids = {v["id"]: v["status"] for v in doc["versions"]}
    assert ids and all(i.startswith("v2.") for i in ids), ids
    assert "CURRENT" in ids.values()


async def test_create_upload_list_and_project_isolation(real_glance):
    base = f"{real_glance.url}/v2/images"
    marker = f"smoke-{uuid.uuid4().hex[:8]}"  # unique: the server is per session
    async with aiohttp.ClientSession() as http:
        async with http.post(base, headers=PROJ_A, json={
                "name": marker, "disk_format": "raw",
                "container_format": "bare", "os_distro": marker}) as resp:
            assert resp.status == 201, await resp.text()
            image = await resp.json()
        image_id = image["id"]
        try:
            assert image["owner"] == "projA"
            assert image["status"] == "queued"

            async with http.put(f"{base}/{image_id}/file", data=b"0123456789",
                                headers={**PROJ_A, "Content-Type":
                                         "application/octet-stream"}) as resp:
                assert resp.status == 204, await resp.text()

            async with http.get(f"{base}/{image_id}", headers=PROJ_A) as resp:
                shown = await resp.json()
            assert (shown["status"], shown["size"], shown["os_distro"]) == (
                "active", 10, marker)

            # filtering on the custom property is done by Glance itself
            async with http.get(base, headers=PROJ_A,
                                params={"os_distro": marker}) as resp:
                assert resp.status == 200
                listed = [i["id"] for i in (await resp.json())["images"]]
            assert listed == [image_id]

            # another project neither lists nor gets it (private by default)
            async with http.get(base, headers=PROJ_B) as resp:
                assert resp.status == 200
                assert image_id not in [i["id"] for i in (await resp.json())["images"]]
            async with http.get(f"{base}/{image_id}", headers=PROJ_B) as resp:
                assert resp.status == 404
        finally:
            async with http.delete(f"{base}/{image_id}", headers=PROJ_A) as resp:
                assert resp.status == 204


@pytest.mark.clients
async def test_legacy_cli_is_glanceclient_2_17_1(glance_cli, real_glance):
    version = subprocess.run([str(glance_cli), "--version"], capture_output=True,
                             text=True, timeout=60)
    assert version.returncode == 0, version.stderr
    # argparse prints --version on stdout (py3), old releases used stderr
    assert (version.stdout + version.stderr).strip() == GLANCECLIENT_VERSION

    # The v1 CLI reaches the server; real Glance 33 has no v1 and answers 300.
    result = await run_glance_v1_async(glance_cli, real_glance.url,
                                       "projA:member,reader", "image-list")
    assert result.returncode == 1
    assert "HTTP 300" in result.stderr, result
