"""The upstream's version document -> its newest v2 minor:
docs/v2-upstream.md#18-features-by-release, docs/v2-upstream.md#6-version-discovery,
docs/v2-upstream.md#73-other-ims-differences."""

from proxy.v2.versions import newest_v2_version


def doc(*ids):
    return {"versions": [{"id": i, "status": "SUPPORTED", "links": []} for i in ids]}


def test_newest_glance_document_is_read_whatever_the_order():
    assert newest_v2_version(doc("v2.15", "v2.9", "v2.17", "v2.7", "v2.0")) == (2, 17)


def test_pike_document():
    assert newest_v2_version(doc("v2.5", "v2.4", "v2.3", "v2.2", "v2.1", "v2.0")) == (2, 5)


def test_huawei_ims_document_with_v1_entries():
    assert newest_v2_version(doc("v2.2", "v2.1", "v2.0", "v1.1", "v1.0")) == (2, 2)


def test_keystoneauth_values_spelling_is_read_too():
    assert newest_v2_version({"versions": {"values": [{"id": "v2.6"}]}}) == (2, 6)


def test_minor_versions_compare_as_numbers_not_text():
    assert newest_v2_version(doc("v2.9", "v2.10")) == (2, 10)


def test_documents_without_v2_list_no_version():
    assert newest_v2_version(doc("v1.1", "v1.0")) is None
    assert newest_v2_version({"images": []}) is None
    assert newest_v2_version(["v2.5"]) is None
    assert newest_v2_version(doc("2.5", "v2", "v2.x")) is None
