"""A v2 image entity -> the v1 image, with v1's fields, types and formats.

v1 detail images have exactly 18 keys (docs/v1-api.md#27-response-shapes). v2 puts custom
properties at the top level beside its own fields; v1 nests them under ``properties``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timezone
from operator import itemgetter

import msgspec
from msgspec.structs import astuple

from proxy.v1.errors import V1Error

# A v2 image as a list gives it: a dict, or a typed image (proxy.v2.typed_images'
# ListedImage, which reads this module: named here only by what it is).
V2Image = dict | msgspec.Struct

# Every top-level key that is v2's own (or IMS's copy of a v1 field), never a custom
# property (docs/v2-upstream.md#21-how-a-response-is-built,
# docs/v2-upstream.md#22-schema-and-formats, docs/v2-upstream.md#72-extra-image-fields).
V2_OWN_FIELDS = frozenset(
    {
        "id", "name", "status", "visibility", "protected", "os_hidden", "checksum",
        "os_hash_algo", "os_hash_value", "owner", "size", "virtual_size",
        "container_format", "disk_format", "created_at", "updated_at", "tags",
        "direct_url", "min_ram", "min_disk", "self", "file", "schema", "stores",
        "locations", "deleted", "deleted_at",
    }
)

# v2 statuses v1 never had: data is being written, which v1 called saving.
_V1_STATUS = {"uploading": "saving", "importing": "saving"}


class BadImage(ValueError):
    """A v2 image whose documented fields do not have the documented JSON types
    (docs/v2-upstream.md#22-schema-and-formats): a broken upstream answer, never something to
    show."""


class V1Image(msgspec.Struct, gc=False):
    """A v1 detail image, its 18 fields in the order v1 sent them. A Struct, not a dict: a
    listing makes a thousand, and msgspec builds and writes a Struct for a fraction of a
    dict's cost (bench/RESULTS.md). It holds no cycle: the collector need not track it."""

    id: str
    name: str | None
    status: str | None
    size: int | None
    virtual_size: int | None
    checksum: str | None
    disk_format: str | None
    container_format: str | None
    min_disk: int
    min_ram: int
    owner: str | None
    is_public: bool
    protected: bool
    created_at: str | None
    updated_at: str | None
    deleted_at: None
    deleted: bool
    properties: dict | msgspec.Struct  # a Struct for a layout seen often (see _layout_of)


class V1Summary(msgspec.Struct, gc=False):
    """The six fields of ``GET /v1/images`` (docs/v1-api.md#27-response-shapes)."""

    id: str
    name: str | None
    size: int | None
    disk_format: str | None
    container_format: str | None
    checksum: str | None


# What a v1 image shows of a v2 one, and the JSON types each may have
# (docs/v2-upstream.md#22-schema-and-formats), null included but for the id; fetched in
# one call.
SHOWN_TYPES = {"id": str, "name": str | None, "status": str | None, "size": int | None,
               "virtual_size": int | None, "checksum": str | None, "disk_format": str | None,
               "container_format": str | None, "min_disk": int | None, "min_ram": int | None,
               "owner": str | None, "visibility": str | None, "protected": bool | None,
               "created_at": str | None, "updated_at": str | None}
SHOWN_FIELDS = tuple(SHOWN_TYPES)
_SHOWN = itemgetter(*SHOWN_FIELDS)
_SHOWN_SET = frozenset(SHOWN_FIELDS)
_STRINGS = frozenset({str, type(None)})
_INTEGERS = frozenset({int, type(None)})  # (True is not an int here)
_BOOLEANS = frozenset({bool, type(None)})


# A v2 image's layout (its keys, in order: a cloud's images share a few) -> how to shape
# it, so that its custom keys are found once per layout, not once per image (a set
# difference of some 30 keys was a quarter of the shaping). Its custom keys are sorted,
# as proxy.v2.typed_images sorts them, so that an image's properties read the same
# whichever way it was decoded (v1 promised no order). Its properties are a dict at
# first; a layout met _STRUCT_AFTER times gets a Struct that writes the same JSON object
# (fields renamed to the keys), built and written for an eighth of a dict's cost, its
# making (20 us) soon paid back. Bounded: cleared when full.
_LAYOUTS: dict[tuple[str, ...], list] = {}
_LAST: list = [None, None]  # the keys of the layout met last, and that layout
_MAX_LAYOUTS = 512
_STRUCT_AFTER = 32


def _layout_of(keys: tuple[str, ...], image: dict) -> list:
    """[custom values getter, properties maker, whether every shown field is there] for
    ``image``, whose keys are ``keys``; remembered."""
    customs = tuple(sorted(image.keys() - V2_OWN_FIELDS))
    values_of = tuple_getter(customs)
    complete = image.keys() >= _SHOWN_SET
    uses = 0

    def as_dict(*values) -> dict:
        nonlocal uses
        uses += 1
        if uses == _STRUCT_AFTER:
            layout[1] = properties_struct(customs) or as_dict
        return dict(zip(customs, values))

    layout = [values_of, as_dict, complete]
    if len(_LAYOUTS) >= _MAX_LAYOUTS:
        _LAYOUTS.clear()
    _LAYOUTS[keys] = layout
    return layout


def tuple_getter(items: tuple) -> Callable[[object], tuple]:
    """What picks ``items`` of a container, as a tuple, however many they are (one C call
    for two or more)."""
    if len(items) > 1:
        return itemgetter(*items)
    if items:
        one = itemgetter(items[0])
        return lambda container: (one(container),)
    return lambda container: ()


def properties_struct(keys: tuple[str, ...]) -> type[msgspec.Struct] | None:
    """A Struct whose JSON is the dict of ``keys`` (in that order; a field left UNSET is
    left out); None for keys a Struct cannot be renamed to (quotes, backslashes, control
    characters, surrogates)."""
    names = [f"p{n}" for n in range(len(keys))]
    try:
        return msgspec.defstruct("Properties", [(name, object, msgspec.UNSET) for name in names],
                                 rename=dict(zip(names, keys)), gc=False)
    except (ValueError, TypeError, UnicodeError):
        return None


def properties_dict(properties: dict | msgspec.Struct) -> dict:
    """A V1Image's properties as a dict, whichever form they have (a key a Struct has
    but the image had not, UNSET, left out as the JSON leaves it out)."""
    if type(properties) is dict:
        return properties
    return {key: value for key, value in zip(properties.__struct_encode_fields__,
                                             msgspec.structs.astuple(properties))
            if value is not msgspec.UNSET}


def v1_image_of(image: V2Image) -> V1Image:
    """The v1 detail image for a v2 image (a dict as v2 returns it, or a typed image of a
    list); BadImage when a field v1 shows has the wrong type. The hot path of every
    listing: one pass, the checks and the common case in C calls where they can be."""
    if type(image) is not dict:  # a ListedImage (proxy.v2.typed_images): msgspec checked
        # its types as it read it, and its class knows where its custom values are
        shown = (image.id, image.name, image.status, image.size, image.virtual_size,
                 image.checksum, image.disk_format, image.container_format, image.min_disk,
                 image.min_ram, image.owner, image.visibility, image.protected,
                 image.created_at, image.updated_at)
        values, properties_of = image.custom_values(astuple(image)), image.Properties
    else:
        shown, values, properties_of = _checked_fields(image)
    (image_id, name, status, size, virtual_size, checksum, disk_format, container_format,
     min_disk, min_ram, owner, visibility, protected, created_at, updated_at) = shown
    if "" in values:
        values = [None if value == "" else value for value in values]  # v1 stored "" as null
    return V1Image(
        image_id,
        name,
        _V1_STATUS.get(status, status),
        size if size else _real_size(image, size, status),
        virtual_size,
        checksum,
        disk_format,
        container_format,
        min_disk or 0,
        min_ram or 0,
        owner,
        visibility == "public",
        protected is True,  # (a boolean or null: checked by msgspec or _checked_fields)
        # v1_timestamp's common case, inlined: two calls per image cost more than the rest
        created_at[:19] + ".000000" if created_at and len(created_at) == 20
        and created_at[19] == "Z" else v1_timestamp(created_at),
        updated_at[:19] + ".000000" if updated_at and len(updated_at) == 20
        and updated_at[19] == "Z" else v1_timestamp(updated_at),
        None,  # deleted_at: v2 never lists deleted images
        False,
        properties_of(*values),
    )


def _checked_fields(image: dict) -> tuple[tuple, tuple, object]:
    """(the shown fields, the custom values, their properties maker) of a v2 image read as
    a dict; BadImage when a shown field has the wrong type."""
    keys = tuple(image)
    last = _LAST
    if keys == last[0]:  # most often: a listing's images share a layout
        values_of, properties_of, complete = last[1]
    else:
        layout = _LAYOUTS.get(keys) or _layout_of(keys, image)
        last[:] = keys, layout
        values_of, properties_of, complete = layout
    # a field v2 left out: null (but an image always has its id)
    shown = _SHOWN(image) if complete else (image["id"], *map(image.get, SHOWN_FIELDS[1:]))
    (_, name, status, size, virtual_size, checksum, disk_format, container_format,
     min_disk, min_ram, owner, visibility, protected, created_at, updated_at) = shown
    if not (str is type(name) is type(status) is type(checksum) is type(owner)
            is type(disk_format) is type(container_format) is type(created_at)
            is type(updated_at) is type(visibility)  # the common case, without a set
            ) and not {type(name), type(status), type(checksum), type(owner),
                       type(disk_format), type(container_format), type(created_at),
                       type(updated_at), type(visibility)} <= _STRINGS:
        raise BadImage("a string field of an image is not a string")
    if not (type(size) in _INTEGERS and type(virtual_size) in _INTEGERS  # (no set built:
            and type(min_ram) in _INTEGERS and type(min_disk) in _INTEGERS):  # 1k instructions)
        raise BadImage("a number field of an image is not an integer")
    if type(protected) not in _BOOLEANS:
        raise BadImage("protected is not a boolean")
    return shown, values_of(image), properties_of


def v1_summary_of(image: V2Image) -> V1Summary:
    """The summary of a v2 image, checked as its detail is."""
    v1 = v1_image_of(image)
    return V1Summary(v1.id, v1.name, v1.size, v1.disk_format, v1.container_format, v1.checksum)


def to_v1_image(image: V2Image) -> dict:
    """The v1 detail image for a v2 image, as a dict (for headers, tombstones, one image)."""
    v1 = msgspec.structs.asdict(v1_image_of(image))
    v1["properties"] = properties_dict(v1["properties"])
    return v1


def _real_size(image: V2Image, size, status) -> int | None:
    """IMS reports ``size: 0`` for active images and the real size in the string
    ``__image_size`` (docs/v2-upstream.md#72-extra-image-fields); v1 clients want the real one.
    v2 has no size until data arrives (null), where v1 said 0 (docs/v1-api.md#42-create); an
    image with data whose size v2 does not know stays null (unknown, not empty)."""
    real = image.get("__image_size")
    if isinstance(real, str) and real.isdecimal():
        return int(real)
    if size is None and status in ("active", "deactivated"):
        return None
    return 0


def v1_timestamp(value: str | None) -> str | None:
    """v2 ``2016-05-22T06:04:20Z`` -> v1 ``2016-05-22T06:04:20.000000`` (UTC, no zone)."""
    if value is None:
        return None
    if len(value) == 20 and value[19] == "Z":  # the common case, kept cheap
        return value[:19] + ".000000"
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value  # not a time we can read: show it rather than invent one
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")


SUMMARY_FIELDS = V1Summary.__struct_fields__


def summary_of(v1_image: dict) -> dict:
    """A v1 detail image's six summary fields."""
    return {field: v1_image[field] for field in SUMMARY_FIELDS}


# The order a v1 server sent them in (docs/v1-api.md#32-metadata-headers).
_HEADER_FIELDS = (
    "id", "name", "status", "size", "disk_format", "container_format", "checksum",
    "min_disk", "min_ram", "owner", "is_public", "protected", "deleted", "created_at",
    "updated_at", "deleted_at", "virtual_size",
)
_TOKEN = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")  # RFC 9110 token characters
_UNSENDABLE = str.maketrans({c: " " for c in map(chr, [*range(32), 127])})


def meta_headers(v1_image: dict) -> list[tuple[str, str]]:
    """A v1 image as v1's ``x-image-meta-*`` headers: null fields and properties omitted,
    booleans as ``True``/``False``, property names lower-cased, ``ETag`` the checksum."""
    headers = []
    for field in _HEADER_FIELDS:
        value = v1_image[field]
        if value is not None:
            headers.append((f"x-image-meta-{field}", _header_value(value)))
    for name, value in sorted(v1_image["properties"].items()):
        # v2 accepts property names no header name can carry (spaces, CR/LF, non-ASCII):
        # those are left out of the headers; the JSON lists still show them.
        if value is not None and _TOKEN.match(name):
            headers.append((f"x-image-meta-property-{name.lower()}", _header_value(value)))
    if v1_image["checksum"] is not None:
        headers.append(("ETag", v1_image["checksum"]))
    return headers


def _header_value(value) -> str:
    # str() as v1 did (True/False, decimal integers); v2 lets a property hold line breaks,
    # which a header cannot carry: they become spaces.
    return str(value).translate(_UNSENDABLE)


def download_refusal(v1_image: dict) -> V1Error | None:
    """Why v1 refused to send this image's data, or None
    (docs/v1-api.md#31-lookup-and-download-refusals)."""
    if v1_image["status"] == "deactivated":
        return V1Error(403, detail=f"Image {v1_image['id']} is deactivated")
    if v1_image["status"] != "active":
        return V1Error(404, detail=f"Image {v1_image['id']} is not active")
    return None
