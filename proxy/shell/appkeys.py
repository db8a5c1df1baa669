"""Typed keys for what the app and each request carry (aiohttp ``AppKey``). The request's
id and upstream calls are the access log's keys (proxy.ops.accesslog), named here too."""

from __future__ import annotations

from aiohttp import web

from proxy.config import Settings
from proxy.ops.accesslog import REQUEST_ID, ROUTE, UPSTREAM_CALLS_KEY
from proxy.ops.metrics import Metrics
from proxy.shell.keystone import Keystone
from proxy.shell.listing_memo import ListingMemo
from proxy.shell.readiness import VersionWatch
from proxy.shell.tombstone_store import TombstoneStore
from proxy.shell.upstream import Upstream

SETTINGS = web.AppKey("settings", Settings)
UPSTREAM = web.AppKey("upstream", Upstream)
VERSIONS = web.AppKey("versions", VersionWatch)
KEYSTONE = web.AppKey("keystone", Keystone | None)  # None: identity lookups are off
METRICS = web.AppKey("metrics", Metrics)
LISTING_MEMO = web.AppKey("listing_memo", ListingMemo)
TOMBSTONES = web.AppKey("tombstones", TombstoneStore)  # deleted images' last v1 records

__all__ = ["SETTINGS", "UPSTREAM", "VERSIONS", "KEYSTONE", "METRICS", "LISTING_MEMO", "REQUEST_ID",
           "ROUTE", "TOMBSTONES", "UPSTREAM_CALLS_KEY"]
