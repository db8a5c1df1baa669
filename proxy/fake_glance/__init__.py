"""An in-memory Glance v2 image service, as an aiohttp application: ``FakeGlance``.

It stands in for a real Glance 33 (the lab set-up of tests/support/glance.py: sqlite, one
"fs" store, the "trusted" auth shim, RBAC new defaults) in fast tests, ``--demo`` and
benchmarks. Behaviour, status codes and messages follow real Glance, including its odd
corners, because the same contract tests run against both; error bodies are rendered by
WebOb and times read by iso8601, the libraries Glance itself uses. It imports nothing of
the proxy, so that it stays an independent check of it. ``api_version`` selects the newest
minor version served; below 2.7 it emulates Pike (no ``os_hidden`` / ``os_hash_*``, no
``visibility=all``).

Import: ``GET /v2/info/import`` and the ``web-download`` method (from v2.6, as Queens), with
the lab's URI filter (loopback hosts only, any port); not emulated: stage/glance-direct,
tasks, locations/tags/schemas routes, Range downloads, quotas (413),
schema-image.json typed properties, and the pretty-printed sub-schema that jsonschema appends
to 400 messages about *base* properties (the first line is exact).

Modules: ``routes`` (the app and dispatch), ``image_handlers``, ``data_handlers``,
``member_handlers`` (the requests), ``policy`` (caller, rules, scope), ``query`` (list
parameters), ``listing`` (choosing a page), ``sql`` (SQLite's comparisons), ``patch``
(JSON patch), ``schema`` (the image schema), ``store`` (the records), ``views`` (the
documents shown), ``bodies`` (JSON in and out), ``errors`` (GlanceError, WebOb rendering),
``catalogue`` (the demo's images).
"""

from proxy.fake_glance.routes import FakeGlance

__all__ = ["FakeGlance"]
