"""The real python-glanceclient 2.17.1 v1 CLI, through the proxy, against both upstreams.

`glance image-list` sends ``GET /v1/images/detail?limit=20&sort_key=name&sort_dir=asc`` and
follows ``marker`` only while pages come back full
(docs/legacy-clients.md#legacy-v1-clients-on-the-wire), so a
complete table proves the proxy returned full pages.
"""

from __future__ import annotations

import json

import pytest

from tests.support.catalogue import PAGE_IMAGES, token
from tests.support.legacy_client import parse_table, run_glance_v1
from tests.support.v1_deletions import just_before, send

PUBLIC = ("cirros", "ubuntu 22.04", "win:2019")
PAGES = tuple(f"page-{i:02d}" for i in range(PAGE_IMAGES))
PROJB_SEES = PUBLIC + ("b-private", "a-shared-pending", "a-shared-accepted", "a-shared-rejected")


def image_list(glance_cli, proxy, project, *args):
    result = run_glance_v1(glance_cli, proxy.url, token(project), "image-list", *args)
    assert result.returncode == 0, result.stderr + result.stdout
    return parse_table(result.stdout)


def rows_for(backend, *image_names):
    """The table rows the CLI prints for these images, sorted by name (its default)."""
    rows = []
    for name in sorted(image_names):
        image = backend.loaded.images[name]
        rows.append({
            "ID": image.id,
            "Name": image.name,
            "Disk Format": image.disk_format,
            "Container Format": image.container_format,
            "Size": str(image.size) if image.size is not None else "",
            "Status": image.status,
        })
    return rows


@pytest.mark.clients
def test_image_list_pages_through_everything_sorted_by_name(glance_cli, proxy, backend):
    assert image_list(glance_cli, proxy, "projC") == rows_for(backend, *PUBLIC, *PAGES)


@pytest.mark.clients
def test_image_list_by_name(glance_cli, proxy, backend):
    assert image_list(glance_cli, proxy, "projB", "--name", "win:2019") == rows_for(
        backend, "win:2019")


@pytest.mark.clients
def test_image_list_by_disk_format(glance_cli, proxy, backend):
    assert image_list(glance_cli, proxy, "projB", "--disk-format", "qcow2") == rows_for(
        backend, "cirros", "win:2019")


@pytest.mark.clients
def test_image_list_by_minimum_size(glance_cli, proxy, backend):
    large = ("page-19", "page-20", "page-21", "page-22")  # 20..23 bytes
    assert image_list(glance_cli, proxy, "projC", "--size-min", "20") == rows_for(
        backend, *PUBLIC, *large)


@pytest.mark.clients
def test_image_list_with_page_size_2_still_lists_everything(glance_cli, proxy, backend):
    assert image_list(glance_cli, proxy, "projB", "--page-size", "2") == rows_for(
        backend, *PROJB_SEES)


@pytest.mark.clients
def test_image_list_changes_since_shows_an_image_deleted_through_the_proxy(glance_cli, proxy):
    # issue 15: `glance image-list --changes-since` is how a v1 sync job learns of deletions
    owner = "projCLIgone"
    since = just_before()
    status, _, body = send(proxy.url, "POST", "/v1/images", token(owner), {
        "x-image-meta-name": "gone-for-the-cli", "x-image-meta-disk_format": "raw",
        "x-image-meta-container_format": "bare", "Content-Type": "application/octet-stream"},
        b"abcd")
    assert status == 201, body
    image_id = json.loads(body)["image"]["id"]
    deleted = run_glance_v1(glance_cli, proxy.url, token(owner), "image-delete", image_id)
    assert deleted.returncode == 0, deleted.stderr
    assert image_list(glance_cli, proxy, owner, "--changes-since", since) == [{
        "ID": image_id, "Name": "gone-for-the-cli", "Disk Format": "raw",
        "Container Format": "bare", "Size": "4", "Status": "deleted"}]
    # without it, a deleted image is never listed
    assert image_id not in [row["ID"] for row in image_list(glance_cli, proxy, owner)]
