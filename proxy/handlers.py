"""Thin route handlers: parse (pure) -> plan (pure) -> call the upstream -> shape (pure)."""

from __future__ import annotations

import orjson
from aiohttp import web

from proxy.appkeys import KEYSTONE, REQUEST_ID, SETTINGS, UPSTREAM
from proxy.v1.errors import method_not_allowed
from proxy.v1.images import to_v1_image
from proxy.v1.query import parse_list_query
from proxy.v2.client import UpstreamStatus
from proxy.v2.plan import ListPaging, plan_list


async def images_detail(request: web.Request) -> web.Response:
    """GET /v1/images/detail (and /v1.0, /v1.1): the detailed image list."""
    listing = request.app[SETTINGS].listing
    query = parse_list_query(
        request.query.items(),
        default_limit=listing.default_limit,
        max_limit=listing.max_limit,
    )
    paging = ListPaging(plan_list(query, admin_project=await _admin_project(request)))
    await _page_through(request, paging)
    body = orjson.dumps({"images": [to_v1_image(image) for image in paging.images]})
    return web.Response(body=body, content_type="application/json")


async def images_detail_other(request: web.Request) -> web.Response:
    # v1's router: HEAD on the detail list reaches the controller, which refuses it.
    if request.method == "HEAD":
        raise method_not_allowed("HEAD", "GET")
    raise method_not_allowed(request.method, "GET, HEAD")


async def _admin_project(request: web.Request) -> str | None:
    """The caller's project when Keystone is configured and says the caller is an admin."""
    keystone = request.app[KEYSTONE]
    token = request.headers.get("X-Auth-Token")
    if keystone is None or not token:
        return None
    caller = await keystone.caller(token)
    return caller.project if caller is not None and keystone.is_admin(caller) else None


async def _page_through(request: web.Request, paging: ListPaging) -> None:
    upstream = request.app[UPSTREAM]
    token = request.headers.get("X-Auth-Token")
    request_id = request[REQUEST_ID]
    params = paging.first_request()
    while params is not None:
        try:
            body = await upstream.list_images(params, token=token, request_id=request_id)
            to_check = paging.members_to_check(body)
            shared = await upstream.shared_with(
                to_check, paging.plan.admin_view.project, token=token, request_id=request_id
            ) if to_check else frozenset()
        except UpstreamStatus as error:
            raise paging.error(error.status, error.body) from None
        params = paging.feed(body, shared)
