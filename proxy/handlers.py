"""Thin route handlers: parse (pure) -> plan (pure) -> call the upstream -> shape (pure)."""

from __future__ import annotations

import orjson
from aiohttp import web

from proxy.appkeys import KEYSTONE, REQUEST_ID, SETTINGS, UPSTREAM
from proxy.v1.errors import V1Error, method_not_allowed
from proxy.v1.images import to_v1_image
from proxy.v1.query import parse_list_query, query_pairs
from proxy.v2.client import UpstreamStatus
from proxy.v2.plan import ListPaging, plan_list


async def images_detail(request: web.Request) -> web.Response:
    """GET /v1/images/detail (and /v1.0, /v1.1): the detailed image list."""
    listing = request.app[SETTINGS].listing
    query = parse_list_query(
        query_pairs(request.query_string),
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


def caller_token(request: web.Request) -> str | None:
    """The caller's ``X-Auth-Token``. Token services issue printable ASCII; anything else
    cannot authenticate, and v1 answered 401 for it without looking further."""
    token = request.headers.get("X-Auth-Token")
    if token is not None and not (token.isascii() and token.isprintable()):
        raise V1Error(401)
    return token


async def _admin_project(request: web.Request) -> str | None:
    """The caller's project when Keystone is configured and says the caller is an admin."""
    keystone = request.app[KEYSTONE]
    token = caller_token(request)
    if keystone is None or not token:
        return None
    caller = await keystone.caller(token)
    return caller.project if caller is not None and keystone.is_admin(caller) else None


async def _page_through(request: web.Request, paging: ListPaging) -> None:
    upstream = request.app[UPSTREAM]
    token = caller_token(request)
    request_id = request[REQUEST_ID]
    params = paging.first_request()
    while params is not None:
        try:
            body = await upstream.list_images(params, token=token, request_id=request_id)
            to_check = paging.members_to_check(body)
            shared = await upstream.shared_with(
                to_check, paging.plan.narrowing.as_user_of, token=token, request_id=request_id
            ) if to_check else frozenset()
        except UpstreamStatus as error:
            raise paging.error(error.status, error.body) from None
        params = paging.feed(body, shared)
