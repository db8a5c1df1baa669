"""The baseline: an aiohttp proxy that forwards a GET to the upstream and sends the bytes back
unchanged. What any proxy costs before it translates anything; the real proxy's figures
are reported as ratios to this one, measured in the same run.

    python bench/passthrough.py UPSTREAM_URL PORT
"""

from __future__ import annotations

import sys

import aiohttp
from aiohttp import web


def make_app(upstream: str) -> web.Application:
    async def forward(request: web.Request) -> web.Response:
        token = request.headers.get("X-Auth-Token")
        async with request.app["session"].get(upstream + request.path_qs, headers=(
                {"X-Auth-Token": token} if token is not None else None)) as answer:
            body = await answer.read()
            return web.Response(body=body, status=answer.status,
                                content_type=answer.content_type)

    async def session(app: web.Application):
        app["session"] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100))
        yield
        await app["session"].close()

    app = web.Application()
    app.cleanup_ctx.append(session)
    app.router.add_get("/{tail:.*}", forward)
    return app


if __name__ == "__main__":
    # plain aiohttp on asyncio's own loop, as issue 6 defines the baseline (the proxy's
    # uvloop is one of its optimisations; bench/RESULTS.md gives the uvloop figure too)
    web.run_app(make_app(sys.argv[1]), host="127.0.0.1", port=int(sys.argv[2]),
                access_log=None, print=None)
