"""v1 ListQuery -> v2 requests: the translation traps of docs/v2-upstream.md#9-translation-gaps."""

import pytest

from proxy.v1.errors import render
from proxy.v1.query import parse_list_query
from proxy.v2.answers import ListPage, ParsedImage
from proxy.v2.plan import SHARED_IMAGES, ListPaging, plan_list


def plan_for(*pairs):
    return plan_list(parse_list_query(list(pairs)))


def images(*ids):
    return [{"id": i} for i in ids]


def feed_page(body):
    """A v2 list body (as a dict) as the listing memo reads it."""
    return ListPage(tuple(ParsedImage(i) for i in body["images"]),
                    "next" in body)


def feed(paging, body, shared=frozenset()):
    return paging.feed(feed_page(body), shared)


def ids(paging):
    return [image.v2["id"] for image in paging.images]


def test_default_scope_asks_for_every_member_status_in_v1s_default_order():
    assert plan_for().params == (
        ("member_status", "all"), ("sort_key", "created_at"), ("sort_dir", "desc"))


def test_exact_filters_are_sent_with_the_eq_operator_so_colons_stay_literal():
    params = dict(plan_for(("name", "foo:bar"), ("container_format", "bare"),
                           ("disk_format", "in:qcow2,raw"), ("status", "active")).params)
    assert params["name"] == "eq:foo:bar"
    assert params["container_format"] == "eq:bare"
    assert params["disk_format"] == "eq:in:qcow2,raw"
    assert params["status"] == "eq:active"


def test_status_saving_also_finds_v2_uploading_and_importing():
    assert dict(plan_for(("status", "saving")).params)["status"] == "in:saving,uploading,importing"


def test_changes_since_becomes_a_strict_updated_at_range_in_utc():
    params = dict(plan_for(("changes-since", "2016-05-22T08:04:20+02:00")).params)
    assert params["updated_at"] == "gt:2016-05-22T06:04:20Z"
    assert "changes-since" not in params
    naive = dict(plan_for(("changes-since", "2016-05-22T06:04:20.5")).params)
    assert naive["updated_at"] == "gt:2016-05-22T06:04:20.500000Z"


def test_size_and_equality_filters_pass_through():
    params = dict(plan_for(("size_min", "3"), ("size_max", "5"), ("min_ram", "512"),
                           ("min_disk", "x"), ("protected", "True")).params)
    assert (params["size_min"], params["size_max"], params["min_ram"]) == ("3", "5", "512")
    assert (params["min_disk"], params["protected"]) == ("x", "true")


def test_sort_is_passed_explicitly():
    params = dict(plan_for(("sort_key", "name"), ("sort_dir", "asc")).params)
    assert (params["sort_key"], params["sort_dir"]) == ("name", "asc")


def test_property_filter_becomes_a_v2_custom_property_filter():
    assert ("os_distro", "ubuntu") in plan_for(("property-os_distro", "ubuntu")).params


def filtered(plan, *images, shared=frozenset()):
    paging = ListPaging(plan)
    paging.first_request()
    feed(paging, {"images": list(images)}, shared)
    return ids(paging)


@pytest.mark.parametrize("key", ["limit", "tag", "member_status", "disk_size_max", "ram_min",
                                 "properties", "members"])
def test_property_filter_v2_would_read_as_its_own_is_checked_image_by_image(key):
    plan = plan_for((f"property-{key}", "x"))
    assert (key, "x") not in plan.params
    assert filtered(plan, {"id": "a", key: "x"}, {"id": "b", key: "y"}, {"id": "c"}) == ["a"]


@pytest.mark.parametrize("key", ["name", "owner", "visibility", "status"])
def test_property_filter_on_a_v2_field_matches_nothing_as_no_custom_property_has_that_name(key):
    plan = plan_for((f"property-{key}", "x"))
    assert filtered(plan, {"id": "a", key: "x"}) == []


def test_a_filter_that_matches_nothing_asks_the_upstream_once_not_the_whole_catalogue():
    paging = ListPaging(plan_for(("property-owner", "x")))
    paging.first_request()
    assert feed(paging, {"images": [{"id": "a"}], "next": "/v2/images?marker=a"}) is None


def test_narrowed_lists_page_on_until_the_v1_page_is_full():
    paging = ListPaging(plan_list(parse_list_query([("is_public", "false"), ("limit", "3")]),
                                  admin_project="adm"))
    assert dict(paging.first_request())["limit"] == "1000"
    second = feed(paging, {"images": [{"id": "p1", "visibility": "public"},
                                     {"id": "a", "visibility": "private"}], "next": "x"})
    assert dict(second)["marker"] == "a"
    third = feed(paging, {"images": [{"id": "p2", "visibility": "public"}], "next": "y"})
    assert dict(third)["marker"] == "p2"
    assert feed(paging, {"images": [{"id": "b", "visibility": "shared"},
                                   {"id": "c", "visibility": "community"},
                                   {"id": "d", "visibility": "private"}], "next": "z"}) is None
    assert ids(paging) == ["a", "b", "c"]


def test_paging_stops_at_once_when_the_first_page_fills_the_limit():
    paging = ListPaging(plan_for(("limit", "2")))
    assert dict(paging.first_request())["limit"] == "2"
    assert feed(paging, {"images": images("a", "b"), "next": "/v2/images?marker=b"}) is None
    assert ids(paging) == ["a", "b"]


def test_paging_continues_after_a_short_page_that_has_next_until_the_page_is_full():
    paging = ListPaging(plan_for(("limit", "5"), ("marker", "3c3d1d01-b48a-4639-8a88-08be3b9b5d78")))
    first = dict(paging.first_request())
    assert (first["limit"], first["marker"]) == ("5", "3c3d1d01-b48a-4639-8a88-08be3b9b5d78")
    second = feed(paging, {"images": images("a", "b"), "next": "/v2/images?marker=b"})
    assert (dict(second)["limit"], dict(second)["marker"]) == ("3", "b")
    third = feed(paging, {"images": images("c"), "next": "/v2/images?marker=c"})
    assert dict(third)["marker"] == "c"
    assert feed(paging, {"images": images("d", "e")}) is None
    assert ids(paging) == ["a", "b", "c", "d", "e"]


def test_paging_ends_without_next_or_on_an_empty_page():
    paging = ListPaging(plan_for())
    paging.first_request()
    assert feed(paging, {"images": images("a")}) is None
    paging = ListPaging(plan_for())
    paging.first_request()
    assert feed(paging, {"images": [], "next": "/v2/images?marker=x"}) is None


def test_limit_zero_still_asks_upstream_once_then_answers_empty():
    paging = ListPaging(plan_for(("limit", "0")))
    assert dict(paging.first_request())["limit"] == "1"
    assert feed(paging, {"images": images("a"), "next": "x"}) is None
    assert paging.images == []


def test_changes_since_before_year_1000_keeps_four_year_digits():
    assert dict(plan_for(("changes-since", "0999-01-01")).params)["updated_at"] == (
        "gt:0999-01-01T00:00:00Z")


def test_markers_go_upstream_in_the_spelling_image_ids_are_stored_in():
    plan = plan_for(("marker", "{3C3D1D01-B48A-4639-8A88-08BE3B9B5D78}"))
    assert plan.marker == "3c3d1d01-b48a-4639-8a88-08be3b9b5d78"


MARKER = "3c3d1d01-b48a-4639-8a88-08be3b9b5d78"


@pytest.mark.parametrize(
    "status, body",
    [
        (400, b'{"message": "No image found with ID ' + MARKER.encode() + b'<br /><br />\\n\\n\\n"}'),
        (403, b'{"message": "Forbidding request, image ' + MARKER.encode() + b' not visible"}'),
    ],
)
def test_unknown_or_invisible_marker_is_v1s_invalid_marker(status, body):
    paging = ListPaging(plan_for(("marker", MARKER)))
    paging.first_request()
    assert render(paging.error(status, body), None)[1] == (
        b"400 Bad Request\n\n400 Bad Request  Invalid marker. Image could not be found.     \n\n   "
    )


def test_a_400_that_is_not_about_the_marker_is_not_called_a_marker_error():
    paging = ListPaging(plan_for(("marker", MARKER)))
    paging.first_request()
    error = paging.error(400, b'{"message": "Bad \\"updated_at\\" query filter format."}')
    assert (error.status, error.detail) == (400, 'Bad "updated_at" query filter format.')


def test_other_upstream_errors_keep_their_status_and_message():
    paging = ListPaging(plan_for())
    paging.first_request()
    error = paging.error(403, b'{"message": "You are not authorized to complete get_images action."}')
    assert (error.status, error.detail) == (403, "You are not authorized to complete get_images action.")
    assert paging.error(401, b"whatever").status == 401
    assert paging.error(502, b"<html>bad gateway</html>").status == 503
    assert paging.error(500, b"<html>oops</html>").status == 500


# An admin's list: docs/v1-api.md#23-is_public-and-the-admins-view (table "caller / is_public
# param / result").

def admin_page():
    return {"images": [
        {"id": "pub", "visibility": "public", "owner": "other"},
        {"id": "mine", "visibility": "private", "owner": "adm"},
        {"id": "my-community", "visibility": "community", "owner": "adm"},
        {"id": "shared-with-me", "visibility": "shared", "owner": "other"},
        {"id": "shared-not-with-me", "visibility": "shared", "owner": "other"},
        {"id": "their-private", "visibility": "private", "owner": "other"},
    ]}


def admin_listing(*pairs, shared=frozenset({"shared-with-me"})):
    paging = ListPaging(plan_list(parse_list_query(list(pairs)), admin_project="adm"))
    paging.first_request()
    body = admin_page()
    to_check = paging.membership_to_check(feed_page(body))
    assert feed(paging, body, shared) is None
    return to_check, ids(paging)


@pytest.mark.parametrize("is_public", [None, "true", "True", "1"])
def test_admin_default_list_is_the_view_of_a_user_of_its_project(is_public):
    pairs = [("is_public", is_public)] if is_public else []
    to_check, kept = admin_listing(*pairs)
    assert to_check == (["shared-with-me", "shared-not-with-me"], "adm")
    assert kept == ["pub", "mine", "my-community", "shared-with-me"]


def test_admin_is_public_none_is_everything_v2_lists():
    to_check, kept = admin_listing(("is_public", "NONE"))
    assert to_check is None
    assert kept == [i["id"] for i in admin_page()["images"]]


@pytest.mark.parametrize("is_public", ["false", "0"])
def test_admin_is_public_false_is_every_non_public_image(is_public):
    assert admin_listing(("is_public", is_public))[1] == [
        "mine", "my-community", "shared-with-me", "shared-not-with-me", "their-private"]


def test_an_admin_list_that_drops_images_asks_full_upstream_pages():
    paging = ListPaging(plan_list(parse_list_query([("limit", "2")]), admin_project="adm"))
    assert dict(paging.first_request())["limit"] == "1000"


@pytest.mark.parametrize("is_public", ["true", "True", "1", "false", "0", "False", "none",
                                       "NONE"])
def test_a_members_is_public_is_checked_then_ignored_as_v1_did(is_public):
    # v1 read is_public only for admins: a member sees what it may see whatever the value
    plan = plan_for(("is_public", is_public))
    assert plan == plan_for() and plan.narrowing is None
    assert "visibility" not in dict(plan.params)


def test_callers_not_known_as_admins_get_no_narrowing():
    paging = ListPaging(plan_for())
    paging.first_request()
    assert paging.membership_to_check(feed_page(admin_page())) is None
    feed(paging, admin_page())
    assert len(paging.images) == 6


def test_shared_images_page_through_everything_v2_lists_however_many_pages():
    paging = ListPaging(SHARED_IMAGES)
    first = dict(paging.first_request())
    assert (first["visibility"], first["member_status"], first["limit"]) == (
        "shared", "all", "1000")
    for n in range(12):  # 12,000 images: more than any fixed cap would have let through
        assert dict(feed(paging, {"images": images(*(f"{n}-{i}" for i in range(1000))),
                                  "next": "x"}))["marker"] == f"{n}-999"
    assert feed(paging, {"images": images("last")}) is None
    assert len(paging.images) == 12_001 and ids(paging)[-1] == "last"


# Errors about one image: docs/v1-api.md#31-lookup-and-download-refusals.

def test_an_image_v2_cannot_find_is_v1s_not_found_naming_the_id():
    from proxy.v2.errors import v1_error_for_image

    error = v1_error_for_image("abc", 404, b'{"message": "No image found with ID abc"}')
    assert render(error, None)[1] == (
        b"404 Not Found\n\nThe resource could not be found.\n\n Image with identifier abc "
        b"not found  ")


def test_data_v2_has_none_of_is_v1s_not_active():
    from proxy.v2.errors import v1_error_for_image

    error = v1_error_for_image("abc", 204, b"")
    assert (error.status, error.detail) == (404, "Image abc is not active")


def test_paging_stops_when_the_upstream_answers_a_page_ending_at_the_marker_it_was_given():
    paging = ListPaging(SHARED_IMAGES)
    paging.first_request()
    assert dict(feed(paging, {"images": images("a", "b"), "next": "x"}))["marker"] == "b"
    assert feed(paging, {"images": images("b"), "next": "x"}) is None  # no way forward
