"""The contract catalogue: the same images loaded into any v2 upstream through its v2 API.

Loading through HTTP (never through a backdoor) is what lets one set of scenarios run
against real Glance and against the fake Glance alike. Tokens follow the lab auth shim:
``project:role1,role2``.
"""

from __future__ import annotations

import hashlib
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timezone

ADMIN = "admin:admin,member,reader"


def token(project: str) -> str:
    return f"{project}:member,reader"


class V2Api:
    """A tiny synchronous v2 client for loading and checking upstream state."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def call(self, method, path, tok, body=None, headers=None):
        data = None
        all_headers = {"X-Auth-Token": tok, "Accept": "application/json"}
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode()
            all_headers["Content-Type"] = "application/json"
        elif isinstance(body, bytes):
            data = body
        all_headers.update(headers or {})
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers=all_headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def ok(self, method, path, tok, body=None, headers=None, expect=(200, 201, 204)):
        status, _, payload = self.call(method, path, tok, body, headers)
        if status not in expect:
            raise AssertionError(f"{method} {path} -> {status}: {payload[:300]!r}")
        return json.loads(payload) if payload else None

    def create(self, tok, **fields):
        return self.ok("POST", "/v2/images", tok, fields)

    def upload(self, tok, image_id, data: bytes):
        self.ok("PUT", f"/v2/images/{image_id}/file", tok, data,
                {"Content-Type": "application/octet-stream"})

    def get(self, tok, image_id):
        return self.ok("GET", f"/v2/images/{image_id}", tok)

    def add_member(self, tok, image_id, member):
        self.ok("POST", f"/v2/images/{image_id}/members", tok, {"member": member})

    def set_member_status(self, image_id, member, status):
        self.ok("PUT", f"/v2/images/{image_id}/members/{member}", token(member),
                {"status": status})


@dataclass
class Image:
    """What was loaded, as the test author knows it (not as any server reports it)."""

    name: str
    owner: str
    visibility: str
    disk_format: str
    container_format: str = "bare"
    data: bytes | None = None
    properties: dict = field(default_factory=dict)
    min_ram: int = 0
    min_disk: int = 0
    protected: bool = False
    members: dict = field(default_factory=dict)
    deactivated: bool = False
    hidden: bool = False  # os_hidden: loaded only where the upstream has it (v2.7+)
    id: str = ""
    v2: dict = field(default_factory=dict)  # the upstream's entity after loading

    @property
    def checksum(self):
        return hashlib.md5(self.data).hexdigest() if self.data is not None else None

    @property
    def status(self):
        if self.data is None:
            return "queued"
        return "deactivated" if self.deactivated else "active"

    @property
    def size(self):
        """What v1 shows: the data's length, or 0 for an image without data
        (docs/v1-api.md#42-create)."""
        return len(self.data) if self.data is not None else 0


PAGE_IMAGES = 23


def catalogue() -> list[list[Image]]:
    """Groups of images, loaded in order with a pause between groups (for changes-since)."""
    public = [
        Image("cirros", "admin", "public", "qcow2", data=b"c" * 1000),
        Image("ubuntu 22.04", "admin", "public", "raw", data=b"u" * 3000,
              properties={"os_distro": "ubuntu", "__os_version": "Ubuntu 22.04 64bit",
                          "__platform": "Ubuntu"}),
        Image("win:2019", "admin", "public", "qcow2", data=b"w" * 2000, min_ram=2048, min_disk=40),
    ]
    tenants = [
        Image("a-private", "projA", "private", "raw", data=b"12345",
              properties={"hw_disk_bus": "virtio"}),
        Image("a-queued", "projA", "private", "qcow2"),
        Image("a-shared-pending", "projA", "shared", "raw", data=b"abc",
              members={"projB": "pending"}),
        Image("a-shared-accepted", "projA", "shared", "raw", data=b"abd",
              members={"projB": "accepted"}),
        Image("a-shared-rejected", "projA", "shared", "raw", data=b"abe",
              members={"projB": "rejected"}),
        Image("a-community", "projA", "community", "raw", data=b"abcd"),
        Image("a-shared-with-admin", "projA", "shared", "raw", data=b"abf",
              members={"admin": "pending"}),
        Image("a-deactivated", "projA", "private", "raw", data=b"off", deactivated=True),
        Image("a-hidden", "projA", "private", "raw", data=b"hid", hidden=True),
        Image("b-private", "projB", "private", "vhd", data=b"b" * 7, protected=True),
    ]
    pages = [Image(f"page-{i:02d}", "projC", "private", "raw", data=b"p" * (i + 1))
             for i in range(PAGE_IMAGES)]
    return [public, tenants, pages]


@dataclass
class Loaded:
    images: dict[str, Image]
    between_groups: list[datetime]  # a UTC time after each group but the last

    def named(self, *names):
        return [self.images[n] for n in names]


def load(url: str) -> Loaded:
    api = V2Api(url)
    versions = [v["id"] for v in api.ok("GET", "/versions", ADMIN)["versions"]]
    has_hidden = any(int(v.split(".")[1]) >= 7 for v in versions if v.startswith("v2."))
    images: dict[str, Image] = {}
    marks = []
    groups = catalogue()
    for number, group in enumerate(groups):
        for image in group:
            if image.hidden and not has_hidden:
                continue
            _load_one(api, image)
            images[image.name] = image
        if number < len(groups) - 1:
            # Upstream timestamps may have whole-second precision: keep groups apart.
            time.sleep(1.1)
            marks.append(datetime.now(timezone.utc))
            time.sleep(1.1)
    return Loaded(images, marks)


def _load_one(api: V2Api, image: Image) -> None:
    tok = ADMIN if image.owner == "admin" else token(image.owner)
    fields = {"name": image.name, "disk_format": image.disk_format,
              "container_format": image.container_format, "visibility": image.visibility,
              "min_ram": image.min_ram, "min_disk": image.min_disk,
              "protected": image.protected, **image.properties}
    if image.hidden:
        fields["os_hidden"] = True
    image.id = api.create(tok, **fields)["id"]
    if image.data is not None:
        api.upload(tok, image.id, image.data)
    if image.deactivated:
        api.ok("POST", f"/v2/images/{image.id}/actions/deactivate", tok)
    for member, status in image.members.items():
        api.add_member(tok, image.id, member)
        if status != "pending":
            api.set_member_status(image.id, member, status)
    image.v2 = api.get(tok, image.id)
