"""/healthz and /readyz: outside the v1 API, answered by the proxy itself, never forwarded.

Liveness is the process answering at all. Readiness is the upstream having answered its
version document recently (and the proxy not draining): a proxy whose upstream is gone
should be taken out of rotation, not restarted.
"""

from __future__ import annotations

from aiohttp import web

from proxy.appkeys import DRAINING, SETTINGS, VERSIONS


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "alive"})


async def readyz(request: web.Request) -> web.Response:
    if request.app[DRAINING].is_set():
        return web.json_response({"status": "draining"}, status=503)
    max_age = request.app[SETTINGS].health.ready_max_age
    # A probe must answer before its own timeout (Kubernetes' default: 1 s).
    if await request.app[VERSIONS].answered_within(max_age, wait=min(1.0, max_age)):
        return web.json_response({"status": "ready"})
    return web.json_response({"status": "upstream not answering"}, status=503)
