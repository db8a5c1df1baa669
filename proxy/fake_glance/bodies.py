"""Request and response bodies on the wire, as Glance's (de)serializers treat them.

In: an aiohttp request (its headers and body) or a value to send. Out: whether the request
has a body, its media type, its JSON (or a 400 ``GlanceError`` with Glance's message), or
an aiohttp JSON response.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from proxy.fake_glance.errors import bad_request


def has_body(request: web.Request) -> bool:
    chunked = request.headers.get("Transfer-Encoding", "").lower() in (
        "chunked", "compress", "deflate", "gzip", "identity")
    if chunked and request.method in ("POST", "PUT", "PATCH"):
        return True
    return (request.content_length or 0) > 0


def media_type(request: web.Request) -> str:
    return request.headers.get("Content-Type", "").split(";", 1)[0].strip()


async def read_json(request: web.Request) -> Any:
    """JSONRequestDeserializer.default plus the 'Body expected' rule."""
    if not has_body(request):
        raise bad_request("Body expected in request.")
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        raise bad_request("Malformed JSON in request body.") from None
    if not isinstance(body, (dict, list)):
        raise bad_request("Unexpected body type. Expected list/dict.")
    return body


def json_response(body: Any, status: int = 200,
                  headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, headers=headers,
                        content_type="application/json")
