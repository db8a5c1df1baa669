"""A Glance notification, as the bus delivered it -> the image an ``image.delete`` names.

Glance sends its notifications through oslo.messaging (``driver = messagingv2``). Each AMQP
body is oslo.messaging's envelope 2.0, ``{"oslo.version": "2.0", "oslo.message": "<JSON
string>"}``, the string holding ``{"event_type": ..., "payload": {...}, ...}``; the older
``messaging`` driver sends that inner dict bare. The ``image.delete`` payload is Glance's
``format_image_notification`` with ``deleted: true`` and ``deleted_at``: the image's fields at
the top level, its custom properties under ``properties``. Pure: bytes in, a dict out.
"""

from __future__ import annotations

import json

DELETE_EVENT = "image.delete"
_VERSION_KEY, _MESSAGE_KEY = "oslo.version", "oslo.message"


class BadNotification(ValueError):
    """A message that is not a notification this proxy can read: dropped, never retried."""


def deleted_image_of(body: bytes) -> dict | None:
    """``body``: one AMQP message body. Returns the payload of an ``image.delete`` event (a
    dict with at least a string ``id``), None for any other event type; BadNotification
    when the body is not JSON, not an envelope, or names no event type, payload or id."""
    message = _message_of(_json(body))
    event_type = message.get("event_type")
    if not isinstance(event_type, str):
        raise BadNotification("the notification names no event type")
    if event_type != DELETE_EVENT:
        return None
    payload = message.get("payload")
    if not isinstance(payload, dict):
        raise BadNotification("the image.delete notification has no payload")
    image_id = payload.get("id")
    if not isinstance(image_id, str) or not image_id:
        raise BadNotification("the image.delete payload names no image id")
    return payload


def _message_of(envelope) -> dict:
    """A decoded AMQP body -> the notification dict inside it: the ``oslo.message`` string of
    envelope 2.0 decoded, or the dict itself when there is no ``oslo.version`` (envelope 1)."""
    if not isinstance(envelope, dict):
        raise BadNotification("the message body is not a JSON object")
    if _VERSION_KEY not in envelope:
        return envelope
    if not _supported(envelope[_VERSION_KEY]):
        raise BadNotification(f"unsupported envelope version {envelope[_VERSION_KEY]!r}")
    inner = envelope.get(_MESSAGE_KEY)
    if not isinstance(inner, str):
        raise BadNotification("the envelope's oslo.message is not a string")
    message = _json(inner)
    if not isinstance(message, dict):
        raise BadNotification("the envelope's oslo.message is not a JSON object")
    return message


def _supported(version) -> bool:
    """oslo.messaging's own rule for the envelope it reads (2.0): same major, minor not newer."""
    if not isinstance(version, str):
        return False
    major, _, minor = version.partition(".")
    return major == "2" and minor in ("", "0")


def _json(text: bytes | str):
    """JSON text -> its value; BadNotification when it cannot be read (not JSON, not UTF-8,
    nested too deeply for the parser)."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as error:  # JSONDecodeError, UnicodeDecodeError
        raise BadNotification(f"not JSON: {error}") from None
