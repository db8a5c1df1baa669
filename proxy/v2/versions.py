"""The upstream's version document -> the newest v2 minor version it offers (pure).

The proxy asks only what Glance Pike (API v2.5) understood, which Huawei IMS understands
too although its document says v2.2 (docs/v2-upstream.md#18-features-by-release,
docs/v2-upstream.md#73-other-ims-differences); so the version
gates no feature. It is read to know that the upstream answers (readiness), and it is
shown on ``/readyz`` and logged when it changes, so that an operator sees what is behind.
"""

from __future__ import annotations

import re

_VERSION_ID = re.compile(r"^v(\d+)\.(\d+)$")


def newest_v2_version(document: object) -> tuple[int, int] | None:
    """The newest v2 minor listed in a ``{"versions": [...]}`` document (Glance's 300/200
    answer, or keystoneauth's ``{"versions": {"values": [...]}}`` spelling); None when the
    document lists no v2."""
    if not isinstance(document, dict):
        return None
    entries = document.get("versions")
    if isinstance(entries, dict):
        entries = entries.get("values")
    if not isinstance(entries, list):
        return None
    best = None
    for entry in entries:
        version = entry.get("id") if isinstance(entry, dict) else None
        match = _VERSION_ID.match(version) if isinstance(version, str) else None
        if match and match.group(1) == "2":
            found = (2, int(match.group(2)))
            best = found if best is None or found > best else best
    return best
