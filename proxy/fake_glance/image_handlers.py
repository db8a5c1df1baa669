"""The handlers of the image resource: list, show, create, update (PATCH), delete, and the
deactivate/reactivate actions.

In: the ``FakeGlance`` serving (its store, API version and page limits), the aiohttp
request, the caller's ``Context`` and the ids from the path. Out: the aiohttp response
Glance would give, or a ``GlanceError`` for the route to render
(docs/v2-upstream.md#1-listing-images,
5.1, 5.2, 5.4, 5.5).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from aiohttp import web

from proxy.fake_glance.bodies import json_response, media_type, read_json
from proxy.fake_glance.errors import GlanceError, bad_request, not_authorized
from proxy.fake_glance.listing import select_page
from proxy.fake_glance.patch import apply_patch, parse_change, patch_draft
from proxy.fake_glance.policy import Context, check_create, enforce
from proxy.fake_glance.query import QueryParams, parse_list_query
from proxy.fake_glance.schema import RESERVED, check_min_values, validate_schema
from proxy.fake_glance.sql import INT_COLUMNS
from proxy.fake_glance.store import new_record
from proxy.fake_glance.views import image_view

if TYPE_CHECKING:
    from proxy.fake_glance.routes import FakeGlance

# What a create body may set; anything else is a custom property.
_CREATE_FIELDS = {"id", "name", "visibility", "protected", "min_ram", "min_disk",
                  "container_format", "disk_format", "tags", "owner", "checksum", "created_at",
                  "size", "virtual_size", "status", "updated_at"}
_CREATE_HEADERS = {"OpenStack-image-import-methods": "glance-direct,web-download,copy-image",
                   "OpenStack-image-store-ids": "fs,os_glance_staging_store,os_glance_tasks_store"}


async def list_images(glance: FakeGlance, request: web.Request, ctx: Context) -> web.Response:
    query = parse_list_query(request.rel_url.query.items(), glance.version)
    if query.limit is None:
        query.limit = glance.limit_param_default
    query.limit = min(glance.api_limit_max, query.limit)
    if not (ctx.is_admin or ctx.has("reader")):
        raise not_authorized("get_images")
    page = select_page(glance.store.images, ctx, query, glance.version)
    params = QueryParams(request.rel_url.query.items()).as_dict()
    params.pop("marker", None)
    body = {"images": [image_view(img, ctx, glance.version) for img in page],
            "first": "/v2/images" + (f"?{urlencode(params)}" if params else ""),
            "schema": "/v2/schemas/images"}
    if page and len(page) == query.limit:
        params["marker"] = page[-1]["id"]
        body["next"] = f"/v2/images?{urlencode(params)}"
    return json_response(body)


async def show_image(glance: FakeGlance, request: web.Request, ctx: Context, image_id: str):
    img = glance.store.find(ctx, image_id)
    enforce(ctx, "get_image", img)
    return json_response(image_view(img, ctx, glance.version))


def _split_create_body(body: dict, api_version: tuple[int, int]) -> tuple[dict, dict]:
    """The base fields and the custom properties of a create, each checked."""
    for key in ("direct_url", "self", "file", "schema", "stores"):
        if key in body:
            raise GlanceError(403, f"Attribute '{key}' is read-only.")
    validate_schema(body, api_version)
    base = _CREATE_FIELDS | ({"os_hidden"} if api_version >= (2, 7) else set())
    fields = {k: body[k] for k in body if k in base}
    extra = {k: v for k, v in body.items() if k not in base}
    for key in extra:
        if len(key) > 255:
            raise bad_request("Custom property should not be greater than 255 characters.")
        if key in RESERVED or key.startswith("os_glance"):
            raise GlanceError(403, detail=f"Attribute '{key}' is reserved.")
    return fields, extra


async def create_image(glance: FakeGlance, request: web.Request, ctx: Context) -> web.Response:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise GlanceError(500)  # Glance pops keys off the list and crashes
    fields, extra = _split_create_body(body, glance.version)
    owner = fields.get("owner", ctx.project)
    check_create(ctx, owner, fields.get("visibility", "private"))
    for key in ("created_at", "updated_at", "status", "checksum", "size", "virtual_size"):
        if key in fields:
            raise GlanceError(403, f"Attribute '{key}' is read-only.")
    if "locations" in extra:
        raise GlanceError(403, "Attribute 'locations' is reserved.")
    image_id = fields.pop("id", None) or str(uuid.uuid4())
    img = new_record(image_id, owner, glance.store.clock())
    img["tags"] = list(dict.fromkeys(fields.pop("tags", [])))
    img.update({k: int(v) if k in INT_COLUMNS else v for k, v in fields.items()})
    img["owner"] = owner or None
    img["properties"] = extra
    check_min_values(img)
    glance.store.insert(img)
    headers = {"Location": f"{request.url.origin()}/v2/images/{image_id}", **_CREATE_HEADERS}
    return json_response(image_view(img, ctx, glance.version), status=201, headers=headers)


async def update_image(glance: FakeGlance, request: web.Request, ctx: Context, image_id: str):
    draft = patch_draft(media_type(request))
    body = await read_json(request)
    if not isinstance(body, list):
        raise bad_request("Request body must be a JSON array of operation objects.")
    changes = [parse_change(raw, draft, glance.version) for raw in body]
    img = glance.store.find(ctx, image_id)
    apply_patch(ctx, img, changes, glance.version, glance.store.clock())
    return json_response(image_view(img, ctx, glance.version))


async def delete_image(glance: FakeGlance, request: web.Request, ctx: Context, image_id: str):
    img = glance.store.find(ctx, image_id, f"Failed to find image {image_id} to delete")
    enforce(ctx, "delete_image", img)
    if img["protected"]:
        raise GlanceError(403, f"Image {image_id} is protected and cannot be deleted.")
    # Rows stay (soft delete): ids cannot be reused and admins may page from them.
    glance.store.touch(img, status="deleted", deleted=True, data=None, members={})
    return web.Response(status=204)


async def image_action(glance: FakeGlance, request: web.Request, ctx: Context, image_id: str,
                       action: str):
    img = glance.store.find(ctx, image_id)
    enforce(ctx, action, img)
    source, target = (("active", "deactivated") if action == "deactivate"
                      else ("deactivated", "active"))
    if img["status"] == source:
        glance.store.touch(img, status=target)
    elif img["status"] != target:
        raise GlanceError(403, f"Not allowed to {action} image in status '{img['status']}'")
    return web.Response(status=204)
