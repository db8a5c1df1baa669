"""The real python-openstackclient 4.0.2 with ``--os-image-api-version 1`` (on Python 3.8,
beside python-glanceclient 2.17.1, tests/support/openstackclient.py), through the proxy in
front of a real Glance 33, the proxy configured with the lab Keystone: ``image list --long``,
``image show``, ``image create --file``, ``image set --property``, ``image delete``.

What OSC prints is what it read from v1's answers: ``image list`` is v1's detailed list
(docs/v1-api.md#27-response-shapes), paged with ``marker`` until an empty page and sorted by
name on the client side; ``image show <id>`` is glanceclient's reading of v1's HEAD headers
(3.2); ``image show <name>`` the matching entry of v1's list. Expected values come from the
catalogue and v1's rules, never from the proxy's own output.
"""

from __future__ import annotations

import hashlib
import uuid

import pytest

from tests.support.catalogue import ADMIN, V2Api, token
from tests.support.contract import PAGES, PROJB_SEES, PUBLIC, V1_TIME, expected_v1
from tests.support.fixtures import backend_id
from tests.support.legacy_client import parse_table
from tests.support.legacy_library import head_view
from tests.support.openstackclient import (ensure_openstackclient_venv, openstack_json,
                                           run_openstack_v1)

pytestmark = [pytest.mark.clients,
              pytest.mark.parametrize("backend", ["glance"], indirect=True, ids=backend_id)]

WRITER = "projO"  # the project these tests write as: nothing here shows in other tests
DATA = bytes(range(256)) * 300 + b"osc"  # 75 KiB, sent chunked by glanceclient


@pytest.fixture(scope="module")
def openstack_cli():
    """Path of python-openstackclient 4.0.2's ``openstack`` (installed once per cache)."""
    return ensure_openstackclient_venv()


@pytest.fixture
def osc(openstack_cli, proxy):
    """osc(project, *args) -> the parsed ``-f json`` output of ``openstack ... *args``."""
    def run(project, *args):
        return openstack_json(openstack_cli, proxy.url, token(project), *args)
    return run


@pytest.fixture
def osc_raw(openstack_cli, proxy):
    def run(project, *args):
        return run_openstack_v1(openstack_cli, proxy.url, token(project), *args)
    return run


def long_row(image) -> dict:
    """A row of ``image list --long -f json`` for a catalogue image: v1's fields under OSC's
    column titles (Visibility is v1's is_public, Project its owner)."""
    v1 = expected_v1(image)
    return {"ID": v1["id"], "Name": v1["name"], "Disk Format": v1["disk_format"],
            "Container Format": v1["container_format"], "Size": v1["size"],
            "Checksum": v1["checksum"], "Status": v1["status"], "Visibility": v1["is_public"],
            "Protected": v1["protected"], "Project": v1["owner"],
            "Properties": v1["properties"]}


def by_name(backend, *image_names) -> list:
    return [backend.loaded.images[n] for n in sorted(image_names)]


# ------------------------------------------------------------------ image list

def test_image_list_long(osc, backend):
    assert osc("projB", "image", "list", "--long") == [
        long_row(image) for image in by_name(backend, *PROJB_SEES)]


def test_image_list_long_pages_through_everything(osc, backend):
    # 26 images: v1 pages of 25 (v1's default limit), then marker pages until an empty one
    assert osc("projC", "image", "list", "--long") == [
        long_row(image) for image in by_name(backend, *PUBLIC, *PAGES)]


def test_image_list_long_as_a_table(osc_raw, backend):
    result = osc_raw("projB", "image", "list", "--long")
    assert result.returncode == 0, result.stderr
    expected = []
    for image in by_name(backend, *PROJB_SEES):
        row = {key: str(value) for key, value in long_row(image).items()}
        row["Size"] = str(image.size)
        row["Visibility"] = "public" if image.visibility == "public" else "private"
        row["Properties"] = ", ".join(f"{k}='{v}'" for k, v in sorted(image.properties.items()))
        expected.append(row)
    assert parse_table(result.stdout) == expected


@pytest.mark.parametrize("option, expected", [
    ("--public", PUBLIC),
    ("--private", tuple(n for n in PROJB_SEES if n not in PUBLIC)),
])
def test_image_list_public_or_private(osc, backend, option, expected):
    # OSC asks for everything and keeps the rows whose is_public matches
    assert [row["Name"] for row in osc("projB", "image", "list", option)] == sorted(expected)


def test_image_list_property(osc, backend):
    rows = osc("projB", "image", "list", "--long", "--property", "os_distro=ubuntu")
    assert rows == [long_row(backend.loaded.images["ubuntu 22.04"])]


# ------------------------------------------------------------------ image show

@pytest.mark.parametrize("name", ["ubuntu 22.04", "a-shared-pending"])
def test_image_show_by_id_reads_v1s_headers(osc, backend, name):
    image = backend.loaded.images[name]
    assert osc("projB", "image", "show", image.id) == head_view(expected_v1(image))


@pytest.mark.parametrize("name", ["ubuntu 22.04", "win:2019"])
def test_image_show_by_name_is_the_v1_list_entry(osc, backend, name):
    image = backend.loaded.images[name]
    assert osc("projB", "image", "show", name) == expected_v1(image)


def test_image_show_of_an_image_the_caller_cannot_see(osc_raw, backend):
    image = backend.loaded.images["a-private"]
    result = osc_raw("projB", "image", "show", image.id)
    assert result.returncode == 1
    assert f"No image with a name or ID of '{image.id}' exists." in result.stderr


# ------------------------------------------------------------------ writes

@pytest.fixture
def upstream(backend):
    api = V2Api(backend.url)
    yield api
    # whatever a test made (or left half-made) goes, so that no other test sees it
    for _ in range(20):
        left = api.ok("GET", f"/v2/images?owner={WRITER}", ADMIN)["images"]
        if not left:
            break
        for image in left:
            api.call("PATCH", f"/v2/images/{image['id']}", ADMIN,
                     body=[{"op": "replace", "path": "/protected", "value": False}],
                     headers={"Content-Type": "application/openstack-images-v2.1-json-patch"})
            api.call("DELETE", f"/v2/images/{image['id']}", ADMIN)


@pytest.fixture
def image_file(tmp_path):
    path = tmp_path / "disk.raw"
    path.write_bytes(DATA)
    return path


@pytest.fixture
def created(osc, upstream, image_file):
    return osc(WRITER, "image", "create", "--file", str(image_file), "--disk-format", "raw",
               "--container-format", "bare", "--min-ram", "64", "--property", "Build=7",
               "--property", "team=ops", "osc-built")


def test_image_create_file(osc_raw, upstream, created, tmp_path):
    image_id = created["id"]
    assert uuid.UUID(image_id)
    assert V1_TIME.match(created.pop("created_at")) and V1_TIME.match(created.pop("updated_at"))
    assert created == {
        "id": image_id, "name": "osc-built", "status": "active", "size": len(DATA),
        "virtual_size": upstream.get(ADMIN, image_id)["virtual_size"],
        "checksum": hashlib.md5(DATA).hexdigest(), "disk_format": "raw",
        "container_format": "bare", "min_disk": 0, "min_ram": 64, "owner": WRITER,
        "is_public": False, "protected": False, "deleted_at": None, "deleted": False,
        # v1 lower-cased the header names: x-image-meta-property-Build sets "build"
        "properties": {"build": "7", "team": "ops"},
    }
    target = tmp_path / "back.raw"
    result = osc_raw(WRITER, "image", "save", "--file", str(target), image_id)
    assert result.returncode == 0, result.stderr
    assert target.read_bytes() == DATA


def test_image_set_property_keeps_the_other_properties(osc, osc_raw, created):
    image_id = created["id"]
    # OSC adds the new properties to those it read and glanceclient sends purge-props false
    result = osc_raw(WRITER, "image", "set", "--property", "team=dev", "--property", "new=1",
                     "--name", "osc-renamed", image_id)
    assert result.returncode == 0, result.stderr
    expected = {"build": "7", "team": "dev", "new": "1"}
    shown = osc(WRITER, "image", "show", image_id)
    assert (shown["name"], shown["properties"], shown["size"]) == (
        "osc-renamed", expected, len(DATA))
    row, = [r for r in osc(WRITER, "image", "list", "--long") if r["ID"] == image_id]
    assert (row["Name"], row["Properties"]) == ("osc-renamed", expected)


def test_image_set_property_with_an_empty_value(osc, osc_raw, created):
    # v1 kept a property set to an empty value, as null: listed as null, no header
    # (issue 13, item 2)
    image_id = created["id"]
    result = osc_raw(WRITER, "image", "set", "--property", "note=", image_id)
    assert result.returncode == 0, result.stderr
    row, = [r for r in osc(WRITER, "image", "list", "--long") if r["ID"] == image_id]
    assert row["Properties"] == {"build": "7", "team": "ops", "note": None}
    assert osc(WRITER, "image", "show", image_id)["properties"] == {"build": "7",
                                                                     "team": "ops"}


def test_image_delete_then_it_is_gone(osc_raw, upstream, created):
    result = osc_raw(WRITER, "image", "delete", created["id"])
    assert result.returncode == 0, result.stderr
    result = osc_raw(WRITER, "image", "show", created["id"])
    assert result.returncode == 1
    assert f"No image with a name or ID of '{created['id']}' exists." in result.stderr
    assert upstream.call("GET", f"/v2/images/{created['id']}", token(WRITER))[0] == 404
