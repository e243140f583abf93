"""``openmanager-exporter actions list|check [--file PATH]``: validate an actions file, show what it offers.

Like ``openmanager check-config``: exit 0 with a summary, or exit 1 with the problem naming the file, the
key and the value. ``check`` also loads the listener's certificates, so a file that passes will start.
"""

from __future__ import annotations

import shlex
import ssl
import sys
from collections.abc import Callable
from pathlib import Path

from exporter.actions.loader import load_actions
from exporter.actions.spec import ActionsConfig
from exporter.tls import build_server_context
from exporter.validation import ConfigError
from exporter.web_config import WebConfig

EXIT_OK = 0
EXIT_PROBLEMS = 1


def load_checked(path: Path) -> ActionsConfig:
    """Load an actions file and its TLS files; ConfigError names what is wrong."""
    config = load_actions(path)
    listener_context(config)
    return config


def listener_context(config: ActionsConfig) -> ssl.SSLContext | None:
    """The listener's TLS context (None for plain HTTP); loading it proves the certificate files work."""
    web = WebConfig(tls=config.tls, source=config.source, key_prefix="listener.")
    return build_server_context(web, "listener.tls")


def summary(config: ActionsConfig) -> str:
    """One line: server id, actions, keys, and how the listener is reached."""
    if config.tls is None:
        transport = "plain HTTP"
    elif config.tls.client_auth_type == "RequireAndVerifyClientCert":
        transport = "TLS, client certificate required"
    else:
        transport = "TLS, client certificate optional"
    keys = len(config.public_keys)
    return (
        f"server {config.server_id}, {len(config.actions)} action(s), {keys} public key(s), "
        f"listener {config.listen} ({transport}), log {config.log_file}"
    )


def _load_or_report(path: Path, load: Callable[[Path], ActionsConfig]) -> ActionsConfig | None:
    try:
        return load(path)
    except ConfigError as exc:
        sys.stderr.write(f"FAILED:\n  {exc}\n")
        return None


def check_command(path: Path) -> int:
    """Validate the file; print a summary line or the problem."""
    config = _load_or_report(path, load_checked)
    if config is None:
        return EXIT_PROBLEMS
    sys.stdout.write(f"SUCCESS: {path}: {summary(config)}\n")
    return EXIT_OK


def list_command(path: Path) -> int:
    """Validate the file and print each action: argv template, parameters, timeout, output cap."""
    config = _load_or_report(path, load_actions)
    if config is None:
        return EXIT_PROBLEMS
    lines = [f"{path}: {summary(config)}"]
    for action in config.actions.values():
        flags = "destructive" if action.destructive else "safe"
        lines.append(
            f"{action.name}  [{action.kind}, {flags}, timeout {action.timeout_s:g}s, "
            f"output {action.output_limit_bytes} bytes]  {action.description}".rstrip()
        )
        lines.append(f"    argv: {shlex.join(action.argv)}")
        for param in action.params:
            allowed = (
                f"one of {', '.join(param.enum)}"
                if param.enum is not None
                else f"matching {param.pattern.pattern if param.pattern else ''!r}"
            )
            extra = "" if param.required else f" (optional, default {param.default!r})"
            lines.append(f"    {param.name}: {allowed}{extra}")
    sys.stdout.write("\n".join(lines) + "\n")
    return EXIT_OK
