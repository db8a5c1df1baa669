"""The real python-glanceclient 2.17.1 used as a LIBRARY, as Nova and Cinder used v1
(``glanceclient.Client('1', endpoint, token=...)``), through the proxy in front of a real
Glance 33 (and of the fake Glance), the proxy configured with the lab Keystone; and, for
what a real Glance cannot be made to answer (502, 503, 504), in front of a scripted upstream.

The library runs in its own venv (tests/support/legacy_library.py). Every expected value
comes from what the catalogue loaded (tests/support/catalogue.py) and from v1's rules
(docs/v1-api.md), never from the proxy's answers: listings are the 18-field v1 images
(2.7) in v1's order (2.6), ``is_public`` as v1 read it (2.3), ``images.get`` is what the
library parses from v1's HEAD headers (3.2, 7.3), errors are what the library makes of
v1's own error bodies (6.1, built here and handed to glanceclient's ``exc.from_response``).
"""

from __future__ import annotations

import hashlib
import html
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from aiohttp import web

from proxy.shell.app import make_app
from tests.support.catalogue import ADMIN, V2Api, token
from tests.support.contract import (ALL, PAGES, PROJA_SEES, PROJB_SEES, PUBLIC, V1_TIME,
                                    expected_v1, newest_first)
from tests.support.fixtures import backend_id
from tests.support.legacy_library import (GlanceLibrary, LibraryError,
                                          ensure_glanceclient_python, head_view)
from tests.support.scripted import ScriptedUpstream, proxy_settings
from tests.support.servers import ThreadedApp

pytestmark = pytest.mark.clients

# the real Glance 33 first; the fake Glance too, since it costs a few seconds
on_upstreams = pytest.mark.parametrize("backend", ["glance", "fake-glance"], indirect=True,
                                       ids=backend_id)

WRITER = "projL"     # the project these tests write as: nothing here shows in other tests
MEMBER = "projLM"    # the project they share with
PAYLOAD = bytes(range(256)) * 800 + b"tail"  # 200 KiB: several of glanceclient's 64 KiB chunks


# ------------------------------------------------------------------ fixtures and helpers

@pytest.fixture(scope="module")
def library():
    driver = GlanceLibrary(ensure_glanceclient_python())
    yield driver
    driver.close()


@pytest.fixture
def glance(library, proxy):
    """glance(project_or_token, code, **vars): run a snippet with ``glance`` bound to
    ``glanceclient.Client('1', <proxy>, token=...)`` and return its ``result``."""
    def run(who, code, **variables):
        return library.call(proxy.url, _token(who), code, **variables)
    return run


def _token(who: str) -> str:
    return who if ":" in who else token(who)


def failure(glance, who, code, **variables) -> LibraryError:
    with pytest.raises(LibraryError) as caught:
        glance(who, code, **variables)
    return caught.value


# WebOb's status lines and default explanations (docs/v1-api.md#61-error-bodies)
WEBOB = {400: ("400 Bad Request", "The server could not comply with the request since it "
               "is either malformed or otherwise incorrect."),
         403: ("403 Forbidden", "Access was denied to this resource."),
         404: ("404 Not Found", "The resource could not be found.")}


def v1_html_error(code: int, detail: str = "", explanation: str | None = None) -> str:
    """v1's error body for ``Accept: */*`` (what glanceclient sends): WebOb's HTML page,
    ``${explanation}<br /><br />\\n${detail}\\n${html_comment}\\n`` in its body
    (docs/v1-api.md#61-error-bodies). Detail flavour: the default explanation then the
    message; explanation flavour: the message in place of the default."""
    status, default = WEBOB[code]
    text = default if explanation is None else explanation
    return (f"<html>\n <head>\n  <title>{status}</title>\n </head>\n <body>\n"
            f"  <h1>{status}</h1>\n  {html.escape(text)}<br /><br />\n"
            f"{html.escape(detail)}\n\n\n </body>\n</html>")


def v1_nested_error(code: int, registry_code: int, message: str) -> str:
    """A registry error wrapped by the API (docs/v1-api.md#62-nested-registry-errors): the
    registry's plain-text body becomes the explanation."""
    registry_status = WEBOB[registry_code][0]
    return v1_html_error(code, explanation=f"{registry_status}\n\n{message}\n\n   ")


def library_details(glance, code: int, body: str) -> str:
    """What glanceclient 2.17.1 tells its caller for this v1 answer (its own
    exc.from_response, run in the library's venv)."""
    return glance(WRITER, "result = details_of(status, 'text/html; charset=UTF-8', body)",
                  status=code, body=body)


def assert_v1_error(glance, error: LibraryError, code: int, body: str) -> None:
    assert (error.code, error.details) == (code, library_details(glance, code, body)), error


def names(images) -> list[str]:
    return [image["name"] for image in images]


def listed(glance, who, **kwargs) -> list[dict]:
    return glance(who, "result = list(glance.images.list(**kwargs))", kwargs=kwargs)


def head_meta(image) -> dict:
    """What ``images.get`` returns for a catalogue image (v1's HEAD headers, as read by the
    library)."""
    return head_view(expected_v1(image))


_BACKENDS_USED: set[str] = set()


@pytest.fixture(scope="module", autouse=True)
def sweep():
    """Whatever these tests made (the writer's images), removed at the end through v2, so
    that no other test (an admin's list of everything) ever sees it."""
    yield
    for backend_url in _BACKENDS_USED:
        remove_images_of(V2Api(backend_url), WRITER)


def remove_images_of(api: V2Api, owner: str) -> None:
    for _ in range(20):  # the upstreams cap a page at 7 images: list again until none
        left = api.ok("GET", f"/v2/images?owner={owner}", ADMIN)["images"]
        if not left:
            return
        for image in left:
            api.call("PATCH", f"/v2/images/{image['id']}", ADMIN,
                     body=[{"op": "replace", "path": "/protected", "value": False}],
                     headers={"Content-Type": "application/openstack-images-v2.1-json-patch"})
            api.call("DELETE", f"/v2/images/{image['id']}", ADMIN)
    raise AssertionError(f"images of {owner} left upstream: {left}")


@pytest.fixture
def writes(backend):
    """Tests that create images register the upstream for the final sweep."""
    _BACKENDS_USED.add(backend.url)
    return V2Api(backend.url)


def upstream(writes, image_id) -> dict:
    """The upstream's own v2 image (for values v2 computes, such as virtual_size)."""
    return writes.get(ADMIN, image_id)


def create(glance, who=WRITER, data: bytes | None = None, **fields) -> dict:
    if data is None:
        return glance(who, "result = glance.images.create(**fields)", fields=fields)
    return glance(who, "result = glance.images.create(data=BytesIO(data), **fields)",
                  fields=fields, data=data)


def get(glance, who, image_id) -> dict:
    return glance(who, "result = glance.images.get(image_id)", image_id=image_id)


def update(glance, who, image_id, **fields) -> dict:
    return glance(who, "result = glance.images.update(image_id, **fields)",
                  image_id=image_id, fields=fields)


def data_of(glance, who, image_id) -> bytes:
    return glance(who, "result = b''.join(glance.images.data(image_id))", image_id=image_id)


def listed_as_owner(glance, image_id, who=WRITER) -> dict:
    found = [image for image in listed(glance, who) if image["id"] == image_id]
    assert len(found) == 1, found
    return found[0]


# ------------------------------------------------------------------ images.list

@on_upstreams
def test_list_pages_through_everything_newest_first_with_v1s_18_fields(glance, backend):
    # 26 images, default page_size 20: two v1 pages, each of several upstream pages of 7
    expected = [expected_v1(backend.loaded.images[n])
                for n in newest_first(backend.loaded, *PUBLIC, *PAGES)]
    assert listed(glance, "projC") == expected


@on_upstreams
@pytest.mark.parametrize("who, filters, expected", [
    ("projB", {"name": "win:2019"}, ["win:2019"]),
    ("projA", {"status": "queued"}, ["a-queued"]),
    ("projA", {"status": "deactivated"}, ["a-deactivated"]),
    ("projB", {"disk_format": "qcow2"}, ["cirros", "win:2019"]),
    ("projB", {"container_format": "bare"}, list(PROJB_SEES)),
    ("projC", {"size_min": 20, "size_max": 1000},
     ["cirros", "page-19", "page-20", "page-21", "page-22"]),
    ("projB", {"size_min": 1000, "size_max": 2000}, ["cirros", "win:2019"]),  # inclusive
    ("projB", {"min_ram": 2048}, ["win:2019"]),  # equality (docs/v1-api.md#24)
    ("projB", {"properties": {"os_distro": "ubuntu", "__os_version": "Ubuntu 22.04 64bit"}},
     ["ubuntu 22.04"]),
    ("projB", {"properties": {"os_distro": "Ubuntu"}}, []),  # exact and case-sensitive
    ("projA", {"properties": {"hw_disk_bus": "virtio"}}, ["a-private"]),
], ids=["name", "status-queued", "status-deactivated", "disk_format", "container_format",
        "size_min-size_max", "size-bounds-inclusive", "min_ram", "properties",
        "property-case", "property-own"])
def test_list_filters(glance, backend, who, filters, expected):
    assert names(listed(glance, who, filters=filters)) == newest_first(backend.loaded,
                                                                       *expected)


@on_upstreams
@pytest.mark.parametrize("is_public", [True, False, None, "absent"])
def test_a_member_gets_the_same_list_whatever_is_public_says(glance, backend, is_public):
    # v1 validated is_public, then ignored it for non-admins: public + own + shared with the
    # caller in any member status (docs/v1-api.md#23-is_public-and-the-admins-view)
    kwargs = {} if is_public == "absent" else {"is_public": is_public}
    assert names(listed(glance, "projB", page_size=3, **kwargs)) == newest_first(
        backend.loaded, *PROJB_SEES)


ADMIN_VIEWS = {
    # "as a user" of the admin project: public, own, shared with it
    "absent": PUBLIC + ("a-shared-with-admin",),
    True: PUBLIC + ("a-shared-with-admin",),
    # every image but other projects' community images
    None: tuple(n for n in ALL if n != "a-community"),
    # every non-public image, community images of others excepted
    False: tuple(n for n in ALL if n not in PUBLIC and n != "a-community"),
}


@on_upstreams
@pytest.mark.parametrize("is_public", list(ADMIN_VIEWS))
def test_an_admin_gets_v1s_admin_views(glance, backend, is_public):
    kwargs = {} if is_public == "absent" else {"is_public": is_public}
    assert names(listed(glance, ADMIN, **kwargs)) == newest_first(
        backend.loaded, *ADMIN_VIEWS[is_public])


@on_upstreams
def test_an_admin_listing_one_owner_as_nova_did(glance, backend):
    # owner=... makes the library send is_public=None and filter on its side
    # (every image but others' community ones), then keep projA's: its community image too
    # goes, since is_public=None never lists it to an admin of another project
    expected = [n for n in PROJA_SEES
                if backend.loaded.images[n].owner == "projA" and n != "a-community"]
    assert names(listed(glance, ADMIN, owner="projA")) == newest_first(backend.loaded,
                                                                       *expected)


@on_upstreams
@pytest.mark.parametrize("page_size", [1, 5, 7, 8, 30])
def test_page_size_pages_through_everything(glance, backend, page_size):
    # the library stops at the first short page: only full pages keep it going
    assert names(listed(glance, "projC", page_size=page_size)) == newest_first(
        backend.loaded, *PUBLIC, *PAGES)


@on_upstreams
def test_limit_stops_after_that_many_images(glance, backend):
    everything = newest_first(backend.loaded, *PUBLIC, *PAGES)
    assert names(listed(glance, "projC", page_size=4, limit=10)) == everything[:10]


def creation_order(backend, *image_names):
    order = list(backend.loaded.images)
    return sorted(image_names, key=order.index)


@on_upstreams
@pytest.mark.parametrize("sort, expected", [
    ({"sort_key": "name", "sort_dir": "asc"}, lambda b: sorted(PUBLIC + PAGES)),
    ({"sort_key": "name"}, lambda b: sorted(PUBLIC + PAGES, reverse=True)),  # desc default
    ({"sort_dir": "asc"}, lambda b: creation_order(b, *PUBLIC, *PAGES)),  # created_at
    ({"sort_key": "size", "sort_dir": "desc"},
     lambda b: sorted(PUBLIC + PAGES, key=lambda n: (b.loaded.images[n].size,
                                                     list(b.loaded.images).index(n)),
                      reverse=True)),
    ({"sort_key": "disk_format", "sort_dir": "asc"},
     lambda b: sorted(PUBLIC + PAGES, key=lambda n: (b.loaded.images[n].disk_format,
                                                     list(b.loaded.images).index(n)))),
], ids=["name-asc", "name", "asc", "size-desc", "disk_format-asc"])
def test_sort_key_and_sort_dir(glance, backend, sort, expected):
    assert names(listed(glance, "projC", page_size=6, **sort)) == expected(backend)


@on_upstreams
def test_marker_starts_after_that_image(glance, backend):
    everything = newest_first(backend.loaded, *PUBLIC, *PAGES)
    marker = backend.loaded.images[everything[4]].id
    assert names(listed(glance, "projC", marker=marker)) == everything[5:]
    by_name = sorted(PUBLIC + PAGES)
    marker = backend.loaded.images[by_name[10]].id
    assert names(listed(glance, "projC", marker=marker, sort_key="name", sort_dir="asc",
                        page_size=4)) == by_name[11:]


@on_upstreams
def test_a_marker_the_caller_cannot_see_or_not_an_id(glance, backend):
    invisible = backend.loaded.images["a-private"].id  # projA's
    for marker in (invisible, str(uuid.uuid4())):
        error = failure(glance, "projB", "result = list(glance.images.list(marker=m))",
                        m=marker)
        assert_v1_error(glance, error, 400, v1_nested_error(
            400, 400, "Invalid marker. Image could not be found."))
    error = failure(glance, "projB", "result = list(glance.images.list(marker='abc'))")
    assert_v1_error(glance, error, 400, v1_nested_error(400, 400, "Invalid marker format"))


@on_upstreams
@pytest.mark.parametrize("kwargs, detail", [
    ({"filters": {"size_min": -1}}, "Bad value passed to filter size_min got -1"),
    ({"is_public": "maybe"}, "Bad value passed to filter is_public got maybe"),
], ids=["size_min", "is_public"])
def test_a_filter_v1_refused(glance, kwargs, detail):
    error = failure(glance, "projB", "result = list(glance.images.list(**kwargs))",
                    kwargs=kwargs)
    assert_v1_error(glance, error, 400, v1_html_error(400, detail))


# ------------------------------------------------------------------ images.get, images.data

@on_upstreams
@pytest.mark.parametrize("name", ["ubuntu 22.04", "win:2019", "a-shared-pending"])
def test_get_reads_v1s_headers(glance, backend, name):
    image = backend.loaded.images[name]
    assert get(glance, "projB", image.id) == head_meta(image)


@on_upstreams
def test_get_of_an_image_the_caller_cannot_see_is_404(glance, backend):
    error = failure(glance, "projB", "result = glance.images.get(i)",
                    i=backend.loaded.images["a-private"].id)
    assert error.code == 404  # HEAD: no body (docs/v1-api.md#31)


@on_upstreams
@pytest.mark.parametrize("name", ["ubuntu 22.04", "cirros", "a-shared-pending"])
def test_data_gives_the_loaded_bytes_and_the_checksum_verifies(glance, backend, name):
    image = backend.loaded.images[name]
    # the library checks the MD5 against x-image-meta-checksum as it reads (do_checksum)
    got = glance("projB", "d = b''.join(glance.images.data(i)); result = [d, md5(d), len(d)]",
                 i=image.id)
    assert got == [image.data, image.checksum, len(image.data)]


@on_upstreams
def test_data_of_an_image_that_is_not_active(glance, backend):
    queued = backend.loaded.images["a-queued"]
    error = failure(glance, "projA", "result = b''.join(glance.images.data(i))", i=queued.id)
    assert_v1_error(glance, error, 404, v1_html_error(404, f"Image {queued.id} is not active"))
    off = backend.loaded.images["a-deactivated"]
    error = failure(glance, "projA", "result = b''.join(glance.images.data(i))", i=off.id)
    assert_v1_error(glance, error, 403, v1_html_error(403, f"Image {off.id} is deactivated"))


# ------------------------------------------------------------------ images.create

@on_upstreams
def test_create_with_data(glance, writes):
    made = create(glance, data=PAYLOAD, name="lib-built", disk_format="raw",
                  container_format="bare", min_ram=64,
                  properties={"Build": "7", "team": "ops"})
    image_id = made["id"]
    assert uuid.UUID(image_id)
    assert V1_TIME.match(made.pop("created_at")) and V1_TIME.match(made.pop("updated_at"))
    md5 = hashlib.md5(PAYLOAD).hexdigest()
    expected = {
        "id": image_id, "name": "lib-built", "status": "active", "size": len(PAYLOAD),
        "virtual_size": upstream(writes, image_id)["virtual_size"], "checksum": md5,
        "disk_format": "raw", "container_format": "bare", "min_disk": 0, "min_ram": 64,
        "owner": WRITER, "is_public": False, "protected": False, "deleted_at": None,
        "deleted": False,
        # v1 lower-cased header names: x-image-meta-property-Build sets "build"
        "properties": {"build": "7", "team": "ops"},
    }
    assert made == expected
    listed_entry = listed_as_owner(glance, image_id)
    assert V1_TIME.match(listed_entry.pop("created_at"))
    assert V1_TIME.match(listed_entry.pop("updated_at"))
    assert listed_entry == expected
    assert data_of(glance, WRITER, image_id) == PAYLOAD
    got = get(glance, WRITER, image_id)
    assert (got["size"], got["checksum"], got["status"], got["properties"]) == (
        len(PAYLOAD), md5, "active", {"build": "7", "team": "ops"})


@on_upstreams
@pytest.mark.parametrize("fields", [
    {"name": "lib-reserved", "disk_format": "raw", "container_format": "bare"},
    {},  # no headers at all is a legal v1 create (docs/v1-api.md#42-create)
], ids=["named", "nothing"])
def test_create_without_data_is_queued_with_size_0(glance, writes, fields):
    made = create(glance, **fields)
    image_id = made["id"]
    # v1 reserved the image with size 0 and showed 0 everywhere (issue 13, item 4)
    assert (made["status"], made["size"], made["checksum"], made["name"],
            made["disk_format"], made["container_format"], made["is_public"],
            made["properties"]) == (
        "queued", 0, None, fields.get("name"), fields.get("disk_format"),
        fields.get("container_format"), False, {})
    assert listed_as_owner(glance, image_id)["size"] == 0
    got = get(glance, WRITER, image_id)
    assert (got["status"], got.get("size")) == ("queued", 0)  # x-image-meta-size: 0


@on_upstreams
def test_create_keeps_a_property_with_an_empty_value_as_null(glance, writes):
    # v1 stored an empty property value as NULL: null in bodies, no header (issue 13, item 2)
    made = create(glance, name="lib-empty-prop", properties={"empty": "", "full": "x"})
    assert made["properties"] == {"empty": None, "full": "x"}
    assert listed_as_owner(glance, made["id"])["properties"] == {"empty": None, "full": "x"}
    assert get(glance, WRITER, made["id"])["properties"] == {"full": "x"}


# ------------------------------------------------------------------ images.update

@pytest.fixture
def propertied(glance, writes):
    return create(glance, data=b"data", name="lib-props", disk_format="raw",
                  container_format="bare",
                  properties={"keep": "1", "__os_type": "Linux", "os_distro": "cirros"})


@on_upstreams
def test_update_without_purge_props_keeps_the_other_properties(glance, propertied):
    changed = update(glance, WRITER, propertied["id"], name="lib-renamed",
                     properties={"os_distro": "ubuntu", "new": "2"})
    expected = {"keep": "1", "__os_type": "Linux", "os_distro": "ubuntu", "new": "2"}
    assert (changed["name"], changed["properties"]) == ("lib-renamed", expected)
    assert get(glance, WRITER, propertied["id"])["properties"] == expected
    assert listed_as_owner(glance, propertied["id"])["properties"] == expected


@on_upstreams
def test_update_with_purge_props_removes_every_other_property(glance, propertied):
    # on a Glance upstream a __* key is an ordinary property, and v1 purged it
    # (issue 13, item 3)
    changed = update(glance, WRITER, propertied["id"], properties={"only": "2"},
                     purge_props=True)
    assert changed["properties"] == {"only": "2"}
    assert get(glance, WRITER, propertied["id"])["properties"] == {"only": "2"}
    assert listed_as_owner(glance, propertied["id"])["properties"] == {"only": "2"}


@on_upstreams
def test_update_sets_a_property_to_null_with_an_empty_value(glance, propertied):
    changed = update(glance, WRITER, propertied["id"], properties={"keep": ""})
    expected = {"keep": None, "__os_type": "Linux", "os_distro": "cirros"}
    assert changed["properties"] == expected  # issue 13, item 2
    assert listed_as_owner(glance, propertied["id"])["properties"] == expected
    assert get(glance, WRITER, propertied["id"])["properties"] == {
        "__os_type": "Linux", "os_distro": "cirros"}


@on_upstreams
def test_update_of_fields_then_protected_delete_is_refused(glance, propertied):
    image_id = propertied["id"]
    changed = update(glance, WRITER, image_id, name="lib-fields", min_ram=128, min_disk=2,
                     protected=True)
    assert (changed["name"], changed["min_ram"], changed["min_disk"], changed["protected"],
            changed["status"]) == ("lib-fields", 128, 2, True, "active")
    got = get(glance, WRITER, image_id)
    assert (got["name"], got["min_ram"], got["min_disk"], got["protected"]) == (
        "lib-fields", 128, 2, True)
    error = failure(glance, WRITER, "glance.images.delete(i)", i=image_id)
    # v1 raised this one with the message as the explanation (issue 13, item 6)
    assert_v1_error(glance, error, 403, v1_html_error(403, explanation="Image is protected"))
    update(glance, WRITER, image_id, protected=False)
    glance(WRITER, "glance.images.delete(i)", i=image_id)


@on_upstreams
def test_changing_the_size_of_an_active_image_is_forbidden(glance, propertied):
    error = failure(glance, WRITER, "result = glance.images.update(i, size=1)",
                    i=propertied["id"])
    # docs/v1-api.md#43-update step 4, message as explanation (issue 13, item 6)
    assert_v1_error(glance, error, 403, v1_html_error(
        403, explanation="Forbidden to modify 'size' of active image."))
    assert get(glance, WRITER, propertied["id"])["size"] == len(b"data")


@on_upstreams
def test_a_reserved_image_takes_its_data_with_update_as_nova_snapshots_did(glance, writes):
    reserved = create(glance, name="lib-snapshot", disk_format="raw", container_format="bare",
                      properties={"image_type": "snapshot"})
    # data never purges, whatever purge_props says (docs/v1-api.md#43-update step 6)
    done = glance(WRITER, "result = glance.images.update(i, data=BytesIO(d), "
                          "properties={'instance_uuid': 'abc'}, purge_props=True)",
                  i=reserved["id"], d=PAYLOAD)
    assert (done["status"], done["size"], done["checksum"], done["properties"]) == (
        "active", len(PAYLOAD), hashlib.md5(PAYLOAD).hexdigest(),
        {"image_type": "snapshot", "instance_uuid": "abc"})
    assert data_of(glance, WRITER, reserved["id"]) == PAYLOAD


# ------------------------------------------------------------------ images.delete

@on_upstreams
def test_delete_then_the_image_is_gone(glance, writes):
    made = create(glance, data=b"gone", name="lib-deleted", disk_format="raw",
                  container_format="bare")
    glance(WRITER, "glance.images.delete(i)", i=made["id"])
    assert failure(glance, WRITER, "result = glance.images.get(i)", i=made["id"]).code == 404
    error = failure(glance, WRITER, "result = b''.join(glance.images.data(i))", i=made["id"])
    assert_v1_error(glance, error, 404, v1_html_error(
        404, f"Image with identifier {made['id']} not found"))
    assert made["id"] not in [image["id"] for image in listed(glance, WRITER)]


# ------------------------------------------------------------------ image_members

def members_of(glance, who, image_id):
    return glance(who, "result = glance.image_members.list(image=i)", i=image_id)


def shared_with(glance, who, member):
    return glance(who, "result = glance.image_members.list(member=m)", m=member)


@on_upstreams
def test_members_create_list_and_delete(glance, writes):
    made = create(glance, data=b"shared", name="lib-shared", disk_format="raw",
                  container_format="bare")
    image_id = made["id"]
    glance(WRITER, "glance.image_members.create(i, m)", i=image_id, m=MEMBER)
    assert members_of(glance, WRITER, image_id) == [
        {"member_id": MEMBER, "can_share": False, "image_id": image_id}]
    expected_shared = [{"image_id": image_id, "can_share": False, "member_id": MEMBER}]
    assert shared_with(glance, WRITER, MEMBER) == expected_shared
    assert shared_with(glance, MEMBER, MEMBER) == expected_shared
    # the member sees it at once, although it never accepted (v1 had no member status)
    assert image_id in [image["id"] for image in listed(glance, MEMBER)]
    assert get(glance, MEMBER, image_id)["name"] == "lib-shared"
    assert data_of(glance, MEMBER, image_id) == b"shared"
    glance(WRITER, "glance.image_members.delete(i, m)", i=image_id, m=MEMBER)
    assert members_of(glance, WRITER, image_id) == []
    assert shared_with(glance, WRITER, MEMBER) == []
    assert image_id not in [image["id"] for image in listed(glance, MEMBER)]


@on_upstreams
def test_shared_images_are_listed_oldest_membership_first(glance, writes):
    made = [create(glance, data=b"m", name=f"lib-member-order-{n}", disk_format="raw",
                   container_format="bare")["id"] for n in range(3)]
    # memberships made in another order than the images: second, first, third
    order = [made[1], made[0], made[2]]
    for number, image_id in enumerate(order):
        if number:
            time.sleep(1.1)  # v2 keeps whole seconds: each membership in a second of its own
        glance(WRITER, "glance.image_members.create(i, m)", i=image_id, m=MEMBER)
    expected = [{"image_id": i, "can_share": False, "member_id": MEMBER} for i in order]
    # real v1 listed memberships in the order they were made (issue 13, item 5)
    assert shared_with(glance, WRITER, MEMBER) == expected
    assert shared_with(glance, MEMBER, MEMBER) == expected


@on_upstreams
def test_sharing_an_image_the_caller_does_not_own_is_refused(glance, backend):
    image = backend.loaded.images["a-shared-accepted"]  # projA's, shared with projB
    error = failure(glance, "projB", "glance.image_members.create(i, 'projX')", i=image.id)
    # v1: 404 with the registry's 403 nested (docs/v1-api.md#5-members)
    assert error.code == 404 and "No permission to share that image" in error.details
    assert members_of(glance, "projA", image.id) == [
        {"member_id": "projB", "can_share": False, "image_id": image.id}]


# ------------------------------------------------------------------ an upstream that is down

@pytest.fixture(scope="module")
def unavailable():
    """A proxy in front of a scripted upstream whose image list answers ``.status``."""
    scripted = ScriptedUpstream()

    async def answer(request):
        return web.Response(status=scripted.status, text="upstream trouble",
                            headers={"Retry-After": "7"})

    scripted.images_handler = answer
    upstream_server = ThreadedApp(scripted.app).start()
    front = ThreadedApp(lambda: make_app(proxy_settings(upstream_server.url))).start()
    scripted.url = front.url
    yield scripted
    front.stop()
    upstream_server.stop()


@pytest.mark.parametrize("upstream_status, v1_status, raised", [
    (502, 503, "HTTPServiceUnavailable"), (503, 503, "HTTPServiceUnavailable"),
    (504, 503, "HTTPServiceUnavailable"), (500, 500, "HTTPInternalServerError"),
])
def test_an_upstream_that_is_unavailable_is_a_503_the_caller_may_retry(
        library, unavailable, upstream_status, v1_status, raised):
    # a 503 may be retried, a 500 should not (issue 13, item 7)
    unavailable.status = upstream_status
    with pytest.raises(LibraryError) as caught:
        library.call(unavailable.url, token("projB"), "result = list(glance.images.list())")
    assert (caught.value.code, caught.value.type) == (v1_status, raised)


# ------------------------------------------------------------------ deleted images

@on_upstreams
def test_changes_since_lists_an_image_deleted_through_the_proxy_as_v1_did(glance, backend,
                                                                        writes):
    # issue 15: v1's history of deletions, as a sync job reads it with filters=changes-since
    since = (datetime.now(timezone.utc) - timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%S")
    image = create(glance, name="gone-for-the-library", disk_format="raw",
                   container_format="bare", data=b"abc")
    glance(WRITER, "glance.images.delete(image_id)", image_id=image["id"])
    found = [i for i in listed(glance, WRITER, filters={"changes-since": since})
             if i["id"] == image["id"]]
    assert [(i["name"], i["status"], i["deleted"], i["properties"]) for i in found] == [
        ("gone-for-the-library", "deleted", True, {})]
    assert found[0]["deleted_at"] is not None
    assert all(i["id"] != image["id"] for i in listed(glance, WRITER))  # not without it
