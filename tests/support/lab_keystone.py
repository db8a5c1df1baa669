"""Keystone's token look-up for the lab's tokens.

The lab runs without Keystone: real Glance authenticates through a paste shim that reads
tokens of the form ``project:role1,role2[:user]`` (tests/support/glance.py). This answers
``GET /v3/auth/tokens`` for the same tokens, in Keystone v3's shape, so the proxy's
identity look-up can be exercised against real Glance; it is test equipment, like the shim.
"""

from __future__ import annotations

from urllib.parse import unquote

from aiohttp import web


async def validate(request: web.Request) -> web.Response:
    subject = unquote(request.headers.get("X-Subject-Token", ""))
    if unquote(request.headers.get("X-Auth-Token", "")) != subject:
        return web.json_response({"error": {"code": 403}}, status=403)
    parts = subject.split(":")
    if len(parts) not in (2, 3) or not all(parts):
        return web.json_response({"error": {"code": 404, "message": "token not found"}},
                                 status=404)
    project, roles = parts[0], parts[1].split(",")
    return web.json_response({"token": {
        "methods": ["token"],
        "project": {"id": project, "name": project, "domain": {"id": "default"}},
        "roles": [{"id": f"role-{name}", "name": name} for name in roles],
        "user": {"id": parts[2] if len(parts) == 3 else f"user-{project}"},
    }})


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/v3/auth/tokens", validate)
    return app
