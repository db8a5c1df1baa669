"""A scripted v2 upstream for the integration tests: each test sets its answers and reads
what it was asked."""

from __future__ import annotations

from aiohttp import web

from proxy.config import load_settings

TOKEN = "gAAAAABk-a_fernet-like_token="


def versions_document(*ids):
    return {"versions": [{"id": i, "status": "SUPPORTED", "links": []} for i in ids]}


class ScriptedUpstream:
    """A v2 upstream whose answers each test sets, recording what it was asked."""

    def __init__(self):
        self.seen: list[web.Request] = []
        self.version_reads = 0
        self.document = versions_document("v2.17", "v2.0")
        self.images_handler = self.one_image_page

    async def versions(self, request):
        self.version_reads += 1
        return web.json_response(self.document)

    async def images(self, request):
        self.seen.append(request)
        return await self.images_handler(request)

    async def one_image_page(self, request):
        return web.json_response({"images": [V2_IMAGE]})

    def app(self):
        app = web.Application()
        app.router.add_get("/versions", self.versions)
        app.router.add_get("/v2/images", self.images)
        return app


V2_IMAGE = {
    "id": "3c3d1d01-b48a-4639-8a88-08be3b9b5d78", "name": "cirros", "status": "active",
    "visibility": "public", "protected": False, "os_hidden": False,
    "checksum": "64d7c1cd2b6f60c92c14662941cb7913", "os_hash_algo": None, "os_hash_value": None,
    "owner": "23f4cb75768d4febb39542ef6fe169f3", "size": 13167616, "virtual_size": None,
    "container_format": "bare", "disk_format": "qcow2", "created_at": "2016-05-22T06:04:20Z",
    "updated_at": "2016-05-22T06:04:22Z", "tags": [], "min_ram": 0, "min_disk": 0,
    "self": "/v2/images/x", "file": "/v2/images/x/file", "schema": "/v2/schemas/image",
}


def proxy_settings(url, **env):
    """Settings for a proxy in front of ``url``; most scripted tests send no token, so it is
    not required unless a test says so."""
    environ = {"IMAGE_V1_PROXY_UPSTREAM_URL": url, "IMAGE_V1_PROXY_IDENTITY_REQUIRE_TOKEN": "false"}
    environ.update({f"IMAGE_V1_PROXY_{k.upper()}": str(v) for k, v in env.items()})
    return load_settings(None, environ)
