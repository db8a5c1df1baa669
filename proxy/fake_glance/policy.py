"""Who the caller is, and what Glance's policy and visibility rules let it do.

In: the request headers (the lab's "trusted" auth shim, then Glance's ContextMiddleware),
and image records. Out: a ``Context`` (project and roles); yes/no answers of Glance 33's
default (new RBAC) rules, of the DB layer's visibility and of the default list scope; or a
``GlanceError`` (401, 403, or 404 where the caller may not even read the image).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

from proxy.fake_glance.errors import GlanceError, not_authorized


@dataclass(frozen=True)
class Context:
    project: str | None
    roles: frozenset[str]

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    def has(self, role: str) -> bool:
        return role in self.roles


def identify(headers) -> Context:
    """The lab "trusted" shim followed by Glance's ContextMiddleware."""
    status = headers.get("X-Identity-Status")
    project = (headers.get("X-Project-Id") or headers.get("X-Tenant-Id")
               or headers.get("X-Tenant"))
    roles = headers.get("X-Roles")
    if status is None:
        parts = unquote(headers.get("X-Auth-Token", "")).split(":")
        if len(parts) in (2, 3) and all(parts):
            project, roles = parts[0], parts[1]
        elif project:
            roles = roles or "member,reader"
        else:
            project, roles = "admin", roles or "admin,member,reader"
        status = "Confirmed"
    if status != "Confirmed":
        raise GlanceError(401)
    names = {r.strip().lower() for r in (roles or "").split(",")} - {""}
    return Context(project or None, frozenset(names))


def member_of(ctx: Context, img: dict) -> str | None:
    """Glance's image target names the caller as "member" of any shared image it does not own."""
    return ctx.project if img["visibility"] == "shared" and ctx.project != img["owner"] else None


def owns(ctx: Context, img: dict) -> bool:
    return ctx.project is not None and ctx.project == img["owner"]


def policy_allows(ctx: Context, rule: str, img: dict) -> bool:
    """Glance 33's default (new RBAC) rules for the image-scoped policies used here."""
    if ctx.is_admin:
        return True
    readable = (owns(ctx, img) or member_of(ctx, img) is not None
                or img["visibility"] in ("community", "public", "shared"))
    if rule == "get_image":
        return ctx.has("reader") and readable
    if rule == "download_image":
        return ctx.has("member") and readable
    if rule == "modify_member":
        return ctx.has("member") and member_of(ctx, img) is not None
    if rule in ("publicize_image", "delete_image_location"):
        return False
    return ctx.has("member") and owns(ctx, img)


def enforce(ctx: Context, rule: str, img: dict) -> None:
    """ImageAPIPolicy._enforce: a failed check on an image the caller may not even read is 404."""
    if policy_allows(ctx, rule, img):
        return
    if rule == "get_image" or not policy_allows(ctx, "get_image", img):
        raise GlanceError(404)
    raise not_authorized(rule)


def check_create(ctx: Context, owner: str | None, visibility: str) -> None:
    """The add_image and publicize_image rules of a create, with Glance's messages."""
    if not ctx.is_admin and not (ctx.has("member") and owner == ctx.project):
        if owner != ctx.project:
            raise GlanceError(403, detail=f"You are not permitted to create images "
                                          f"owned by '{owner}'")
        raise not_authorized("add_image")
    if visibility == "public" and not ctx.is_admin:
        raise not_authorized("publicize_image")


def is_visible(ctx: Context, img: dict) -> bool:
    """The DB layer's visibility check for direct access (any member status counts)."""
    return (ctx.is_admin or img["owner"] is None
            or img["visibility"] in ("public", "community") or owns(ctx, img)
            or (img["visibility"] == "shared" and ctx.project in img["members"]))


def in_default_scope(ctx: Context, img: dict, member_status: str) -> bool:
    """The union of _select_images_query for a regular user (admins see everything)."""
    if ctx.is_admin or img["visibility"] in ("public", "community") or owns(ctx, img):
        return True
    if img["visibility"] != "shared":
        return False
    if ctx.project is None:
        return bool(img["members"])
    member = img["members"].get(ctx.project)
    return member is not None and member_status in ("all", member["status"])


def matches_visibility(ctx: Context, img: dict, visibility: str | None) -> bool:
    """The list's ``visibility`` filter; without one, community images show to their owner only."""
    if visibility is not None:
        return visibility == "all" or img["visibility"] == visibility
    return img["visibility"] != "community" or (ctx.project is not None and owns(ctx, img))
