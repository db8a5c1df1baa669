"""The upstream's version document -> what its image API can be asked.

Query features that arrived after Glance Pike (API v2.5) are used only when the upstream
offers the minor version that brought them (reference glance-v2.md 1.8). Huawei IMS
answers v2.2 although it understands ``eq:``/``in:`` and time operators, so nothing the
proxy needs for the baseline is gated here.
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

    @property
    def os_hidden(self) -> bool:
        """``os_hidden`` exists from Rocky (v2.7); older servers read it as a property."""
        return self.version >= (2, 7)

    @property
    def visibility_all(self) -> bool:
        """``visibility=all`` arrived in Stein, whose document still said v2.7 unless
        multi-store was on; v2.9 (Train) is the first version that proves it."""
        return self.version >= (2, 9)

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
