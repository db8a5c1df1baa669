"""Typed keys for what the app and each request carry (aiohttp ``AppKey``)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from proxy.config import Settings
from proxy.discovery import VersionWatch
from proxy.imagememo import ImageMemo
from proxy.keystone import Keystone
from proxy.metrics import Metrics
from proxy.v2.client import Upstream

SETTINGS = web.AppKey("settings", Settings)
DRAINING = web.AppKey("draining", asyncio.Event)  # set on SIGTERM: readiness turns 503
UPSTREAM = web.AppKey("upstream", Upstream)
VERSIONS = web.AppKey("versions", VersionWatch)
KEYSTONE = web.AppKey("keystone", Keystone | None)  # None: identity lookups are off
METRICS = web.AppKey("metrics", Metrics)
IMAGE_MEMO = web.AppKey("image_memo", ImageMemo)
REQUEST_ID = web.RequestKey("request_id", str)
UPSTREAM_CALLS_KEY = web.RequestKey("upstream_calls", list)  # read by the access log
