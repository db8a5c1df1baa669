"""AMQP bodies of Glance's notifications -> the deleted image: oslo.messaging's envelopes and
a real Glance 33 ``image.delete`` (captured from RabbitMQ, ids completed)."""

import json

import pytest

from proxy.v2.notifications import BadNotification, deleted_image_of

GLANCE_33_DELETE = {
    "message_id": "bca9cce8-5d0c-4f0e-9a3c-1f0d6c7e2a11",
    "publisher_id": "image.localhost",
    "event_type": "image.delete",
    "priority": "INFO",
    "timestamp": "2026-12-03 21:19:49.094680",
    "_unique_id": "c8df7b69a2b84c1f9d0e3f6a7b8c9d0e",
    "payload": {
        "id": "f84f9e83-0b7c-4d3e-9a2f-5c6d7e8f9a0b", "name": "doomed", "status": "deleted",
        "created_at": "2026-12-03T21:19:48Z", "updated_at": "2026-12-03T21:19:49Z",
        "min_disk": 0, "min_ram": 64, "protected": False,
        "checksum": "7265f4d211b56873a381d321f586e4a9", "owner": "admin",
        "disk_format": "raw", "container_format": "bare", "size": 1024,
        "virtual_size": 1024, "is_public": True, "visibility": "public",
        "properties": {"custom_prop": "yes"}, "tags": [], "deleted": True,
        "deleted_at": "2026-12-03T21:19:49Z",
    },
}


def envelope(message) -> bytes:
    """oslo.messaging's envelope 2.0 around a notification, as Glance's messagingv2 sends it."""
    return json.dumps({"oslo.version": "2.0", "oslo.message": json.dumps(message)}).encode()


def test_a_real_glance_33_image_delete_gives_its_payload():
    assert deleted_image_of(envelope(GLANCE_33_DELETE)) == {
        "id": "f84f9e83-0b7c-4d3e-9a2f-5c6d7e8f9a0b", "name": "doomed", "status": "deleted",
        "created_at": "2026-12-03T21:19:48Z", "updated_at": "2026-12-03T21:19:49Z",
        "min_disk": 0, "min_ram": 64, "protected": False,
        "checksum": "7265f4d211b56873a381d321f586e4a9", "owner": "admin",
        "disk_format": "raw", "container_format": "bare", "size": 1024,
        "virtual_size": 1024, "is_public": True, "visibility": "public",
        "properties": {"custom_prop": "yes"}, "tags": [], "deleted": True,
        "deleted_at": "2026-12-03T21:19:49Z",
    }


def test_a_bare_message_without_oslo_version_is_read_as_the_notification_itself():
    body = json.dumps({"event_type": "image.delete", "payload": {"id": "abc", "name": "n"}})
    assert deleted_image_of(body.encode()) == {"id": "abc", "name": "n"}


@pytest.mark.parametrize("event_type", ["image.update", "image.upload", "image.create",
                                        "image.activate", "image.member.delete",
                                        "task.success", "Image.Delete", "image.delete.end"])
def test_any_other_event_type_is_no_deletion(event_type):
    assert deleted_image_of(envelope(dict(GLANCE_33_DELETE, event_type=event_type))) is None


def test_another_event_needs_no_payload():
    assert deleted_image_of(envelope({"event_type": "image.update"})) is None


@pytest.mark.parametrize("body", [
    b"",
    b"not json",
    b'{"oslo.version": "2.0", "oslo.message": ',
    b"\xff\xfe\xfa{}",
    b"[]",
    b'"image.delete"',
    b"null",
    b"[" * 100_000 + b"]" * 100_000,
], ids=["empty", "text", "truncated", "not-utf8", "a-list", "a-string", "null", "too-deep"])
def test_a_body_that_is_no_json_object_cannot_be_read(body):
    with pytest.raises(BadNotification):
        deleted_image_of(body)


@pytest.mark.parametrize("oslo_message", [
    None, 42, {"event_type": "image.delete", "payload": {"id": "x"}}, "not json", "[1]",
], ids=["null", "number", "an-object-not-a-string", "text", "a-list"])
def test_an_envelope_whose_oslo_message_is_no_json_object_string_cannot_be_read(oslo_message):
    body = json.dumps({"oslo.version": "2.0", "oslo.message": oslo_message}).encode()
    with pytest.raises(BadNotification):
        deleted_image_of(body)


def test_an_envelope_without_oslo_message_cannot_be_read():
    with pytest.raises(BadNotification):
        deleted_image_of(json.dumps({"oslo.version": "2.0"}).encode())


@pytest.mark.parametrize("version", ["3.0", "2.1", "1.0", 2.0, None])
def test_an_envelope_version_oslo_messaging_would_refuse_cannot_be_read(version):
    body = json.dumps({"oslo.version": version,
                       "oslo.message": json.dumps(GLANCE_33_DELETE)}).encode()
    with pytest.raises(BadNotification):
        deleted_image_of(body)


@pytest.mark.parametrize("message", [
    {"payload": {"id": "x"}},
    {"event_type": None, "payload": {"id": "x"}},
    {"event_type": ["image.delete"], "payload": {"id": "x"}},
], ids=["absent", "null", "a-list"])
def test_a_message_naming_no_event_type_cannot_be_read(message):
    with pytest.raises(BadNotification):
        deleted_image_of(envelope(message))


@pytest.mark.parametrize("payload", [
    "missing", None, "f84f9e83", [], {}, {"id": None}, {"id": 7}, {"id": ""}, {"name": "x"},
], ids=["absent", "null", "a-string", "a-list", "empty", "null-id", "number-id", "empty-id",
        "no-id"])
def test_an_image_delete_without_a_payload_naming_an_image_cannot_be_read(payload):
    message = {"event_type": "image.delete"}
    if payload != "missing":
        message["payload"] = payload
    with pytest.raises(BadNotification):
        deleted_image_of(envelope(message))


def test_bad_notification_is_a_value_error():
    assert issubclass(BadNotification, ValueError)
