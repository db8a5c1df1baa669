"""v2 list bodies -> typed, immutable pages; what repeats is read once.

Legacy tools list the same images again and again, and a v2 image is the same bytes until
it changes. So a list body is split into each image's own bytes (msgspec, in C, without
building the fields), and an image whose exact bytes were seen before comes back as the
ParsedImage made of them then (with the v1 JSON its shapings made, proxy.shell.image_reads);
a whole body seen before comes back as the ListPage made of it then. Only those bytes are
read, so who asks does not matter, and a caller meets an entry only when the upstream sent
that caller those very bytes
(docs/failures-and-hostile-input.md#identity-and-what-is-kept-across-callers).

Remembering costs when nothing repeats (a catalogue that changes between answers, one
larger than the memo walked page by page), so the memo never costs more than it saves
(bench/RESULTS.md measures each rule):

* an image or a body is kept on its second sighting only: a table of hashes remembers the
  first ones, so what is seen once is neither copied in nor pushed out;
* when a body brings nothing seen before, and nothing was served from the memo since the
  last such body, the next ``SAMPLE_EVERY - 1`` bodies are read in one pass (no split, no
  hashing: the cheapest read there is), and one in ``SAMPLE_EVERY`` goes through the memo
  to notice when answers repeat again;
* a full memo takes a newcomer only in place of an entry unused for ``STALE_AFTER`` times
  its image bound (counted in images read): a catalogue larger than the memo, walked again
  and again, keeps the part it holds rather than each image pushing out the next one due.

Both are bounded by ``listing.memo_images`` images and ``listing.memo_bytes`` bytes of v2
JSON, the least recently used entry first; a bound of 0 turns the memo off: every body is
read in one pass.

Either way, images are decoded into the typed Structs the catalogue's keys taught
(proxy.v2.typed_images), and as dicts only when they do not fit: their keys are then learned.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterable

import msgspec

from proxy.v2.answers import (ListPage, ParsedImage, UpstreamShapeError, image_of,
                               listed_images)
from proxy.v2.typed_images import MAX_CUSTOM_KEYS, ImageTypes

log = logging.getLogger(__name__)

SAMPLE_EVERY = 16  # while nothing repeats, one body in this many goes through the memo
STALE_AFTER = 8  # an entry unused for this many times memo_images images may be replaced


class _SplitBody(msgspec.Struct):
    images: list[msgspec.Raw]
    next: msgspec.Raw = msgspec.Raw(b"")  # only whether it is there matters


class _WholeBody(msgspec.Struct):
    images: list[dict]
    next: msgspec.Raw = msgspec.Raw(b"")


# msgspec: it reads one image 1.9x as fast as orjson
_SPLIT = msgspec.json.Decoder(_SplitBody)
_WHOLE = msgspec.json.Decoder(_WholeBody)
_IMAGE = msgspec.json.Decoder()


class _Lru:
    """Entries by key, each with a weight in images and bytes and the time (in images
    read) it was last used; the least recently used dropped first past either bound, if
    it is stale."""

    __slots__ = ("entries", "max_images", "max_bytes", "stale_after", "images", "bytes")

    def __init__(self, max_images: int, max_bytes: int) -> None:
        # key -> [value, images, bytes, used]
        self.entries: OrderedDict[object, list] = OrderedDict()
        self.max_images, self.max_bytes = max_images, max_bytes
        self.stale_after = STALE_AFTER * max_images
        self.images = self.bytes = 0

    def get(self, key, now: int):
        found = self.entries.get(key)
        if found is None:
            return None
        self.entries.move_to_end(key)
        found[3] = now
        return found[0]

    def put(self, key, value, images: int, size: int, now: int) -> None:
        """``value`` under ``key``, weighing ``images`` images and ``size`` bytes."""
        if images > self.max_images or size > self.max_bytes:
            return
        entries = self.entries
        replaced = entries.pop(key, None)  # another body of the same fingerprint
        if replaced is not None:
            self.images -= replaced[1]
            self.bytes -= replaced[2]
        while (self.images + images > self.max_images
               or self.bytes + size > self.max_bytes):
            oldest = next(iter(entries))
            _, weight, weight_bytes, used = entries[oldest]
            if now - used <= self.stale_after:
                return  # the memo keeps what it has: it is still being used
            del entries[oldest]
            self.images -= weight
            self.bytes -= weight_bytes
        entries[key] = [value, images, size, now]
        self.images += images
        self.bytes += size


class _SeenOnce:
    """Hashes of keys seen once: the newest ``limit`` to ``2 * limit`` of them, in two
    generations (the older is dropped whole when the newer is full)."""

    __slots__ = ("newer", "older", "limit")

    def __init__(self, limit: int) -> None:
        self.newer: set[int] = set()
        self.older: set[int] = set()
        self.limit = limit

    def again(self, key_hash: int) -> bool:
        """True when ``key_hash`` was seen before (its second sighting), else remembered."""
        if key_hash in self.newer or key_hash in self.older:
            return True
        self.newer.add(key_hash)
        if len(self.newer) >= self.limit:
            self.older, self.newer = self.newer, set()
        return False


class ListingMemo:
    """Reads v2 list bodies, remembering images and whole bodies by their exact bytes,
    each within both bounds: memory stays within a few times ``max_bytes`` (the bytes,
    their parsed JSON, the v1 JSON made of them; a body shares its images' objects)."""

    def __init__(self, max_images: int, max_bytes: int) -> None:
        self._on = max_images > 0 and max_bytes > 0
        self._images = _Lru(max_images, max_bytes)
        self._bodies = _Lru(max_images, max_bytes)
        # as many sightings as images kept, and as many again (0.6 MB at the default bound)
        self._seen_images = _SeenOnce(min(max(max_images, 1024), 1 << 16))
        self._seen_bodies = _SeenOnce(64)
        self._read = 0  # images read: the memo's clock
        self._skip = 0  # bodies still to read in one pass before the next goes through it
        self._paid = False  # whether the memo served anything since it last found nothing
        self._types = ImageTypes()  # what images are decoded into

    def page(self, body: bytes) -> ListPage:
        """A ``GET /v2/images`` body -> its ListPage (shared: never change it);
        UpstreamShapeError if it is not a v2 image list."""
        if not self._on or self._skip:
            self._skip = max(self._skip - 1, 0)
            page = self._read_whole(body)
            self._read += len(page.images)
            return page
        now = self._read
        fingerprint = _fingerprint(body)
        found = self._bodies.get(fingerprint, now)
        if found is not None and found[0] == body:
            page = found[1]
            self._read += len(page.images)
            self._paid = True
            return page
        page, repeated = self._read_split(body, now)
        self._read += len(page.images)
        if self._seen_bodies.again(hash(body)):  # (not the fingerprint: churn shares it)
            # an empty answer still differs by query (its "first" link): it weighs one
            self._bodies.put(fingerprint, (body, page), max(len(page.images), 1), len(body),
                             now)
            self._paid = True
        elif repeated:
            self._paid = True
        elif not self._paid:  # nothing served since the last body that brought nothing
            self._skip = SAMPLE_EVERY - 1
        else:  # one new body among answers that repeat (another filter, say): go on
            self._paid = False
        return page

    def _read_split(self, body: bytes, now: int) -> tuple[ListPage, bool]:
        """The body image by image through the memo; whether any image was seen before."""
        try:
            listed = _SPLIT.decode(body)
        except msgspec.ValidationError:
            raise UpstreamShapeError("the image list has no 'images' array") from None
        except msgspec.DecodeError:
            raise UpstreamShapeError("the upstream answered with a body that is not JSON") from None
        kept, seen, images = self._images, self._seen_images, []
        repeated = False
        for raw in listed.images:
            key = bytes(raw)
            image = kept.get(key, now)
            if image is None:
                # with a place for its v1 JSON: this page may be kept whole
                v2 = self._types.image(key)
                image = ParsedImage(v2 if v2 is not None else self._read_image(key), {})
                if seen.again(hash(key)):
                    kept.put(key, image, 1, len(key), now)
                    repeated = True
            else:
                repeated = True
            images.append(image)
        return ListPage(tuple(images), bool(listed.next)), repeated

    def _read_image(self, json: bytes) -> dict:
        """One image's bytes as a dict (checked by image_of), its keys then learned."""
        try:
            image = image_of(_IMAGE.decode(json))
        except msgspec.DecodeError:  # a number out of range, say
            raise UpstreamShapeError("an image in the list cannot be read") from None
        self._learn((image,))
        return image

    def _read_whole(self, body: bytes) -> ListPage:
        """The body in one pass, nothing kept: into typed images when it fits what earlier
        bodies taught (proxy.v2.typed_images), else as dicts, its keys then learned."""
        typed = self._types.read(body)
        if typed is not None:
            images, has_next = typed
            return ListPage(tuple(map(ParsedImage, images)), has_next)
        page = _read_as_dicts(body)
        self._learn(image.v2 for image in page.images)
        return page

    def _learn(self, images: Iterable[dict]) -> None:
        if self._types.typing:
            self._types.learn(images)
            if not self._types.typing:
                log.warning("listed images carry more than %d custom property names: lists "
                            "are read as dicts from now on, about 1.4x the CPU an image",
                            MAX_CUSTOM_KEYS)


def _fingerprint(body: bytes) -> int:
    """What finds a body's entry: its length, its end (the links) and 256 of its bytes
    spread through it. A hash of every byte cost 11 us for a 25-image body, 0.4 ms for a
    1000-image one; comparing the body found with the one read costs a tenth of that. Two
    bodies of one fingerprint only take each other's place."""
    return hash((len(body), body[::len(body) // 256 + 1], body[-128:]))


def _read_as_dicts(body: bytes) -> ListPage:
    """The body in one pass as dicts, nothing kept: its images carry no v1 JSON cache."""
    try:
        listed = _WHOLE.decode(body)
    except msgspec.ValidationError:
        raise UpstreamShapeError("the image list has no 'images' array of objects") from None
    except msgspec.DecodeError:
        raise UpstreamShapeError("the upstream answered with a body that is not JSON") from None
    return ListPage(listed_images(listed.images), bool(listed.next))
