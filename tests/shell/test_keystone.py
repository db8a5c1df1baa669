"""A Keystone v3 token document -> the caller (keystone api-ref: GET /v3/auth/tokens)."""

from proxy.shell.keystone import Identity, identity_from_token_body


def test_project_scoped_token_gives_project_and_role_names():
    body = {"token": {"methods": ["password"], "expires_at": "2026-11-28T00:00:00.000000Z",
                      "project": {"id": "a1b2", "name": "demo", "domain": {"id": "default"}},
                      "roles": [{"id": "r1", "name": "admin"}, {"id": "r2", "name": "reader"}],
                      "user": {"id": "u1", "name": "alice"}}}
    assert identity_from_token_body(body) == Identity("a1b2", frozenset({"admin", "reader"}))


def test_unscoped_or_odd_documents_give_no_caller():
    assert identity_from_token_body({"token": {"roles": []}}) is None
    assert identity_from_token_body({"token": {"project": {"id": 1}, "roles": []}}) is None
    assert identity_from_token_body({"error": {"code": 404}}) is None
    assert identity_from_token_body([]) is None
