"""Thin handlers of v1's members API on v2's members (docs/v1-api.md#5-members,
docs/v2-upstream.md#58-members).

v2 keeps members only for images whose visibility is ``shared``: sharing a private image
through v1 makes it shared first (what v1 itself stored for a non-public image). v2 has no
``can_share`` (members cannot re-share): every member shows ``can_share: false``, and a
request to grant it is refused, not silently ignored. v2 has no "replace the member list"
and no "images shared with a tenant" call: both are made of v2's member calls.
"""

from __future__ import annotations

from functools import partial

import orjson
from aiohttp import web

from proxy.shell.appkeys import LISTING_MEMO
from proxy.shell.image_reads import page_through
from proxy.shell.requests import Caller, caller
from proxy.shell.upstream_errors import status_as_v1
from proxy.v1.errors import V1Error, nested
from proxy.v2.answers import image_of, member_ids_of, oldest_membership_first
from proxy.v2.errors import (v1_error_for_member_add, v1_error_for_member_removal,
                             v1_error_for_members)
from proxy.v2.plan import SHARED_IMAGES, ListPaging

# The proxy's own refusals (v1 had no such cases) carry their message as the explanation,
# as v1's own member refusals did.
_CAN_SHARE = V1Error(400, explanation="can_share is not available: the v2 image service "
                     "behind this proxy has no sharing by members. Nothing was changed.")


async def list_members(request: web.Request) -> web.Response:
    """GET /v1/images/{id}/members."""
    who = await caller(request)
    image = await who.image(request.match_info["image_id"])
    members = []
    if image.get("visibility") == "shared":  # v2 keeps none for any other image
        members = await _members_of(who, image["id"])
    return _json({"members": [{"member_id": m, "can_share": False} for m in members]})


async def add_member(request: web.Request) -> web.Response:
    """PUT /v1/images/{id}/members/{member}: 204."""
    who = await caller(request)
    member = _member_id(request)
    body = await _json_body(request, required=False)
    if body is not None:
        asked = body.get("member") if isinstance(body, dict) else None
        if isinstance(asked, dict) and asked.get("can_share"):
            raise _CAN_SHARE
    image = await _shareable(who, await who.image(request.match_info["image_id"]))
    await _add(who, image["id"], member)
    return web.Response(status=204)


async def replace_members(request: web.Request) -> web.Response:
    """PUT /v1/images/{id}/members: the member list becomes the one given; 204."""
    who = await caller(request)
    body = await _json_body(request, required=True)
    memberships = body.get("memberships") if isinstance(body, dict) else None
    if not isinstance(memberships, list) or not all(
            isinstance(m, dict) and isinstance(m.get("member_id"), str)
            and _plain(m["member_id"]) for m in memberships):
        raise nested(400, "Invalid membership association: 'member_id'")
    if any(m.get("can_share") for m in memberships):
        raise _CAN_SHARE
    wanted = list(dict.fromkeys(m["member_id"] for m in memberships))
    image = await who.image(request.match_info["image_id"])
    current = []
    if image.get("visibility") == "shared":
        current = await _members_of(who, image["id"])
    elif wanted:
        image = await _shareable(who, image)
    for member in wanted:
        if member not in current:
            await _add(who, image["id"], member)
    for member in current:
        if member not in wanted:
            await _remove(who, image["id"], member)
    return web.Response(status=204)


async def remove_member(request: web.Request) -> web.Response:
    """DELETE /v1/images/{id}/members/{member}: 204."""
    who = await caller(request)
    member = _member_id(request)
    image = await who.image(request.match_info["image_id"])
    await _remove(who, image["id"], member)
    return web.Response(status=204)


async def shared_images(request: web.Request) -> web.Response:
    """/v1/shared-images/{member} (any method, as v1): the shared images the caller may see
    that have ``member`` as a member."""
    who = await caller(request)
    member = _member_id(request)
    paging = ListPaging(SHARED_IMAGES)
    await page_through(paging, who, request.app[LISTING_MEMO])
    ids = [image.v2["id"] for image in paging.images]
    with status_as_v1():
        made_at = await who.upstream.shared_with(ids, member)
    return _json({"shared_images": [{"image_id": i, "can_share": False}
                                    for i in oldest_membership_first(ids, made_at)]})


async def _shareable(who: Caller, image: dict) -> dict:
    """The image, made ``shared`` if it was private (v2 keeps members only then)."""
    visibility = image.get("visibility")
    if visibility in ("public", "community"):
        raise V1Error(409, explanation=f"Image {image['id']} is {visibility}: the v2 image "
                      "service keeps members only for shared images, and making it shared "
                      "would take it from everyone else. Nothing was changed.")
    if visibility == "private":
        with status_as_v1(partial(v1_error_for_members, image["id"])):
            image = image_of(await who.upstream.update_image(
                image["id"], [{"op": "replace", "path": "/visibility", "value": "shared"}]))
    return image


async def _add(who: Caller, image_id: str, member: str) -> None:
    with status_as_v1(partial(v1_error_for_member_add, image_id)):
        await who.upstream.add_member(image_id, member)


async def _remove(who: Caller, image_id: str, member: str) -> None:
    with status_as_v1(partial(v1_error_for_member_removal, image_id)):
        await who.upstream.remove_member(image_id, member)


async def _members_of(who: Caller, image_id: str) -> list[str]:
    with status_as_v1(partial(v1_error_for_members, image_id)):
        return member_ids_of(await who.upstream.members(image_id))


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


async def _json_body(request: web.Request, *, required: bool):
    data = await request.read()
    if not data:
        if required:
            raise V1Error(400, explanation="A JSON body is required: "
                          "{\"memberships\": [...]}")
        return None
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        # v1's JSONRequestDeserializer: HTTPBadRequest(explanation=msg)
        raise V1Error(400, explanation="Malformed JSON in request body.") from None


def _json(document: dict) -> web.Response:
    return web.Response(body=orjson.dumps(document), content_type="application/json")
