"""The real python-glanceclient 2.17.1 v1 CLI writing through the proxy: image-create --file
(and the same bytes downloaded), image-update --property with and without --purge-props,
image-delete, member-create, member-list, member-delete
(docs/legacy-clients.md#legacy-v1-clients-on-the-wire)."""

from __future__ import annotations

import time

import pytest

from tests.support.catalogue import V2Api, token
from tests.support.legacy_client import (kill_glance, parse_fields, parse_table, run_glance_v1,
                                         start_glance_v1)

pytestmark = pytest.mark.clients

WRITER = "projW"


def glance(glance_cli, proxy, *args, tty=False):
    result = run_glance_v1(glance_cli, proxy.url, token(WRITER), *args, stdin_tty=tty)
    assert result.returncode == 0, result.stderr + result.stdout
    return result.stdout


@pytest.fixture
def image_file(tmp_path):
    path = tmp_path / "disk.raw"
    path.write_bytes(bytes(range(256)) * 200 + b"end")
    return path


@pytest.fixture
def created(glance_cli, proxy, backend, image_file):
    """An image made with `glance image-create --file`, deleted at the end if still there."""
    out = glance(glance_cli, proxy, "image-create", "--name", "cli-built", "--disk-format",
                 "raw", "--container-format", "bare", "--property", "Build=7",
                 "--property", "team=ops", "--file", str(image_file))
    fields = parse_fields(out)
    yield fields
    V2Api(backend.url).call("DELETE", f"/v2/images/{fields['id']}", token(WRITER))


def test_image_create_with_a_file_then_download_gives_the_same_bytes(glance_cli, proxy,
                                                                     created, image_file,
                                                                     tmp_path):
    assert (created["name"], created["status"], created["size"]) == (
        "cli-built", "active", str(image_file.stat().st_size))
    assert (created["Property 'build'"], created["Property 'team'"]) == ("7", "ops")
    target = tmp_path / "back.raw"
    glance(glance_cli, proxy, "image-download", "--file", str(target), created["id"])
    assert target.read_bytes() == image_file.read_bytes()


def test_image_update_keeps_other_properties_unless_purge_props(glance_cli, proxy, created):
    out = glance(glance_cli, proxy, "image-update", "--property", "team=dev", "--name",
                 "cli-renamed", created["id"], tty=True)
    fields = parse_fields(out)
    assert (fields["name"], fields["Property 'team'"], fields["Property 'build'"]) == (
        "cli-renamed", "dev", "7")
    out = glance(glance_cli, proxy, "image-update", "--property", "team=qa", "--purge-props",
                 created["id"], tty=True)
    fields = parse_fields(out)
    assert fields["Property 'team'"] == "qa" and "Property 'build'" not in fields


def test_members_create_list_delete(glance_cli, proxy, created):
    glance(glance_cli, proxy, "member-create", created["id"], "projM")
    rows = parse_table(glance(glance_cli, proxy, "member-list", "--image-id", created["id"]))
    assert rows == [{"Image ID": created["id"], "Member ID": "projM", "Can Share": ""}]
    rows = parse_table(glance(glance_cli, proxy, "member-list", "--tenant-id", "projM"))
    assert [row["Image ID"] for row in rows] == [created["id"]]
    glance(glance_cli, proxy, "member-delete", created["id"], "projM")
    assert parse_table(glance(glance_cli, proxy, "member-list", "--image-id",
                              created["id"])) == []


def test_image_delete_then_it_is_gone(glance_cli, proxy, created):
    glance(glance_cli, proxy, "image-delete", created["id"])
    result = run_glance_v1(glance_cli, proxy.url, token(WRITER), "image-show", created["id"])
    assert result.returncode == 1
    assert f"No image with a name or ID of '{created['id']}' exists." in result.stderr


def test_an_image_create_killed_half_way_leaves_no_image_upstream(glance_cli, proxy, backend):
    api = V2Api(backend.url)

    def on_upstream():
        return [image for image in api.ok("GET", "/v2/images?owner=projW", token(WRITER))[
            "images"] if image["name"] == "cli-killed"]

    cli = start_glance_v1(glance_cli, proxy.url, token(WRITER), "image-create", "--name",
                          "cli-killed", "--disk-format", "raw", "--container-format", "bare")
    try:
        cli.stdin.write(b"x" * (1024 * 1024))  # data from a pipe: sent chunked, no size
        cli.stdin.flush()
        deadline = time.monotonic() + 30
        while not on_upstream():  # the image exists and its upload is under way
            assert time.monotonic() < deadline, "the CLI never created the image"
            time.sleep(0.05)
    finally:
        kill_glance(cli)
    deadline = time.monotonic() + 15
    while on_upstream() and time.monotonic() < deadline:
        time.sleep(0.1)
    left = on_upstream()
    for image in left:  # (so that a failure here does not spill into other tests)
        api.call("DELETE", f"/v2/images/{image['id']}", token(WRITER))
    assert left == []
