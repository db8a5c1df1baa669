"""Thin route handlers: parse (pure) -> plan (pure) -> call the upstream -> shape (pure)."""

from __future__ import annotations

import functools
import logging
import re

import orjson
from aiohttp import web
from multidict import CIMultiDict

from proxy.appkeys import IMAGE_MEMO, KEYSTONE, REQUEST_ID, SETTINGS, UPSTREAM
from proxy.keystone import TokenRejected
from proxy.v1.errors import V1Error, method_not_allowed
from proxy.v1.images import download_refusal, meta_headers, to_v1_image, to_v1_summary
from proxy.v1.query import ListQuery, canonical_uuid, parse_list_query, query_pairs
from proxy.v1.versions import version_document
from proxy.v2.answers import image_of
from proxy.v2.client import UpstreamError, UpstreamStatus
from proxy.v2.errors import image_not_found, v1_error_for_image
from proxy.v2.plan import ListPaging, plan_list

log = logging.getLogger(__name__)


# ------------------------------------------------------------------ listings

async def images_index(request: web.Request) -> web.Response:
    """GET /v1/images (and any method on /v1/, as v1's router did): the summary list."""
    return await _listing(request, to_v1_summary)


async def images_detail(request: web.Request) -> web.Response:
    """GET /v1/images/detail: the detailed list."""
    return await _listing(request, to_v1_image)


async def _listing(request: web.Request, shape) -> web.Response:
    listing = request.app[SETTINGS].listing
    query = _list_query(request.query_string, listing.default_limit, listing.max_limit)
    token, admin_project = await caller(request)
    paging = ListPaging(plan_list(query, admin_project=admin_project))
    await page_through(request, paging, token)
    # each image's JSON is made once per distinct image (proxy.imagememo): joined, not
    # serialised again
    body = b'{"images":[' + b",".join([image.v1_json(shape) for image in paging.images]) + b"]}"
    return web.Response(body=body, content_type="application/json")


@functools.lru_cache(maxsize=1024)
def _list_query(query_string: str, default_limit: int, max_limit: int) -> ListQuery:
    """The parsed query (immutable), remembered: tools poll with the same query string again
    and again. (A query that is refused raises, and is not remembered.)"""
    return parse_list_query(query_pairs(query_string), default_limit=default_limit,
                            max_limit=max_limit)


async def caller(request: web.Request) -> tuple[str | None, str | None]:
    """The caller's token, and its project when Keystone says the caller is an admin.

    No token is a 401 (unless ``identity.require_token`` is off), as is a token that is not
    printable ASCII (no token service issues one) or one Keystone refuses: v1's auth
    answered these before anything else.
    """
    token = request.headers.get("X-Auth-Token")
    identity = request.app[SETTINGS].identity
    if token is None:
        if identity.require_token:
            raise V1Error(401)
        return None, None
    if not (token.isascii() and token.isprintable()):
        raise V1Error(401)
    keystone = request.app[KEYSTONE]
    if keystone is None:
        return token, None
    try:
        who = await keystone.caller(token)
    except TokenRejected:
        raise V1Error(401) from None
    return token, who.project if who is not None and keystone.is_admin(who) else None


async def page_through(request: web.Request, paging: ListPaging, token: str | None) -> None:
    """Runs ``paging`` against the upstream until it has what it asked for."""
    upstream, memo = request.app[UPSTREAM], request.app[IMAGE_MEMO]
    request_id = request[REQUEST_ID]
    params = paging.first_request()
    while params is not None:
        try:
            body = await upstream.list_images(params, token=token, request_id=request_id,
                                              read=memo.read_list)
            to_check = paging.members_to_check(body)
            shared = await upstream.shared_with(
                to_check, paging.plan.narrowing.as_user_of, token=token, request_id=request_id
            ) if to_check else frozenset()
        except UpstreamStatus as error:
            raise paging.error(error.status, error.body) from None
        params = paging.feed(body, shared)


# ------------------------------------------------------------------ one image

async def image_meta(request: web.Request) -> web.Response:
    """HEAD /v1/images/{id}: the metadata as x-image-meta-* headers (v2 has no HEAD: GET)."""
    token, _ = await caller(request)
    image = to_v1_image(await v2_image(request, token))
    response = web.Response(headers=CIMultiDict(meta_headers(image)))
    response.headers["Content-Type"] = "text/html; charset=UTF-8"  # WebOb's default
    response.headers["Content-Length"] = "0"
    return response


async def image_data(request: web.Request) -> web.StreamResponse:
    """GET /v1/images/{id}: the data, streamed from v2's file endpoint in constant memory."""
    image_id = request.match_info["image_id"]
    token, _ = await caller(request)
    image = to_v1_image(await v2_image(request, token))
    refusal = download_refusal(image)
    if refusal is not None:
        raise refusal
    response = web.StreamResponse(headers=CIMultiDict(meta_headers(image)))
    response.content_type = "application/octet-stream"
    if image["size"] == 0:  # v1 answered an empty image without touching the store
        response.content_length = 0
        await response.prepare(request)
        return response
    upstream = request.app[UPSTREAM]
    try:
        data = await upstream.open_image_data(image_id, token=token,
                                              request_id=request[REQUEST_ID])
    except UpstreamStatus as error:
        raise v1_error_for_image(image_id, error.status, error.body) from None
    expected = data.content_length or image["size"]  # None: the answer is chunked
    sent, complete = 0, False
    try:
        response.content_length = expected
        await response.prepare(request)
        async for chunk in upstream.image_chunks(data):
            await response.write(chunk)
            sent += len(chunk)
        complete = expected is None or sent == expected
        if not complete:
            log.warning("%s %s: corrupt image download: %d of %d bytes", request[REQUEST_ID],
                        request.path, sent, expected)
    except UpstreamError as exc:
        log.warning("%s %s: %s after %d bytes", request[REQUEST_ID], request.path, exc, sent)
    except ConnectionResetError:
        pass  # the caller left; closing the upstream answer stops its transfer
    finally:
        # A fully read answer lets its connection be reused; anything else must not.
        data.release() if complete else data.close()
    if not complete and request.transport is not None:
        # The status line is sent: cut the connection so that the caller sees a broken
        # transfer, never a body that merely looks complete (v1 cut it too).
        request.transport.abort()
    return response


async def v2_image(request: web.Request, token: str | None, image_id: str | None = None) -> dict:
    """The v2 image named by the route (or ``image_id``), as the caller may see it; v1's 404
    otherwise."""
    image_id = image_id or request.match_info["image_id"]
    if not is_image_id(image_id):  # v2 ids are UUIDs: anything else cannot exist
        raise image_not_found(image_id)
    try:
        body = await request.app[UPSTREAM].get_image(
            image_id, token=token, request_id=request[REQUEST_ID])
    except UpstreamStatus as error:
        raise v1_error_for_image(image_id, error.status, error.body) from None
    return image_of(body)


def is_image_id(value: str) -> bool:
    try:
        return canonical_uuid(value) == value
    except ValueError:
        return False


# ------------------------------------------------------------------ versions and routing quirks

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


async def images_detail_other(request: web.Request) -> web.Response:
    # v1's router: HEAD on the detail list reaches the controller, which refuses it.
    if request.method == "HEAD":
        raise method_not_allowed("HEAD", "GET")
    raise method_not_allowed(request.method, "GET, HEAD")


def reject(allow: str | None):
    """A handler answering v1's 405 with ``Allow: <allow>`` (or none) to every method."""

    async def handler(request: web.Request) -> web.Response:
        raise method_not_allowed(request.method, allow)

    return handler


# ------------------------------------------------------------------ caller

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
