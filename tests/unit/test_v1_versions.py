"""The version document of a v1-only Glance: docs/v1-api.md#13-the-version-document."""

from proxy.v1.versions import version_document


def test_only_the_two_deprecated_v1_entries_linking_to_v1_slash():
    assert version_document("https://image.example:9292") == {"versions": [
        {"id": "v1.1", "status": "DEPRECATED",
         "links": [{"rel": "self", "href": "https://image.example:9292/v1/"}]},
        {"id": "v1.0", "status": "DEPRECATED",
         "links": [{"rel": "self", "href": "https://image.example:9292/v1/"}]},
    ]}


def test_a_public_url_with_a_path_keeps_it():
    assert version_document("https://cloud.example/image/")["versions"][0]["links"][0]["href"] == (
        "https://cloud.example/image/v1/")
