"""Thin handlers of v1's members API on v2's members (reference glance-v1.md 5, glance-v2.md 5.8).

v2 keeps members only for images whose visibility is ``shared``: sharing a private image
through v1 makes it shared first (what v1 itself stored for a non-public image). v2 has no
``can_share`` (members cannot re-share): every member shows ``can_share: false``, and a
request to grant it is refused, not silently ignored. v2 has no "replace the member list"
and no "images shared with a tenant" call: both are made of v2's member calls.
"""

from __future__ import annotations

import orjson
from aiohttp import web

from proxy.appkeys import REQUEST_ID, UPSTREAM
from proxy.handlers import caller, page_through, v2_image
from proxy.v1.errors import V1Error, nested, plain_body
from proxy.v2.answers import image_of, member_ids_of
from proxy.v2.client import UpstreamStatus
from proxy.v2.errors import v1_error_for_image
from proxy.v2.plan import ListPaging, ListPlan

_NO_PERMISSION = V1Error(404, explanation=plain_body(
    V1Error(403, detail="No permission to share that image")))  # v1 mapped 403 onto 404
_NOT_A_MEMBER = nested(404, "Membership could not be found.")
_CAN_SHARE = V1Error(400, detail="can_share is not available: the v2 image service behind "
                     "this proxy has no sharing by members. Nothing was changed.")
# images of one v2 listing looked at when answering /shared-images
_MAX_SHARED_LOOKUP = 10_000


async def list_members(request: web.Request) -> web.Response:
    """GET /v1/images/{id}/members."""
    token, _ = await caller(request)
    image = await v2_image(request, token)
    members = []
    if image.get("visibility") == "shared":  # v2 keeps none for any other image
        members = await _members_of(request, image["id"], token)
    return _json({"members": [{"member_id": m, "can_share": False} for m in members]})


async def add_member(request: web.Request) -> web.Response:
    """PUT /v1/images/{id}/members/{member}: 204."""
    token, _ = await caller(request)
    member = _member_id(request)
    body = await _json_body(request, required=False)
    if body is not None:
        asked = body.get("member") if isinstance(body, dict) else None
        if isinstance(asked, dict) and asked.get("can_share"):
            raise _CAN_SHARE
    image = await _shareable(request, token)
    await _add(request, image["id"], member, token)
    return web.Response(status=204)


async def replace_members(request: web.Request) -> web.Response:
    """PUT /v1/images/{id}/members: the member list becomes the one given; 204."""
    token, _ = await caller(request)
    body = await _json_body(request, required=True)
    memberships = body.get("memberships") if isinstance(body, dict) else None
    if not isinstance(memberships, list) or not all(
            isinstance(m, dict) and isinstance(m.get("member_id"), str)
            and _plain(m["member_id"]) for m in memberships):
        raise nested(400, "Invalid membership association: 'member_id'")
    if any(m.get("can_share") for m in memberships):
        raise _CAN_SHARE
    wanted = list(dict.fromkeys(m["member_id"] for m in memberships))
    image = await v2_image(request, token)
    current = []
    if image.get("visibility") == "shared":
        current = await _members_of(request, image["id"], token)
    elif wanted:
        image = await _shareable(request, token, image)
    for member in wanted:
        if member not in current:
            await _add(request, image["id"], member, token)
    for member in current:
        if member not in wanted:
            await _remove(request, image["id"], member, token)
    return web.Response(status=204)


async def remove_member(request: web.Request) -> web.Response:
    """DELETE /v1/images/{id}/members/{member}: 204."""
    token, _ = await caller(request)
    member = _member_id(request)
    image = await v2_image(request, token)
    await _remove(request, image["id"], member, token)
    return web.Response(status=204)


async def shared_images(request: web.Request) -> web.Response:
    """/v1/shared-images/{member} (any method, as v1): the shared images the caller may see
    that have ``member`` as a member."""
    token, _ = await caller(request)
    member = _member_id(request)
    paging = ListPaging(ListPlan(params=(("visibility", "shared"), ("member_status", "all")),
                                 limit=_MAX_SHARED_LOOKUP, marker=None))
    await page_through(request, paging, token)
    ids = [image["id"] for image in paging.images]
    shared = await request.app[UPSTREAM].shared_with(ids, member, token=token,
                                                      request_id=request[REQUEST_ID])
    return _json({"shared_images": [{"image_id": i, "can_share": False}
                                    for i in ids if i in shared]})


async def _shareable(request: web.Request, token, image: dict | None = None) -> dict:
    """The image, made ``shared`` if it was private (v2 keeps members only then)."""
    image = image or await v2_image(request, token)
    visibility = image.get("visibility")
    if visibility in ("public", "community"):
        raise V1Error(409, detail=f"Image {image['id']} is {visibility}: the v2 image service "
                      "keeps members only for shared images, and making it shared would "
                      "take it from everyone else. Nothing was changed.")
    if visibility == "private":
        try:
            image = image_of(await request.app[UPSTREAM].update_image(
                image["id"], [{"op": "replace", "path": "/visibility", "value": "shared"}],
                token=token, request_id=request[REQUEST_ID]))
        except UpstreamStatus as error:
            raise _member_error(image["id"], error) from None
    return image


async def _add(request: web.Request, image_id: str, member: str, token) -> None:
    try:
        await request.app[UPSTREAM].add_member(image_id, member, token=token,
                                               request_id=request[REQUEST_ID])
    except UpstreamStatus as error:
        if error.status != 409:  # already a member: v1's PUT is idempotent
            raise _member_error(image_id, error) from None


async def _remove(request: web.Request, image_id: str, member: str, token) -> None:
    try:
        await request.app[UPSTREAM].remove_member(image_id, member, token=token,
                                                  request_id=request[REQUEST_ID])
    except UpstreamStatus as error:
        if error.status in (403, 404):  # not a member, or an image v2 keeps none for
            raise _NOT_A_MEMBER from None
        raise v1_error_for_image(image_id, error.status, error.body) from None


async def _members_of(request: web.Request, image_id: str, token) -> list[str]:
    try:
        return member_ids_of(await request.app[UPSTREAM].members(
            image_id, token=token, request_id=request[REQUEST_ID]))
    except UpstreamStatus as error:
        raise _member_error(image_id, error) from None


def _member_id(request: web.Request) -> str:
    """The member named in the path (v1's router matched no ``/`` there, ``%2F`` included)."""
    member = request.match_info["member"]
    if not _plain(member):
        raise V1Error(404)
    return member


def _plain(member: str) -> bool:
    """A member id that names one upstream path segment: ``/``, ``.`` and ``..`` would name
    another upstream path, and no project is called that."""
    return bool(member) and "/" not in member and member not in (".", "..")


def _member_error(image_id: str, error: UpstreamStatus) -> V1Error:
    if error.status == 403:
        return _NO_PERMISSION
    return v1_error_for_image(image_id, error.status, error.body)


async def _json_body(request: web.Request, *, required: bool):
    data = await request.read()
    if not data:
        if required:
            raise V1Error(400, detail="A JSON body is required: {\"memberships\": [...]}")
        return None
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        raise V1Error(400, detail="Malformed JSON in request body.") from None


def _json(document: dict) -> web.Response:
    return web.Response(body=orjson.dumps(document), content_type="application/json")
