"""v1 writes -> v2 requests (pure): the body that creates an image, the JSON patch that
updates one, and the v1 rules v2 would not enforce (or not in v1's words).

v1 replaced an image's metadata with what a PUT sent, purging properties it did not
repeat (docs/v1-api.md#43-update); v2 takes a JSON patch (docs/v2-upstream.md#52-patch). Custom
properties are v2 top-level keys that are not v2's own (proxy.v1.images.V2_OWN_FIELDS).
"""

from __future__ import annotations

from proxy.v1.errors import V1Error
from proxy.v1.images import V2_OWN_FIELDS
from proxy.v1.meta import ImageMeta

PATCH_CONTENT_TYPE = "application/openstack-images-v2.1-json-patch"

# v1 fields v2 takes on create and update as they are.
_PLAIN = ("name", "disk_format", "container_format", "min_ram", "min_disk", "protected",
          "owner")
# Names v2 reserves or keeps for itself (docs/v2-upstream.md#51-create,
# docs/v2-upstream.md#52-patch): never a custom property.
_RESERVED = V2_OWN_FIELDS | {"location", "owner", "properties", "members", "metadata",
                             "is_public", "store"}


def create_body(meta: ImageMeta, *, not_public: str) -> dict:
    """The ``POST /v2/images`` body. ``not_public``: the visibility that v1's
    ``is_public: false`` (and its absence) becomes (``shared`` as v1 wrote it, or
    ``private`` for upstreams that allow nothing else)."""
    _check_properties(meta)
    fields = meta.fields
    body = {key: fields[key] for key in _PLAIN if fields.get(key) is not None}
    if fields.get("id") is not None:
        body["id"] = fields["id"]
    body["visibility"] = "public" if fields.get("is_public") else not_public
    # v1 stored a property set to an empty value as null; a v2 property is a string: ""
    # (which proxy.v1.images shows as null)
    body.update({k: "" if v is None else v for k, v in meta.properties.items()})
    return body


def external_source(meta: ImageMeta, copy_from: str | None, with_data: bool) -> str | None:
    """The URI of v1's external source (``x-glance-api-copy-from`` or
    ``x-image-meta-location``), checked as v1 checked it; None when there is none.

    v1 (images.py ``_external_source``, ``_validate_source``, ``_handle_source``) checked
    the one source it read, the location before copy-from, then refused more than one
    source; every message is the explanation."""
    fields = meta.fields
    location = fields.get("location")
    if "location" in fields:  # an empty x-image-meta-location too
        named = location
    elif copy_from is not None:
        named = copy_from
    else:
        return None
    if not named:
        raise V1Error(400, explanation="External source should not be empty")
    if not named.lower().startswith(("http://", "https://")):
        raise V1Error(400, explanation=f"External sources are not supported: '{named}'")
    if sum(1 for source in (with_data, copy_from, location) if source) > 1:
        raise V1Error(400, explanation="It's invalid to provide multiple image sources.")
    return copy_from or location


# The proxy's own refusal (v1 had no such case), worded as v1 worded its source refusals:
# the message is the explanation.
NO_WEB_DOWNLOAD = V1Error(400, explanation=(
    "External image sources (x-image-meta-location, x-glance-api-copy-from) are copied by "
    "the v2 image service's web-download import, which the one behind this proxy does not "
    "offer. Upload the data instead. Nothing was created."))


def update_patch(image: dict, meta: ImageMeta, *, purge: bool, not_public: str,
                 upstream_prefixes: tuple[str, ...] = ()) -> list[dict]:
    """The JSON patch that makes the v2 ``image`` say what a v1 PUT said; V1Error for what
    v1 forbade (docs/v1-api.md#43-update). ``upstream_prefixes``: properties the upstream
    keeps for itself (Huawei IMS's ``__*``), which a purge leaves alone."""
    _check_properties(meta)
    fields = meta.fields
    status = image.get("status")
    # v1's order and words (images.py update: ACTIVE_IMMUTABLE, then IMMUTABLE), each
    # message the explanation
    if status in ("active", "deactivated"):
        for key in ("size", "checksum"):
            if fields.get(key) is not None and fields[key] != image.get(key):
                raise V1Error(403, explanation=f"Forbidden to modify '{key}' of {status} "
                              "image.")
    for key in ("status", "id"):
        if fields.get(key) is not None and fields[key] != image.get(key):
            raise V1Error(403, explanation=f"Forbidden to modify '{key}' of image.")
    patch = []
    for key in _PLAIN:
        if key in fields and fields[key] is not None and fields[key] != image.get(key):
            patch.append(_op("replace", key, fields[key]))
    if "is_public" in fields:
        visibility = "public" if fields["is_public"] else not_public
        if (visibility == "public") != (image.get("visibility") == "public"):
            patch.append(_op("replace", "visibility", visibility))
    current = {key for key in image if key not in V2_OWN_FIELDS}
    # keys Glance (os_glance_*: import bookkeeping) or the configured upstream (Huawei
    # IMS's __* system properties) keep for themselves: v1 never set them, so purging must
    # not touch them (v2 would refuse the whole patch)
    purgeable = {key for key in current if not key.startswith(("os_glance", *upstream_prefixes))}
    for key, value in meta.properties.items():
        # v1 stored an empty value as null; a v2 property is a string: "" (shown as null)
        value = "" if value is None else value
        if image.get(key) != value:
            patch.append(_op("add", key, value))
    if purge:
        patch.extend(_op("remove", key) for key in sorted(purgeable - meta.properties.keys()))
    return patch


def _op(op: str, key: str, value=None) -> dict:
    change = {"op": op, "path": "/" + key.replace("~", "~0").replace("/", "~1")}
    if op != "remove":
        change["value"] = value
    return change


def _check_properties(meta: ImageMeta) -> None:
    for key in meta.properties:
        if key in _RESERVED or key.startswith("os_glance"):
            # the proxy's own refusal, with the message as the explanation, as v1's
            # property refusals had it
            raise V1Error(400, explanation=f"Property '{key}' is reserved by the v2 image "
                          "service behind this proxy and cannot be set as a custom property.")
