"""What the contract scenarios share: a small v1 HTTP client, and the v1 answers expected
for the catalogue, derived from what was loaded and from the reference's v1 rules."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from urllib.parse import urlencode

from tests.support.catalogue import PAGE_IMAGES, Image, token

PUBLIC = ("cirros", "ubuntu 22.04", "win:2019")
V1_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$")


def get(proxy, path, tok=None, params=(), headers=None, method="GET"):
    query = ("?" + urlencode(params)) if params else ""
    all_headers = dict(headers or {})
    if tok is not None:
        all_headers["X-Auth-Token"] = tok
    request = urllib.request.Request(proxy.url + path + query, headers=all_headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def detail(proxy, project, params=(), prefix="/v1.1"):
    status, headers, body = get(proxy, f"{prefix}/images/detail", token(project), params)
    assert status == 200, body
    assert headers["Content-Type"] == "application/json"
    return json.loads(body)["images"]


def names(images):
    return [image["name"] for image in images]


def newest_first(loaded, *image_names):
    """v1's default order, created_at desc: the images were created one after the other
    (v2 shows whole seconds, but both upstreams order by the full creation time)."""
    order = list(loaded.images)
    return sorted(image_names, key=order.index, reverse=True)


def v1_time(v2_time: str) -> str:
    # v2 answers whole seconds with Z; v1 printed six fractional digits and no zone.
    assert v2_time.endswith("Z") and len(v2_time) == 20, v2_time
    return v2_time[:19] + ".000000"


def expected_v1(image: Image) -> dict:
    return {
        "id": image.id,
        "name": image.name,
        "status": image.status,
        "size": image.size,
        "virtual_size": image.v2["virtual_size"],
        "checksum": image.checksum,
        "disk_format": image.disk_format,
        "container_format": image.container_format,
        "min_disk": image.min_disk,
        "min_ram": image.min_ram,
        "owner": image.owner,
        "is_public": image.visibility == "public",
        "protected": image.protected,
        "created_at": v1_time(image.v2["created_at"]),
        "updated_at": v1_time(image.v2["updated_at"]),
        "deleted_at": None,
        "deleted": False,
        "properties": image.properties,
    }


PROJB_SEES = PUBLIC + ("b-private", "a-shared-pending", "a-shared-accepted", "a-shared-rejected")
PROJA_SEES = PUBLIC + ("a-private", "a-queued", "a-shared-pending", "a-shared-accepted",
                       "a-shared-rejected", "a-community", "a-shared-with-admin", "a-deactivated")
PAGES = tuple(f"page-{i:02d}" for i in range(PAGE_IMAGES))
ALL = PROJA_SEES + ("b-private",) + PAGES
