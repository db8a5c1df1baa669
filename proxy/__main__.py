"""Command line: read the settings, set up logging, serve the proxy (optionally with the demo upstream)."""

from __future__ import annotations

import argparse
import os
import sys
from importlib import resources

from proxy import __version__
from proxy.config import ENV_PREFIX, ConfigError, load_settings, log_level
from proxy.ops.logs import configure_logging
from proxy.ops.serving import StartError, run, serve
from proxy.ops.workers import run_workers
from proxy.shell.app import make_app

EXAMPLE_CONFIG = "config.example.yaml"  # shipped inside the package (proxy/)


def example_config() -> str:
    """The annotated example configuration, as installed with the package."""
    return resources.files("proxy").joinpath(EXAMPLE_CONFIG).read_text(encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="image-v1-proxy",
        description="Serve the OpenStack image API v1/v1.1 on top of a v2 upstream.",
    )
    parser.add_argument("--version", action="version", version=f"image-v1-proxy {__version__}")
    parser.add_argument(
        "--config",
        metavar="FILE",
        default=os.environ.get("IMAGE_V1_PROXY_CONFIG"),
        help="YAML settings (--example-config prints an annotated example); "
             "IMAGE_V1_PROXY_* variables override it",
    )
    parser.add_argument(
        "--check-config", metavar="FILE", help="validate FILE (and the environment), then exit"
    )
    parser.add_argument(
        "--example-config",
        action="store_true",
        help="print the annotated example configuration (every setting), then exit",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="serve in front of an embedded in-memory v2 upstream with a sample catalogue "
             "(no token needed, writes allowed: on 127.0.0.1 unless a host is given)",
    )
    parser.add_argument("--host", help="listen.host: the address to listen on")
    parser.add_argument("--port", type=int, help="listen.port: the port to listen on")
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="run N processes sharing the listening port (default: listen.workers, 1)",
    )
    args = parser.parse_args(argv)

    if args.example_config:
        sys.stdout.write(example_config())
        return 0
    # --host and --port win over the environment, which wins over the file.
    environ = dict(os.environ)
    if args.host is not None:
        environ[ENV_PREFIX + "LISTEN_HOST"] = args.host
    if args.port is not None:
        environ[ENV_PREFIX + "LISTEN_PORT"] = str(args.port)
    path = args.check_config or args.config
    try:
        settings = load_settings(path, environ, demo=args.demo)
    except ConfigError as exc:
        print(f"image-v1-proxy: config error: {exc}", file=sys.stderr)
        return 2
    if args.check_config:
        print(f"image-v1-proxy: {args.check_config}: configuration is valid")
        return 0

    configure_logging(log_level(settings), settings.log.format)
    workers = args.workers if args.workers is not None else settings.listen.workers
    if not 1 <= workers <= 64 or (args.demo and workers > 1):
        print("image-v1-proxy: --workers must be between 1 and 64 (and 1 with --demo, whose "
              "upstream lives in the process)", file=sys.stderr)
        return 2
    if workers == 1:
        try:
            run(serve(settings, make_app, demo=args.demo))
        except StartError as exc:
            print(f"image-v1-proxy: {exc}", file=sys.stderr)
            return 1
        return 0
    return run_workers(settings, make_app, workers)


if __name__ == "__main__":
    sys.exit(main())
