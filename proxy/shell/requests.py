"""What every handler needs of its request: who calls (with an upstream handle bound to its
token and request id, and the image look-up every image route starts with), and the
proxy's public URL."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import partial

from aiohttp import web

from proxy.shell.appkeys import KEYSTONE, REQUEST_ID, SETTINGS, UPSTREAM
from proxy.shell.keystone import TokenRejected
from proxy.shell.upstream import UpstreamHandle
from proxy.shell.upstream_errors import status_as_v1
from proxy.v1.errors import V1Error
from proxy.v1.query import canonical_uuid
from proxy.v2.answers import image_of
from proxy.v2.errors import image_not_found, v1_error_for_image


@dataclass(frozen=True, slots=True)
class Caller:
    """``token``: the caller's own (forwarded, never kept); ``project``: its project when
    Keystone says (else None); ``admin_project``: the same when it is an admin (else None);
    ``upstream``: the v2 calls made for it."""

    token: str | None
    project: str | None
    admin_project: str | None
    upstream: UpstreamHandle

    async def image(self, image_id: str) -> dict:
        """The v2 image ``image_id`` as this caller may see it; v1's 404 otherwise."""
        if not is_image_id(image_id):  # v2 ids are UUIDs: anything else cannot exist
            raise image_not_found(image_id)
        with status_as_v1(partial(v1_error_for_image, image_id)):
            return image_of(await self.upstream.get_image(image_id))


async def caller(request: web.Request) -> Caller:
    """Who calls. No token is a 401 (unless ``identity.require_token`` is off), as is a
    token that is not printable ASCII (no token service issues one) or one Keystone
    refuses: v1's auth answered these before anything else."""
    token = request.headers.get("X-Auth-Token")
    app = request.app
    if token is None:
        if app[SETTINGS].identity.require_token:
            raise V1Error(401)
    elif not (token.isascii() and token.isprintable()):
        raise V1Error(401)
    project = admin_project = None
    keystone = app[KEYSTONE]
    if keystone is not None and token is not None:
        try:
            who = await keystone.identity(token)
        except TokenRejected:
            raise V1Error(401) from None
        if who is not None:
            project = who.project
            admin_project = project if keystone.is_admin(who) else None
    return Caller(token, project, admin_project,
                  app[UPSTREAM].for_caller(token, request[REQUEST_ID]))


def is_image_id(value: str) -> bool:
    try:
        return canonical_uuid(value) == value
    except ValueError:
        return False


_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:\d+)?$|^\[[0-9A-Fa-f:.]+\](:\d+)?$")


def public_url(request: web.Request) -> str:
    """Where callers reach the proxy: ``listen.public_url``, else the request's own scheme
    and Host (believing X-Forwarded-* only when told to)."""
    listen = request.app[SETTINGS].listen
    if listen.public_url:
        return listen.public_url.rstrip("/")
    scheme, host = request.scheme, request.host
    if listen.trust_forwarded_headers:
        scheme = _first(request.headers.get("X-Forwarded-Proto")) or scheme
        host = _first(request.headers.get("X-Forwarded-Host")) or host
    if scheme not in ("http", "https") or not _HOST.match(host):
        scheme, host = "http", f"{listen.host}:{listen.port}"  # never echo garbage
    return f"{scheme}://{host}"


def _first(value: str | None) -> str | None:
    return value.split(",")[0].strip() if value else None
