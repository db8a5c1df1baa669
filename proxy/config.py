"""Settings: frozen dataclasses read from YAML, each overridable from the environment.

Every setting ``section.key`` can be overridden by ``IMAGE_V1_PROXY_SECTION_KEY``
(``upstream.url`` -> ``IMAGE_V1_PROXY_UPSTREAM_URL``). Any problem raises ConfigError,
whose text is one line naming the key and what is wrong with it.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import yaml
from yarl import URL

from proxy.v1.query import MAX_LIMIT

ENV_PREFIX = "IMAGE_V1_PROXY_"
# IMAGE_V1_PROXY_* variables that are known but name no setting: the file to read, and
# those the project's own tests and bench read (they may be set where the proxy starts).
ENV_NOT_SETTINGS = frozenset({"IMAGE_V1_PROXY_CONFIG", "IMAGE_V1_PROXY_TEST_CACHE",
                              "IMAGE_V1_PROXY_SOAK_SECONDS", "IMAGE_V1_PROXY_PYTHON38"})
# --demo listens here unless listen.host is given (file, environment or --host): it needs
# no token and takes writes from anyone who can reach it.
DEMO_HOST = "127.0.0.1"


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
    read_bytes: int = 8 * 1024 * 1024


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
class TombstoneSettings:
    # "" -> the embedded SQLite file at sqlite_path; else a SQLAlchemy async URL shared by
    # the replicas (postgresql+asyncpg://..., mysql+aiomysql://...)
    database_url: str = ""
    sqlite_path: str = "~/.local/state/image-v1-proxy/tombstones.sqlite"
    # tombstones older than this are purged, as v1's glance-manage db purge did
    retention_days: float = 30.0


@dataclass(frozen=True)
class NotificationSettings:
    # "" -> no bus: only the proxy's own deletions are recorded
    url: str = ""
    exchange: str = "glance"  # Glance sets oslo.messaging's control_exchange to "glance"
    topic: str = "notifications"  # oslo.messaging's; image.delete comes as <topic>.info
    queue: str = "image-v1-proxy-tombstones"  # durable; replicas share it
    exchange_durable: bool = False  # oslo.messaging's amqp_durable_queues default


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
    tombstones: TombstoneSettings = field(default_factory=TombstoneSettings)
    notifications: NotificationSettings = field(default_factory=NotificationSettings)


_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def load_settings(
    path: str | Path | None, environ: Mapping[str, str], *, require_upstream: bool = True,
    demo: bool = False,
) -> Settings:
    """Settings from the YAML file at ``path`` (optional) and ``environ``. With ``demo``,
    no upstream is needed and ``listen.host`` defaults to ``DEMO_HOST``."""
    document = _read_yaml(path) if path is not None else {}
    _check_environment(environ)
    listen = document.get("listen")
    host_given = (ENV_PREFIX + "LISTEN_HOST" in environ
                  or (isinstance(listen, dict) and "host" in listen))
    sections = {}
    for section in dataclasses.fields(Settings):
        given = document.pop(section.name, None) or {}
        if not isinstance(given, dict):
            raise ConfigError(section.name, f"must be a mapping, got {given!r}")
        sections[section.name] = _section(section.name, given, environ)
    if document:
        unknown = sorted(map(str, document))[0]
        near = difflib.get_close_matches(unknown, _SECTION_TYPES, n=1, cutoff=0.8)
        raise ConfigError(unknown, "unknown setting" + (
            f", did you mean {near[0]}?" if near else _did_you_mean(unknown)))
    if demo and not host_given:
        sections["listen"] = dataclasses.replace(sections["listen"], host=DEMO_HOST)
    settings = Settings(**sections)
    _validate(settings, require_upstream and not demo)
    return settings


def _env_name(section: str, key: str) -> str:
    return ENV_PREFIX + f"{section}_{key}".upper()


def _check_environment(environ: Mapping[str, str]) -> None:
    """An IMAGE_V1_PROXY_* variable naming no setting is refused, as a misspelt key in
    the file is: it would otherwise be ignored without a word."""
    known = {_env_name(section, key) for section, key in _ALL_KEYS}
    for name in sorted(environ):
        if name.startswith(ENV_PREFIX) and name not in known and name not in ENV_NOT_SETTINGS:
            near = _nearest(name[len(ENV_PREFIX):], "_")
            raise ConfigError(name, "unknown setting" + (
                f", did you mean {_env_name(*near)}?" if near else
                f"; each setting section.key is {ENV_PREFIX}<SECTION>_<KEY> "
                "(image-v1-proxy --example-config shows them all)"))


def _did_you_mean(name: str) -> str:
    """``, did you mean <section.key>?`` for a misspelt key of the file, or nothing."""
    near = _nearest(name, ".")
    return f", did you mean {'.'.join(near)}?" if near else ""


def _nearest(name: str, sep: str) -> tuple[str, str] | None:
    """The setting (section, key) that ``name`` (``section<sep>key``, any case) most likely
    meant: within its section when that is spelt right, else the nearest whole name; else
    the one setting whose key alone it is (``port``). None when nothing is near."""
    name = name.upper()
    best, best_score = None, 0.0
    for section, key in _ALL_KEYS:
        prefix = f"{section}{sep}".upper()
        if name.startswith(prefix):
            score, enough = _likeness(name[len(prefix):], key.upper()), 0.65
        else:
            score, enough = _likeness(name, prefix + key.upper()), 0.8
        if score >= enough and score > best_score:
            best, best_score = (section, key), score
    if best is None:
        by_key = [(section, key) for section, key in _ALL_KEYS if key.upper() == name]
        best = by_key[0] if len(by_key) == 1 else None
    return best


def _likeness(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b).ratio()


def _read_yaml(path: str | Path) -> dict:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError("config file", f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError("config file", f"{path}: not UTF-8 text (byte {exc.start})") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError("config file", _yaml_error(path, exc)) from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ConfigError("config file", f"{path} must hold a mapping of sections")
    return document


def _yaml_error(path: str | Path, exc: yaml.YAMLError) -> str:
    """``<path>, line L, column C: not valid YAML: <problem> (<context>)``: one line."""
    mark = getattr(exc, "problem_mark", None)
    if mark is None:
        return f"{path}: not valid YAML: {_one_line(exc)}"
    problem = _one_line(getattr(exc, "problem", None) or "syntax error")
    context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context:
        where = (f" started on line {context_mark.line + 1}"
                 if context_mark is not None and context_mark.line != mark.line else "")
        problem += f" ({_one_line(context)}{where})"
    return f"{path}, line {mark.line + 1}, column {mark.column + 1}: not valid YAML: {problem}"


def _one_line(exc: object) -> str:
    return " ".join(str(exc).split())


def _section(name: str, given: dict, environ: Mapping[str, str]):
    cls = _SECTION_TYPES[name]
    values = {}
    known = {f.name: f for f in dataclasses.fields(cls)}
    for key in given:
        if key not in known:
            raise ConfigError(f"{name}.{key}", "unknown setting" + _did_you_mean(f"{name}.{key}"))
    for key, spec in known.items():
        dotted = f"{name}.{key}"
        env_name = _env_name(name, key)
        if env_name in environ:
            values[key] = _convert(dotted, environ[env_name], spec.type)
        elif key in given:
            values[key] = _convert(dotted, given[key], spec.type)
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
    "tombstones": TombstoneSettings,
    "notifications": NotificationSettings,
}


_ALL_KEYS = [(name, f.name) for name, cls in _SECTION_TYPES.items()
             for f in dataclasses.fields(cls)]


_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def _convert(key: str, value, kind: str):
    """A value from the file or the environment. Text is read the same way from both: a
    number in quotes in the file (``port: "9292"``) is the number, as in the environment."""
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
            return value.strip().lower() in _TRUE
        raise ConfigError(key, f"must be true or false, got {value!r}")
    if kind == "str":
        if isinstance(value, date):  # YAML reads an unquoted 2027-06-30 as a date
            return value.isoformat()
        if not isinstance(value, str):
            raise ConfigError(key, f"must be a string, got {value!r}")
        return value
    expected = "an integer" if kind == "int" else "a number"
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ConfigError(key, f"must be {expected}, got {value!r}")
    try:
        if kind == "int" and isinstance(value, float):
            if not value.is_integer():
                raise ValueError
            number = int(value)
        else:
            number = int(value) if kind == "int" else float(value)
    except (ValueError, OverflowError):
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
        _check_no_version("upstream.url", settings.upstream.url, "v2")
        _check_transport(settings.upstream)
    if settings.identity.keystone_url:
        _check_url("identity.keystone_url", settings.identity.keystone_url)
        keystone = URL(settings.identity.keystone_url)
        if (keystone.scheme == "http" and not settings.upstream.allow_plain_http
                and not is_loopback(keystone.host)):
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
    if settings.tombstones.retention_days <= 0:
        raise ConfigError("tombstones.retention_days", "must be greater than 0")
    if listing.memo_bytes < 0:
        raise ConfigError("listing.memo_bytes", "must be 0 (off) or more")
    if listing.read_bytes < 0:
        raise ConfigError("listing.read_bytes", "must be 0 (no bound) or more")
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


_API_VERSION = re.compile(r"v\d+(\.\d+)?", re.IGNORECASE)


def _check_no_version(key: str, text: str, added: str) -> None:
    """A URL ending in an API version (``/v2``, ``/v1``, ``/v2/``) is refused: the proxy
    adds ``/<added>`` itself, and would ask ``/v2/v2/images``."""
    url = URL(text)
    segments = [s for s in url.path.split("/") if s]
    if segments and _API_VERSION.fullmatch(segments[-1]):
        root = f"{url.scheme}://{url.raw_authority}" + "".join(f"/{s}" for s in segments[:-1])
        raise ConfigError(key, f"ends in the API version /{segments[-1]}: give the URL without "
                          f"the version ({root}); the proxy adds /{added} itself")


def _check_transport(upstream: UpstreamSettings) -> None:
    url = URL(upstream.url)
    if url.scheme == "http" and not upstream.allow_plain_http and not is_loopback(url.host):
        raise ConfigError("upstream.url", "plain http is allowed only to a loopback upstream: "
                          "use https, or set upstream.allow_plain_http")
    for key in ("ca_file", "client_cert", "client_key"):
        path = getattr(upstream, key)
        if path and not Path(path).is_file():
            raise ConfigError(f"upstream.{key}", f"no such file: {path}")
    if upstream.client_key and not upstream.client_cert:
        raise ConfigError("upstream.client_key", "needs upstream.client_cert")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def log_level(settings: Settings) -> int:
    return logging.getLevelName(settings.log.level.upper())
