"""An upstream v2 error answer -> the V1Error a v1 server would have given (pure).

Glance renders errors with WebOb (the JSON ``message`` ends in ``<br /><br />``); Huawei IMS
answers ``{"error": {"code": "IMG.xxxx", "message": ...}}`` (reference glance-v2.md 4.1, 7.3).
Only the message is kept: never the upstream's URL, headers or stack.
"""

from __future__ import annotations

import re

import orjson

from proxy.v1.errors import EXPLANATIONS, V1Error

# Statuses a v1 client would recognise from v1 itself; anything else becomes a 500.
_RELAYED = frozenset({400, 401, 403, 404, 409, 413})
_TAGS = re.compile(r"<[^>]*>")
_MAX_MESSAGE = 300


def upstream_message(body: bytes) -> str:
    """The human message of a v2 error body, on one line, tags and WebOb padding removed."""
    text = ""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body.decode("utf-8", "replace")
        # WebOb's plain/HTML renderings start with the status line and its title.
        text = re.sub(r"^\s*\d{3} [A-Za-z ]+\n\n", "", text)
        text = re.sub(r"<title>.*?</title>|<h1>.*?</h1>", "", text, flags=re.S)
    else:
        if isinstance(document, dict):
            inner = document.get("error", document)
            message = inner.get("message") if isinstance(inner, dict) else None
            text = message if isinstance(message, str) else ""
    text = " ".join(_TAGS.sub(" ", text).split())
    return text[:_MAX_MESSAGE]


def v1_error_from_upstream(status: int, body: bytes) -> V1Error:
    """The v1 answer to an upstream error status; 5xx and the unexpected become 500."""
    if status == 401:
        return V1Error(401)  # v1's 401 carried only the standard explanation
    if status in _RELAYED:
        message = upstream_message(body)
        # A bare upstream error carries only the default text, which v1 printed once.
        return V1Error(status, detail="" if message == EXPLANATIONS.get(status) else message)
    return V1Error(500)


def image_not_found(image_id: str) -> V1Error:
    return V1Error(404, detail=f"Image with identifier {image_id} not found")


def v1_error_for_image(image_id: str, status: int, body: bytes) -> V1Error:
    """The v1 answer to an upstream error about one image (reference glance-v1.md 3.1):
    v2's 404 in v1's words; v2's 204 on the data (nothing stored) as v1's "not active"."""
    if status == 404:
        return image_not_found(image_id)
    if status == 204:
        return V1Error(404, detail=f"Image {image_id} is not active")
    return v1_error_from_upstream(status, body)
