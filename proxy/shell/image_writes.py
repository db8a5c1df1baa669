"""Thin handlers of v1's image writes: create (with upload), update, delete.

The rules are in the pure core (proxy.v1.meta, proxy.v2.writes); here they meet the
upstream. What the proxy creates and cannot finish (an upload that breaks off or does not
verify) it deletes again before answering, so that nothing half-made is left behind.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from functools import partial

import orjson
from aiohttp import web

from proxy.shell import deletions
from proxy.shell.appkeys import REQUEST_ID, SETTINGS
from proxy.shell.requests import Caller, caller, public_url
from proxy.shell.upstream import DATA_CHUNK
from proxy.shell.upstream_errors import (UpstreamError, UpstreamStatus, UpstreamUnavailable,
                                         status_as_v1)
from proxy.v1.errors import V1Error
from proxy.v1.images import to_v1_image
from proxy.v1.meta import ImageMeta, parse_image_meta, purge_requested
from proxy.v2.answers import image_of
from proxy.v2.errors import v1_error_for_delete, v1_error_for_image
from proxy.v2.writes import NO_WEB_DOWNLOAD, create_body, external_source, update_patch

log = logging.getLogger(__name__)

COPY_FROM = "x-glance-api-copy-from"


async def create_image(request: web.Request) -> web.Response:
    """POST /v1/images: reserve the image, then stream its data (if any) to v2."""
    who = await caller(request)
    meta = parse_image_meta(request.headers.items())
    with_data = request.body_exists
    source = external_source(meta, request.headers.get(COPY_FROM), with_data)
    # v1 found these after reserving the image, and left it queued: checked first here
    if with_data:
        _check_upload(request, meta.fields)
    if source is not None:
        await _check_import(who, meta.fields)
    fields = meta.fields
    # v1 made an image declared empty active at once; v2 does it for an empty upload, which
    # needs the formats (without them the image stays queued)
    declared_empty = (not with_data and source is None and fields.get("size") == 0
                      and fields.get("disk_format") and fields.get("container_format"))
    body = create_body(meta, not_public=request.app[SETTINGS].writes.not_public_visibility)
    creating = asyncio.ensure_future(who.upstream.create_image(body))
    try:
        with status_as_v1():
            image = image_of(await asyncio.shield(creating))
    except asyncio.CancelledError:
        # the caller left while v2 was creating: what it creates must not stay
        _in_background(_discard_once_created(who, creating, request[REQUEST_ID]))
        raise
    if with_data or declared_empty:
        try:
            mismatch = await _upload(request, who, image["id"], meta)
        except BaseException:  # a refusal, a broken upload, or the caller hanging up
            await _discard(who, image["id"], request[REQUEST_ID])
            raise
        if mismatch is not None:
            await _discard(who, image["id"], request[REQUEST_ID])
            raise mismatch
        image = await who.image(image["id"])
    elif source is not None:
        try:
            await _import(who, image["id"], source)
        except BaseException:
            await _discard(who, image["id"], request[REQUEST_ID])
            raise
    v1_image = to_v1_image(image)
    response = _image_answer(v1_image, status=201)
    # absolute, and always /v1 whatever prefix was used (docs/v1-api.md#42-create)
    response.headers["Location"] = f"{public_url(request)}/v1/images/{v1_image['id']}"
    return response


async def update_image(request: web.Request) -> web.Response:
    """PUT /v1/images/{id}: v1's replace-the-metadata as a v2 JSON patch; data to a queued
    image."""
    who = await caller(request)
    meta = parse_image_meta(request.headers.items())
    with_data = request.body_exists
    # in v1's order (docs/v1-api.md#43-update): the image, what may not change, data only
    # to a queued image, then the external source
    image = await who.image(request.match_info["image_id"])
    image_id = image["id"]
    # v1 never purged on a request that carried data
    purge = purge_requested(request.headers.items()) and not with_data
    writes = request.app[SETTINGS].writes
    patch = update_patch(image, meta, purge=purge, not_public=writes.not_public_visibility,
                         upstream_prefixes=writes.upstream_prefixes)
    queued = image.get("status") == "queued"
    if with_data and not queued:
        raise V1Error(409, detail="Cannot upload to an unqueued image")
    source = external_source(meta, request.headers.get(COPY_FROM), with_data)
    if source is not None and not queued:
        raise V1Error(400, explanation="Attempted to update Location field for an image "
                      "not in queued status.")
    fields = {**_v1_formats(image), **meta.fields}
    if with_data:
        _check_upload(request, fields)
    if source is not None:
        await _check_import(who, fields)
    if patch:
        with status_as_v1(partial(v1_error_for_image, image_id)):
            image = image_of(await who.upstream.update_image(image_id, patch))
    if with_data:
        # a failed upload leaves the image queued (v2 puts it back), but one that arrived
        # and does not verify would be an active image holding the wrong data: v1 killed
        # it, the proxy deletes it
        mismatch = await _upload(request, who, image_id, meta)
        if mismatch is not None:
            await _discard(who, image_id, request[REQUEST_ID])
            raise mismatch
        image = await who.image(image_id)
    elif source is not None:
        await _import(who, image_id, source)  # a refusal leaves it queued
    return _image_answer(to_v1_image(image), status=200)


async def delete_image(request: web.Request) -> web.Response:
    """DELETE /v1/images/{id}: 200 with an empty body, as v1 answered (not v2's 204)."""
    who = await caller(request)
    # its last record first: the tombstone v1's changes-since and HEAD show (proxy.shell.deletions)
    image = await who.image(request.match_info["image_id"])
    image_id = image["id"]
    with status_as_v1(partial(v1_error_for_delete, image_id)):
        await who.upstream.delete_image(image_id)
    await deletions.record(request.app, image)
    return web.Response(status=200, headers={"Content-Type": "text/html; charset=UTF-8"})


def _image_answer(v1_image: dict, *, status: int) -> web.Response:
    response = web.Response(status=status, body=orjson.dumps({"image": v1_image}),
                            content_type="application/json")
    if v1_image["checksum"] is not None:
        response.headers["ETag"] = v1_image["checksum"]
    return response


def _v1_formats(image: dict) -> dict:
    return {"disk_format": image.get("disk_format"),
            "container_format": image.get("container_format")}


def _check_upload(request: web.Request, fields: dict) -> None:
    """What v1 required of a request carrying image data (docs/v1-api.md#42-create)."""
    if request.content_type != "application/octet-stream":
        raise V1Error(400, explanation="Content-Type must be application/octet-stream")
    _check_formats(fields)


async def _check_import(who: Caller, fields: dict) -> None:
    """An external source is copied by v2's web-download import: the upstream must offer
    it, and the image needs its formats first (as for an upload)."""
    _check_formats(fields)
    with status_as_v1():
        methods = await who.upstream.import_methods()
    if "web-download" not in methods:
        raise NO_WEB_DOWNLOAD


async def _import(who: Caller, image_id: str, uri: str) -> None:
    with status_as_v1(partial(v1_error_for_image, image_id)):
        await who.upstream.web_download(image_id, uri)


def _check_formats(fields: dict) -> None:
    if fields.get("disk_format") is None:
        raise V1Error(400, explanation="Disk format is not specified.")
    if fields.get("container_format") is None:
        raise V1Error(400, explanation="Container format is not specified.")


class _Received:
    """The caller's data on its way upstream: counted and hashed (MD5, v1's checksum)
    chunk by chunk, never held."""

    def __init__(self, request: web.Request) -> None:
        self._content = request.content
        self.size = 0
        self.md5 = hashlib.md5()
        self.broken = False

    async def chunks(self):
        try:
            async for chunk in self._content.iter_chunked(DATA_CHUNK):
                self.size += len(chunk)
                self.md5.update(chunk)
                yield chunk
        except Exception:
            self.broken = True
            raise


async def _upload(request: web.Request, who: Caller, image_id: str,
                  meta: ImageMeta) -> V1Error | None:
    """Streams the request body to ``PUT /v2/images/{id}/file``; then what v1 checked: the
    size and checksum the caller announced against the data that arrived (the error to
    answer when they differ, once the image is deleted)."""
    received = _Received(request)
    try:
        with status_as_v1(partial(v1_error_for_image, image_id)):
            await who.upstream.upload_image_data(image_id, received.chunks(),
                                                 request.content_length)
    except UpstreamError:
        if received.broken:
            raise V1Error(400, explanation="Client disconnected before sending all data "
                          "to backend") from None
        raise
    if received.broken:  # the upstream took a short body: it must not stay
        raise V1Error(400, explanation="Client disconnected before sending all data to "
                      "backend")
    fields = meta.fields
    for key, announced, actual in (("size", fields.get("size"), received.size),
                                   ("checksum", fields.get("checksum"),
                                    received.md5.hexdigest())):
        if announced is not None and announced != actual:
            return V1Error(400, explanation=(
                f"Supplied {key} ({announced}) and {key} generated from uploaded image "
                f"({actual}) did not match. The image was deleted."))
    return None


async def _discard(who: Caller, image_id: str, request_id: str) -> None:
    """Deletes an image this request made and could not finish. The delete runs to its end
    even when the caller has hung up and the handler is being cancelled."""
    await asyncio.shield(_in_background(_delete(who, image_id, request_id)))


async def _discard_once_created(who: Caller, creating: asyncio.Future, request_id: str) -> None:
    try:
        image = await creating
    except Exception:
        return  # nothing was created
    if isinstance(image, dict) and isinstance(image.get("id"), str):
        await _delete(who, image["id"], request_id)


# Pauses between attempts to delete a half-made image: the upstream may still be
# unwinding the broken upload (real Glance answered 500 to a delete sent at once).
_DELETE_RETRIES = (0.2, 0.5, 1.0, 2.0, 4.0)


async def _delete(who: Caller, image_id: str, request_id: str) -> None:
    """Deletes, unprotecting first if need be (the caller asked for a protected image, but
    not for one that holds the wrong data), trying again while the upstream is busy; a
    final failure is logged: nothing else can be done."""
    upstream = who.upstream
    for pause in (*_DELETE_RETRIES, None):
        try:
            try:
                await upstream.delete_image(image_id)
            except UpstreamStatus as error:
                if error.status == 404:
                    return
                if error.status != 403:
                    raise
                await upstream.update_image(
                    image_id, [{"op": "replace", "path": "/protected", "value": False}])
                await upstream.delete_image(image_id)
            return
        except UpstreamError as exc:
            busy = isinstance(exc, UpstreamUnavailable) or (
                isinstance(exc, UpstreamStatus) and exc.status in (409, 500, 503))
            if pause is None or not busy:
                log.error("%s: image %s was created but could not be finished, and deleting "
                          "it failed too (%s): it is left on the upstream", request_id,
                          image_id, exc)
                return
            await asyncio.sleep(pause)


# Deletes that must finish whatever happens to their request: held here, since the event
# loop keeps only weak references to tasks.
_CLEANUPS: set[asyncio.Task] = set()


def _in_background(work) -> asyncio.Task:
    task = asyncio.ensure_future(work)
    _CLEANUPS.add(task)
    task.add_done_callback(_CLEANUPS.discard)
    return task
