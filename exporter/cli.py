"""``openmanager-exporter``: the host exporter's command line.

Usage::

    openmanager-exporter [--listen HOST:PORT] [--config FILE] [--log-level LEVEL] [--actions-file FILE]
    openmanager-exporter actions list|check [--file FILE]

The default listen address is ``0.0.0.0:9110``. Port 9110 was picked so the exporter can run beside
node_exporter (9100) and the collector's own ports. ``--listen`` overrides the file's ``listen_address``.

Exit codes: 0 after a clean shutdown (SIGTERM or SIGINT); 2 when a flag or the configuration is invalid,
with a message naming the file, the key, the value and what is expected; 1 when an address cannot be
bound. With an actions file (``--actions-file`` or the config's ``actions_file``) the remote actions
listener (exporter.actions) serves on its own port beside /metrics.
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

import structlog
from aiohttp import web

from exporter import __version__
from exporter.actions.commands import check_command, list_command, listener_context, load_checked
from exporter.actions.listener import create_actions_app
from exporter.actions.loader import DEFAULT_FILE
from exporter.actions.spec import ActionsConfig
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
    parser.add_argument(
        "--actions-file", metavar="FILE", type=Path, help="enable remote actions from this actions file"
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def _actions_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="openmanager-exporter actions", description="Validate an actions file or list its actions."
    )
    parser.add_argument("verb", choices=("list", "check"))
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE, help=f"default: {DEFAULT_FILE}")
    return parser


def _load(args: argparse.Namespace) -> tuple[ExporterConfig, ssl.SSLContext | None]:
    config = load_config(args.config) if args.config is not None else ExporterConfig()
    if args.listen is not None:
        config = replace(config, listen=parse_listen_address(args.listen))
    if args.log_level is not None:
        config = replace(config, log_level=args.log_level)
    if args.actions_file is not None:
        config = replace(config, actions_file=args.actions_file)
    return config, build_server_context(config.web)


async def _start_actions(actions: ActionsConfig) -> web.AppRunner:
    context = listener_context(actions)
    runner, addresses = await start(
        create_actions_app(actions), actions.listen.host, actions.listen.port, context
    )
    for host, port in addresses:
        log.info(
            "remote actions: %d action(s) on %s://%s:%d%s",
            len(actions.actions),
            "https" if context else "http",
            host,
            port,
            " (client certificate required)" if context and context.verify_mode == ssl.CERT_REQUIRED else "",
        )
    return runner


async def serve(
    config: ExporterConfig, ssl_context: ssl.SSLContext | None, actions: ActionsConfig | None = None
) -> int:
    """Serve until SIGTERM or SIGINT, then shut down within the server's shutdown timeout.

    Returns the exit code: 0 after a clean shutdown, 1 when an address cannot be bound.
    """
    try:
        runner, addresses = await start(
            create_app(config), config.listen.host, config.listen.port, ssl_context
        )
    except OSError as exc:
        log.error("cannot listen on %s: %s", config.listen, exc.strerror or exc)
        return 1
    runners = [runner]
    try:
        if actions is not None:
            try:
                runners.append(await _start_actions(actions))
            except OSError as exc:
                # Also an audit log that cannot be opened: never run actions without their record.
                log.error("cannot start the actions listener on %s: %s", actions.listen, exc)
                return 1
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
        for started in reversed(runners):
            await started.cleanup()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the exporter; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # A separate parser, so a stray positional argument to the exporter is still "unrecognized".
    if argv[:1] == ["actions"]:
        command = _actions_parser().parse_args(argv[1:])
        return check_command(command.file) if command.verb == "check" else list_command(command.file)
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, stream=sys.stderr)
    # The actions audit logs through structlog; route it to the same handler and line format.
    structlog.configure(
        processors=[structlog.processors.KeyValueRenderer(key_order=["event"])],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
    )
    try:
        config, ssl_context = _load(args)
        actions = load_checked(config.actions_file) if config.actions_file is not None else None
    except ConfigError as exc:
        log.error("configuration error: %s", exc)
        return 2
    logging.getLogger().setLevel(config.log_level.upper())
    log.info("openmanager-exporter %s starting (config: %s)", __version__, config.source)
    return asyncio.run(serve(config, ssl_context, actions))
