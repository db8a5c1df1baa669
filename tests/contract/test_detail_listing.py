"""GET /v1.1/images/detail through the proxy, against real Glance v2 and the fake Glance alike.

Expected values come from what the test loaded (tests/support/catalogue.py) and from the
v1 rules of the reference (docs/v1-api.md#2-listing-images), never from the proxy's own code.
Both upstreams are capped at 7 images per v2 page, so every listing longer than that is
assembled from several upstream calls.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta, timezone

import pytest

from tests.support.catalogue import ADMIN, PAGE_IMAGES, token
from tests.support.contract import (ALL, PAGES, PROJA_SEES, PROJB_SEES, PUBLIC, V1_TIME,
                                    detail, expected_v1, get, names, newest_first)


def test_member_sees_public_own_and_shared_in_any_member_status(proxy, backend):
    assert names(detail(proxy, "projB")) == newest_first(backend.loaded, *PROJB_SEES)


def test_owner_sees_all_its_images_whatever_their_status_or_visibility(proxy, backend):
    assert names(detail(proxy, "projA")) == newest_first(backend.loaded, *PROJA_SEES)


def test_every_image_has_exactly_the_v1_detail_fields(proxy, backend):
    images = detail(proxy, "projA")
    by_name = {image["name"]: image for image in images}
    for name in PROJA_SEES:
        assert by_name[name] == expected_v1(backend.loaded.images[name]), name
        assert V1_TIME.match(by_name[name]["created_at"])


@pytest.mark.parametrize("prefix", ["/v1", "/v1.0", "/v1.1"])
def test_all_three_v1_prefixes_serve_the_same_list(proxy, backend, prefix):
    assert names(detail(proxy, "projB", prefix=prefix)) == newest_first(backend.loaded, *PROJB_SEES)


def test_the_seed_request_filters_by_disk_format(proxy, backend):
    found = detail(proxy, "projB", [("disk_format", "qcow2")])
    assert names(found) == newest_first(backend.loaded, "cirros", "win:2019")


def test_a_name_with_a_colon_matches_exactly(proxy, backend):
    found = detail(proxy, "projB", [("name", "win:2019")])
    assert found == [expected_v1(backend.loaded.images["win:2019"])]


def test_name_with_spaces_and_container_and_status_filters(proxy, backend):
    assert names(detail(proxy, "projB", [("name", "ubuntu 22.04"), ("container_format", "bare"),
                                        ("status", "active")])) == ["ubuntu 22.04"]
    assert names(detail(proxy, "projA", [("status", "queued")])) == ["a-queued"]
    assert detail(proxy, "projB", [("name", "")]) == []


def test_size_range_is_inclusive(proxy, backend):
    found = detail(proxy, "projC", [("size_min", "3"), ("size_max", "5"),
                                    ("sort_key", "size"), ("sort_dir", "asc")])
    assert [(i["name"], i["size"]) for i in found] == [("page-02", 3), ("page-03", 4), ("page-04", 5)]


def test_changes_since_lists_only_images_updated_after_it(proxy, backend):
    after_tenants = backend.loaded.between_groups[1].strftime("%Y-%m-%dT%H:%M:%S.%f")
    found = detail(proxy, "projC", [("changes-since", after_tenants), ("limit", "100")])
    assert sorted(names(found)) == [f"page-{i:02d}" for i in range(PAGE_IMAGES)]


def test_changes_since_honours_a_timezone_offset(proxy, backend):
    # The instant after the public group, written at UTC+02:00 (urlencode sends + as %2B,
    # as v1 clients had to).
    mark = backend.loaded.between_groups[0].astimezone(timezone(timedelta(hours=2)))
    found = detail(proxy, "projB", [("changes-since", mark.isoformat())])
    assert sorted(names(found)) == sorted(set(PROJB_SEES) - set(PUBLIC))


def test_default_limit_is_25_and_every_page_but_the_last_is_full(proxy, backend):
    everything = PUBLIC + PAGES
    expected = newest_first(backend.loaded, *everything)
    first = detail(proxy, "projC")
    assert names(first) == expected[:25]
    rest = detail(proxy, "projC", [("marker", first[-1]["id"])])
    assert names(rest) == expected[25:]


def test_paging_with_limit_and_marker_walks_the_whole_list_in_v1_sort_order(proxy, backend):
    everything = sorted(PUBLIC + PAGES)
    pages, marker = [], None
    while True:
        params = [("limit", "10"), ("sort_key", "name"), ("sort_dir", "asc")]
        page = detail(proxy, "projC", params + ([("marker", marker)] if marker else []))
        pages.append(names(page))
        if len(page) < 10:
            break
        marker = page[-1]["id"]
    assert [len(p) for p in pages] == [10, 10, 6]
    assert sum(pages, []) == everything


def test_limit_zero_is_an_empty_list(proxy, backend):
    assert detail(proxy, "projB", [("limit", "0")]) == []


def test_sort_by_size_descending(proxy, backend):
    found = detail(proxy, "projC", [("sort_key", "size"), ("limit", "3")])
    assert [i["size"] for i in found] == [3000, 2000, 1000]


def admin_detail(proxy, params=()):
    status, _, body = get(proxy, "/v1.1/images/detail", ADMIN, list(params) + [("limit", "100")])
    assert status == 200, body
    return names(json.loads(body)["images"])


def test_admin_default_list_is_the_view_of_a_user_of_the_admin_project(proxy, backend):
    expected = newest_first(backend.loaded, *PUBLIC, "a-shared-with-admin")
    assert admin_detail(proxy) == expected
    assert admin_detail(proxy, [("is_public", "True")]) == expected


def test_admin_is_public_none_lists_every_image_but_others_community_ones(proxy, backend):
    everything = tuple(n for n in ALL if n != "a-community")
    assert admin_detail(proxy, [("is_public", "none")]) == newest_first(backend.loaded, *everything)


def test_admin_is_public_false_lists_every_non_public_image(proxy, backend):
    private = tuple(n for n in ALL if n not in PUBLIC and n != "a-community")
    assert admin_detail(proxy, [("is_public", "false")]) == newest_first(backend.loaded, *private)


def test_member_is_public_is_checked_then_ignored_as_v1_did(proxy, backend):
    # v1 read is_public only for admins (docs/v1-api.md#23-is_public-and-the-admins-view):
    # a member sees public, own and shared-with-it images whatever the value.
    for value in ("True", "false", "None", "0"):
        assert names(detail(proxy, "projB", [("is_public", value)])) == newest_first(
            backend.loaded, *PROJB_SEES), value


def plain_error(proxy, project, params, headers=None):
    status, response_headers, body = get(proxy, "/v1.1/images/detail", token(project), params,
                                         headers)
    return status, response_headers["Content-Type"], body.decode()


def test_unknown_marker_is_v1s_invalid_marker(proxy, backend):
    assert plain_error(proxy, "projB", [("marker", "00000000-0000-0000-0000-000000000000")]) == (
        400, "text/plain; charset=UTF-8",
        "400 Bad Request\n\n400 Bad Request  Invalid marker. Image could not be found.     \n\n   ")


def test_another_projects_private_image_is_not_a_marker(proxy, backend):
    private = backend.loaded.images["a-private"].id
    assert plain_error(proxy, "projB", [("marker", private)])[2] == (
        "400 Bad Request\n\n400 Bad Request  Invalid marker. Image could not be found.     \n\n   ")


def test_bad_filter_value_names_the_parameter_in_the_accepted_format(proxy, backend):
    status, content_type, body = plain_error(proxy, "projB", [("size_min", "-1")],
                                             {"Accept": "application/json"})
    assert (status, content_type) == (400, "application/json")
    assert json.loads(body) == {
        "message": "The server could not comply with the request since it is either malformed "
        "or otherwise incorrect.<br /><br />\nBad value passed to filter size_min got -1\n\n",
        "code": "400 Bad Request",
        "title": "Bad Request",
    }


def test_client_identity_headers_never_reach_the_upstream(proxy, backend):
    forged = {"X-Identity-Status": "Confirmed", "X-Project-Id": "projA", "X-Tenant-Id": "projA",
              "X-Roles": "admin,member,reader", "X-User-Id": "someone"}
    status, _, body = get(proxy, "/v1.1/images/detail", token("projB"), (), forged)
    assert status == 200
    assert names(json.loads(body)["images"]) == newest_first(backend.loaded, *PROJB_SEES)


def test_every_answer_carries_a_request_id(proxy, backend):
    for params in ((), [("limit", "x")]):
        _, headers, _ = get(proxy, "/v1.1/images/detail", token("projB"), params)
        assert re.match(r"^req-[0-9a-f-]{36}$", headers["X-Openstack-Request-Id"])
