"""v1 writes through the proxy, on each backend (real Glance among them): create with data,
update with v1's purge rules, delete, and nothing half-made left behind
(docs/v1-api.md#4-writes)."""

from __future__ import annotations

import hashlib
import html
import http.server
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import pytest

from tests.support.catalogue import V2Api, token
from tests.support.contract import V1_TIME
from tests.support.webob_bodies import ACCEPTS, SIZE_OF_ACTIVE_IMAGE

WRITER = token("projW")  # a project of its own: nothing here shows in the read tests
DATA = bytes(range(256)) * 64  # 16 KiB


def send(proxy, method, path, headers=None, data=None, tok=WRITER):
    headers = {"X-Auth-Token": tok, **(headers or {})}
    request = urllib.request.Request(proxy.url + path, data=data, headers=headers,
                                     method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def create(proxy, data=None, **meta):
    headers = {f"x-image-meta-{k}": str(v) for k, v in meta.items()}
    if data is not None:
        headers["Content-Type"] = "application/octet-stream"
    return send(proxy, "POST", "/v1/images", headers, data)


def upstream_names(backend) -> list[str]:
    """What the upstream itself holds for the writer (never the proxy's word for it)."""
    names, path = [], "/v2/images?owner=projW"
    while path:
        page = V2Api(backend.url).ok("GET", path, WRITER)
        names += [image["name"] for image in page["images"]]
        path = page.get("next")
    return names


@pytest.fixture
def cleanup(backend):
    created = []
    yield created
    api = V2Api(backend.url)
    for image_id in created:
        api.call("PATCH", f"/v2/images/{image_id}", WRITER,
                 body=[{"op": "replace", "path": "/protected", "value": False}],
                 headers={"Content-Type": "application/openstack-images-v2.1-json-patch"})
        api.call("DELETE", f"/v2/images/{image_id}", WRITER)


def test_create_with_data_answers_201_with_v1s_image_and_the_bytes_come_back(proxy, backend,
                                                                             cleanup):
    status, headers, body = create(proxy, DATA, name="built", disk_format="raw",
                                   container_format="bare", size=len(DATA),
                                   **{"property-Build-Id": "42", "is_public": "None"})
    assert status == 201, body
    image = json.loads(body)["image"]
    cleanup.append(image["id"])
    md5 = hashlib.md5(DATA).hexdigest()
    assert headers["Location"] == f"{proxy.url}/v1/images/{image['id']}"
    assert headers["ETag"] == md5
    assert V1_TIME.match(image.pop("created_at")) and V1_TIME.match(image.pop("updated_at"))
    assert image.pop("virtual_size") in (None, len(DATA))  # Glance sizes raw data itself
    assert image == {
        "id": image["id"], "name": "built", "status": "active", "size": len(DATA),
        "checksum": md5, "disk_format": "raw", "container_format": "bare", "min_disk": 0,
        "min_ram": 0, "owner": "projW", "is_public": False, "protected": False,
        "deleted": False, "deleted_at": None, "properties": {"build_id": "42"}}
    status, _, data = send(proxy, "GET", f"/v1/images/{image['id']}")
    assert status == 200 and data == DATA
    # v2 keeps import bookkeeping (os_glance_*) on it: v1's purging update leaves those be
    status, _, body = send(proxy, "PUT", f"/v1/images/{image['id']}",
                           {"x-image-meta-name": "copied-renamed"})
    assert status == 200, body
    assert json.loads(body)["image"]["name"] == "copied-renamed"


def test_a_reserved_image_takes_its_data_with_a_later_put(proxy, backend, cleanup):
    status, _, body = create(proxy, name="reserved")
    assert status == 201, body
    image = json.loads(body)["image"]
    cleanup.append(image["id"])
    assert (image["status"], image["size"], image["checksum"]) == ("queued", 0, None)
    status, _, body = send(proxy, "PUT", f"/v1/images/{image['id']}", {
        "Content-Type": "application/octet-stream", "x-image-meta-disk_format": "raw",
        "x-image-meta-container_format": "bare"}, DATA)
    assert status == 200, body
    image = json.loads(body)["image"]
    assert (image["status"], image["size"]) == ("active", len(DATA))
    assert image["checksum"] == hashlib.md5(DATA).hexdigest()
    status, _, body = send(proxy, "PUT", f"/v1/images/{image['id']}",
                           {"Content-Type": "application/octet-stream"}, b"more")
    assert status == 409 and b"Cannot upload to an unqueued image" in body


def test_update_purges_properties_it_does_not_repeat_unless_told_not_to(proxy, backend,
                                                                         cleanup):
    _, _, body = create(proxy, name="props", **{"property-a": "1", "property-b": "2"})
    image_id = json.loads(body)["image"]["id"]
    cleanup.append(image_id)
    status, _, body = send(proxy, "PUT", f"/v1/images/{image_id}", {
        "x-glance-registry-purge-props": "false", "x-image-meta-property-c": "3",
        "x-image-meta-name": "renamed"})
    assert status == 200, body
    image = json.loads(body)["image"]
    assert (image["name"], image["properties"]) == ("renamed", {"a": "1", "b": "2", "c": "3"})
    # without the header v1 purged: only what this request names is left
    status, _, body = send(proxy, "PUT", f"/v1/images/{image_id}",
                           {"x-image-meta-property-b": "two"})
    assert status == 200, body
    assert json.loads(body)["image"]["properties"] == {"b": "two"}


def test_delete_answers_200_empty_then_the_image_is_gone(proxy, backend, cleanup):
    _, _, body = create(proxy, name="doomed")
    image_id = json.loads(body)["image"]["id"]
    cleanup.append(image_id)
    status, headers, body = send(proxy, "DELETE", f"/v1/images/{image_id}")
    assert (status, body, headers["Content-Type"]) == (200, b"", "text/html; charset=UTF-8")
    status, _, body = send(proxy, "DELETE", f"/v1/images/{image_id}")
    assert status == 404 and f"Image with identifier {image_id} not found".encode() in body


def test_a_protected_image_is_not_deleted(proxy, backend, cleanup):
    _, _, body = create(proxy, name="keep", protected="True")
    image_id = json.loads(body)["image"]["id"]
    cleanup.append(image_id)
    status, _, body = send(proxy, "DELETE", f"/v1/images/{image_id}")
    assert status == 403 and b"Image is protected" in body


@pytest.mark.parametrize("key, announced, actual", [
    ("size", len(DATA) + 1, len(DATA)),
    ("checksum", "0" * 32, hashlib.md5(DATA).hexdigest()),
])
def test_data_that_does_not_match_what_was_announced_leaves_no_image(proxy, backend, key,
                                                                     announced, actual):
    status, _, body = create(proxy, DATA, name="mismatch", disk_format="raw",
                             container_format="bare", **{key: announced})
    assert status == 400
    assert (f"Supplied {key} ({announced}) and {key} generated from uploaded image "
            f"({actual}) did not match. The image was deleted.").encode() in body
    assert "mismatch" not in upstream_names(backend)


def test_an_upload_cut_off_half_way_leaves_no_image(proxy, backend):
    host, port = urlsplit(proxy.url).hostname, urlsplit(proxy.url).port
    with socket.create_connection((host, port)) as sock:
        sock.sendall(f"POST /v1/images HTTP/1.1\r\nHost: {host}\r\nX-Auth-Token: {WRITER}\r\n"
                     "x-image-meta-name: cut-off\r\nx-image-meta-disk_format: raw\r\n"
                     "x-image-meta-container_format: bare\r\n"
                     "Content-Type: application/octet-stream\r\n"
                     f"Content-Length: {len(DATA)}\r\n\r\n".encode() + DATA[:5000])
        time.sleep(0.5)  # the image is created and the upload under way
    deadline = time.monotonic() + 10
    while "cut-off" in upstream_names(backend) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "cut-off" not in upstream_names(backend)


@pytest.mark.parametrize("headers, message", [
    ({"x-image-meta-foo": "x"}, b"Bad header: x-image-meta-foo"),
    ({"x-image-meta-size": "abc"},
     b"Invalid value 'abc' for parameter 'size': Cannot convert image size 'abc' to an integer."),
    ({"x-image-meta-disk_format": "bogus"}, b"Invalid disk format 'bogus' for image."),
    ({"x-glance-api-copy-from": "file:///etc/passwd"},
     b"External sources are not supported: 'file:///etc/passwd'"),
    ({"x-image-meta-property-os_glance_x": "1"}, b"Property 'os_glance_x' is reserved"),
])
def test_refused_creates_say_why_and_leave_nothing(proxy, backend, headers, message):
    before = upstream_names(backend)
    status, _, body = send(proxy, "POST", "/v1/images", {"x-image-meta-name": "refused",
                                                         **headers})
    assert status == 400 and message in body, body
    assert upstream_names(backend) == before


def test_data_without_formats_is_refused_before_anything_is_created(proxy, backend):
    status, _, body = send(proxy, "POST", "/v1/images", {
        "x-image-meta-name": "no-formats", "Content-Type": "application/octet-stream"}, DATA)
    assert status == 400 and b"Disk format is not specified." in body
    assert "no-formats" not in upstream_names(backend)


def members_of(proxy, image_id, tok=WRITER):
    status, _, body = send(proxy, "GET", f"/v1/images/{image_id}/members", tok=tok)
    assert status == 200, body
    return json.loads(body)["members"]


def test_shared_images_are_listed_in_the_order_their_memberships_were_made(
        proxy, backend, cleanup):
    # v1 listed a member's shared images oldest membership first (docs/v1-api.md#5-members);
    # v2 keeps a membership's time to the second, hence the pauses
    ids = []
    for name in ("order-x", "order-y", "order-z"):
        _, _, body = create(proxy, name=name)
        ids.append(json.loads(body)["image"]["id"])
        cleanup.append(ids[-1])
    x, y, z = ids
    for n, image_id in enumerate((y, z, x)):
        if n:
            time.sleep(1.1)
        assert send(proxy, "PUT", f"/v1/images/{image_id}/members/projO")[0] == 204
    status, _, body = send(proxy, "GET", "/v1/shared-images/projO")
    assert (status, json.loads(body)) == (200, {"shared_images": [
        {"image_id": i, "can_share": False} for i in (y, z, x)]})


def test_sharing_a_private_image_with_a_member_then_unsharing_it(proxy, backend, cleanup):
    _, _, body = create(proxy, name="to-share")
    image_id = json.loads(body)["image"]["id"]
    cleanup.append(image_id)
    assert members_of(proxy, image_id) == []
    path = f"/v1/images/{image_id}/members/projM"
    status, _, body = send(proxy, "PUT", path, {"Content-Type": "application/json"},
                           b'{"member": {"can_share": false}}')
    assert (status, body) == (204, b"")
    assert send(proxy, "PUT", path)[0] == 204  # again, and without a body: still fine
    assert members_of(proxy, image_id) == [{"member_id": "projM", "can_share": False}]
    shared = {"shared_images": [{"image_id": image_id, "can_share": False}]}
    for tok in (WRITER, token("projM")):  # the owner's view and the member's
        status, _, body = send(proxy, "GET", "/v1/shared-images/projM", tok=tok)
        assert (status, json.loads(body)) == (200, shared)
    assert json.loads(send(proxy, "DELETE", "/v1/shared-images/projQ")[2]) == {
        "shared_images": []}
    status, headers, _ = send(proxy, "GET", path)
    assert (status, headers.get("Allow")) == (405, None)
    assert send(proxy, "DELETE", path)[:1] == (204,)
    assert members_of(proxy, image_id) == []
    status, _, body = send(proxy, "DELETE", path)
    assert status == 404 and b"Membership could not be found." in body


def test_the_member_list_is_replaced_as_a_whole(proxy, backend, cleanup):
    _, _, body = create(proxy, name="replace-members")
    image_id = json.loads(body)["image"]["id"]
    cleanup.append(image_id)
    path = f"/v1/images/{image_id}/members"
    for wanted in (["projM", "projN"], ["projN", "projO"]):
        document = {"memberships": [{"member_id": m} for m in wanted]}
        status, _, body = send(proxy, "PUT", path, {"Content-Type": "application/json"},
                               json.dumps(document).encode())
        assert status == 204, body
        assert sorted(m["member_id"] for m in members_of(proxy, image_id)) == wanted
    status, _, body = send(proxy, "PUT", path, {"Content-Type": "application/json"},
                           b'{"memberships": [{"can_share": true}]}')
    assert (status, body) == (400, b"400 Bad Request\n\n400 Bad Request  Invalid membership "
                                   b"association: 'member_id'     \n\n   ")


def test_what_v2_members_cannot_do_is_refused_and_changes_nothing(proxy, backend, cleanup):
    _, _, body = create(proxy, name="no-can-share")
    image_id = json.loads(body)["image"]["id"]
    cleanup.append(image_id)
    status, _, body = send(proxy, "PUT", f"/v1/images/{image_id}/members/projM",
                           {"Content-Type": "application/json"},
                           b'{"member": {"can_share": true}}')
    assert status == 400 and b"can_share is not available" in body
    assert members_of(proxy, image_id) == []
    status, _, body = send(proxy, "PUT", f"/v1/images/{image_id}/members/projM",
                           {"Content-Type": "application/json"}, b"{not json")
    assert status == 400 and b"Malformed JSON in request body." in body
    admin = token("admin").replace("member,reader", "admin,member,reader")
    assert create(proxy, name="public-one", is_public="True")[0] == 403  # admins publish
    status, _, body = send(proxy, "POST", "/v1/images", {"x-image-meta-name": "pub",
                                                         "x-image-meta-is_public": "True"},
                           tok=admin)
    assert status == 201, body
    public_id = json.loads(body)["image"]["id"]
    try:
        status, _, body = send(proxy, "PUT", f"/v1/images/{public_id}/members/projM",
                               tok=admin)
        assert status == 409 and b"is public" in body
    finally:
        V2Api(backend.url).call("DELETE", f"/v2/images/{public_id}", admin)


@pytest.fixture(scope="module")
def data_server():
    """A web server on loopback holding DATA (the lab Glance may fetch from loopback)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(DATA)))
            self.end_headers()
            self.wfile.write(DATA)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/disk.raw"
    server.shutdown()


@pytest.mark.parametrize("header", ["x-glance-api-copy-from", "x-image-meta-location"])
def test_an_external_source_is_copied_by_web_download_where_the_upstream_has_it(
        proxy, backend, cleanup, data_server, header):
    status, _, body = send(proxy, "POST", "/v1/images", {
        "x-image-meta-name": "copied", "x-image-meta-disk_format": "raw",
        "x-image-meta-container_format": "bare", header: data_server})
    if backend.name == "fake-glance-pike":  # v2.5: no import API
        assert status == 400 and b"web-download import" in body, body
        assert "copied" not in upstream_names(backend)
        return
    assert status == 201, body
    image = json.loads(body)["image"]
    cleanup.append(image["id"])
    assert image["status"] == "queued"  # as v1 answered a copy-from: the copy comes later
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        status, headers, _ = send(proxy, "HEAD", f"/v1/images/{image['id']}")
        if headers.get("x-image-meta-status") == "active":
            break
        time.sleep(0.2)
    status, _, data = send(proxy, "GET", f"/v1/images/{image['id']}")
    assert status == 200 and data == DATA


def test_a_member_id_that_would_name_another_upstream_path_is_404(proxy, backend, cleanup):
    _, _, body = create(proxy, name="traversal-target")
    target = json.loads(body)["image"]["id"]
    cleanup.append(target)
    _, _, body = create(proxy, name="traversal-from")
    source = json.loads(body)["image"]["id"]
    cleanup.append(source)
    for method in ("PUT", "DELETE"):
        status, _, _ = send(proxy, method, f"/v1/images/{source}/members/..%2F..%2F{target}")
        assert status == 404
    assert send(proxy, "GET", "/v1/shared-images/..")[0] == 404
    status, _, body = send(proxy, "PUT", f"/v1/images/{source}/members",
                           {"Content-Type": "application/json"},
                           json.dumps({"memberships": [{"member_id": f"../../{target}"}]}).encode())
    assert status == 400
    assert send(proxy, "HEAD", f"/v1/images/{target}")[0] == 200  # still there


def test_a_protected_image_whose_data_does_not_verify_is_still_removed(proxy, backend):
    status, _, body = create(proxy, DATA, name="protected-mismatch", disk_format="raw",
                             container_format="bare", protected="True", size=len(DATA) + 1)
    assert status == 400 and b"The image was deleted." in body
    assert "protected-mismatch" not in upstream_names(backend)


def test_an_image_declared_empty_is_active_at_once_as_in_v1(proxy, backend, cleanup):
    status, _, body = create(proxy, name="empty", size=0, disk_format="raw",
                             container_format="bare")
    assert status == 201, body
    image = json.loads(body)["image"]
    cleanup.append(image["id"])
    assert (image["status"], image["size"]) == ("active", 0)
    assert send(proxy, "GET", f"/v1/images/{image['id']}")[::2] == (200, b"")


# Errors the proxy makes itself, as v1 built them (issue 13, item 6): Glance v1 raised most
# of its own refusals as HTTPxxx(explanation=msg), the message in place of WebOb's default
# explanation (glance/api/v1/images.py, upload_utils.py, glance/common/wsgi.py at 16.0.1),
# and a few as HTTPxxx(msg), the message after it (docs/v1-api.md#61-error-bodies).


WEBOB_DEFAULTS = {  # WebOb's titles and default explanations
    400: ("Bad Request", "The server could not comply with the request since it is either "
          "malformed or otherwise incorrect."),
    403: ("Forbidden", "Access was denied to this resource."),
    409: ("Conflict", "There was a conflict when trying to complete your request."),
}


def v1_error(accept, status, *, explanation=None, detail=""):
    """(Content-Type, body) v1 answered: WebOb 1.7.4's templates, body
    ``${explanation}<br /><br />\\n${detail}\\n${html_comment}\\n`` in its plain-text, HTML and
    JSON pages."""
    title, default = WEBOB_DEFAULTS[status]
    line, explanation = f"{status} {title}", default if explanation is None else explanation
    body = f"{explanation}<br /><br />\n{detail}\n\n"
    if accept is None:  # line breaks become spaces, then each <br /> a line break
        text = body.replace("\n", " ").replace("<br />", "\n")
        return "text/plain; charset=UTF-8", f"{line}\n\n{text}".encode()
    if accept == "*/*":
        return "text/html; charset=UTF-8", (
            f"<html>\n <head>\n  <title>{line}</title>\n </head>\n <body>\n  <h1>{line}</h1>\n"
            f"  {html.escape(explanation)}<br /><br />\n{html.escape(detail)}\n\n\n </body>\n"
            "</html>").encode()
    return "application/json", json.dumps({"message": body, "code": line,
                                           "title": title}).encode()


def test_the_v1_template_gives_the_bytes_v1_sent():
    # WebOb 1.7.4's answers to HTTPForbidden(explanation=...), as the issue quotes them
    message = "Forbidden to modify 'size' of active image."
    assert [v1_error(accept, 403, explanation=message)
            for accept in ACCEPTS] == SIZE_OF_ACTIVE_IMAGE
    assert v1_error(None, 400, detail="Bad value passed to filter min_ram got -1") == (
        "text/plain; charset=UTF-8",
        b"400 Bad Request\n\nThe server could not comply with the request since it is either "
        b"malformed or otherwise incorrect.\n\n Bad value passed to filter min_ram got -1  ")


def test_the_errors_the_proxy_makes_are_v1s_bodies_in_every_accept_form(proxy, backend,
                                                                         cleanup):
    status, _, body = create(proxy, name="active-empty", size=0, disk_format="raw",
                             container_format="bare")
    assert status == 201, body
    active = json.loads(body)["image"]["id"]
    cleanup.append(active)
    status, _, body = create(proxy, name="kept", protected="True")
    assert status == 201, body
    kept = json.loads(body)["image"]["id"]
    cleanup.append(kept)
    octets = {"Content-Type": "application/octet-stream"}
    cases = [  # (method, path, headers, data), then what v1 raised
        (("PUT", f"/v1/images/{active}", {"x-image-meta-size": "5"}, None),
         (403, {"explanation": "Forbidden to modify 'size' of active image."})),
        (("PUT", f"/v1/images/{active}", {"x-image-meta-checksum": "0" * 32}, None),
         (403, {"explanation": "Forbidden to modify 'checksum' of active image."})),
        (("PUT", f"/v1/images/{active}", {"x-image-meta-location": "http://example.com/x"},
          None),
         (400, {"explanation": "Attempted to update Location field for an image not in "
                               "queued status."})),
        (("PUT", f"/v1/images/{active}", octets, b"more"),
         (409, {"detail": "Cannot upload to an unqueued image"})),
        (("DELETE", f"/v1/images/{kept}", {}, None),
         (403, {"explanation": "Image is protected"})),
        (("POST", "/v1/images", {"x-image-meta-disk_format": "bogus"}, None),
         (400, {"explanation": "Invalid disk format 'bogus' for image."})),
        (("POST", "/v1/images", {"x-image-meta-min_ram": "-1"}, None),
         (400, {"explanation": "Invalid value '-1' for parameter 'min_ram': Cannot be a "
                               "negative value."})),
        (("GET", "/v1/images?min_ram=-1", {}, None),
         (400, {"detail": "Bad value passed to filter min_ram got -1"})),
        (("POST", "/v1/images", {"x-image-meta-name": "no-formats", **octets}, DATA),
         (400, {"explanation": "Disk format is not specified."})),
        (("POST", "/v1/images", {"x-image-meta-disk_format": "raw", **octets}, DATA),
         (400, {"explanation": "Container format is not specified."})),
        (("POST", "/v1/images", {"x-image-meta-disk_format": "raw",
                                 "x-image-meta-container_format": "bare",
                                 "Content-Type": "text/plain"}, DATA),
         (400, {"explanation": "Content-Type must be application/octet-stream"})),
        (("POST", "/v1/images", {"x-glance-api-copy-from": "file:///etc/passwd"}, None),
         (400, {"explanation": "External sources are not supported: 'file:///etc/passwd'"})),
        (("PUT", f"/v1/images/{active}/members/projM", {"Content-Type": "application/json"},
          b"{not json"),
         (400, {"explanation": "Malformed JSON in request body."})),
    ]
    before = upstream_names(backend)
    for (method, path, headers, data), (status, raised) in cases:
        for accept in ACCEPTS:
            sent = {**headers, **({"Accept": accept} if accept else {})}
            answer, answer_headers, body = send(proxy, method, path, sent, data)
            assert (answer, answer_headers["Content-Type"], body) == (
                status, *v1_error(accept, status, **raised)), (method, path, headers, accept)
    assert upstream_names(backend) == before  # nothing made, nothing lost


def test_an_update_is_refused_in_v1s_order_forbidden_change_before_conflict(
        proxy, backend, cleanup):
    # docs/v1-api.md#43-update: a forbidden change (403) is found before data sent to an
    # active image (409), and that before an external source (400)
    status, _, body = create(proxy, DATA, name="order-checks", disk_format="raw",
                             container_format="bare")
    image_id = json.loads(body)["image"]["id"]
    cleanup.append(image_id)
    path = f"/v1/images/{image_id}"
    data = {"Content-Type": "application/octet-stream"}
    status, _, body = send(proxy, "PUT", path, {**data, "x-image-meta-size": "3"}, b"abc")
    assert (status, body) == (403, b"403 Forbidden\n\nForbidden to modify 'size' of active "
                                   b"image.\n\n   ")
    status, _, body = send(proxy, "PUT", path, {**data, "x-glance-api-copy-from": "ftp://x"},
                           b"abc")
    assert status == 409 and b"Cannot upload to an unqueued image" in body
