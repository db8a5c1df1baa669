"""v2 success bodies, checked before anything reads them (pure).

An upstream that answers 2xx with something other than what v2 documents is broken;
the shell turns UpstreamShapeError into a v1 500, never into our own traceback.
"""

from __future__ import annotations


class UpstreamShapeError(Exception):
    """The upstream answered 2xx with a body that is not what v2 sends."""


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
    # The types of the fields v1 shows are checked as they are shaped (proxy.v1.images).
    if not isinstance(image, dict) or type(image.get("id")) is not str:
        raise UpstreamShapeError("an image is not an object with an id")
