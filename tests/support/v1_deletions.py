"""What a v1 caller does and sees around deleted images: plain HTTP calls to a proxy, a
``changes-since`` listing, and the record v1 listed for a deleted image
(docs/v1-api.md#25-deleted-killed-and-other-statuses-in-lists)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone


def send(url, method, path, tok, headers=None, data=None):
    request = urllib.request.Request(url + path, data=data, method=method,
                                     headers={"X-Auth-Token": tok, **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def just_before() -> str:
    return (datetime.now(timezone.utc) - timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%S")


def changes_since(url, tok, since, **params):
    query = "&".join([f"changes-since={since}", *(f"{k}={v}" for k, v in params.items())])
    status, _, body = send(url, "GET", f"/v1/images/detail?{query}", tok)
    assert status == 200, body
    return json.loads(body)["images"]


def v1_deleted(image_id, name, owner, size):
    """What v1 listed for a deleted image (its deleted_at and updated_at are checked apart)."""
    return {"id": image_id, "name": name, "status": "deleted", "deleted": True,
            "is_public": False, "size": size, "owner": owner, "properties": {},
            "disk_format": "raw", "container_format": "bare", "min_ram": 0, "min_disk": 0,
            "protected": False}


def without_times(image):
    return {k: v for k, v in image.items()
            if k not in ("created_at", "updated_at", "deleted_at", "checksum", "virtual_size")}
