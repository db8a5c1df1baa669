"""v2 success bodies are checked before anything reads them: a wrong shape is an error of
its own (a v1 500 without our traceback), never an AttributeError."""

import pytest

from proxy.v2.answers import UpstreamShapeError, image_of, member_ids_of


def test_member_ids_of_a_members_body():
    assert member_ids_of({"members": [{"member_id": "a", "status": "pending"},
                                      {"member_id": "b"}], "schema": "/v2/schemas/members"}) == [
        "a", "b"]


@pytest.mark.parametrize("body", [None, [], {}, {"members": {}}, {"members": [1]},
                                  {"members": [{"member_id": 3}]}, {"members": [{}]}])
def test_anything_else_is_a_shape_error(body):
    with pytest.raises(UpstreamShapeError):
        member_ids_of(body)


@pytest.mark.parametrize("body", [None, [], {"id": 1}, {"name": "x"}])
def test_an_image_needs_a_string_id(body):
    with pytest.raises(UpstreamShapeError):
        image_of(body)
