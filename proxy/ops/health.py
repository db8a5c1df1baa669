"""/healthz and /readyz: outside the v1 API, answered by the proxy itself, never forwarded.

Liveness is the process answering at all. Readiness is the upstream having answered its
version document recently (and the proxy not draining): a proxy whose upstream is gone
should be taken out of rotation, not restarted. Not ready, the body says why: draining,
the upstream not answering, or answering something else than a version document (and
what: ``"answered": "404 text/html"``). The app puts a ``Health`` under ``HEALTH``;
serving sets ``draining`` on SIGTERM.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Protocol

from aiohttp import web


class UpstreamWatch(Protocol):
    """What readiness needs of the upstream's version watch (proxy.shell.readiness)."""

    api: str | None
    wrong_answer: str | None  # what the upstream answered instead of a version document

    async def answered_within(self, seconds: float, wait: float) -> bool: ...


@dataclass
class Health:
    upstream: UpstreamWatch
    ready_max_age: float
    draining: asyncio.Event = field(default_factory=asyncio.Event)


HEALTH = web.AppKey("health", Health)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "alive"})


async def readyz(request: web.Request) -> web.Response:
    health = request.app[HEALTH]
    if health.draining.is_set():
        return web.json_response({"status": "draining"}, status=503)
    max_age = health.ready_max_age
    # A probe must answer before its own timeout (Kubernetes' default: 1 s).
    if await health.upstream.answered_within(max_age, wait=min(1.0, max_age)):
        return web.json_response({"status": "ready", "upstream_api": health.upstream.api})
    answered = health.upstream.wrong_answer
    if answered is not None:
        return web.json_response({"status": "upstream answers no version document",
                                  "answered": answered}, status=503)
    return web.json_response({"status": "upstream not answering"}, status=503)
