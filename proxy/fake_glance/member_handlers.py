"""The handlers of image members: list, show, add, update (a member's status), delete.

In: the ``FakeGlance`` serving, the aiohttp request (a JSON body for add and update), the
caller's ``Context``, the image id and the member's project. Out: the member documents
Glance answers, the image's member table changed, or a ``GlanceError`` with Glance's wording
(each call words the refusal of a non-shared image its own way); docs/v2-upstream.md#58-members.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from proxy.fake_glance.bodies import json_response, read_json
from proxy.fake_glance.errors import GlanceError, bad_request, not_authorized
from proxy.fake_glance.policy import Context, enforce, owns, policy_allows
from proxy.fake_glance.schema import MEMBER_STATUSES
from proxy.fake_glance.views import member_view

if TYPE_CHECKING:
    from proxy.fake_glance.routes import FakeGlance


def _shared_image(glance: FakeGlance, ctx: Context, image_id: str, action: str) -> dict:
    """Only shared images have members; each call words that refusal its own way."""
    img = glance.store.find(ctx, image_id, f"Image {image_id} not found.")
    if img["visibility"] != "shared":
        if action == "show":
            raise GlanceError(404, "Only shared images have members.")
        reason = ": Only shared images have members." if action == "list" else "."
        raise GlanceError(403, f"Not allowed to {action} members for image {image_id}"
                               f"{reason}")
    return img


def _sees_every_member(ctx: Context, img: dict) -> bool:
    return ctx.is_admin or owns(ctx, img)


def _visible_member(ctx: Context, img: dict, project: str) -> dict:
    """MemberRepo.get: non-admins see the owner's whole list or their own entry only.
    (The get_member policy itself cannot fail once get_image passed.)"""
    enforce(ctx, "get_image", img)
    if project not in img["members"] or not (
            _sees_every_member(ctx, img) or project == ctx.project):
        raise GlanceError(404, f"{project} not found in the member list of the image "
                               f"{img['id']}.")
    return img["members"][project]


def _allow(ctx: Context, rule: str, img: dict) -> None:
    if not policy_allows(ctx, rule, img):
        raise not_authorized(rule)


async def list_members(glance: FakeGlance, request: web.Request, ctx: Context, image_id: str):
    img = _shared_image(glance, ctx, image_id, "list")
    enforce(ctx, "get_image", img)  # then get_members, which cannot fail after it
    projects = [p for p in img["members"] if _sees_every_member(ctx, img) or p == ctx.project]
    return json_response({"members": [member_view(img, p) for p in projects],
                          "schema": "/v2/schemas/members"})


async def show_member(glance: FakeGlance, request: web.Request, ctx: Context, image_id: str,
                      member_id: str):
    img = _shared_image(glance, ctx, image_id, "show")
    try:
        _visible_member(ctx, img, member_id)
    except GlanceError as err:  # show turns every refusal into a 404
        raise GlanceError(404, err.explanation) from None
    return json_response(member_view(img, member_id))


async def _json_object(request: web.Request, form: str) -> dict:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise bad_request(f"Expected a {form}")
    return body


async def add_member(glance: FakeGlance, request: web.Request, ctx: Context, image_id: str):
    body = await _json_object(request, 'member in the form: {"member": "image_id"}')
    if "member" not in body:
        raise bad_request("Member to be added not specified")
    if not body["member"]:
        raise bad_request("Member can't be empty")
    project = body["member"]
    img = _shared_image(glance, ctx, image_id, "create")
    enforce(ctx, "get_image", img)
    _allow(ctx, "add_member", img)
    if project in img["members"]:
        raise GlanceError(409, f"Member {project} is duplicated for image {image_id}")
    now = glance.store.clock()
    img["members"][project] = {"status": "pending", "created_at": now, "updated_at": now}
    return json_response(member_view(img, project))


async def update_member(glance: FakeGlance, request: web.Request, ctx: Context, image_id: str,
                        member_id: str):
    body = await _json_object(request, 'status in the form: {"status": "status"}')
    if "status" not in body:
        raise bad_request("Status not specified")
    img = _shared_image(glance, ctx, image_id, "update")
    member = _visible_member(ctx, img, member_id)
    _allow(ctx, "modify_member", img)
    if body["status"] not in MEMBER_STATUSES:
        raise bad_request('Incorrect request: Status must be "pending", "accepted" or '
                          '"rejected".')
    glance.store.touch(member, status=body["status"])
    return json_response(member_view(img, member_id))


async def delete_member(glance: FakeGlance, request: web.Request, ctx: Context, image_id: str,
                        member_id: str):
    img = _shared_image(glance, ctx, image_id, "delete")
    _visible_member(ctx, img, member_id)
    _allow(ctx, "delete_member", img)
    del img["members"][member_id]
    return web.Response(status=204)
