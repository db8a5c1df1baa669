"""The version document a v1-only Glance served (docs/v1-api.md#13-the-version-document).

Glance with ``enable_v2_api=False`` listed just the two v1 entries, both DEPRECATED since
Newton, both linking to ``<public URL>/v1/``. This proxy serves no v2, so it lists no v2.
"""

from __future__ import annotations


def version_document(public_url: str) -> dict:
    href = public_url.rstrip("/") + "/v1/"
    return {
        "versions": [
            {"id": version, "status": "DEPRECATED", "links": [{"rel": "self", "href": href}]}
            for version in ("v1.1", "v1.0")
        ]
    }
