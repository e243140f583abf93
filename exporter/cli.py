"""``openmanager-exporter``: the host exporter's command line.

Usage::

    openmanager-exporter [--listen HOST:PORT] [--config FILE] [--log-level LEVEL]

The default listen address is ``0.0.0.0:9110``. Port 9110 was picked so the exporter can run beside
node_exporter (9100) and the collector's own ports. ``--listen`` overrides the file's ``listen_address``.

Exit codes: 0 after a clean shutdown (SIGTERM or SIGINT); 2 when a flag or the configuration is invalid,
with a message naming the file, the key, the value and what is expected; 1 when the address cannot be
bound.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import ssl
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from exporter import __version__
from exporter.config import (
    DEFAULT_LISTEN_ADDRESS,
    LOG_LEVELS,
    ExporterConfig,
    load_config,
    parse_listen_address,
)
from exporter.server import create_app, start
from exporter.tls import build_server_context
from exporter.validation import ConfigError

log = logging.getLogger("exporter")

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="openmanager-exporter", description="Expose this host's metrics for Prometheus and OpenManager."
    )
    parser.add_argument(
        "--listen",
        metavar="HOST:PORT",
        help=f"address to serve on (default: the config's listen_address, else {DEFAULT_LISTEN_ADDRESS})",
    )
    parser.add_argument("--config", metavar="FILE", type=Path, help="YAML configuration file")
    parser.add_argument(
        "--log-level", choices=LOG_LEVELS, help="overrides the config's log_level (default: info)"
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def _load(args: argparse.Namespace) -> tuple[ExporterConfig, ssl.SSLContext | None]:
    config = load_config(args.config) if args.config is not None else ExporterConfig()
    if args.listen is not None:
        config = replace(config, listen=parse_listen_address(args.listen))
    if args.log_level is not None:
        config = replace(config, log_level=args.log_level)
    return config, build_server_context(config.web)


async def serve(config: ExporterConfig, ssl_context: ssl.SSLContext | None) -> int:
    """Serve until SIGTERM or SIGINT, then shut down within the server's shutdown timeout.

    Returns the exit code: 0 after a clean shutdown, 1 when the address cannot be bound.
    """
    try:
        runner, addresses = await start(
            create_app(config), config.listen.host, config.listen.port, ssl_context
        )
    except OSError as exc:
        log.error("cannot listen on %s: %s", config.listen, exc.strerror or exc)
        return 1
    try:
        scheme = "https" if ssl_context else "http"
        for host, port in addresses:
            log.info(
                "listening on %s://%s:%d%s",
                scheme,
                host,
                port,
                " (auth required)" if config.web.auth_required else "",
            )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        log.info("shutting down")
    finally:
        await runner.cleanup()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the exporter; returns the process exit code."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, stream=sys.stderr)
    try:
        config, ssl_context = _load(args)
    except ConfigError as exc:
        log.error("configuration error: %s", exc)
        return 2
    logging.getLogger().setLevel(config.log_level.upper())
    log.info("openmanager-exporter %s starting (config: %s)", __version__, config.source)
    return asyncio.run(serve(config, ssl_context))
