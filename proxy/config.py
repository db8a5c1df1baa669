"""Settings: frozen dataclasses read from YAML, each overridable from the environment.

Every setting ``section.key`` can be overridden by ``IMAGE_V1_PROXY_SECTION_KEY``
(``upstream.url`` -> ``IMAGE_V1_PROXY_UPSTREAM_URL``). Any problem raises ConfigError,
whose text is one line naming the key and what is wrong with it.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import yaml
from yarl import URL

from proxy.v1.query import MAX_LIMIT

ENV_PREFIX = "IMAGE_V1_PROXY_"


class ConfigError(Exception):
    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key


@dataclass(frozen=True)
class ListenSettings:
    host: str = "0.0.0.0"
    port: int = 9292
    public_url: str = ""
    trust_forwarded_headers: bool = False
    workers: int = 1


@dataclass(frozen=True)
class UpstreamSettings:
    url: str = ""
    connect_timeout: float = 5.0
    timeout: float = 30.0
    max_connections: int = 100
    retries: int = 2
    retry_backoff: float = 0.05
    verify_tls: bool = True
    ca_file: str = ""
    client_cert: str = ""
    client_key: str = ""
    allow_plain_http: bool = False
    max_body_bytes: int = 32 * 1024 * 1024
    version_refresh_interval: float = 300.0


@dataclass(frozen=True)
class LimitsSettings:
    max_request_line: int = 8190
    max_header_bytes: int = 8190
    max_body_bytes: int = 1024 * 1024


@dataclass(frozen=True)
class ListingSettings:
    default_limit: int = 25
    max_limit: int = 1000
    memo_images: int = 4096
    memo_bytes: int = 16 * 1024 * 1024


@dataclass(frozen=True)
class IdentitySettings:
    require_token: bool = True
    keystone_url: str = ""
    admin_roles: str = "admin"
    cache_seconds: float = 60.0


@dataclass(frozen=True)
class HealthSettings:
    ready_max_age: float = 10.0


@dataclass(frozen=True)
class ShutdownSettings:
    grace: float = 5.0
    deadline: float = 30.0


@dataclass(frozen=True)
class LogSettings:
    level: str = "INFO"
    format: str = "json"


@dataclass(frozen=True)
class WritesSettings:
    # what v1's is_public false (or no is_public) becomes on v2: "shared", as v1 wrote it,
    # or "private" for upstreams that allow nothing else (Huawei IMS)
    not_public_visibility: str = "shared"
    # comma-separated prefixes of properties the upstream keeps for itself, which v1's
    # purge leaves alone: none on Glance (there, every property is the user's); "__" on
    # Huawei IMS, whose __* properties are system properties a user cannot remove
    upstream_property_prefixes: str = ""

    @property
    def upstream_prefixes(self) -> tuple[str, ...]:
        return tuple(p.strip() for p in self.upstream_property_prefixes.split(",") if p.strip())


@dataclass(frozen=True)
class DeprecationSettings:
    deprecation_date: str = ""
    sunset_date: str = ""
    link: str = ""


@dataclass(frozen=True)
class Settings:
    listen: ListenSettings = field(default_factory=ListenSettings)
    upstream: UpstreamSettings = field(default_factory=UpstreamSettings)
    listing: ListingSettings = field(default_factory=ListingSettings)
    limits: LimitsSettings = field(default_factory=LimitsSettings)
    identity: IdentitySettings = field(default_factory=IdentitySettings)
    health: HealthSettings = field(default_factory=HealthSettings)
    shutdown: ShutdownSettings = field(default_factory=ShutdownSettings)
    log: LogSettings = field(default_factory=LogSettings)
    writes: WritesSettings = field(default_factory=WritesSettings)
    deprecation: DeprecationSettings = field(default_factory=DeprecationSettings)


_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def load_settings(
    path: str | Path | None, environ: Mapping[str, str], *, require_upstream: bool = True
) -> Settings:
    """Settings from the YAML file at ``path`` (optional) and ``environ``."""
    document = _read_yaml(path) if path is not None else {}
    sections = {}
    for section in dataclasses.fields(Settings):
        given = document.pop(section.name, None) or {}
        if not isinstance(given, dict):
            raise ConfigError(section.name, f"must be a mapping, got {given!r}")
        sections[section.name] = _section(section.name, given, environ)
    if document:
        raise ConfigError(sorted(document)[0], "unknown setting")
    settings = Settings(**sections)
    _validate(settings, require_upstream)
    return settings


def _read_yaml(path: str | Path) -> dict:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError("config file", f"cannot read {path}: {exc.strerror}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError("config file", f"{path} is not valid YAML: {_one_line(exc)}") from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ConfigError("config file", f"{path} must hold a mapping of sections")
    return document


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


def _section(name: str, given: dict, environ: Mapping[str, str]):
    cls = _SECTION_TYPES[name]
    values = {}
    known = {f.name: f for f in dataclasses.fields(cls)}
    for key in given:
        if key not in known:
            raise ConfigError(f"{name}.{key}", "unknown setting")
    for key, spec in known.items():
        dotted = f"{name}.{key}"
        env_name = ENV_PREFIX + f"{name}_{key}".upper()
        if env_name in environ:
            values[key] = _convert(dotted, environ[env_name], spec.type, from_env=True)
        elif key in given:
            values[key] = _convert(dotted, given[key], spec.type, from_env=False)
    return cls(**values)


_SECTION_TYPES = {
    "listen": ListenSettings,
    "upstream": UpstreamSettings,
    "listing": ListingSettings,
    "limits": LimitsSettings,
    "identity": IdentitySettings,
    "health": HealthSettings,
    "shutdown": ShutdownSettings,
    "log": LogSettings,
    "writes": WritesSettings,
    "deprecation": DeprecationSettings,
}


_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def _convert(key: str, value, kind: str, *, from_env: bool):
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if from_env and value.lower() in _TRUE + _FALSE:
            return value.lower() in _TRUE
        raise ConfigError(key, f"must be true or false, got {value!r}")
    if kind == "str":
        if not isinstance(value, str):
            raise ConfigError(key, f"must be a string, got {value!r}")
        return value
    if isinstance(value, bool) or (not from_env and not isinstance(value, (int, float))):
        raise ConfigError(key, f"must be a number, got {value!r}")
    expected = "an integer" if kind == "int" else "a number"
    try:
        number = int(value) if kind == "int" else float(value)
    except ValueError:
        raise ConfigError(key, f"must be {expected}, got {value!r}") from None
    if not math.isfinite(number):
        raise ConfigError(key, f"must be {expected}, got {value!r}")
    return number


def _validate(settings: Settings, require_upstream: bool) -> None:
    if not 1 <= settings.listen.workers <= 64:
        raise ConfigError("listen.workers", "must be between 1 and 64")
    if not 0 < settings.listen.port < 65536:
        raise ConfigError("listen.port", f"must be between 1 and 65535, got {settings.listen.port}")
    if settings.listen.public_url:
        _check_url("listen.public_url", settings.listen.public_url)
    if require_upstream or settings.upstream.url:
        _check_url("upstream.url", settings.upstream.url)
        _check_transport(settings.upstream)
    if settings.identity.keystone_url:
        _check_url("identity.keystone_url", settings.identity.keystone_url)
        keystone = URL(settings.identity.keystone_url)
        if (keystone.scheme == "http" and not settings.upstream.allow_plain_http
                and not _is_loopback(keystone.host)):
            raise ConfigError("identity.keystone_url", "plain http is allowed only to a "
                              "loopback Keystone: use https, or set upstream.allow_plain_http")
    if settings.health.ready_max_age <= 0:
        raise ConfigError("health.ready_max_age", "must be greater than 0")
    for key in ("grace", "deadline"):
        if getattr(settings.shutdown, key) < 0:
            raise ConfigError(f"shutdown.{key}", "must be 0 or more")
    if settings.identity.cache_seconds < 0:
        raise ConfigError("identity.cache_seconds", "must be 0 or more")
    for key in ("connect_timeout", "timeout", "version_refresh_interval"):
        if getattr(settings.upstream, key) <= 0:
            raise ConfigError(f"upstream.{key}", "must be greater than 0")
    for key in ("max_connections", "max_body_bytes"):
        if getattr(settings.upstream, key) < 1:
            raise ConfigError(f"upstream.{key}", "must be at least 1")
    if not 0 <= settings.upstream.retries <= 10:
        raise ConfigError("upstream.retries", "must be between 0 and 10")
    if settings.upstream.retry_backoff < 0:
        raise ConfigError("upstream.retry_backoff", "must be 0 or more")
    for key in ("max_request_line", "max_header_bytes"):
        if not 256 <= getattr(settings.limits, key) <= 65536:
            raise ConfigError(f"limits.{key}", "must be between 256 and 65536")
    if settings.limits.max_body_bytes < 0:
        raise ConfigError("limits.max_body_bytes", "must be 0 or more")
    listing = settings.listing
    if not 1 <= listing.max_limit <= MAX_LIMIT:
        raise ConfigError("listing.max_limit",
                          f"must be between 1 and {MAX_LIMIT} (v1's api_limit_max)")
    if not 1 <= listing.default_limit <= listing.max_limit:
        raise ConfigError("listing.default_limit", "must be between 1 and listing.max_limit")
    if listing.memo_images < 0:
        raise ConfigError("listing.memo_images", "must be 0 (off) or more")
    if listing.memo_bytes < 0:
        raise ConfigError("listing.memo_bytes", "must be 0 (off) or more")
    if settings.writes.not_public_visibility not in ("shared", "private"):
        raise ConfigError("writes.not_public_visibility", "must be shared or private")
    if settings.log.format not in ("json", "plain"):
        raise ConfigError("log.format", "must be json or plain")
    for key in ("deprecation_date", "sunset_date"):
        text = getattr(settings.deprecation, key)
        if text:
            try:
                date.fromisoformat(text)
            except ValueError:
                raise ConfigError(f"deprecation.{key}", f"must be a date like 2027-06-30, "
                                  f"got {text!r}") from None
    if settings.deprecation.link:
        _check_url("deprecation.link", settings.deprecation.link)
    if settings.log.level.upper() not in _LOG_LEVELS:
        raise ConfigError("log.level", f"must be one of {', '.join(_LOG_LEVELS)}")


def _check_url(key: str, text: str) -> None:
    if not text:
        raise ConfigError(key, "is required")
    try:
        url = URL(text)
    except ValueError as exc:
        raise ConfigError(key, f"is not a URL: {exc}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigError(key, f"must be an http:// or https:// URL, got {text!r}")
    if url.user or url.password or url.query_string or url.fragment:
        raise ConfigError(key, "must not carry credentials, a query or a fragment")


def _check_transport(upstream: UpstreamSettings) -> None:
    url = URL(upstream.url)
    if url.scheme == "http" and not upstream.allow_plain_http and not _is_loopback(url.host):
        raise ConfigError("upstream.url", "plain http is allowed only to a loopback upstream: "
                          "use https, or set upstream.allow_plain_http")
    for key in ("ca_file", "client_cert", "client_key"):
        path = getattr(upstream, key)
        if path and not Path(path).is_file():
            raise ConfigError(f"upstream.{key}", f"no such file: {path}")
    if upstream.client_key and not upstream.client_cert:
        raise ConfigError("upstream.client_key", "needs upstream.client_cert")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def log_level(settings: Settings) -> int:
    return logging.getLevelName(settings.log.level.upper())
