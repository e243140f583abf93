"""The ``openmanager`` command: run the service and manage an installation.

Subcommands: ``run`` (collector + API + dashboard), ``api`` (the API alone, to scale out), ``collector``
(scrape and write alone, to scale out; health and metrics only), ``check-config``,
``check-metrics``, ``import`` (an OpenMetrics backfill into history), ``mcp`` (the MCP server over stdio),
``migrate``, ``backup``, ``restore``, ``user add`` and ``keys init|show-public|rotate`` (the key that signs
remote actions; the key of the secrets stored in PostgreSQL). Exit status 0 on success, 1 when a check finds
problems, 2 on bad usage or an invalid configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import get_args

from api.passwords import check_password_strength, hash_password
from collector.actions.signing import SigningKeyError, create_key_file, load_key_file, public_key_text
from collector.config.configfile import ConfigError
from collector.config.settings import LogSettings, Settings, load_settings, settings_path, settings_summary
from collector.config.targets import load_targets, summary
from collector.ingest.backfill import BackfillError, backfill
from collector.logs import configure_logging
from collector.scrape.checkmetrics import CheckFormat, check_metrics
from collector.storage.connections import open_stores
from collector.storage.errors import StoreUnavailable
from collector.storage.users import ROLES, Role, UserExistsError, create_user
from openmanager import backup_commands, keys_rotate

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2
LOG_LEVELS: tuple[str, ...] = get_args(LogSettings.model_fields["level"].annotation)


COMMANDS = {
    "run": "run the collector, the API and the dashboard",
    "api": "run the API and dashboard alone against the configured stores",
    "collector": "scrape and write alone against the configured stores (health and metrics only)",
    "migrate": "apply database migrations",
    "backup": backup_commands.BACKUP_HELP,
    "restore": backup_commands.RESTORE_HELP,
    "check-config": "validate a settings file and a target file",
    "check-metrics": "validate a metrics page (Prometheus text or OpenMetrics) from a file or stdin",
    "import": "write an OpenMetrics file with timestamps into history (a backfill)",
    "mcp": "serve the read-only MCP tools over stdin/stdout for an AI assistant (token: $OM_MCP_TOKEN)",
    "user": "manage accounts",
    "keys": "manage keys: make or show the key that signs remote actions, rotate the secrets' key",
}
"""Every subcommand and its one-line help."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="openmanager", description="Self-hosted server monitoring.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--config", type=Path, help="settings file (default: $OM_CONFIG or ./openmanager.yml)")
        return p

    for name in ("run", "api", "collector"):
        with_config(sub.add_parser(name, help=COMMANDS[name])).add_argument(
            "--log-level",
            choices=LOG_LEVELS,
            help="log level for this run, over log.level ($OM_LOG_LEVEL); debug also shows the scheduler's"
            " and the embedded stores' lines",
        )
    with_config(sub.add_parser("migrate", help=COMMANDS["migrate"]))
    check = sub.add_parser("check-config", help=COMMANDS["check-config"])
    check.add_argument("--settings", type=Path, help="settings file (default: the configured one)")
    check.add_argument("--targets", type=Path, help="target file (default: the one the settings name)")
    metrics = sub.add_parser("check-metrics", help=COMMANDS["check-metrics"])
    metrics.add_argument("--format", choices=("auto", "text", "openmetrics"), default="auto")
    metrics.add_argument("file", help="the page to check, or - for standard input")
    backup_commands.add_parsers(sub, with_config)
    backfill_cmd = with_config(sub.add_parser("import", help=COMMANDS["import"]))
    backfill_cmd.add_argument("file", type=Path, help="an OpenMetrics file whose samples all have timestamps")
    mcp_cmd = with_config(sub.add_parser("mcp", help=COMMANDS["mcp"]))
    mcp_cmd.add_argument("--token-file", type=Path, help="file holding the API token (else $OM_MCP_TOKEN)")
    user = sub.add_parser("user", help=COMMANDS["user"])
    user_sub = user.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    add = with_config(user_sub.add_parser("add", help="create an account (password from a prompt or stdin)"))
    add.add_argument("name")
    add.add_argument("--role", choices=ROLES, required=True)
    keys = sub.add_parser("keys", help=COMMANDS["keys"])
    keys_sub = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    init = with_config(keys_sub.add_parser("init", help="make the signing key and print its public key"))
    init.add_argument("--force", action="store_true", help="replace an existing key")
    with_config(keys_sub.add_parser("show-public", help="print the public key for the exporters"))
    keys_rotate.add_parser(keys_sub, with_config)
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


def keys_command(settings: Settings, command: str, *, force: bool) -> int:
    """``keys init`` (a new key, 0600; refused over an existing one unless ``force``) or ``keys
    show-public``: print the public key as the exporters take it."""
    path = settings.actions.key_path(settings.data_dir)
    try:
        key = create_key_file(path, force=force) if command == "init" else load_key_file(path)
    except SigningKeyError as exc:
        sys.stderr.write(f"{exc}\n")
        return EXIT_PROBLEMS
    if command == "init":
        sys.stderr.write(f"wrote the actions signing key to {path}; give the exporters its public key:\n")
    sys.stdout.write(public_key_text(key.public_key()) + "\n")
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


async def _import(settings: Settings, file: Path, payload: bytes) -> int:
    async with open_stores(settings) as stores:
        try:
            report = await backfill(stores.pg, payload)
        except BackfillError as exc:
            sys.stderr.write(f"{file}: {exc}\n")
            return EXIT_PROBLEMS
        except StoreUnavailable as exc:
            sys.stderr.write(f"{file}: not imported, PostgreSQL failed: {exc}\n")
            return EXIT_PROBLEMS
    first = datetime.fromtimestamp(report.first_ms / 1000, UTC).isoformat()
    last = datetime.fromtimestamp(report.last_ms / 1000, UTC).isoformat()
    sys.stdout.write(
        f"imported {report.samples} samples of {report.servers} servers ({report.rows} rows) "
        f"from {first} to {last}\n"
    )
    return EXIT_OK


async def _migrate(settings: Settings) -> int:
    async with open_stores(settings):
        pass
    sys.stdout.write("database schema is up to date\n")
    return EXIT_OK


def _mcp(settings: Settings, token_file: Path | None) -> int:
    from api.app import package_version  # noqa: PLC0415 - keeps the other commands light
    from api.mcp.stdio import TokenError, read_token, serve_stdio  # noqa: PLC0415

    try:
        asyncio.run(serve_stdio(settings, read_token(token_file), package_version()))
    except TokenError as exc:
        sys.stderr.write(f"openmanager mcp: {exc}\n")
        return EXIT_USAGE
    except StoreUnavailable as exc:
        sys.stderr.write(f"openmanager mcp: the stores are not reachable: {exc}\n")
        return EXIT_PROBLEMS
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``openmanager`` console script."""
    args = _parser().parse_args(argv)
    if args.command == "check-config":
        return check_config(args.settings, args.targets)
    if args.command == "check-metrics":
        return check_metrics_command(args.file, args.format)
    settings = _load(args.config)
    if getattr(args, "log_level", None) is not None:
        settings = settings.model_copy(
            update={"log": settings.log.model_copy(update={"level": args.log_level})}
        )
    configure_logging(settings.log)
    if args.command == "keys" and args.keys_command == "rotate":
        return keys_rotate.rotate_command(settings, resume=args.resume, drop_old=args.drop_old)
    if args.command == "keys":
        return keys_command(settings, args.keys_command, force=getattr(args, "force", False))
    if args.command in ("run", "api", "collector"):
        import uvloop  # noqa: PLC0415 - only the long-running service needs the faster loop

        from openmanager.service import serve  # noqa: PLC0415 - keeps the other commands light

        try:
            # uvloop: libuv's event loop, with less overhead per socket event than asyncio's own.
            uvloop.run(serve(settings, role=args.command))
        except ConfigError as exc:
            sys.stderr.write(f"invalid configuration:\n{exc}\n")
            return EXIT_USAGE
        return EXIT_OK
    if args.command == "migrate":
        return asyncio.run(_migrate(settings))
    if args.command == "backup":
        return backup_commands.backup_command(settings, args.to)
    if args.command == "restore":
        return backup_commands.restore_command(settings, args.backup, force=args.force)
    if args.command == "mcp":
        return _mcp(settings, args.token_file)
    if args.command == "import":
        try:
            payload = args.file.read_bytes()
        except OSError as exc:
            sys.stderr.write(f"{args.file}: cannot be read: {exc.strerror}\n")
            return EXIT_USAGE
        return asyncio.run(_import(settings, args.file, payload))
    if args.command == "user":
        password = _read_new_password()
        weakness = check_password_strength(password, username=args.name)
        if weakness:
            sys.stderr.write(f"{weakness}\n")
            return EXIT_USAGE
        return asyncio.run(_user_add(settings, args.name, args.role, password))
    raise AssertionError(args.command)
