"""An upstream v2 error answer -> the V1Error a v1 server would have given (pure).

Glance renders errors with WebOb (the JSON ``message`` ends in ``<br /><br />``); Huawei IMS
answers ``{"error": {"code": "IMG.xxxx", "message": ...}}``
(docs/v2-upstream.md#41-error-bodies, docs/v2-upstream.md#73-other-ims-differences).
Only the message is kept: never the upstream's URL, headers or stack.
"""

from __future__ import annotations

import html
import re

import orjson

from proxy.v1.errors import EXPLANATIONS, V1Error, nested, plain_body

# Statuses a v1 client would recognise from v1 itself; anything else becomes a 500.
_RELAYED = frozenset({400, 401, 403, 404, 409, 413})
_TAGS = re.compile(r"<[^>]*>")
_MAX_MESSAGE = 300


def upstream_message(body: bytes) -> str:
    """The human message of a v2 error body, on one line, tags and WebOb padding removed."""
    text, markup = "", False
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body.decode("utf-8", "replace")
        # WebOb's plain/HTML renderings start with the status line and its title.
        text = re.sub(r"^\s*\d{3} [A-Za-z ]+\n\n", "", text)
        text = re.sub(r"<title>.*?</title>|<h1>.*?</h1>", "", text, flags=re.S)
        markup = "<html" in text[:200].lower()
    else:
        if isinstance(document, dict):
            inner = document.get("error", document)
            message = inner.get("message") if isinstance(inner, dict) else None
            text = message if isinstance(message, str) else ""
    text = " ".join(_TAGS.sub(" ", text).split())
    if markup:  # an HTML page escapes its text (&#x27;, &amp;)
        text = html.unescape(text)
    return text[:_MAX_MESSAGE]


# An upstream (or a gateway before it) that says it cannot answer now: v1's 503, which a
# client may retry; an upstream 500 is its own failure, and not worth retrying.
_UNAVAILABLE = frozenset({502, 503, 504})


def v1_error_from_upstream(status: int, body: bytes) -> V1Error:
    """The v1 answer to an upstream error status; 502-504 become 503, other 5xx and the
    unexpected 500."""
    if status == 401:
        return V1Error(401)  # v1's 401 carried only the standard explanation
    if status in _UNAVAILABLE:
        return V1Error(503)
    if status in _RELAYED:
        message = upstream_message(body)
        # A bare upstream error carries only the default text, which v1 printed once.
        return V1Error(status, detail="" if message == EXPLANATIONS.get(status) else message)
    return V1Error(500)


def image_not_found(image_id: str) -> V1Error:
    return V1Error(404, detail=f"Image with identifier {image_id} not found")


def v1_error_for_image(image_id: str, status: int, body: bytes) -> V1Error:
    """The v1 answer to an upstream error about one image
    (docs/v1-api.md#31-lookup-and-download-refusals):
    v2's 404 in v1's words; v2's 204 on the data (nothing stored) as v1's "not active"."""
    if status == 404:
        return image_not_found(image_id)
    if status == 204:
        return V1Error(404, detail=f"Image {image_id} is not active")
    return v1_error_from_upstream(status, body)


def v1_error_for_delete(image_id: str, status: int, body: bytes) -> V1Error:
    """A refused delete: a protected image in v1's words (docs/v1-api.md#44-delete), the
    message as the explanation (v1: ``HTTPForbidden(explanation=msg)``)."""
    if status == 403 and "protected" in upstream_message(body):
        return V1Error(403, explanation="Image is protected")
    return v1_error_for_image(image_id, status, body)


# v1 answered a member call its policy refused with a 404 holding the 403's text
# (docs/v1-api.md#5-members).
NO_PERMISSION_TO_SHARE = V1Error(404, explanation=plain_body(
    V1Error(403, detail="No permission to share that image")))
NOT_A_MEMBER = nested(404, "Membership could not be found.")


def v1_error_for_members(image_id: str, status: int, body: bytes) -> V1Error:
    """The v1 answer to a refused member call (list, share, add)."""
    if status == 403:
        return NO_PERMISSION_TO_SHARE
    return v1_error_for_image(image_id, status, body)


def v1_error_for_member_add(image_id: str, status: int, body: bytes) -> V1Error | None:
    """Adding a member: already one (v2's 409) is no error, v1's PUT was idempotent."""
    if status == 409:
        return None
    return v1_error_for_members(image_id, status, body)


def v1_error_for_member_removal(image_id: str, status: int, body: bytes) -> V1Error:
    """Removing a member: not one, or an image v2 keeps none for, is v1's 404."""
    if status in (403, 404):
        return NOT_A_MEMBER
    return v1_error_for_image(image_id, status, body)
