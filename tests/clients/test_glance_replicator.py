"""Glance's own ``glance-replicator`` (Glance 33, a v1-only client) between real Glance 33
clouds, each behind its own proxy (issue 13): ``size``, ``dump``, ``load`` into an empty
cloud, ``livecopy`` into another empty cloud twice, ``compare``.

The command lines are an operator's (tests/support/replicator.py runs exactly these; the
servers are the proxies, ``host:port``; the token is an admin's of project ``admin``)::

    D="created_at date deleted_at location updated_at virtual_size"
    glance-replicator --token "$ADMIN_TOKEN" --dontreplicate "$D" size     SOURCE:9292
    glance-replicator --token "$ADMIN_TOKEN" --dontreplicate "$D" dump     SOURCE:9292 /srv/dump
    glance-replicator --token "$ADMIN_TOKEN" --dontreplicate "$D" load     TARGET:9292 /srv/dump
    glance-replicator --token "$ADMIN_TOKEN" --dontreplicate "$D" livecopy SOURCE:9292 TARGET:9292
    glance-replicator --token "$ADMIN_TOKEN" --dontreplicate "$D" compare  SOURCE:9292 TARGET:9292

``--dontreplicate`` is Glance's default list plus ``virtual_size``: on Python 3 the
replicator stops at the first image with a null top-level field it would send as a header
(``http.client`` refuses ``None``; exit 1, ``ERROR: expected string or bytes-like
object``), as it does against a real v1 server, and Glance leaves ``virtual_size`` null
whenever it cannot inspect the data (here: every image but the non-empty raw one).

What the tier promises, read back from the TARGET clouds through v2 directly (never through
a proxy), with expected values from what the test loaded into the source:

* the source's **active** images that v1 lists to an admin (``is_public=None``: every
  image but other projects' community images, docs/v1-api.md#23) exist with the same ids;
  nothing else is created (not the queued image, not another project's community image);
* same name, status ``active``, disk and container format, size, checksum, owner,
  protected, min_ram, min_disk, and custom properties exactly (an empty-valued property
  included, issue 13 item 2: v1 stored it as null, v2 stores ``""``);
* **visibility**: v1 knows only ``is_public``. "The same" is: a public image stays
  ``public``; every other one (private, shared, the admin's own community image) arrives
  non-public, i.e. ``private`` or ``shared`` (the proxy writes ``shared`` by default, what
  v1 stored; ``writes.not_public_visibility``). Members are not replicated (v1's
  replicator never copied them);
* the data downloads byte-identical (the data is ASCII: ``load`` reads dumps in text mode,
  see tests/support/replicator.py);
* a second ``livecopy`` succeeds, sends no image again and leaves the target as it was (it
  may re-send metadata: the replicator compares listed JSON with HEAD headers, which differ
  in form even on a real v1 server, e.g. a null property is in one and not the other);
* ``compare`` reports no image as missing (its "field differs" warnings are the
  replicator's own: it compares the list's integers and booleans with header strings).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.support.replicator import (Run, SourceImage, custom_properties, load_source,
                                      replicator_exe, run_replicator, source_images,
                                      start_clouds, stop_clouds, v2_core_fields, v2_data,
                                      v2_image, v2_images)

pytestmark = pytest.mark.clients

TARGETS = ("loaded", "copied")  # the cloud filled by load, the one filled by livecopy
V1_DETAIL_FIELDS = {"id", "name", "status", "size", "virtual_size", "checksum", "disk_format",
                    "container_format", "min_disk", "min_ram", "owner", "is_public",
                    "protected", "created_at", "updated_at", "deleted_at", "deleted",
                    "properties"}
MISSING = "entirely missing from the destination"


# ------------------------------------------------------------------ fixtures

@pytest.fixture(scope="module")
def clouds(tmp_path_factory, lab_keystone):
    started = start_clouds(["source", *TARGETS], tmp_path_factory.mktemp("replicator-clouds"),
                           lab_keystone.url)
    yield started
    stop_clouds(started)


@pytest.fixture(scope="module")
def source(clouds) -> list[SourceImage]:
    images = source_images()
    load_source(clouds["source"].url, images)
    return images


@pytest.fixture(scope="module")
def replicator(tmp_path_factory):
    exe, home = replicator_exe(), tmp_path_factory.mktemp("replicator-home")

    def run(command: str, *args: str) -> Run:
        return run_replicator(exe, home, command, *args)
    return run


@pytest.fixture(scope="module")
def size_run(replicator, clouds, source) -> Run:
    return replicator("size", clouds["source"].v1)


@pytest.fixture(scope="module")
def dump_run(replicator, clouds, source, tmp_path_factory) -> tuple[Run, Path]:
    path = tmp_path_factory.mktemp("replicator-dump")
    return replicator("dump", clouds["source"].v1, str(path)), path


@pytest.fixture(scope="module")
def load_run(replicator, clouds, dump_run) -> Run:
    return replicator("load", clouds["loaded"].v1, str(dump_run[1]))


def _state(url: str) -> dict[str, dict]:
    """Every image of a cloud, as v2 shows it, but for ``updated_at``."""
    return {doc["id"]: {k: v for k, v in doc.items() if k != "updated_at"}
            for doc in v2_images(url)}


@pytest.fixture(scope="module")
def livecopy_runs(replicator, clouds, source) -> tuple[Run, dict, Run, dict]:
    """Both livecopy runs, with the target's state after each."""
    first = replicator("livecopy", clouds["source"].v1, clouds["copied"].v1)
    after_first = _state(clouds["copied"].url)
    second = replicator("livecopy", clouds["source"].v1, clouds["copied"].v1)
    return first, after_first, second, _state(clouds["copied"].url)


@pytest.fixture(scope="module", params=TARGETS)
def target(request, clouds):
    """A target cloud once its replicator job has run (load, or both livecopy runs)."""
    request.getfixturevalue("load_run" if request.param == "loaded" else "livecopy_runs")
    return clouds[request.param]


# ------------------------------------------------------------------- helpers

def assert_clean(run: Run) -> None:
    """Exit 0 and no error logged (the replicator logs some failures, such as a 409 on
    create, and carries on)."""
    assert run.returncode == 0, str(run)
    assert " ERROR " not in run.stderr, str(run)


def replicated(source: list[SourceImage]) -> list[SourceImage]:
    return [image for image in source if image.replicated]


def v1_visibility(visibility: str | None) -> str | None:
    """v1 knows public and non-public; v2's non-public visibilities v1 wrote are these."""
    if visibility in ("private", "shared"):
        return "non-public"
    return visibility


def expected_fields(image: SourceImage) -> dict:
    return {"id": image.id, "status": "active", "disk_format": image.disk_format,
            "container_format": image.container_format, "size": image.size,
            "checksum": image.checksum, "owner": image.owner, "protected": image.protected,
            "min_ram": image.min_ram, "min_disk": image.min_disk,
            "visibility": "public" if image.visibility == "public" else "non-public"}


def actual_fields(doc: dict | None) -> dict | None:
    if doc is None:
        return None
    fields = {key: doc.get(key) for key in ("id", "status", "disk_format",
                                             "container_format", "size", "checksum",
                                             "owner", "protected", "min_ram", "min_disk")}
    fields["visibility"] = v1_visibility(doc.get("visibility"))
    return fields


# --------------------------------------------------------------------- size

def test_size_counts_the_active_images_v1_lists_to_an_admin(size_run, source):
    assert_clean(size_run)
    active = [image for image in source if image.replicated]
    total = sum(image.size for image in active)
    assert re.fullmatch(rf"Total size is {total} bytes \([^)]*\) across {len(active)} "
                        r"images\n", size_run.stdout), str(size_run)


# --------------------------------------------------------------------- dump

def test_dump_writes_the_metadata_of_every_listed_image_and_the_data_of_active_ones(
        dump_run, source):
    run, path = dump_run
    assert_clean(run)
    listed = [image for image in source if image.v1_listed_to_admin]
    expected = {image.id for image in listed} | {f"{image.id}.img" for image in listed
                                                 if image.status == "active"}
    assert {entry.name for entry in path.iterdir()} == expected
    for image in listed:
        if image.status == "active":
            assert (path / f"{image.id}.img").read_bytes() == image.data, image.name


def test_dump_metadata_is_v1s_detail_entry(dump_run, source):
    """Each metadata file is the image as v1's detailed list showed it (docs/v1-api.md#27):
    the 18 fields, a non-public visibility as ``is_public: false``, an empty-valued
    property as null (issue 13 item 2). The queued image's ``size`` is left out: v1 showed
    0 for an image reserved through v1 but null for one created through v2."""
    _, path = dump_run
    expected, actual = {}, {}
    for image in source:
        if not image.v1_listed_to_admin:
            continue
        entry = json.loads((path / image.id).read_text())
        want = {"fields": sorted(V1_DETAIL_FIELDS), "id": image.id, "name": image.name,
                "status": image.status, "size": image.size, "checksum": image.checksum,
                "disk_format": image.disk_format,
                "container_format": image.container_format, "min_disk": image.min_disk,
                "min_ram": image.min_ram, "owner": image.owner,
                "is_public": image.visibility == "public", "protected": image.protected,
                "deleted": False, "deleted_at": None,
                "properties": {k: (None if v == "" else v)
                               for k, v in image.properties.items()}}
        if image.status != "active":
            del want["size"]
        for key, value in want.items():
            expected[image.name, key] = value
            actual[image.name, key] = sorted(entry) if key == "fields" else entry.get(key)
    assert actual == expected


# --------------------------------------------------------------- load, livecopy

def test_load_into_an_empty_cloud_succeeds(load_run):
    assert_clean(load_run)


def test_livecopy_into_an_empty_cloud_succeeds(livecopy_runs):
    assert_clean(livecopy_runs[0])


def test_a_second_livecopy_succeeds_and_changes_nothing(livecopy_runs):
    _, before, second, after = livecopy_runs
    assert_clean(second)
    assert "is being synced" not in second.stderr, str(second)  # no image sent again
    assert after == before


def test_the_target_has_exactly_the_active_images_with_the_same_ids(target, source):
    on_target = {doc["id"]: doc["name"] for doc in v2_images(target.url)}
    assert on_target == {image.id: image.name for image in replicated(source)}


def test_the_target_images_have_the_same_fields(target, source):
    expected, actual = {}, {}
    for image in replicated(source):
        doc = actual_fields(v2_image(target.url, image.id)) or {}
        for key, value in expected_fields(image).items():
            expected[image.name, key] = value
            actual[image.name, key] = doc.get(key, "(no such image)")
    assert actual == expected


def test_the_target_images_have_the_same_properties(target, source):
    """Custom properties exactly, the empty-valued one (``rep_empty: ""``) included."""
    core = v2_core_fields(target.url)
    expected = {image.name: image.properties for image in replicated(source)}
    actual = {}
    for image in replicated(source):
        doc = v2_image(target.url, image.id)
        actual[image.name] = None if doc is None else custom_properties(doc, core)
    assert actual == expected


def test_the_target_images_download_byte_identical(target, source):
    for image in replicated(source):
        assert v2_image(target.url, image.id) is not None, f"{image.name} not on the target"
        assert v2_data(target.url, image.id) == image.data, image.name


# ------------------------------------------------------------------ compare

def test_compare_reports_no_image_missing(target, replicator, clouds):
    run = replicator("compare", clouds["source"].v1, target.v1)
    assert_clean(run)
    assert MISSING not in run.stderr, str(run)
