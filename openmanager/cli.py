"""The ``openmanager`` command: run the service and manage an installation.

Subcommands: ``run`` (collector + API + dashboard), ``api`` (the API alone, to scale out), ``check-config``,
``migrate`` and ``user add``. Exit status 0 on success, 1 when a check finds problems, 2 on bad usage or an
invalid configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from api.passwords import check_password_strength, hash_password
from collector.configfile import ConfigError
from collector.logs import configure_logging
from collector.scrape.checkmetrics import CheckFormat, check_metrics
from collector.settings import Settings, load_settings, settings_path, settings_summary
from collector.storage.connections import open_stores
from collector.storage.users import ROLES, Role, UserExistsError, create_user
from collector.targets import load_targets, summary

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


COMMANDS = {
    "run": "run the collector, the API and the dashboard",
    "api": "run the API and dashboard alone against the configured stores",
    "migrate": "apply database migrations",
    "check-config": "validate a settings file and a target file",
    "check-metrics": "validate a metrics page (Prometheus text or OpenMetrics) from a file or stdin",
    "user": "manage accounts",
}
"""Every subcommand and its one-line help."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="openmanager", description="Self-hosted server monitoring.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--config", type=Path, help="settings file (default: $OM_CONFIG or ./openmanager.yml)")
        return p

    for name in ("run", "api", "migrate"):
        with_config(sub.add_parser(name, help=COMMANDS[name]))
    check = sub.add_parser("check-config", help=COMMANDS["check-config"])
    check.add_argument("--settings", type=Path, help="settings file (default: the configured one)")
    check.add_argument("--targets", type=Path, help="target file (default: the one the settings name)")
    metrics = sub.add_parser("check-metrics", help=COMMANDS["check-metrics"])
    metrics.add_argument("--format", choices=("auto", "text", "openmetrics"), default="auto")
    metrics.add_argument("file", help="the page to check, or - for standard input")
    user = sub.add_parser("user", help=COMMANDS["user"])
    user_sub = user.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    add = with_config(user_sub.add_parser("add", help="create an account (password from a prompt or stdin)"))
    add.add_argument("name")
    add.add_argument("--role", choices=ROLES, required=True)
    return parser


def _load(path: Path | None) -> Settings:
    try:
        return load_settings(path)
    except ConfigError as exc:
        sys.stderr.write(f"invalid configuration:\n{exc}\n")
        raise SystemExit(EXIT_USAGE) from None


def check_config(settings_file: Path | None, targets_file: Path | None) -> int:
    """Validate both files, print every problem or a one-line summary per file; the exit status."""
    problems: list[str] = []
    lines: list[str] = []
    settings: Settings | None = None
    try:
        settings = load_settings(settings_file)
        lines.append(f"SUCCESS: settings {settings_summary(settings)}")
    except ConfigError as exc:
        problems.extend(str(p) for p in exc.problems)
    target_path = targets_file or (settings.targets if settings is not None else None)
    if target_path is None and settings_path(settings_file, os.environ) is None:
        target_path = Path("targets.yaml")
    if target_path is not None:
        try:
            config = load_targets(target_path)
            lines.append(f"SUCCESS: targets {target_path}: {summary(config)}")
            lines.extend(f"  warning: {warning}" for warning in config.warnings)
        except ConfigError as exc:
            problems.extend(str(p) for p in exc.problems)
    if problems:
        sys.stderr.write("FAILED:\n" + "".join(f"  {p}\n" for p in problems))
        return EXIT_PROBLEMS
    sys.stdout.write("\n".join(lines) + "\n")
    return EXIT_OK


def check_metrics_command(file: str, fmt: CheckFormat) -> int:
    """Check a page like ``promtool check metrics``: the sample count, or the first error with its line."""
    try:
        payload = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
    except OSError as exc:
        sys.stderr.write(f"{file}: cannot be read: {exc.strerror}\n")
        return EXIT_USAGE
    report = check_metrics(payload, fmt)
    name = "(stdin)" if file == "-" else file
    for warning in report.warnings:
        sys.stderr.write(f"{name}: warning: {warning.metric}: {warning.message}\n")
    if report.error is not None:
        sys.stderr.write(f"{name}: {report.format} format: {report.error}\n")
        return EXIT_PROBLEMS
    sys.stdout.write(f"SUCCESS: {name}: {report.sample_count} samples ({report.format} format)\n")
    return EXIT_OK


def _read_new_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Repeat password: ") != first:
            raise SystemExit("the passwords differ")
        return first
    return sys.stdin.readline().rstrip("\n")


async def _user_add(settings: Settings, name: str, role: Role, password: str) -> int:
    async with open_stores(settings) as stores:
        try:
            user = await create_user(stores.pg, name, hash_password(password), role)
        except UserExistsError:
            sys.stderr.write(f"user {name!r} exists already\n")
            return EXIT_PROBLEMS
    sys.stdout.write(f"created user {user.username!r} with role {user.role}\n")
    return EXIT_OK


async def _migrate(settings: Settings) -> int:
    async with open_stores(settings):
        pass
    sys.stdout.write("database schema is up to date\n")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``openmanager`` console script."""
    args = _parser().parse_args(argv)
    if args.command == "check-config":
        return check_config(args.settings, args.targets)
    if args.command == "check-metrics":
        return check_metrics_command(args.file, args.format)
    settings = _load(args.config)
    configure_logging(settings.log)
    if args.command in ("run", "api"):
        import uvloop  # noqa: PLC0415 - only the long-running service needs the faster loop

        from openmanager.service import serve  # noqa: PLC0415 - keeps the other commands light

        try:
            # uvloop: libuv's event loop, with less overhead per socket event than asyncio's own.
            uvloop.run(serve(settings, with_collector=args.command == "run"))
        except ConfigError as exc:
            sys.stderr.write(f"invalid configuration:\n{exc}\n")
            return EXIT_USAGE
        return EXIT_OK
    if args.command == "migrate":
        return asyncio.run(_migrate(settings))
    if args.command == "user":
        password = _read_new_password()
        weakness = check_password_strength(password)
        if weakness:
            sys.stderr.write(f"{weakness}\n")
            return EXIT_USAGE
        return asyncio.run(_user_add(settings, args.name, args.role, password))
    raise AssertionError(args.command)
