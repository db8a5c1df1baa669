"""Handlers of version negotiation: v1's version document, and the redirect of ``/v1``."""

from __future__ import annotations

import orjson
from aiohttp import web

from proxy.shell.requests import public_url
from proxy.v1.versions import version_document


async def versions(request: web.Request) -> web.Response:
    """/versions (any method, any suffix): the version document, 200."""
    return _version_answer(request, 200)


async def multiple_choices(request: web.Request) -> web.Response:
    """Any path that names no v1 version: the version document, 300 (v1's negotiation)."""
    return _version_answer(request, 300)


def _version_answer(request: web.Request, status: int) -> web.Response:
    body = orjson.dumps(version_document(public_url(request)))
    return web.Response(status=status, body=body, content_type="application/json")


async def v1_root(request: web.Request) -> web.Response:
    """/v1 without its slash: v1's router redirected it to /v1/."""
    return web.Response(status=302, headers={
        "Location": public_url(request) + "/v1/", "Content-Type": "text/plain; charset=utf8"})
