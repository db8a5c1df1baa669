"""Tenant isolation through the proxy, against real Glance v2 and the fake Glance: project B
never sees project A's private images by any route; a missing or refused token is a 401,
as v1 behind Keystone answered."""

from __future__ import annotations

import json

import pytest

from tests.support.catalogue import token
from tests.support.contract import get

UNAUTHORIZED = ("401 Unauthorized\n\nThis server could not verify that you are authorized to "
                "access the document you requested. Either you supplied the wrong credentials "
                "(e.g., bad password), or your browser does not understand how to supply the "
                "credentials required.\n\n   ")


def every_listing(proxy):
    for path in ("/v1/images", "/v1/images/detail", "/v1/"):
        for params in ((), [("is_public", "false")], [("is_public", "none")],
                       [("property-hw_disk_bus", "virtio")], [("name", "a-private")],
                       [("limit", "1000"), ("sort_key", "name")]):
            yield path, params


def test_project_b_never_lists_project_a_private_images(proxy, backend):
    private = backend.loaded.images["a-private"]
    for path, params in every_listing(proxy):
        status, _, body = get(proxy, path, token("projB"), params)
        assert status == 200, (path, params)
        assert private.id not in body.decode(), (path, params)


def test_project_b_cannot_reach_project_a_private_image_by_id_or_marker(proxy, backend):
    private = backend.loaded.images["a-private"]
    for method in ("HEAD", "GET"):
        assert get(proxy, f"/v1/images/{private.id}", token("projB"), method=method)[0] == 404
    status, _, body = get(proxy, "/v1/images/detail", token("projB"), [("marker", private.id)])
    assert status == 400 and private.id not in body.decode()


@pytest.mark.parametrize("headers", [{}, {"X-Auth-Token": "not-a-token"},
                                     {"X-Auth-Token": "projA:member,reader:x:y"}])
@pytest.mark.parametrize("path", ["/v1/images/detail", "/v1/images",
                                  "/v1/images/00000000-0000-0000-0000-000000000000"])
def test_a_missing_or_refused_token_is_401_on_every_route(proxy, backend, headers, path):
    status, response_headers, body = get(proxy, path, headers=dict(headers, Accept="text/plain"))
    assert (status, body.decode()) == (401, UNAUTHORIZED)
    assert response_headers["X-Openstack-Request-Id"].startswith("req-")


def test_version_discovery_needs_no_token(proxy, backend):
    assert get(proxy, "/")[0] == 300
    assert json.loads(get(proxy, "/versions")[2])["versions"][0]["id"] == "v1.1"
