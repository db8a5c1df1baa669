"""The handlers of image data: upload, download, and the import API (``web-download`` only).

In: the ``FakeGlance`` serving, the aiohttp request (a streamed body for uploads, a JSON
import request), the caller's ``Context`` and the image id. Out: the aiohttp response
Glance would give (the data itself for downloads), the record turned saving/active/queued
as Glance turns it, or a ``GlanceError`` for the route to render
(docs/v2-upstream.md#53-uploading-data-and-import,
5.6).
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from proxy.fake_glance.bodies import json_response, media_type, read_json
from proxy.fake_glance.errors import GlanceError, bad_request
from proxy.fake_glance.policy import Context, enforce
from proxy.fake_glance.store import store_bytes, store_data

if TYPE_CHECKING:
    from proxy.fake_glance.routes import FakeGlance

IMPORT_METHODS = ["glance-direct", "web-download"]


def _check_upload_headers(request: web.Request) -> None:
    content_type = media_type(request) if "Content-Type" in request.headers else None
    if content_type != "application/octet-stream":
        raise GlanceError(415, detail=f"Invalid content type {content_type}")
    size = request.headers.get("x-openstack-image-size")
    if size is not None:
        try:
            int(size)
        except ValueError:
            raise bad_request("Invalid or missing image size in request headers.") from None


def _check_ready_for_data(img: dict) -> None:
    if img["status"] != "queued":
        raise GlanceError(409, f"Image status transition from {img['status']} to saving "
                               "is not allowed")
    missing = [k for k in ("disk_format", "container_format") if not img[k]]
    if missing:
        noun = "Property" if len(missing) == 1 else "Properties"
        raise bad_request(f"{noun} {', '.join(missing)} must be set prior to saving data.")


async def upload(glance: FakeGlance, request: web.Request, ctx: Context, image_id: str):
    _check_upload_headers(request)
    img = glance.store.find(ctx, image_id)
    enforce(ctx, "upload_image", img)
    _check_ready_for_data(img)
    glance.store.touch(img, status="saving")
    data, md5, sha512 = bytearray(), hashlib.md5(), hashlib.sha512()
    try:
        async for chunk in request.content.iter_chunked(1 << 16):
            data += chunk
            md5.update(chunk)
            sha512.update(chunk)
    except BaseException:  # a broken upload goes back to queued, as in v2
        glance.store.touch(img, status="queued", size=None, virtual_size=None)
        raise
    if img["deleted"]:
        raise GlanceError(410, f"Image {image_id} could not be found after upload. The "
                               "image may have been deleted during the upload, cleaning "
                               "up the chunks uploaded.")
    store_data(img, data, md5, sha512)
    glance.store.touch(img)
    return web.Response(status=204)


async def download(glance: FakeGlance, request: web.Request, ctx: Context, image_id: str):
    img = glance.store.find(ctx, image_id)
    if img["status"] == "deactivated" and not ctx.is_admin:
        raise GlanceError(403, "The requested image has been deactivated. Image data "
                               "download is forbidden.")
    enforce(ctx, "download_image", img)
    if img["data"] is None:
        return web.Response(status=204)
    headers = {"Content-Type": "application/octet-stream"}
    if img["checksum"]:
        headers["Content-MD5"] = img["checksum"]
    return web.Response(body=img["data"], headers=headers)


def _require_import_api(glance: FakeGlance) -> None:
    if glance.version < (2, 6):  # the import API arrived with Queens
        raise GlanceError(404)


async def import_info(glance: FakeGlance, request: web.Request, ctx: Context):
    _require_import_api(glance)
    return json_response({"import-methods": {"description": "Import methods available.",
                                             "type": "array", "value": IMPORT_METHODS}})


def _import_method(body) -> dict:
    method = body.get("method") if isinstance(body, dict) else None
    if not isinstance(method, dict):
        raise bad_request("Import request requires a 'method' field.")
    if method.get("name") not in IMPORT_METHODS:
        raise bad_request(f"Unknown import method name '{method.get('name')}'.")
    return method


def _check_importable(img: dict, method: str) -> None:
    if method != "web-download":
        raise GlanceError(409, f"Image {img['id']} is not in a state to be imported")
    for key in ("container_format", "disk_format"):
        if not img[key]:
            raise GlanceError(409, f"'{key}' needs to be set before import")
    if img["status"] != "queued":
        raise GlanceError(409, f"Image needs to be in 'queued' status to import. Current "
                               f"status: {img['status']}")


async def import_image(glance: FakeGlance, request: web.Request, ctx: Context, image_id: str):
    _require_import_api(glance)
    method = _import_method(await read_json(request))
    img = glance.store.find(ctx, image_id)
    _check_importable(img, method["name"])
    uri = method.get("uri")
    host = urlsplit(uri).hostname if isinstance(uri, str) else None
    # The lab's URI filter: loopback only, any port.
    if not uri or not uri.startswith(("http://", "https://")) or host != "127.0.0.1":
        raise bad_request(f"URI for web-download does not pass filtering: {uri}")
    glance.store.touch(img, status="importing")
    glance.run_in_background(_web_download(glance, img, uri))
    return web.Response(status=202)


async def _web_download(glance: FakeGlance, img: dict, uri: str) -> None:
    try:
        async with aiohttp.ClientSession() as session, session.get(uri) as answer:
            answer.raise_for_status()
            data = await answer.read()
    except (aiohttp.ClientError, asyncio.TimeoutError):
        glance.store.touch(img, status="queued")  # as a failed import
        return
    if img["deleted"]:
        return
    store_bytes(img, data)
    glance.store.touch(img)
