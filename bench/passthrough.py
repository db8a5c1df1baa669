"""The baseline: an aiohttp proxy that forwards a GET to the upstream and sends the bytes back
unchanged. What any proxy costs before it translates anything; the real proxy's figures
are reported as ratios to this one, measured in the same run.

    python bench/passthrough.py UPSTREAM_URL PORT
"""

from __future__ import annotations

import sys

import aiohttp
import uvloop
from aiohttp import web


def make_app(upstream: str) -> web.Application:
    async def forward(request: web.Request) -> web.Response:
        async with request.app["session"].get(upstream + request.path_qs) as answer:
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
    # the same event loop as the proxy's (uvloop), so that the ratio is the translation's
    web.run_app(make_app(sys.argv[1]), host="127.0.0.1", port=int(sys.argv[2]),
                access_log=None, print=None, loop=uvloop.new_event_loop())
