"""List parameters: operator prefixes, ``in:`` lists, ISO times, Glance's 400s, and how
filters and repeated parameters are read (docs/v2-upstream.md#13-operator-parsing)."""

from datetime import datetime

import pytest

from proxy.fake_glance.query import parse_isotime, split_filter_op, split_in_list
from tests.fake_glance.calls import A, create, error, names


@pytest.mark.parametrize("value, expected", [
    ("ubuntu", ("eq", "ubuntu")),
    ("foo:bar", ("foo", "bar")),
    ("eq:foo:bar", ("eq", "foo:bar")),
    ("eq:in:a,b", ("eq", "in:a,b")),
    ("eq:eq:x", ("eq", "eq:x")),
    ("in:a,b", ("in", "a,b")),
    ("2016-05-22T06:04:20Z", ("eq", "2016-05-22T06:04:20Z")),
    ("http://x", ("http", "//x")),
])
def test_split_filter_op_follows_the_reference_table(value, expected):
    assert split_filter_op(value) == expected


@pytest.mark.parametrize("value, expected", [
    ("a,b", ["a", "b"]),
    ('"glass, darkly",share me', ["glass, darkly", "share me"]),
    ("a, b", ["a", " b"]),
    ("a,,b", ["a", "", "b"]),
    ("a,", ["a"]),
    ("", []),
    ('"a\\"b",c', ['a\\"b', "c"]),
])
def test_in_lists_split_like_glance(value, expected):
    assert split_in_list(value) == expected


@pytest.mark.parametrize("value, expected", [
    ("2016-05-22T06:04:20Z", datetime(2016, 5, 22, 6, 4, 20)),
    ("2016-05-22T06:04:20.123456", datetime(2016, 5, 22, 6, 4, 20, 123456)),
    ("2016-05-22 06:04:20", datetime(2016, 5, 22, 6, 4, 20)),
    ("2016-05-22", datetime(2016, 5, 22)),
    ("2016-05-22T08:04:20+02:00", datetime(2016, 5, 22, 6, 4, 20)),
])
def test_iso_times_parse_to_naive_utc(value, expected):
    assert parse_isotime(value) == expected


def test_iso_times_take_ascii_digits_only():
    with pytest.raises(ValueError):
        parse_isotime("\u0662\u0660\u0661\u0666-05-22")  # Arabic-Indic digits


def test_a_time_is_an_exact_value_even_when_out_of_range_in_utc():
    # Only a time filter converts to UTC; real Glance 33 lists by this name (no 500).
    assert split_filter_op("0001-01-01T00:00:00+01:00") == ("eq", "0001-01-01T00:00:00+01:00")


@pytest.mark.parametrize("query, message", [
    ("name=foo:bar", "Unable to filter by unknown operator 'foo'."),
    ("status=http://x", "Unable to filter by unknown operator 'http'."),
    ('name=in:"a"b', 'Invalid filter value "a"b. There is no comma after closing quotation mark.'),
    ('name=in:a"b', 'Invalid filter value a"b. There is no comma before opening quotation mark.'),
    ('name=in:"a,b', 'Invalid filter value "a,b. The quote is not closed.'),
    ("size_min=abc", "Unable to filter on a range with a non-numeric value."),
    ("created_at=gte:notadate",
     'Bad "created_at" query filter format. Use ISO 8601 DateTime notation.'),
    ("updated_at=in:2016-05-22", "Unable to filter on a unknown operator."),
    ("changes-since=2016-01-01", 'The "changes-since" filter is no longer available on v2.'),
    ("visibility=bogus", "Invalid visibility value: bogus"),
    ("member_status=bogus", "Invalid status: bogus"),
    ("protected=True", "Invalid value 'True' for 'protected' filter. "
                       "Valid values are 'true' or 'false'."),
    ("os_hidden=maybe", "Invalid value 'maybe' for 'os_hidden' filter. "
                        "Valid values are 'true' or 'false'."),
    ("limit=abc", "limit param must be an integer"),
    ("limit=", "limit param must be an integer"),
    ("limit=-1", "limit param must be positive"),
    ("sort_key=foo", "Invalid sort key: foo. It must be one of the following: name, status, "
                     "container_format, disk_format, size, id, created_at, updated_at."),
    ("sort_dir=up", "Invalid sort direction: up"),
    ("sort=name:ASC", "Invalid sort direction: ASC"),
    ("sort=name&sort_key=id", "Old and new sorting syntax cannot be combined"),
    ("sort_key=name&sort_dir=asc&sort_dir=desc&sort_dir=asc",
     "Number of sort dirs does not match the number of sort keys"),
    ("marker=nope", "No image found with ID nope"),
    ("marker=", "No image found with ID "),
    ("marker=" + "x" * 37, "Image with the given id %(image_id)s was not found"),
])
async def test_bad_list_parameters_give_glance_400_messages(client, query, message):
    assert await error(await client.get(f"/v2/images?{query}", headers=A)) == (400, message)


async def test_operator_parsing_matches_names_as_glance_does(client):
    for name in ("foo:bar", "glass, darkly", "share me", "in:a,b", "2016-05-22T06:04:20Z"):
        await create(client, name=name)
    assert await names(client, "?name=eq:foo:bar") == ["foo:bar"]
    assert await names(client, "?name=eq:in:a,b") == ["in:a,b"]
    assert await names(client, "?name=2016-05-22T06:04:20Z") == ["2016-05-22T06:04:20Z"]
    assert await names(client, '?name=in:"glass, darkly",share me&sort_key=name') == [
        "share me", "glass, darkly"]
    assert await names(client, "?name=in:") == []


async def test_unknown_parameters_are_custom_property_filters(world, fake):
    fake.add_image(owner="projA", name="ubuntu", os_distro="ubuntu")
    assert await names(world, "?is_public=true") == []
    assert await names(world, "?os_distro=ubuntu") == ["ubuntu"]
    assert await names(world, "?visibility=") == []


async def test_duplicate_parameters_split_first_and_last_like_webob(world):
    # Validation reads the last value, the DB filter takes the first one.
    assert await names(world, "?visibility=bogus&visibility=public") == []
    resp = await world.get("/v2/images?visibility=public&visibility=bogus", headers=A)
    assert await error(resp) == (400, "Invalid visibility value: bogus")
