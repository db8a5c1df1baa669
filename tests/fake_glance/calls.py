"""What the fake Glance's tests send: callers' headers, a clock, and the calls they repeat."""

from __future__ import annotations

from datetime import datetime, timedelta

T0 = datetime(2024, 1, 1, 12, 0, 0)
JSON = {"Accept": "application/json"}
OCTET = {"Content-Type": "application/octet-stream"}
PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}


def who(project: str, roles: str = "member,reader") -> dict:
    return {"X-Auth-Token": f"{project}:{roles}", **JSON}


A, B, C = who("projA"), who("projB"), who("projC")
ADMIN = who("admin", "admin,member,reader")


class Clock:
    """One second per reading, so creation order is the time order."""

    def __init__(self):
        self.ticks = 0

    def __call__(self) -> datetime:
        self.ticks += 1
        return T0 + timedelta(seconds=self.ticks)


async def create(client, headers=A, **body) -> dict:
    resp = await client.post("/v2/images", json=body, headers=headers)
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def names(client, query: str = "", headers=A) -> list:
    resp = await client.get(f"/v2/images{query}", headers=headers)
    assert resp.status == 200, await resp.text()
    return [image["name"] for image in (await resp.json())["images"]]


async def error(resp) -> tuple[int, str]:
    """Status and message, with WebOb's '<br /><br />' tail removed."""
    body = await resp.json()
    return resp.status, body["message"].split("<br />")[0]


async def patch(client, image_id, ops, headers=A):
    return await client.patch(f"/v2/images/{image_id}", json=ops, headers={**headers, **PATCH})
