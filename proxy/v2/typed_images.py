"""v2 list bodies decoded straight into typed images, learned from the keys a catalogue uses.

A list body decoded to dicts builds every key and value as a Python object, and the shaping
then checks the types of the fields v1 shows, one by one. Decoded into a Struct instead,
msgspec checks those types as it reads and builds no dict: a churned image is read and
shaped in 35 k instructions instead of 50 k (bench/RESULTS.md). A Struct names its fields,
and a v2 image's custom properties are top-level keys no schema names, so ``ImageTypes``
learns them: a body with a key it has not learned is read as dicts
(proxy.shell.listing_memo), and its keys extend the next Struct. A body whose shown fields
have other types than v2 documents is read as dicts too, where the shaping refuses it as
before.

Only key names are learned, never values; a key another caller's image carried reads as
absent (UNSET) in an image without it, and is never shown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import ClassVar

import msgspec
from msgspec import UNSET

from proxy.v1.images import SHOWN_TYPES, V2_OWN_FIELDS, properties_struct, tuple_getter

# Custom keys learned and keys no Struct field can carry, together, at the most: past that,
# lists are read as dicts (a Struct that wide costs more; a hostile upstream's keys are
# bounded).
MAX_CUSTOM_KEYS = 64


class ListedImage(msgspec.Struct, frozen=True, gc=False, forbid_unknown_fields=True,
                  kw_only=True):
    """One image of a v2 list, as a learned subclass reads it: a field for each key the
    catalogue's images carry, in the order they carry them (msgspec then finds each key's
    field at once; out of order, that search was 40% of the decode). The fields a v1 image
    shows are named for their keys (``image.size``) and typed as v2 documents them
    (docs/v2-upstream.md#22-schema-and-formats); the others are any JSON, UNSET where the
    image has none. It reads like the dict it was decoded from for ``get`` and ``[]``,
    but for a shown field it lacks: that reads as null, as proxy.v1.images reads it. (No
    cycle: the collector need not track it.)"""

    # Set on each learned subclass: what picks the custom values, in sorted key order, out
    # of msgspec.structs.astuple(image) (one C call reads every field, a third of the time
    # of reading them one by one); a Struct of those keys that writes one JSON object
    # (UNSET ones left out); the attribute each key is read from.
    custom_values: ClassVar[Callable[[tuple], tuple]]
    Properties: ClassVar[type[msgspec.Struct]]
    attribute_of: ClassVar[dict[str, str]]

    def get(self, key: str, default=None):
        attribute = self.attribute_of.get(key)
        value = UNSET if attribute is None else getattr(self, attribute)
        return default if value is UNSET else value

    def __getitem__(self, key: str):
        value = self.get(key, UNSET)
        if value is UNSET:
            raise KeyError(key)
        return value


def _learned(keys: tuple[str, ...]) -> tuple[msgspec.json.Decoder, msgspec.json.Decoder]:
    """Decoders of list bodies and of single images whose images carry no key but ``keys``
    (v2's own and custom ones, in the order images carry them; each one a Struct field can
    carry)."""
    names = [key if key in SHOWN_TYPES else f"f{n}" for n, key in enumerate(keys)]
    fields = [(name, str) if key == "id"  # the one field an image cannot be without
              else (name, SHOWN_TYPES[key], None) if key in SHOWN_TYPES
              else (name, object, UNSET) for name, key in zip(names, keys)]
    custom_keys = tuple(sorted(key for key in keys if key not in V2_OWN_FIELDS))
    index_of = {key: n for n, key in enumerate(keys)}
    image = msgspec.defstruct(
        "LearnedImage", fields, bases=(ListedImage,), rename=dict(zip(names, keys)),
        kw_only=True, frozen=True, gc=False, forbid_unknown_fields=True)
    image.Properties = properties_struct(custom_keys)
    image.custom_values = staticmethod(tuple_getter(tuple(index_of[key] for key in custom_keys)))
    image.attribute_of = dict(zip(keys, names))
    page = msgspec.defstruct("LearnedPage", [("images", list[image]),
                                             ("next", msgspec.Raw, msgspec.Raw(b""))])
    return msgspec.json.Decoder(page), msgspec.json.Decoder(image)


class ImageTypes:
    """What a catalogue's list bodies have shown of its keys, and the decoders it makes."""

    def __init__(self) -> None:
        self._keys: dict[str, None] = dict.fromkeys(SHOWN_TYPES)  # an ordered set
        self._unfit: set[str] = set()  # keys no Struct field can carry
        self._decoders = _learned(tuple(self._keys))

    @property
    def typing(self) -> bool:
        """Whether images are still read typed (False once past MAX_CUSTOM_KEYS)."""
        return self._decoders is not None

    def read(self, body: bytes) -> tuple[list[ListedImage], bool] | None:
        """(images, whether v2 said there is a next page) of a list body, or None when it
        does not fit what was learned (a new key, a field of another type, not a list)."""
        if self._decoders is None:
            return None
        try:
            listed = self._decoders[0].decode(body)
        except msgspec.DecodeError:
            return None
        return listed.images, bool(listed.next)

    def image(self, json: bytes) -> ListedImage | None:
        """One image of a list (its own bytes), or None when it does not fit what was
        learned."""
        if self._decoders is None:
            return None
        try:
            return self._decoders[1].decode(json)
        except msgspec.DecodeError:
            return None

    def learn(self, images: Iterable[dict]) -> None:
        """Take the keys of images read as dicts, for the bodies to come: each image with a
        key not learned puts its keys first, in its order (the newest layout leads), then
        the keys learned before. A key no Struct field can carry is never learned: images
        with it are read as dicts."""
        if self._decoders is None:
            return
        keys, unfit = self._keys, self._unfit
        for image in images:
            new = image.keys() - keys.keys() - unfit
            if not new:
                continue
            customs = len(keys.keys() - V2_OWN_FIELDS) + len(unfit)
            if customs + len(new - V2_OWN_FIELDS) > MAX_CUSTOM_KEYS:
                self._decoders = None  # read as dicts from now on
                return
            unfit |= {key for key in new if properties_struct((key,)) is None}
            if not new <= unfit:
                keys = {**{key: None for key in image if key not in unfit}, **keys}
        if keys is not self._keys:  # (else a body of other types than v2's, or unfit keys)
            self._keys, self._decoders = keys, _learned(tuple(keys))
