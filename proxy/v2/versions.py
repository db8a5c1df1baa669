"""The upstream's version document -> what its image API can be asked.

Query features that arrived after Glance Pike (API v2.5) may be used only when the upstream
offers the minor version that brought them (reference glance-v2.md 1.8): os_hidden came
with v2.7 (Rocky); visibility=all with Stein, whose document still said v2.7, so only v2.9
(Train) proves it. Huawei IMS answers v2.2 although it understands ``eq:``/``in:`` and
time operators, which is why the baseline the listing uses is not gated at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Pike: the oldest upstream we promise to work with.
BASELINE = (2, 5)

_VERSION_ID = re.compile(r"^v(\d+)\.(\d+)$")


@dataclass(frozen=True)
class Capabilities:
    """What the upstream's newest v2 minor version lets us ask."""

    version: tuple[int, int] = BASELINE

    def __str__(self) -> str:
        return f"v{self.version[0]}.{self.version[1]}"


def capabilities_from_document(document: object) -> Capabilities | None:
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
    return Capabilities(best) if best else None
