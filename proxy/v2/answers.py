"""v2 success bodies, checked before anything reads them (pure).

An upstream that answers 2xx with something other than what v2 documents is broken;
the shell turns UpstreamShapeError into a v1 500, never into our own traceback.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from proxy.v2.typed_images import ListedImage


class UpstreamShapeError(Exception):
    """The upstream answered 2xx with a body that is not what v2 sends."""


def image_of(body: object) -> dict:
    """A ``GET /v2/images/{id}`` body, or one image of a list: an object with a string id."""
    _check_image(body)
    return body


def listed_images(images: list) -> tuple[ParsedImage, ...]:
    """A list body's images, each checked as ``image_of`` checks one, as ParsedImages read
    once (no v1 JSON kept)."""
    for image in images:
        _check_image(image)
    return tuple(map(ParsedImage, images))


def _check_image(image: object) -> None:
    # The types of the fields v1 shows are checked as they are shaped (proxy.v1.images).
    if not isinstance(image, dict) or type(image.get("id")) is not str:
        raise UpstreamShapeError("an image is not an object with an id")


def member_made_at(body: object) -> str:
    """When a ``GET /v2/images/{id}/members/{member}`` membership was made (its
    ``created_at``; "" when the body has none: it then sorts first)."""
    if not isinstance(body, dict) or not isinstance(body.get("member_id"), str):
        raise UpstreamShapeError("the membership is not what v2 sends")
    made = body.get("created_at")
    return made if isinstance(made, str) else ""


def oldest_membership_first(image_ids: list[str], made_at: dict[str, str]) -> list[str]:
    """The images of ``image_ids`` (in v2's order: newest image first) that ``made_at``
    holds, in the order their memberships were made, as v1 listed a tenant's shared images
    (docs/v1-api.md#5-members); memberships made within the same second (v2's precision)
    keep the older image first."""
    shared = [image_id for image_id in reversed(image_ids) if image_id in made_at]
    return sorted(shared, key=made_at.__getitem__)


def member_ids_of(body: object) -> list[str]:
    """The member ids of a ``GET /v2/images/{id}/members`` body."""
    members = body.get("members") if isinstance(body, dict) else None
    if not isinstance(members, list) or not all(
            isinstance(m, dict) and isinstance(m.get("member_id"), str) for m in members):
        raise UpstreamShapeError("the member list is not what v2 sends")
    return [m["member_id"] for m in members]


class ParsedImage(msgspec.Struct, frozen=True, gc=False):
    """One image of a v2 list, as the upstream sent it: ``v2``, its JSON (a dict checked
    by image_of, or a typed image, proxy.v2.typed_images; never changed: one may serve
    many requests). ``shaped``, for an image the listing memo keeps, holds the v1 JSON
    each shaping of it made, so that it is made once; None for one read once. (A Struct:
    made a thousand times a listing, it costs a third of a frozen dataclass; it holds no
    cycle, so the collector need not track it.)"""

    v2: dict | ListedImage
    shaped: dict | None = None

    def __eq__(self, other: object) -> bool:  # the image, not its cache
        return isinstance(other, ParsedImage) and other.v2 == self.v2


@dataclass(frozen=True, slots=True)
class ListPage:
    """One ``GET /v2/images`` answer: its images in v2's order, and whether v2 said there
    is a next page."""

    images: tuple[ParsedImage, ...]
    has_next: bool
