"""v2 success bodies, checked before anything reads them (pure).

An upstream that answers 2xx with something other than what v2 documents is broken;
the shell turns UpstreamShapeError into a v1 500, never into our own traceback.
"""

from __future__ import annotations


class UpstreamShapeError(Exception):
    """The upstream answered 2xx with a body that is not what v2 sends."""


# The v2 fields the v1 shapes read, and the JSON types v2 documents for them
# (reference glance-v2.md 2.2); ``None`` stands for null.
_STR = (str, type(None))
_INT = (int, type(None))
_FIELD_TYPES = {
    "name": _STR, "status": _STR, "visibility": _STR, "checksum": _STR, "owner": _STR,
    "disk_format": _STR, "container_format": _STR, "created_at": _STR, "updated_at": _STR,
    "size": _INT, "virtual_size": _INT, "min_ram": _INT, "min_disk": _INT,
    "protected": (bool, type(None)),
}


def image_of(body: object) -> dict:
    """A ``GET /v2/images/{id}`` body: an image object with a string id."""
    _check_image(body)
    return body


def images_of(body: object) -> list[dict]:
    """The ``images`` of a ``GET /v2/images`` body."""
    if not isinstance(body, dict) or not isinstance(body.get("images"), list):
        raise UpstreamShapeError("the image list has no 'images' array")
    images = body["images"]
    for image in images:
        _check_image(image)
    return images


def _check_image(image: object) -> None:
    if not isinstance(image, dict) or not isinstance(image.get("id"), str):
        raise UpstreamShapeError("an image is not an object with an id")
    for field, types in _FIELD_TYPES.items():
        # bool is an int to Python, never a size to v2
        value = image.get(field)
        if not isinstance(value, types) or (types is _INT and isinstance(value, bool)):
            raise UpstreamShapeError(f"an image's {field} is not of the documented type")
