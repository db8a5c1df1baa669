"""Handlers of v1's image reads: the two lists, HEAD (metadata) and GET (data).

A listing walks one way: the query is parsed (proxy.v1.query) and planned
(proxy.v2.plan); the upstream returns bytes; the memo turns them into a ListPage
(proxy.shell.listing_memo); the plan decides what to keep and what to ask next; the kept
images are shaped into v1's JSON (proxy.v1.images).
"""

from __future__ import annotations

import logging
from functools import lru_cache, partial

import msgspec
from aiohttp import web
from multidict import CIMultiDict

from proxy.shell import deletions
from proxy.shell.appkeys import LISTING_MEMO, REQUEST_ID, SETTINGS
from proxy.shell.listing_memo import ListingMemo
from proxy.shell.requests import Caller, caller
from proxy.shell.upstream import image_chunks
from proxy.shell.upstream_errors import UpstreamError, status_as_v1
from proxy.v1.errors import V1Error
from proxy.v1.images import (download_refusal, meta_headers, summary_of, to_v1_image,
                             v1_image_of, v1_summary_of)
from proxy.v1.tombstones import listed_tombstone
from proxy.v1.query import ListQuery, parse_list_query, query_pairs
from proxy.v2.answers import ParsedImage
from proxy.v2.errors import v1_error_for_image
from proxy.v2.plan import ListPaging, plan_list

log = logging.getLogger(__name__)

# msgspec writes many small answers that are kept 8x as fast as orjson (whose
# over-allocated outputs cost dearly when kept)
_ENCODER = msgspec.json.Encoder()


# ------------------------------------------------------------------ listings

async def images_index(request: web.Request) -> web.Response:
    """GET /v1/images (and any method on /v1/, as v1's router did): the summary list."""
    return await _listing(request, v1_summary_of)


async def images_detail(request: web.Request) -> web.Response:
    """GET /v1/images/detail: the detailed list."""
    return await _listing(request, v1_image_of)


async def _listing(request: web.Request, shape) -> web.Response:
    listing = request.app[SETTINGS].listing
    query = _list_query(request.query_string, listing.default_limit, listing.max_limit)
    who = await caller(request)
    if query.changes_since is not None:  # deleted images too: v1's history of deletions
        records = await deletions.changes_listing(request.app, who, query, page_through)
        return web.Response(body=_ENCODER.encode({"images": [
            record if shape is v1_image_of else summary_of(record) for record in records]}),
            content_type="application/json")
    paging = ListPaging(plan_list(query, admin_project=who.admin_project))
    await page_through(paging, who, request.app[LISTING_MEMO])
    return web.Response(body=listing_json(paging.images, shape),
                        content_type="application/json")


@lru_cache(maxsize=1024)
def _list_query(query_string: str, default_limit: int, max_limit: int) -> ListQuery:
    """The parsed query (immutable), remembered: tools poll with the same query string again
    and again. (A query that is refused raises, and is not remembered.)"""
    return parse_list_query(query_pairs(query_string), default_limit=default_limit,
                            max_limit=max_limit)


async def page_through(paging: ListPaging, who: Caller, memo: ListingMemo) -> None:
    """Runs ``paging`` against the upstream until it has what it asked for."""
    params = paging.first_request()
    with status_as_v1(paging.error):
        while params is not None:
            async with who.upstream.list_images(params) as body:
                page = memo.page(body)
            to_check = paging.membership_to_check(page)
            shared = {} if to_check is None else await who.upstream.shared_with(*to_check)
            params = paging.feed(page, shared)


def listing_json(images: list[ParsedImage], shape) -> bytes:
    """The v1 listing body: images read in one pass written in one go, those the memo
    keeps joined from the JSON each made once."""
    for image in images:  # (a plain loop: a generator in any() costs 3x as much)
        if image.shaped is not None:
            return (b'{"images":[' + b",".join([shaped_json(image, shape) for image in images])
                    + b"]}")
    return _ENCODER.encode({"images": [shape(image.v2) for image in images]})


def shaped_json(image: ParsedImage, shape) -> bytes:
    """``shape``'s v1 answer for ``image`` as JSON, made once per image the memo keeps."""
    shaped = image.shaped
    if shaped is None:
        return _ENCODER.encode(shape(image.v2))
    json = shaped.get(shape)
    if json is None:
        json = shaped[shape] = _ENCODER.encode(shape(image.v2))
    return json


# ------------------------------------------------------------------ one image

async def image_meta(request: web.Request) -> web.Response:
    """HEAD /v1/images/{id}: the metadata as x-image-meta-* headers (v2 has no HEAD: GET)."""
    who = await caller(request)
    image = await _image_or_tombstone(request, who, request.match_info["image_id"])
    response = web.Response(headers=CIMultiDict(meta_headers(image)))
    response.headers["Content-Type"] = "text/html; charset=UTF-8"  # WebOb's default
    response.headers["Content-Length"] = "0"
    return response


async def _image_or_tombstone(request: web.Request, who: Caller, image_id: str) -> dict:
    """The v1 image; for an admin, a deleted image's tombstone as v1 showed it
    (docs/v1-api.md#31-lookup-and-download-refusals)."""
    try:
        return to_v1_image(await who.image(image_id))
    except V1Error as error:
        if error.status != 404:
            raise
        tombstone = await deletions.for_admin(request.app, who, image_id)
        if tombstone is None:
            raise
        return listed_tombstone(tombstone)


async def image_data(request: web.Request) -> web.StreamResponse:
    """GET /v1/images/{id}: the data, streamed from v2's file endpoint in constant memory."""
    image_id = request.match_info["image_id"]
    who = await caller(request)
    image = await _image_or_tombstone(request, who, image_id)
    refusal = download_refusal(image)  # a deleted image's data is never served
    if refusal is not None:
        raise refusal
    response = web.StreamResponse(headers=CIMultiDict(meta_headers(image)))
    response.content_type = "application/octet-stream"
    if image["size"] == 0:  # v1 answered an empty image without touching the store
        response.content_length = 0
        await response.prepare(request)
        return response
    with status_as_v1(partial(v1_error_for_image, image_id)):
        data = await who.upstream.open_image_data(image_id)
    expected = data.content_length or image["size"]  # None: the answer is chunked
    sent, complete = 0, False
    try:
        response.content_length = expected
        await response.prepare(request)
        async for chunk in image_chunks(data):
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
