"""Who is calling: the caller's project and roles, from Keystone, when one is configured.

v1 showed an admin's default list "as a user" (public, own, shared with the admin's project;
docs/v1-api.md#23-is_public-and-the-admins-view); a v2 admin sees every project's images, and
the v2 image API
has no way to say who the caller is. Keystone does: any token may look itself up
(``GET /v3/auth/tokens`` with the token as both ``X-Auth-Token`` and ``X-Subject-Token``).
Without ``identity.keystone_url`` the proxy never asks, and admins get v2's scope.

Answers are kept for ``identity.cache_seconds``, keyed by a hash of the token: a token only
ever maps to its own identity, and the identity only narrows what the upstream (which still
checks the token on every call) would show.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
import logging
import time
from dataclasses import dataclass

import aiohttp
import orjson
from yarl import URL

from proxy.config import IdentitySettings
from proxy.shell.upstream import Upstream, read_bounded
from proxy.shell.upstream_errors import UpstreamError, transport_failures_named

log = logging.getLogger(__name__)

_CACHE_MAX = 10_000
_BODY_MAX = 1024 * 1024  # a token document without its catalogue is a few kilobytes
_TIMEOUT = aiohttp.ClientTimeout(total=5)
_SYSTEM_TLS = ssl.create_default_context()


class TokenRejected(Exception):
    """Keystone says the token is not (or no longer) valid: v1 answered 401."""


_REJECTED = object()  # cached for tokens Keystone refused


@dataclass(frozen=True)
class Identity:
    project: str
    roles: frozenset[str]


def identity_from_token_body(body: object) -> Identity | None:
    """A Keystone v3 token document -> the caller; None when it is not project-scoped."""
    token = body.get("token") if isinstance(body, dict) else None
    project = token.get("project") if isinstance(token, dict) else None
    project_id = project.get("id") if isinstance(project, dict) else None
    roles = token.get("roles") if isinstance(token, dict) else None
    if not isinstance(project_id, str) or not isinstance(roles, list):
        return None
    names = frozenset(r["name"] for r in roles if isinstance(r, dict) and isinstance(r.get("name"), str))
    return Identity(project_id, names)


class Keystone:
    """Looks callers up in the configured Keystone; the only code that talks to it."""

    def __init__(self, settings: IdentitySettings, upstream: Upstream) -> None:
        self.settings = settings
        # nocatalog: the service catalogue can be large and is not needed here.
        self.url = (URL(settings.keystone_url) / "v3" / "auth" / "tokens").with_query("nocatalog")
        self.admin_roles = frozenset(r.strip() for r in settings.admin_roles.split(",") if r.strip())
        self._upstream = upstream  # whose session (timeouts, pool) the lookups share
        self._cache: dict[bytes, tuple[float, Identity | None]] = {}
        self._asking: dict[bytes, asyncio.Future] = {}  # one look-up per token at a time

    def is_admin(self, identity: Identity) -> bool:
        return bool(identity.roles & self.admin_roles)

    async def identity(self, token: str) -> Identity | None:
        """Who is behind ``token``, or None when Keystone cannot say (the listing then
        keeps the upstream's own scope); TokenRejected when Keystone refuses the token."""
        key = hashlib.sha256(token.encode()).digest()
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            found = cached[1]
        else:
            asking = self._asking.get(key)
            if asking is None:
                asking = self._asking[key] = asyncio.ensure_future(self._ask(token))
                asking.add_done_callback(lambda _: self._asking.pop(key, None))
            found = await asyncio.shield(asking)  # a caller who leaves cancels only itself
            if found is not None and self.settings.cache_seconds > 0:  # no answer: ask again
                if len(self._cache) >= _CACHE_MAX:
                    self._cache.clear()
                self._cache[key] = (now + self.settings.cache_seconds, found)
        if found is _REJECTED:
            raise TokenRejected()
        return found

    async def _ask(self, token: str):
        """Keystone's answer: an Identity, _REJECTED, or None (no usable answer)."""
        headers = {"X-Auth-Token": token, "X-Subject-Token": token, "Accept": "application/json"}
        try:
            # Keystone is not the upstream: the system's CAs, and a short wait of its own.
            with transport_failures_named("Keystone"):
                async with self._upstream.session.get(self.url, headers=headers,
                                                      allow_redirects=False, ssl=_SYSTEM_TLS,
                                                      timeout=_TIMEOUT) as resp:
                    if resp.status in (401, 404):  # not a token, or no longer one
                        return _REJECTED
                    if resp.status != 200:
                        return None
                    body = await read_bounded(resp, _BODY_MAX)
        except UpstreamError as exc:
            log.warning("identity lookup failed: %s", exc)
            return None
        try:
            return identity_from_token_body(orjson.loads(body))
        except orjson.JSONDecodeError:
            return None
