"""v1's ``x-image-meta-*`` request headers -> the fields and properties they set (pure).

docs/v1-api.md#41-the-x-image-meta-request-headers: header names are lower-cased;
``x-image-meta-property-<name>``
sets property ``<name>`` with ``-`` read as ``_``; any other ``x-image-meta-<field>`` must
name one of v1's fields (``-`` and ``_`` alike) or the answer is 400 ``Bad header``; an
empty value is null; integers and booleans are converted as v1 converted them; then v1's
own checks of formats, name and checksum. python-glanceclient percent-encodes header names
and values (docs/legacy-clients.md#legacy-v1-clients-on-the-wire): both are decoded first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote

from proxy.v1.errors import V1Error
from proxy.v1.query import parse_iso8601

# IMAGE_META_HEADERS of v1 (glance/common/utils.py).
FIELDS = frozenset({
    "location", "size", "is_public", "disk_format", "container_format", "name", "status",
    "copy_from", "uri", "checksum", "created_at", "updated_at", "deleted_at", "min_ram",
    "min_disk", "owner", "store", "id", "protected", "deleted", "virtual_size",
})
DISK_FORMATS = ("ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso",
                "ploop")
CONTAINER_FORMATS = ("ami", "ari", "aki", "bare", "ovf", "ova", "docker")
_AMAZON = ("aki", "ari", "ami")
_INTS = ("size", "min_disk", "min_ram", "virtual_size")
_BOOLS = ("is_public", "deleted", "protected")
_TRUE = frozenset({"1", "t", "true", "on", "y", "yes"})
_PREFIX, _PROPERTY = "x-image-meta-", "x-image-meta-property-"
PURGE_HEADER = "x-glance-registry-purge-props"


@dataclass(frozen=True)
class ImageMeta:
    """What one create or update request says of the image: v1 fields (converted; None
    where the header was empty) and custom properties (None: set to null)."""

    fields: dict = field(default_factory=dict)
    properties: dict = field(default_factory=dict)


def bool_from_string(text: str | None) -> bool:
    """oslo's non-strict ``bool_from_string``: a few words are true, anything else false."""
    return text is not None and text.strip().lower() in _TRUE


def parse_image_meta(headers) -> ImageMeta:
    """``headers``: (name, value) pairs as received. V1Error 400 as v1 answered."""
    fields, properties = {}, {}
    for raw_name, raw_value in headers:
        name = unquote(_text(raw_name), errors="replace").lower()
        if not name.startswith(_PREFIX):
            continue
        value = unquote(_text(raw_value), errors="replace") or None
        if name.startswith(_PROPERTY):
            properties[name[len(_PROPERTY):].replace("-", "_")] = value
            continue
        key = name[len(_PREFIX):].replace("-", "_")
        if key not in FIELDS:
            raise V1Error(400, detail=f"Bad header: {name}")
        fields[key] = value
    for key in _INTS:
        if key in fields:
            fields[key] = _integer(key, fields[key])
    for key in _BOOLS:
        if key in fields:
            fields[key] = bool_from_string(fields[key])
    _validate(fields)
    return ImageMeta(fields, properties)


def _text(header: str) -> str:
    """A header as text. Bytes that are not UTF-8 (which the HTTP server keeps as lone
    surrogates) are read as ISO-8859-1, the encoding of HTTP/1.1 header bytes and of
    Python 3's http.client, which glance-replicator sends with (``café`` as ``caf\xe9``)."""
    if header.isascii():
        return header
    try:
        header.encode("utf-8")
    except UnicodeEncodeError:
        return header.encode("utf-8", "surrogateescape").decode("latin-1")
    return header


def purge_requested(headers) -> bool:
    """v1 purged properties an update does not repeat unless told not to (default on)."""
    for name, value in headers:
        if name.lower() == PURGE_HEADER:
            return bool_from_string(value)
    return True


def _integer(key: str, value: str | None) -> int | None:
    if value is None or (key == "virtual_size" and value == "None"):
        return None
    try:
        number = int(value)
    except ValueError:
        raise _invalid(key, value,
                       f"Cannot convert image {key} '{value}' to an integer.") from None
    if number < 0:
        # v1 named the converted number here (``-007`` is ``'-7'``), the raw text above
        raise _invalid(key, str(number), "Cannot be a negative value.")
    return number


def _invalid(key: str, value: str, why: str) -> V1Error:
    # v1's InvalidParameterValue, raised with explanation=e.msg (images.py ImageDeserializer)
    return V1Error(400, explanation=f"Invalid value '{value}' for parameter '{key}': {why}")


def _validate(fields: dict) -> None:
    """v1's validate_image_meta (images.py:69-143), in its order: formats, times, name,
    checksum. Every message is the explanation (``HTTPBadRequest(explanation=msg)``)."""
    disk, container = fields.get("disk_format"), fields.get("container_format")
    # a header given empty is None, which v1 refused too ("Invalid disk format 'None'")
    if "disk_format" in fields and disk not in DISK_FORMATS:
        raise V1Error(400, explanation=f"Invalid disk format '{disk}' for image.")
    if "container_format" in fields and container not in CONTAINER_FORMATS:
        raise V1Error(400, explanation=f"Invalid container format '{container}' for image.")
    if disk in _AMAZON or container in _AMAZON:
        # v1 copied the missing one from the other; they must then match
        disk = fields["disk_format"] = disk or container
        container = fields["container_format"] = container or disk
        if disk != container:
            raise V1Error(400, explanation=(
                "Invalid mix of disk and container formats. When setting a disk or container "
                "format to one of 'aki', 'ari', or 'ami', the container and disk formats must "
                "match."))
    for key in ("created_at", "updated_at", "deleted_at"):
        value = fields.get(key)
        moment = parse_iso8601(value) if value is not None else None
        if value is not None and (moment is None or moment.year < 1900):
            raise V1Error(400, explanation=f"Invalid time format for {key}.")
    name = fields.get("name")
    if name is not None and len(name) > 255:
        raise V1Error(400, explanation=f"Image name too long: {len(name)}")
    checksum = fields.get("checksum")
    if checksum is not None and len(checksum) > 32:
        raise V1Error(400, explanation=f"Invalid checksum '{checksum}': can't exceed 32 "
                      "characters")
