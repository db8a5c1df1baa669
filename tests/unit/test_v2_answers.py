"""v2 success bodies are checked before anything reads them: a wrong shape is an error of
its own (a v1 500 without our traceback), never an AttributeError."""

import pytest

from proxy.v2.answers import (UpstreamShapeError, image_of, member_ids_of, member_made_at,
                               oldest_membership_first)


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


def test_a_membership_says_when_it_was_made():
    assert member_made_at({"member_id": "p", "image_id": "i", "status": "pending",
                           "created_at": "2026-12-03T20:00:00Z"}) == "2026-12-03T20:00:00Z"
    assert member_made_at({"member_id": "p"}) == ""
    with pytest.raises(UpstreamShapeError):
        member_made_at({"members": []})


def test_shared_images_come_oldest_membership_first_and_older_image_first_on_a_tie():
    v2_order = ["newest", "middle", "oldest", "not-shared"]  # v2: newest image first
    made_at = {"newest": "2026-01-02T00:00:00Z", "middle": "2026-01-01T00:00:00Z",
               "oldest": "2026-01-02T00:00:00Z"}
    assert oldest_membership_first(v2_order, made_at) == ["middle", "oldest", "newest"]
