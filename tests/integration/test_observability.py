"""Metrics, the per-request log line and the deprecation headers, over real sockets."""

from __future__ import annotations

import asyncio
import logging

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from proxy.ops.accesslog import ACCESS_LOG, AccessLogger
from proxy.ops.logs import JsonFormatter
from proxy.shell.app import make_app
from tests.support.scripted import proxy_settings

TOKEN = "gAAAAABmetrics-token"
IMAGE = "3c3d1d01-b48a-4639-8a88-08be3b9b5d78"


@pytest.fixture
async def client(aiohttp_client, upstream):
    server = TestServer(make_app(proxy_settings(str(upstream.server.make_url("")))))
    # served as __main__ serves it: with the proxy's own access log
    await server.start_server(access_log_class=AccessLogger, access_log=ACCESS_LOG)
    return await aiohttp_client(server)


def samples(text: str) -> dict[str, float]:
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines() if line and not line.startswith("#")}


async def test_metrics_count_requests_latency_upstream_calls_and_legacy_clients(client):
    ua = {"User-Agent": "python-glanceclient", "X-Auth-Token": TOKEN}
    await client.get("/v1/images/detail?name=secret-image-name", headers=ua)
    await client.get("/v1/images/detail?limit=x", headers=ua)
    await client.head(f"/v1/images/{IMAGE}", headers={"User-Agent": "openstacksdk/4.22.0 ka"})
    response = await client.get("/metrics")
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    text = await response.text()
    got = samples(text)
    route = "/v1/images/detail"
    assert got[f'image_v1_proxy_requests_total{{method="GET",route="{route}",status="200"}}'] == 1
    assert got[f'image_v1_proxy_requests_total{{method="GET",route="{route}",status="400"}}'] == 1
    assert got[f'image_v1_proxy_legacy_requests_total{{client="python-glanceclient",route="{route}"}}'] == 2
    assert got['image_v1_proxy_legacy_requests_total{client="openstacksdk",'
               'route="/v1/images/{image_id}"}'] == 1
    assert got[f'image_v1_proxy_request_duration_seconds_count{{route="{route}"}}'] == 2
    assert got['image_v1_proxy_upstream_request_duration_seconds_count{call="list_images"}'] == 1
    assert got["image_v1_proxy_in_flight_requests"] == 1  # the scrape itself
    for secret in (TOKEN, IMAGE, "secret-image-name"):
        assert secret not in text  # never a token, an id or a name in a label


async def test_only_v1_calls_count_as_legacy_usage(client):
    for path in ("/", "/versions", "/favicon.ico", "/v2/images", "/healthz"):
        await client.get(path, headers={"User-Agent": "kube-probe/1.29"})
    await client.get("/v1/images/detail", headers={"User-Agent": "kube-probe/1.29"})
    text = await (await client.get("/metrics")).text()
    legacy = [line for line in text.splitlines()
              if line.startswith("image_v1_proxy_legacy_requests_total")]
    assert legacy == ['image_v1_proxy_legacy_requests_total{client="kube-probe",'
                      'route="/v1/images/detail"} 1.0']


async def test_upstream_errors_are_counted_by_kind(aiohttp_client, upstream):
    async def broken(request):
        return web.Response(status=502)

    upstream.images_handler = broken
    client = await aiohttp_client(make_app(proxy_settings(str(upstream.server.make_url("")))))
    await client.get("/v1/images/detail")
    got = samples(await (await client.get("/metrics")).text())
    assert got['image_v1_proxy_upstream_errors_total{kind="status_5xx"}'] == 1


@pytest.mark.parametrize("body", [b'{"images": [{"id": 7}]}',
                                  b'{"images": [{"id": "a", "size": "big"}]}',
                                  b"<html>not json</html>"])
async def test_an_answer_that_cannot_be_read_is_counted_as_broken(aiohttp_client, upstream, body):
    async def unreadable(request):
        return web.Response(body=body, content_type="application/json")

    upstream.images_handler = unreadable
    client = await aiohttp_client(make_app(proxy_settings(str(upstream.server.make_url("")))))
    assert (await client.get("/v1/images/detail")).status == 500
    got = samples(await (await client.get("/metrics")).text())
    assert got['image_v1_proxy_upstream_errors_total{kind="broken"}'] == 1


async def test_client_labels_are_bounded(aiohttp_client, upstream):
    client = await aiohttp_client(make_app(proxy_settings(str(upstream.server.make_url("")))))
    for n in range(60):
        await client.get("/v1/images/detail", headers={"User-Agent": f"tool{n}/1.0"})
    text = await (await client.get("/metrics")).text()
    clients = {line.split('client="')[1].split('"')[0] for line in text.splitlines()
               if line.startswith("image_v1_proxy_legacy_requests_total")}
    assert len(clients) == 51 and "other" in clients


async def test_one_json_log_line_per_request_without_the_token(client, caplog):
    caplog.set_level(logging.INFO, logger="proxy.access")
    response = await client.get("/v1/images/detail?name=x", headers={
        "X-Auth-Token": TOKEN, "User-Agent": "python-glanceclient"})
    await response.read()
    await asyncio.sleep(0.05)  # the line is written once the answer has gone out
    records = [r for r in caplog.records if r.name == "proxy.access"]
    assert len(records) == 1
    line = orjson.loads(JsonFormatter().format(records[0]))
    assert line["request_id"] == response.headers["X-Openstack-Request-Id"]
    assert (line["method"], line["route"], line["status"]) == ("GET", "/v1/images/detail", 200)
    assert line["user_agent"] == "python-glanceclient"
    assert [call["call"] for call in line["upstream_calls"]] == ["list_images"]
    assert line["bytes"] > 0 and line["duration_ms"] >= line["upstream_calls"][0]["ms"]
    assert TOKEN not in orjson.dumps(line).decode()


async def test_deprecation_headers_are_off_by_default_and_dated_when_set(aiohttp_client, upstream):
    plain = await aiohttp_client(make_app(proxy_settings(str(upstream.server.make_url("")))))
    assert "Deprecation" not in (await plain.get("/v1/images/detail")).headers
    client = await aiohttp_client(make_app(proxy_settings(
        str(upstream.server.make_url("")), deprecation_deprecation_date="2026-01-01",
        deprecation_sunset_date="2027-06-30", deprecation_link="https://docs.example/image/v2/")))
    headers = (await client.get("/v1/images/detail")).headers
    assert headers["Deprecation"] == "@1767225600"
    assert headers["Sunset"] == "Wed, 30 Jun 2027 00:00:00 GMT"
    assert headers["Link"] == '<https://docs.example/image/v2/>; rel="deprecation"; type="text/html"'
    assert "Deprecation" not in (await client.get("/healthz")).headers
