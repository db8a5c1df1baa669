"""v1 list query validation: docs/v1-api.md#22-validation-and-messages (messages as a v1 server
returned them)."""

from datetime import datetime, timezone

import pytest

from proxy.v1.errors import render
from proxy.v1.query import ListQuery, parse_iso8601, parse_list_query, query_pairs


def plain(pairs):
    with pytest.raises(Exception) as caught:
        parse_list_query(pairs)
    return render(caught.value, None)[1].decode()


GENERIC = (
    "The server could not comply with the request since it is either malformed or otherwise "
    "incorrect."
)


def test_defaults_are_v1s():
    assert parse_list_query([]) == ListQuery(limit=25, sort_key="created_at", sort_dir="desc")


@pytest.mark.parametrize("name", ["size_min", "size_max", "min_ram"])
@pytest.mark.parametrize("value", ["-1", "abc", "1.5", ""])
def test_integer_filters_reject_what_v1_rejected(name, value):
    assert plain([(name, value)]) == (
        f"400 Bad Request\n\n{GENERIC}\n\n Bad value passed to filter {name} got {value}  "
    )


def test_filters_are_checked_in_query_string_order():
    assert "filter size_max got x" in plain([("size_max", "x"), ("size_min", "y")])


def test_a_repeated_filter_is_checked_where_it_first_appeared_with_its_last_value():
    pairs = [("size_min", "-1"), ("size_max", "-2"), ("size_min", "-3")]
    assert plain(pairs).endswith("Bad value passed to filter size_min got -3  ")


def test_registry_checks_run_limit_then_sort_key_then_sort_dir_then_marker():
    assert "limit param" in plain([("marker", "abc"), ("sort_key", "x"), ("limit", "x")])
    assert "Unsupported sort_key" in plain([("marker", "abc"), ("sort_key", "bogus")])
    assert "Unsupported sort_dir" in plain([("marker", "abc"), ("sort_dir", "up")])


def test_query_strings_split_on_ampersand_and_semicolon_as_webob_did():
    assert query_pairs("limit=1;sort_key=name&name=a+b%2Bc&flag&bad=%ff") == [
        ("limit", "1"), ("sort_key", "name"), ("name", "a b+c"), ("flag", ""),
        ("bad", "\ufffd")]


def test_protected_yes_is_refused_by_the_api_and_none_by_the_registry():
    assert plain([("protected", "yes")]).endswith("Bad value passed to filter protected got yes  ")
    assert plain([("protected", "none")]) == (
        f"400 Bad Request\n\n400 Bad Request  {GENERIC}   protected must be True, or False  \n\n   "
    )


def test_is_public_bad_value():
    assert plain([("is_public", "imalittleteapot")]).endswith(
        "Bad value passed to filter is_public got imalittleteapot  "
    )


@pytest.mark.parametrize("value", ["abc", "1.5", ""])
def test_limit_must_be_an_integer(value):
    assert plain([("limit", value)]) == (
        f"400 Bad Request\n\n400 Bad Request  {GENERIC}   limit param must be an integer  \n\n   "
    )


def test_limit_must_be_positive():
    assert "limit param must be positive" in plain([("limit", "-1")])


def test_limit_is_capped_at_1000_silently_and_zero_is_allowed():
    assert parse_list_query([("limit", "5000")]).limit == 1000
    assert parse_list_query([("limit", "0")]).limit == 0


def test_repeated_parameters_last_value_wins():
    assert parse_list_query([("limit", "1"), ("limit", "3")]).limit == 3
    assert parse_list_query([("sort_key", "name"), ("sort_key", "size")]).sort_key == "size"


def test_marker_must_look_like_a_uuid():
    assert plain([("marker", "abc")]) == (
        "400 Bad Request\n\n400 Bad Request  Invalid marker format     \n\n   "
    )


def test_empty_marker_is_an_image_that_cannot_be_found():
    assert plain([("marker", "")]) == (
        "400 Bad Request\n\n400 Bad Request  Invalid marker. Image could not be found.     \n\n   "
    )


def test_uppercase_urn_prefix_is_not_uuid_like_for_oslo():
    assert "Invalid marker format" in plain(
        [("marker", "URN:UUID:3c3d1d01-b48a-4639-8a88-08be3b9b5d78")])


@pytest.mark.parametrize(
    "marker",
    ["urn:uuid:3c3d1d01-b48a-4639-8a88-08be3b9b5d78", "3c3d1d01-b48a-4639-8a88-08be3b9b5d78", "3C3D1D01-B48A-4639-8A88-08BE3B9B5D78",
     "3c3d1d01b48a46398a8808be3b9b5d78", "{3c3d1d01-b48a-4639-8a88-08be3b9b5d78}"],
)
def test_uuid_like_markers_pass_the_format_check(marker):
    assert parse_list_query([("marker", marker)]).marker == marker


@pytest.mark.parametrize("value", ["bogus", ""])
def test_unsupported_sort_key(value):
    assert plain([("sort_key", value)]) == (
        "400 Bad Request\n\n400 Bad Request  Unsupported sort_key. Acceptable values: name, status, "
        "container_format, disk_format, size, id, created_at, updated_at     \n\n   "
    )


@pytest.mark.parametrize("value", ["up", "ASC", ""])
def test_unsupported_sort_dir_is_case_sensitive(value):
    assert plain([("sort_dir", value)]) == (
        "400 Bad Request\n\n400 Bad Request  Unsupported sort_dir. Acceptable values: asc, desc"
        "     \n\n   "
    )


def test_sort_key_without_dir_is_desc_and_dir_without_key_is_created_at():
    assert parse_list_query([("sort_key", "name")]).sort_dir == "desc"
    assert parse_list_query([("sort_dir", "asc")]).sort_key == "created_at"


@pytest.mark.parametrize("value", ["", "yesterday", "1600000000", "2000-01-01T00:00:00 02:00",
                                   "0001-01-01T00:00:00+01:00", "9999-12-31T23:00:00-05:00",
                                   "2016-02-30", "2016-05-22T06:04:20+25:00"])
def test_unrecognized_changes_since(value):
    assert plain([("changes-since", value)]) == (
        f"400 Bad Request\n\n400 Bad Request  {GENERIC}   Unrecognized changes-since value  \n\n   "
    )


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2000-01-01", datetime(2000, 1, 1, tzinfo=timezone.utc)),
        ("2016-05-22T06:04:20", datetime(2016, 5, 22, 6, 4, 20, tzinfo=timezone.utc)),
        ("2016-05-22T06:04:20.425843", datetime(2016, 5, 22, 6, 4, 20, 425843, tzinfo=timezone.utc)),
        ("2016-05-22T06:04:20Z", datetime(2016, 5, 22, 6, 4, 20, tzinfo=timezone.utc)),
        ("2016-05-22T08:04:20+02:00", datetime(2016, 5, 22, 6, 4, 20, tzinfo=timezone.utc)),
        ("2016-05-22T01:04:20-0500", datetime(2016, 5, 22, 6, 4, 20, tzinfo=timezone.utc)),
        ("2016-05-22 06:04", datetime(2016, 5, 22, 6, 4, tzinfo=timezone.utc)),
    ],
)
def test_changes_since_accepts_iso8601_and_reads_naive_times_as_utc(value, expected):
    assert parse_iso8601(value) == expected


def test_exact_filters_keep_their_values_verbatim():
    query = parse_list_query([("name", "foo:bar"), ("disk_format", "qcow2"), ("bogus", "x")])
    assert query.exact == (("name", "foo:bar"), ("disk_format", "qcow2"))


def test_unknown_parameters_are_dropped_as_v1_did():
    assert parse_list_query([("deleted", "true"), ("owner", "x"), ("foo", "bar")]) == ListQuery()


def test_property_filters_keep_the_key_as_sent():
    query = parse_list_query([("property-Foo-Bar", "X"), ("property-os_distro", "ubuntu")])
    assert query.properties == (("Foo-Bar", "X"), ("os_distro", "ubuntu"))
