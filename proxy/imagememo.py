"""v2 list bodies read with each distinct image parsed, and translated to v1, only once.

Legacy tools list the same images again and again, and a v2 image is the same bytes until
it changes. So a list body is split into each image's own bytes (msgspec, in C, without
building the fields), and an image whose exact bytes were seen before comes back as it was
parsed then, with the v1 JSON already made. The translation reads nothing but those bytes,
so who asks does not matter; and a caller meets an entry only when the upstream sent that
caller those very bytes. Entries are dropped oldest first past ``max_images``.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from proxy.v2.answers import UpstreamShapeError, image_of


class ParsedImage:
    """A v2 image as the upstream sent it, read like the dict it wraps (``v2``, never
    changed once made: one may serve many requests), and ``v1_json(shape)``: ``shape``'s
    answer for it as JSON, made once. (A wrapper, not a dict subclass: copying every parsed
    image into a subclass cost more than translating it.)"""

    __slots__ = ("v2", "_json")

    def __init__(self, v2: dict) -> None:
        self.v2 = v2
        self._json: dict | None = None

    def __getitem__(self, key: str):
        return self.v2[key]

    def get(self, key: str, default=None):
        return self.v2.get(key, default)

    def v1_json(self, shape: Callable[[dict], dict]) -> bytes:
        made = self._json
        if made is None:
            made = self._json = {}
        json = made.get(shape)
        if json is None:
            json = made[shape] = _ENCODER.encode(shape(self.v2))
        return json


class _ListBody(msgspec.Struct):
    images: list[msgspec.Raw]
    next: msgspec.Raw = msgspec.Raw(b"")  # only whether it is there matters


# msgspec throughout: it reads one image 1.9x as fast as orjson, and writes many small
# answers that are kept 8x as fast (orjson's over-allocated outputs cost dearly then)
_DECODER = msgspec.json.Decoder(_ListBody)
_IMAGE_DECODER = msgspec.json.Decoder()
_ENCODER = msgspec.json.Encoder()


class ImageMemo:
    """Remembers up to ``max_images`` images by their bytes, and whole list bodies by
    theirs (the body a poller gets again and again) while they hold no more images than
    that in all: memory stays within about twice ``max_images`` images."""

    def __init__(self, max_images: int) -> None:
        self.max_images = max_images
        self._images: dict[bytes, ParsedImage] = {}
        self._bodies: dict[bytes, dict] = {}
        self._images_in_bodies = 0

    def read_list(self, body: bytes) -> dict:
        """A ``GET /v2/images`` body -> ``{"images": (...)}`` (and ``"next"`` when the body
        has it), each image a ParsedImage; UpstreamShapeError if it is not a v2 image list.
        What it returns is shared: never change it."""
        read = self._bodies.get(body)
        if read is None:
            read = self._read(body)
            self._remember_body(body, read)
        return read

    def _read(self, body: bytes) -> dict:
        try:
            listed = _DECODER.decode(body)
        except msgspec.ValidationError:
            raise UpstreamShapeError("the image list has no 'images' array") from None
        except msgspec.DecodeError:
            raise UpstreamShapeError("the upstream answered with a body that is not JSON") from None
        seen, images = self._images, []
        for raw in listed.images:
            key = bytes(raw)
            image = seen.get(key)
            if image is None:
                image = self._parse(key)
            images.append(image)
        read = {"images": tuple(images)}
        if listed.next:
            read["next"] = listed.next
        return read

    def _parse(self, key: bytes) -> ParsedImage:
        try:
            parsed = _IMAGE_DECODER.decode(key)
        except msgspec.DecodeError:  # a number out of range, say
            raise UpstreamShapeError("an image in the list cannot be read") from None
        image = ParsedImage(image_of(parsed))
        if self.max_images:
            if len(self._images) >= self.max_images:
                del self._images[next(iter(self._images))]  # the oldest
            self._images[key] = image
        return image

    def _remember_body(self, body: bytes, read: dict) -> None:
        count = _weight(read)
        if count > self.max_images:
            return
        bodies = self._bodies
        while self._images_in_bodies + count > self.max_images:
            oldest = next(iter(bodies))
            self._images_in_bodies -= _weight(bodies.pop(oldest))
        bodies[body] = read
        self._images_in_bodies += count


def _weight(read: dict) -> int:
    """What a remembered body counts against ``max_images``: its images, and at least one
    (an empty answer still differs by query, in its ``first`` link)."""
    return max(len(read["images"]), 1)
