"""A shared tombstone database that is down, on a real PostgreSQL: the proxy starts and
serves without it, refuses only what needs it, and catches up when it answers
(proxy.shell.deletions; README, "Deleted images: v1's history, rebuilt")."""

from __future__ import annotations

import json
import time

import pytest

from proxy.config import load_settings
from proxy.shell import deletions
from proxy.shell.app import make_app
from tests.support.catalogue import token
from tests.support.postgres import PostgresServer
from tests.support.servers import ThreadedApp
from tests.support.v1_deletions import changes_since, just_before, send

OWNER = "projS"
ADMIN = "admin:admin,member,reader"
PATIENCE = 60.0
UNAVAILABLE = ("503 Service Unavailable\n\nThe server is currently unavailable. Please try "
               "again at a later time.\n\n   ").encode()


def until(probe, what: str):
    deadline = time.monotonic() + PATIENCE
    while True:
        found = probe()
        if found:
            return found
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.1)


def metric(url: str, name: str) -> float:
    text = send(url, "GET", "/metrics", ADMIN)[2].decode()
    return float(next(line.rsplit(" ", 1)[1] for line in text.splitlines()
                      if line.startswith(name + " ")))


def made_and_deleted(url: str, name: str) -> str:
    status, _, body = send(url, "POST", "/v1/images", token(OWNER), {
        "x-image-meta-name": name, "x-image-meta-disk_format": "raw",
        "x-image-meta-container_format": "bare"})
    assert status == 201, body
    image_id = json.loads(body)["image"]["id"]
    assert send(url, "DELETE", f"/v1/images/{image_id}", token(OWNER))[0] == 200
    return image_id


def changes_answer(url: str, since: str):
    status, _, body = send(url, "GET", f"/v1/images/detail?changes-since={since}",
                           token(OWNER), {"Accept": "text/plain"})
    return status, body


@pytest.fixture
def quick_retries(monkeypatch):
    monkeypatch.setattr(deletions, "CONNECT_BACKOFF", (0.1, 0.5))


def test_a_database_down_at_start_up_stops_nothing_but_changes_since_until_it_answers(
        fake_glance_upstream, lab_keystone, quick_retries, report):
    database = PostgresServer()  # its port is chosen; nothing listens on it yet
    settings = load_settings(None, {
        "IMAGE_V1_PROXY_UPSTREAM_URL": fake_glance_upstream.url,
        "IMAGE_V1_PROXY_IDENTITY_KEYSTONE_URL": lab_keystone.url,
        "IMAGE_V1_PROXY_TOMBSTONES_DATABASE_URL": database.url})
    proxy = ThreadedApp(lambda: make_app(settings)).start()
    try:
        since = just_before()
        assert send(proxy.url, "GET", "/readyz", ADMIN)[0] == 200
        status, _, body = send(proxy.url, "GET", "/v1/images/detail", token(OWNER))
        assert status == 200 and "images" in json.loads(body)
        # an answer without the deletions would tell a sync job nothing was deleted
        assert changes_answer(proxy.url, since) == (503, UNAVAILABLE)
        # a delete goes on; its tombstone is lost, and counted
        lost = made_and_deleted(proxy.url, "deleted-while-the-database-was-down")
        assert metric(proxy.url, "image_v1_proxy_tombstones_lost_total") == 1
        # an admin's HEAD of it: what v2 knows
        assert send(proxy.url, "HEAD", f"/v1/images/{lost}", ADMIN)[0] == 404

        database.start()
        report(f"PostgreSQL started after the proxy, in {database.start_seconds:.1f} s")
        until(lambda: changes_answer(proxy.url, since)[0] == 200, "changes-since answers")
        kept = made_and_deleted(proxy.url, "deleted-once-the-database-answered")
        assert [i["id"] for i in changes_since(proxy.url, token(OWNER), since)
                if i["status"] == "deleted"] == [kept]

        database.kill()  # down while the proxy runs: the same, then back again
        assert changes_answer(proxy.url, since) == (503, UNAVAILABLE)
        assert send(proxy.url, "GET", "/v1/images/detail", token(OWNER))[0] == 200
        database.restart()
        until(lambda: changes_answer(proxy.url, since)[0] == 200, "changes-since answers again")
        assert [i["id"] for i in changes_since(proxy.url, token(OWNER), since)
                if i["status"] == "deleted"] == [kept]
    finally:
        proxy.stop()
        database.stop()
