"""v1's history of deleted images on v2 (issue 15): tombstones from the proxy's own DELETE,
and from Glance 33's image.delete notifications on a real RabbitMQ, shown under
``changes-since`` and to an admin's HEAD as v1 showed them (docs/v1-api.md#25-deleted-killed-and-other-statuses-in-lists,
docs/v1-api.md#31-lookup-and-download-refusals)."""

from __future__ import annotations

import json
import time

import pytest

from proxy.config import load_settings
from proxy.shell.app import make_app
from tests.support.catalogue import V2Api, token
from tests.support.glance import NotifyingGlance, ensure_glance_venv, free_port
from tests.support.rabbitmq import RabbitServer
from tests.support.servers import ThreadedApp
from tests.support.v1_deletions import (changes_since, just_before, send, v1_deleted,
                                        without_times)

ADMIN = "admin:admin,member,reader"
OWNER = "projD"
PATIENCE = 60.0


def test_a_delete_through_the_proxy_is_listed_at_once_without_a_bus(proxy, backend):
    since = just_before()
    status, _, body = send(proxy.url, "POST", "/v1/images", token(OWNER), {
        "x-image-meta-name": "gone-by-proxy", "x-image-meta-disk_format": "raw",
        "x-image-meta-container_format": "bare", "x-image-meta-property-note": "kept",
        "Content-Type": "application/octet-stream"}, b"abc")
    assert status == 201, body
    image_id = json.loads(body)["image"]["id"]
    assert send(proxy.url, "DELETE", f"/v1/images/{image_id}", token(OWNER))[0] == 200
    listed = [i for i in changes_since(proxy.url, token(OWNER), since) if i["id"] == image_id]
    assert [without_times(i) for i in listed] == [
        v1_deleted(image_id, "gone-by-proxy", OWNER, 3)]
    assert listed[0]["deleted_at"] == listed[0]["updated_at"] is not None
    # without changes-since, a deleted image is never listed (v1's deleted=False filter)
    status, _, body = send(proxy.url, "GET", "/v1/images/detail?name=gone-by-proxy",
                           token(OWNER))
    assert json.loads(body)["images"] == []
    # another project's caller never sees another's deleted private image
    assert all(i["id"] != image_id for i in changes_since(proxy.url, token("projE"), since))


@pytest.fixture(scope="module")
def notifying_cloud(tmp_path_factory, lab_keystone):
    """A real Glance 33 sending its notifications to a real RabbitMQ, and a proxy that
    consumes them into its own SQLite file."""
    rabbit = RabbitServer(tmp_path_factory.mktemp("rabbit"))
    rabbit.start()
    glance = NotifyingGlance(ensure_glance_venv(), transport_url=rabbit.url.replace(
        "amqp://", "rabbit://"))
    glance.start(tmp_path_factory.mktemp("glance"), free_port())
    store = tmp_path_factory.mktemp("store") / "tombstones.sqlite"
    settings = load_settings(None, {
        "IMAGE_V1_PROXY_UPSTREAM_URL": glance.url,
        "IMAGE_V1_PROXY_IDENTITY_KEYSTONE_URL": lab_keystone.url,
        "IMAGE_V1_PROXY_TOMBSTONES_SQLITE_PATH": str(store),
        "IMAGE_V1_PROXY_NOTIFICATIONS_URL": rabbit.url})
    proxy = ThreadedApp(lambda: make_app(settings)).start()
    try:
        yield glance, proxy
    finally:
        proxy.stop()
        glance.stop()
        rabbit.stop()


def test_a_deletion_made_through_v2_directly_shows_in_changes_since_as_v1_showed_it(
        notifying_cloud):
    glance, proxy = notifying_cloud
    v2 = V2Api(glance.url)
    since = just_before()
    # the proxy's queue exists once its consumer has connected: wait for it first
    deadline = time.monotonic() + PATIENCE
    while b"image_v1_proxy_bus_connected 1.0" not in send(proxy.url, "GET", "/metrics",
                                                          ADMIN)[2]:
        assert time.monotonic() < deadline, "the proxy never connected to the bus"
        time.sleep(0.2)
    image = v2.create(token(OWNER), name="gone-by-v2", disk_format="raw",
                      container_format="bare", visibility="private", note="kept")
    v2.ok("DELETE", f"/v2/images/{image['id']}", token(OWNER))
    deadline = time.monotonic() + PATIENCE
    while True:
        listed = [i for i in changes_since(proxy.url, token(OWNER), since)
                  if i["id"] == image["id"]]
        if listed or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert [without_times(i) for i in listed] == [
        v1_deleted(image["id"], "gone-by-v2", OWNER, 0)]
    # an admin's HEAD shows the deleted image; others get 404; its data is never served
    status, headers, _ = send(proxy.url, "HEAD", f"/v1/images/{image['id']}", ADMIN)
    assert (status, headers["x-image-meta-status"], headers["x-image-meta-deleted"]) == (
        200, "deleted", "True")
    assert headers["x-image-meta-deleted_at"] == listed[0]["deleted_at"]
    assert send(proxy.url, "HEAD", f"/v1/images/{image['id']}", token(OWNER))[0] == 404
    status, _, body = send(proxy.url, "GET", f"/v1/images/{image['id']}", ADMIN,
                           {"Accept": "text/plain"})
    assert (status, body) == (404, f"404 Not Found\n\nThe resource could not be found.\n\n "
                                   f"Image {image['id']} is not active  ".encode())
    metrics = send(proxy.url, "GET", "/metrics", ADMIN)[2].decode()
    assert 'image_v1_proxy_notifications_total{outcome="taken"}' in metrics
