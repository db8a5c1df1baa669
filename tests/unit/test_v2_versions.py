"""The upstream's version document -> capabilities: reference glance-v2.md 1.8, 6 and 7.3."""

from proxy.v2.versions import Capabilities, capabilities_from_document


def doc(*ids):
    return {"versions": [{"id": i, "status": "SUPPORTED", "links": []} for i in ids]}


def test_newest_glance_document_is_read_whatever_the_order():
    caps = capabilities_from_document(doc("v2.15", "v2.9", "v2.17", "v2.7", "v2.0"))
    assert caps == Capabilities((2, 17))


def test_pike_document():
    caps = capabilities_from_document(doc("v2.5", "v2.4", "v2.3", "v2.2", "v2.1", "v2.0"))
    assert caps.version == (2, 5)


def test_unknown_upstream_is_assumed_to_be_pike():
    assert Capabilities().version == (2, 5)


def test_huawei_ims_document_with_v1_entries():
    caps = capabilities_from_document(doc("v2.2", "v2.1", "v2.0", "v1.1", "v1.0"))
    assert caps.version == (2, 2)


def test_keystoneauth_values_spelling_is_read_too():
    assert capabilities_from_document({"versions": {"values": [{"id": "v2.6"}]}}).version == (2, 6)


def test_documents_without_v2_are_not_capabilities():
    assert capabilities_from_document(doc("v1.1", "v1.0")) is None
    assert capabilities_from_document({"images": []}) is None
    assert capabilities_from_document(["v2.5"]) is None
