"""A v1 ListQuery -> the v2 ``GET /v2/images`` requests that answer it (pure, sans I/O).

``ListPaging`` is a small state machine in the h11 style: the shell asks it for the first
request, feeds it each v2 answer as a ListPage (proxy.v2.answers), and gets back the next
request or None; then ``images`` holds the page's images, in v2's order. It pages the
upstream until the v1 page is full, because python-glanceclient stops at the first short
page (docs/v2-upstream.md#97-pagination-and-markers, docs/v1-api.md#72-image-list-and-paging).
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from proxy.v1.errors import V1Error
from proxy.v1.images import V2_OWN_FIELDS
from proxy.v1.query import MAX_LIMIT, ListQuery, canonical_uuid, invalid_marker
from proxy.v2.answers import ListPage, ParsedImage
from proxy.v2.errors import upstream_message, v1_error_from_upstream

# Keys v2 reads as its own parameters or fields, so ``property-<key>`` cannot be asked as
# a custom-property filter (docs/v2-upstream.md#12-parameters,
# docs/v2-upstream.md#95-property-filters); no custom property can
# carry these names anyway.
_V2_QUERY_KEYS = V2_OWN_FIELDS | {
    "limit", "marker", "sort", "sort_key", "sort_dir", "member_status", "tag", "changes-since",
    # attributes of Glance's Image model: v2 filters on them as columns (500 for these)
    "properties", "members", "tags", "metadata",
}

# v1 shows uploading/importing images as saving (proxy.v1.images), so a filter on
# saving must find them too.
_STATUS_QUERY = {"saving": "in:saving,uploading,importing"}

Params = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Narrowing:
    """What a v1 listing asks that v2 cannot, checked image by image on v2's own order.

    ``as_user_of``: an admin's default list, which v1 showed as a user of the admin's
    project would see it (public, own, shared with it;
    docs/v1-api.md#23-is_public-and-the-admins-view), while a v2 admin lists every
    project's images. ``non_public``: an admin's ``is_public=false``, every image but the
    public ones. ``properties``: custom-property filters v2 would read as its own
    parameters (docs/v2-upstream.md#95-property-filters).
    """

    as_user_of: str | None = None
    non_public: bool = False
    properties: tuple[tuple[str, str], ...] = ()

    @property
    def matches_nothing(self) -> bool:
        """A property filter on a v2 field: no custom property can carry that name."""
        return any(key in V2_OWN_FIELDS for key, _ in self.properties)

    def needs_membership(self, image: dict) -> bool:
        """Whether keeping ``image`` depends on the admin's project being one of its members."""
        return (self.as_user_of is not None and image.get("visibility") == "shared"
                and image.get("owner") != self.as_user_of)

    def keeps(self, image: dict, shared_with_caller: Container[str]) -> bool:
        visibility = image.get("visibility")
        if self.as_user_of is not None and not (
            visibility == "public" or image.get("owner") == self.as_user_of
            or image["id"] in shared_with_caller
        ):
            return False
        if self.non_public and visibility == "public":
            return False
        # A v2 field is never a custom property, whatever its value.
        return all(k not in V2_OWN_FIELDS and image.get(k) == v for k, v in self.properties)


@dataclass(frozen=True)
class ListPlan:
    """The fixed part of every v2 request for one listing, and how many images it wants
    (None: every one, however many pages that takes)."""

    params: Params
    limit: int | None
    marker: str | None
    narrowing: Narrowing | None = None


# /v1/shared-images/{member}: every shared image the caller may see, in any member status
# (the membership of each is then asked; docs/v1-api.md#5-members).
SHARED_IMAGES = ListPlan(params=(("visibility", "shared"), ("member_status", "all")),
                         limit=None, marker=None)


@lru_cache(maxsize=1024)
def plan_list(query: ListQuery, *, admin_project: str | None = None) -> ListPlan:
    """``admin_project``: the caller's project when the caller is known to be an admin.
    Remembered (the plan is immutable): tools poll with the same query again and again."""
    narrowing_properties = []
    params: list[tuple[str, str]] = [
        # v1 lists shared images in any member status; v2 defaults to accepted only.
        ("member_status", "all"),
        ("sort_key", query.sort_key),
        ("sort_dir", query.sort_dir),
    ]
    for name, value in query.exact:
        # v2 parses "op:value" in these filters; eq: keeps any value (":" included) exact.
        if name == "status" and value in _STATUS_QUERY:
            params.append((name, _STATUS_QUERY[value]))
        else:
            params.append((name, f"eq:{value}"))
    for name in ("size_min", "size_max", "min_ram"):
        value = getattr(query, name)
        if value is not None:
            params.append((name, str(value)))
    if query.min_disk is not None:
        params.append(("min_disk", query.min_disk))
    if query.protected is not None:
        params.append(("protected", "true" if query.protected else "false"))
    if query.changes_since is not None:
        # v1 compared strictly after (docs/v1-api.md#24-filter-semantics); v2 has no changes-since.
        params.append(("updated_at", "gt:" + v2_time(query.changes_since)))
    for key, value in query.properties:
        # v2 reads these keys as its own (and *_min/*_max as ranges, a 500 for properties).
        if key in _V2_QUERY_KEYS or key.endswith(("_min", "_max")):
            narrowing_properties.append((key, value))
        else:
            params.append((key, value))
    as_user_of, non_public = _visibility_rule(query.is_public, admin_project)
    narrowing = None
    if as_user_of is not None or non_public or narrowing_properties:
        narrowing = Narrowing(as_user_of, non_public, tuple(narrowing_properties))
    # v2 looks markers up by their exact spelling; v1 accepted any UUID-like one.
    marker = canonical_uuid(query.marker) if query.marker is not None else None
    return ListPlan(params=tuple(params), limit=query.limit, marker=marker, narrowing=narrowing)


def _visibility_rule(is_public: str | None, admin_project: str | None):
    """(as_user_of, non_public) for ``is_public``, v1's rules
    (docs/v1-api.md#23-is_public-and-the-admins-view). For admins: absent, true or 1 mean
    "as a user of my project", none means everything, false or 0 every non-public image.
    For anyone else (or a caller not known to be an admin) v1 checked the value and then
    ignored it: they see what they may see, public, own and shared with them."""
    if admin_project is None:
        return None, False
    word = is_public.lower() if is_public is not None else None
    if word in ("false", "0"):
        return None, True
    if word == "none":
        return None, False
    return admin_project, False


def v2_time(moment: datetime) -> str:
    """An aware UTC datetime as v2's ISO 8601 with ``Z``, keeping sub-seconds when present."""
    text = f"{moment.year:04d}-{moment:%m-%dT%H:%M:%S}"
    if moment.microsecond:
        text += f".{moment.microsecond:06d}"
    return text + "Z"


class ListPaging:
    """Pages ``GET /v2/images`` until ``plan.limit`` images are collected or v2 runs out."""

    def __init__(self, plan: ListPlan) -> None:
        self.plan = plan
        self.images: list[ParsedImage] = []
        self.requests = 0
        self._marker = plan.marker

    def first_request(self) -> Params:
        # limit=0 still asks the upstream once, so that the token and the marker are
        # checked as v1 checked them; the answer is then discarded.
        return self._request(self.plan.marker, max(self._wanted(), 1))

    def membership_to_check(self, page: ListPage) -> tuple[list[str], str] | None:
        """(image ids, project): which images of ``page`` are kept only if that project is
        one of their members (an admin's view as a user of its project), to be asked
        before ``feed``; None when nothing needs asking."""
        narrowing = self.plan.narrowing
        if narrowing is None or narrowing.as_user_of is None:
            return None
        ids = [image.v2["id"] for image in page.images if narrowing.needs_membership(image.v2)]
        return (ids, narrowing.as_user_of) if ids else None

    def feed(self, page: ListPage, shared_with_caller: Container[str] = frozenset()
             ) -> Params | None:
        """Take one v2 answer (and which of its images are shared with the caller, as
        asked by membership_to_check); return the next request, or None when done."""
        images = page.images
        narrowing = self.plan.narrowing
        kept = images if narrowing is None else [
            image for image in images if narrowing.keeps(image.v2, shared_with_caller)]
        self.images.extend(kept if self.plan.limit is None else kept[:self._wanted()])
        last = images[-1].v2["id"] if images else None
        if (self._wanted() == 0 or last is None or not page.has_next or last == self._marker
                or (narrowing is not None and narrowing.matches_nothing)):
            # (a filter that matches nothing still asked once: token, marker; an upstream
            # whose page ends at the marker it was given would be asked forever)
            return None
        return self._request(last, self._wanted())

    def error(self, status: int, body: bytes) -> V1Error:
        """The v1 answer to an upstream error status met while paging."""
        marker = self.plan.marker
        if self.requests == 1 and marker is not None:
            # The caller's own marker, unknown (400) or invisible (403) to v2: v1 said the
            # same thing for both (docs/v2-upstream.md#97-pagination-and-markers).
            message = upstream_message(body)
            if status in (400, 403) and marker in message:
                return invalid_marker()
        return v1_error_from_upstream(status, body)

    def _wanted(self) -> int:
        """How many more images the plan wants (MAX_LIMIT a page when it wants all)."""
        if self.plan.limit is None:
            return MAX_LIMIT
        return self.plan.limit - len(self.images)

    def _request(self, marker: str | None, wanted: int) -> Params:
        self.requests += 1
        self._marker = marker
        if self.plan.narrowing is not None:
            wanted = MAX_LIMIT  # part of each v2 page may be dropped: ask full pages
        params = self.plan.params + (("limit", str(wanted)),)
        if marker is not None:
            params += (("marker", marker),)
        return params
