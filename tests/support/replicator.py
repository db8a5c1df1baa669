"""Glance's own ``glance-replicator`` between clouds that each have a proxy in front.

``glance-replicator`` ships with Glance (``glance/cmd/replicator.py``; the Glance 33 venv of
tests/support/glance.py has it as ``bin/glance-replicator``) and speaks only the v1 API, over
one keep-alive ``http.client`` connection per server:

* lists with ``GET /v1/images/detail?is_public=None`` (an admin's "every image"), then
  ``&marker=<last id>`` until a page comes back empty;
* reads an image's metadata with ``HEAD /v1/images/<id>`` (the ``x-image-meta-*`` names
  must be lower case: ``_image_present`` looks for the key ``status``);
* creates with ``POST /v1/images``, every field it listed as an ``x-image-meta-<field>``
  header (``x-image-meta-id`` keeps the id), properties as ``x-image-meta-property-<k>``
  (a null property as an empty value), ``Content-Length`` = the listed ``size``, the data
  streamed from the source's ``GET /v1/images/<id>`` (``livecopy``) or from the dump;
* updates with ``PUT /v1/images/<id>`` and the same headers (no purge header: v1 purges
  what is not repeated).

Glance 33's options: ``--token``/``-t`` (one token for both servers; the old
``--mastertoken``/``--slavetoken`` are gone, and ``sourcetoken``/``targettoken`` can only be
set in a ``--config-file``), ``--dontreplicate``/``-D`` (a space-separated list of fields
it strips before sending; default ``created_at date deleted_at location updated_at``),
``--metaonly``, ``--chunksize``. Servers are given as ``host:port``. ``size`` uses the
target token, ``dump`` the source token.

Two facts of the tool itself on Python 3 (as much against a real v1 server as through the
proxy), which the tier works with rather than around:

* ``http.client`` refuses a ``None`` header value, so the first image with a null top-level
  field that is not in ``-D`` ends the run (``ERROR: expected string or bytes-like object``,
  exit 1). For an active image behind the proxy that is ``virtual_size`` whenever Glance
  could not measure the data; hence ``DONTREPLICATE``.
* ``load`` opens each dumped ``.img`` file in **text** mode and ``http.client`` re-encodes
  what it reads as ISO-8859-1: only ASCII data loads byte for byte (other data fails with
  ``UnicodeDecodeError`` or arrives altered). ``livecopy`` streams binary data correctly.

Public surface:
    DONTREPLICATE, ADMIN
    replicator_exe()                         -> Path of glance-replicator (installs Glance)
    run_replicator(exe, home, command, *args, token=ADMIN, dontreplicate=DONTREPLICATE)
    host_port(url)                           -> "127.0.0.1:PORT"
    Cloud, start_clouds(names, workdir, keystone_url), stop_clouds(clouds)
    SourceImage, source_images(), load_source(url, images)
    v2_core_fields(url), v2_image(url, id), v2_images(url), v2_data(url, id)
    custom_properties(doc, core)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shlex
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from proxy.config import load_settings
from proxy.shell.app import make_app
from tests.support.catalogue import ADMIN, V2Api
from tests.support.glance import (GlanceServer, PortInUseError, clean_env,
                                  ensure_glance_venv, free_port)
from tests.support.servers import ThreadedApp

# Glance's default list plus virtual_size: v2 measures it itself on the target (and the
# proxy never sends it), and it is null whenever Glance could not inspect the data, which
# would stop the run (see the module docstring).
DONTREPLICATE = "created_at date deleted_at location updated_at virtual_size"

# Each cloud's Glance pages its lists this small, so that the proxy pages the upstream for
# real while serving the replicator's v1 lists.
UPSTREAM_PAGE_LIMIT = 3


# ------------------------------------------------------------------- the tool

def replicator_exe() -> Path:
    """``glance-replicator`` of the Glance 33 venv (installed on first use)."""
    exe = ensure_glance_venv() / "bin" / "glance-replicator"
    if not exe.exists():
        raise RuntimeError(f"{exe} missing from the Glance venv")
    return exe


def host_port(url: str) -> str:
    """What the replicator takes for a server: ``host:port``, no scheme."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}"


@dataclass
class Run:
    """One glance-replicator run: its command line, exit code and output."""

    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def command_line(self) -> str:
        return shlex.join(self.argv)

    def __str__(self) -> str:
        return (f"$ {self.command_line}\n(exit {self.returncode}, {self.seconds:.1f} s)\n"
                f"--- stdout\n{self.stdout}--- stderr\n{self.stderr}")


def run_replicator(exe: Path, home: Path, command: str, *args: str, token: str = ADMIN,
                   dontreplicate: str = DONTREPLICATE, debug: bool = False,
                   timeout: float = 120) -> Run:
    """``glance-replicator --token T --dontreplicate D <command> <args>``, as an operator
    types it. ``home`` is its HOME and working directory (empty: no
    ``~/.glance/glance-replicator.conf`` is found by oslo.config). Never raises on a
    non-zero exit."""
    argv = [str(exe), "--token", token, "--dontreplicate", dontreplicate]
    if debug:
        argv.append("--debug")
    argv += [command, *args]
    home.mkdir(parents=True, exist_ok=True)
    env = clean_env(HOME=str(home), LANG="C.UTF-8", LC_ALL="C.UTF-8",
                    PYTHONWARNINGS="ignore")
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        env.pop(name, None)
    started = time.monotonic()
    proc = subprocess.run(argv, cwd=home, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=timeout)
    return Run(argv, proc.returncode, proc.stdout.decode("utf-8", "replace"),
               proc.stderr.decode("utf-8", "replace"), time.monotonic() - started)


# ----------------------------------------------------------------- the clouds

@dataclass
class Cloud:
    """One v2 cloud (a real Glance 33) with its own proxy in front."""

    name: str
    glance: GlanceServer
    proxy: ThreadedApp | None = None

    @property
    def url(self) -> str:
        """The Glance v2 URL (read directly, not through the proxy)."""
        return self.glance.url

    @property
    def v1(self) -> str:
        """``host:port`` of the proxy, as glance-replicator takes it."""
        assert self.proxy is not None
        return host_port(self.proxy.url)


def _start_glance(workdir: Path) -> GlanceServer:
    server = GlanceServer(ensure_glance_venv(), api_limit_max=UPSTREAM_PAGE_LIMIT)
    for attempt in range(3):
        try:
            return server.start(workdir, free_port())
        except PortInUseError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def start_clouds(names: list[str], workdir: Path, keystone_url: str) -> dict[str, Cloud]:
    """Start one Glance per name (in parallel: about 8 s for three instead of 14), each with
    a proxy configured as an operator would configure it (upstream URL and Keystone,
    nothing else). On failure, whatever was started is stopped again. Started off the
    main thread, the uWSGI masters get no PDEATHSIG: ``stop_clouds`` (and glance.py's
    atexit hook) stop them."""
    ensure_glance_venv()  # install once, before the threads race for the lock
    clouds: dict[str, Cloud] = {}
    with ThreadPoolExecutor(len(names)) as pool:
        futures = {name: pool.submit(_start_glance, workdir / name) for name in names}
        errors = []
        for name, future in futures.items():
            try:
                clouds[name] = Cloud(name, future.result())
            except Exception as error:  # noqa: BLE001 - reported below, after cleanup
                errors.append(f"{name}: {error}")
    try:
        if errors:
            raise RuntimeError("Glance did not start:\n" + "\n".join(errors))
        for cloud in clouds.values():
            settings = load_settings(None, {
                "IMAGE_V1_PROXY_UPSTREAM_URL": cloud.url,
                "IMAGE_V1_PROXY_IDENTITY_KEYSTONE_URL": keystone_url})
            cloud.proxy = ThreadedApp(lambda s=settings: make_app(s)).start()
    except BaseException:
        stop_clouds(clouds)
        raise
    return clouds


def stop_clouds(clouds: dict[str, Cloud]) -> None:
    for cloud in clouds.values():
        if cloud.proxy is not None:
            with contextlib.suppress(Exception):
                cloud.proxy.stop()
            cloud.proxy = None
    with ThreadPoolExecutor(max(1, len(clouds))) as pool:
        list(pool.map(lambda cloud: cloud.glance.stop(), clouds.values()))


# ---------------------------------------------------------- the source images

@dataclass
class SourceImage:
    """An image as the test loads it into the source cloud (the expected values)."""

    name: str
    owner: str
    visibility: str
    disk_format: str
    container_format: str
    data: bytes | None
    properties: dict[str, str] = field(default_factory=dict)
    min_ram: int = 0
    min_disk: int = 0
    protected: bool = False
    members: tuple[str, ...] = ()
    id: str = ""

    @property
    def status(self) -> str:
        return "active" if self.data is not None else "queued"

    @property
    def size(self) -> int | None:
        return None if self.data is None else len(self.data)

    @property
    def checksum(self) -> str | None:
        return None if self.data is None else hashlib.md5(self.data).hexdigest()

    @property
    def v1_listed_to_admin(self) -> bool:
        """In v1's ``is_public=None`` list of an admin of project ``admin``: every image
        except other projects' community images (docs/v1-api.md#23)."""
        return not (self.visibility == "community" and self.owner != "admin")

    @property
    def replicated(self) -> bool:
        """What the replicator copies: the active images it lists."""
        return self.v1_listed_to_admin and self.status == "active"


def _ascii_data(seed: str, size: int) -> bytes:
    """``size`` bytes of printable ASCII, different for every seed (``load`` reads dumps
    as text: see the module docstring)."""
    out = bytearray()
    block = seed.encode()
    while len(out) < size:
        block = hashlib.sha256(block).hexdigest().encode()
        out += block
    return bytes(out[:size])


def source_images() -> list[SourceImage]:
    """The source cloud's images: every visibility, formats, limits, protection, and
    properties, one of them with an empty value."""
    return [
        SourceImage("rep-public-qcow2", "projA", "public", "qcow2", "bare",
                    _ascii_data("a", 70_000),
                    {"os_distro": "cirros", "hw_disk_bus": "virtio", "rep_empty": ""},
                    min_ram=512, min_disk=2),
        SourceImage("rep-private-raw", "projB", "private", "raw", "bare",
                    _ascii_data("b", 4097),
                    {"__os_version": "Ubuntu 22.04 64bit", "build": "7"},
                    protected=True),
        SourceImage("rep-shared-iso", "projA", "shared", "iso", "bare",
                    _ascii_data("c", 1234), {"description": "shared with projC"},
                    min_ram=64, members=("projC",)),
        SourceImage("rep-admin-vmdk-ovf", "admin", "public", "vmdk", "ovf",
                    _ascii_data("d", 3000), {}, min_disk=10),
        SourceImage("rep-admin-community", "admin", "community", "vhd", "bare",
                    _ascii_data("e", 500), {"note": "own community image"}),
        SourceImage("rep-empty-data", "projC", "private", "raw", "bare", b"",
                    {"purpose": "placeholder"}),
        SourceImage("rep-other-community", "projB", "community", "raw", "bare",
                    _ascii_data("f", 100), {"note": "not in v1's lists"}),
        SourceImage("rep-queued", "projA", "private", "qcow2", "bare", None,
                    {"state": "reserved"}),
    ]


def load_source(url: str, images: list[SourceImage]) -> None:
    """Load ``images`` through v2 directly (as their owners, but admins' publicising);
    sets each ``id``."""
    api = V2Api(url)
    for image in images:
        body = {"name": image.name, "disk_format": image.disk_format,
                "container_format": image.container_format,
                "visibility": image.visibility, "min_ram": image.min_ram,
                "min_disk": image.min_disk, "protected": image.protected,
                "owner": image.owner, **image.properties}
        image.id = api.create(ADMIN, **body)["id"]
        if image.data is not None:
            api.upload(ADMIN, image.id, image.data)
        for member in image.members:
            api.add_member(ADMIN, image.id, member)
            api.set_member_status(image.id, member, "accepted")
        doc = api.get(ADMIN, image.id)
        if doc["status"] != image.status:
            raise AssertionError(f"{image.name}: {doc['status']} after loading")


# ------------------------------------------------------------ reading v2 back

def v2_core_fields(url: str) -> frozenset[str]:
    """The names of v2's own fields (its image schema), so that the rest of a v2 image
    document is its custom properties."""
    schema = V2Api(url).ok("GET", "/v2/schemas/image", ADMIN)
    return frozenset(schema["properties"])


def custom_properties(doc: dict, core: frozenset[str]) -> dict[str, str]:
    return {key: value for key, value in doc.items() if key not in core}


def v2_image(url: str, image_id: str) -> dict | None:
    status, _, payload = V2Api(url).call("GET", f"/v2/images/{image_id}", ADMIN)
    if status == 404:
        return None
    if status != 200:
        raise AssertionError(f"GET /v2/images/{image_id} -> {status}: {payload[:300]!r}")
    return json.loads(payload)


def v2_images(url: str) -> list[dict]:
    """Every image of the cloud, as an admin reads them through v2 (all pages)."""
    api = V2Api(url)
    images: list[dict] = []
    path = "/v2/images?visibility=all&member_status=all&limit=100"
    while path:
        page = api.ok("GET", path, ADMIN)
        images += page["images"]
        path = page.get("next")
    return images


def v2_data(url: str, image_id: str) -> bytes:
    status, _, payload = V2Api(url).call("GET", f"/v2/images/{image_id}/file", ADMIN)
    if status not in (200, 204):
        raise AssertionError(f"GET /v2/images/{image_id}/file -> {status}")
    return payload
