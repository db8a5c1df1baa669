"""The real python-glanceclient 2.17.1 v1 CLI through the proxy: image-list options,
image-show by id and by name, image-download
(docs/legacy-clients.md#legacy-v1-clients-on-the-wire)."""

from __future__ import annotations

import hashlib

import pytest

from tests.support.catalogue import token
from tests.support.contract import PROJB_SEES, expected_v1
from tests.support.legacy_client import parse_fields, parse_table, run_glance_v1

pytestmark = pytest.mark.clients


def glance(glance_cli, proxy, project, *args):
    result = run_glance_v1(glance_cli, proxy.url, token(project), *args)
    assert result.returncode == 0, result.stderr + result.stdout
    return result.stdout


def listed_names(glance_cli, proxy, project, *args):
    return [row["Name"] for row in parse_table(glance(glance_cli, proxy, project, "image-list", *args))]


@pytest.mark.parametrize("value", ["True", "False"])
def test_image_list_is_public_is_ignored_for_a_member_as_v1_did(glance_cli, proxy, backend,
                                                               value):
    # docs/v1-api.md#23-is_public-and-the-admins-view: checked, then ignored for non-admins
    assert listed_names(glance_cli, proxy, "projB", "--is-public", value) == sorted(PROJB_SEES)


def test_image_list_property_filter(glance_cli, proxy, backend):
    assert listed_names(glance_cli, proxy, "projB", "--property-filter", "os_distro=ubuntu",
                        "--property-filter", "__os_version=Ubuntu 22.04 64bit") == ["ubuntu 22.04"]


def test_image_list_sort_key_size_descending_with_small_pages(glance_cli, proxy, backend):
    rows = parse_table(glance(glance_cli, proxy, "projB", "image-list", "--sort-key", "size",
                              "--sort-dir", "desc", "--page-size", "3"))
    loaded = backend.loaded.images
    expected = sorted(PROJB_SEES, key=lambda n: (loaded[n].size, loaded[n].v2["created_at"],
                                                 list(loaded).index(n)), reverse=True)
    assert [row["Name"] for row in rows] == expected


def shown(image):
    """What `glance image-show` prints for an image: every x-image-meta-* header v1 sends."""
    v1 = expected_v1(image)
    fields = {k: str(v) for k, v in v1.items() if k != "properties" and v is not None}
    fields.update({f"Property '{k}'": v for k, v in v1["properties"].items()})
    return fields


@pytest.mark.parametrize("by", ["id", "name"])
def test_image_show(glance_cli, proxy, backend, by):
    image = backend.loaded.images["ubuntu 22.04"]
    out = glance(glance_cli, proxy, "projB", "image-show", image.id if by == "id" else image.name)
    assert parse_fields(out) == shown(image)


def test_image_show_of_a_name_with_a_colon(glance_cli, proxy, backend):
    image = backend.loaded.images["win:2019"]
    assert parse_fields(glance(glance_cli, proxy, "projB", "image-show", "win:2019")) == shown(image)


def test_image_show_of_an_image_the_caller_cannot_see(glance_cli, proxy, backend):
    image = backend.loaded.images["a-private"]
    result = run_glance_v1(glance_cli, proxy.url, token("projB"), "image-show", image.id)
    assert result.returncode == 1
    assert f"No image with a name or ID of '{image.id}' exists." in result.stderr


def test_image_download_writes_the_uploaded_bytes(glance_cli, proxy, backend, tmp_path):
    image = backend.loaded.images["ubuntu 22.04"]
    target = tmp_path / "image.raw"
    glance(glance_cli, proxy, "projB", "image-download", "--file", str(target), image.id)
    data = target.read_bytes()
    assert data == image.data
    assert hashlib.md5(data).hexdigest() == image.checksum
