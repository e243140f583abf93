"""Read and validate an actions file into an ActionsConfig, once, at start-up.

The file decides what this host runs and whose signatures it trusts, so it (and a ``public_keys_file``)
must be owned by root or the exporter's user and writable by nobody else (validation.read_trusted_file).
Errors name the file, the key and the value, like the exporter's own configuration.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from exporter.actions.envelope import parse_public_key
from exporter.actions.kinds import parse_action
from exporter.actions.spec import DEFAULT_MAX_CONCURRENT, Action, ActionsConfig
from exporter.config import ListenAddress, parse_listen_address
from exporter.validation import Reader, parse_yaml, read_trusted_file, show
from exporter.web_config import TLSConfig

DEFAULT_FILE = Path("/etc/openmanager/actions.yaml")
DEFAULT_LISTEN_ADDRESS = "0.0.0.0:9111"
DEFAULT_LOG_FILE = Path("/var/log/openmanager/actions.jsonl")
MAX_CONCURRENT = 32
_TOP_KEYS = (
    "server_id",
    "public_keys",
    "public_keys_file",
    "listener",
    "log_file",
    "max_concurrent",
    "actions",
)


def load_actions(path: Path) -> ActionsConfig:
    """Read, check the owner and mode of, and validate an actions file."""
    file = str(path)
    reader = Reader(file)
    top = reader.mapping(parse_yaml(read_trusted_file(path, file, ""), file), "", _TOP_KEYS)
    if "server_id" not in top:
        raise reader.fail("server_id", "missing; expected this server's id, as the collector knows it")
    server_id = reader.string(top["server_id"], "server_id")
    keys = _parse_keys(reader, top, path.parent)
    listen, tls = _parse_listener(reader, top.get("listener"), path.parent)
    log_file = DEFAULT_LOG_FILE
    if "log_file" in top:
        log_file = path.parent / reader.string(top["log_file"], "log_file")
    max_concurrent = DEFAULT_MAX_CONCURRENT
    if "max_concurrent" in top:
        max_concurrent = reader.integer(top["max_concurrent"], "max_concurrent", 1, MAX_CONCURRENT)
    raw_actions = top.get("actions")
    if not isinstance(raw_actions, dict) or not raw_actions:
        raise reader.fail(
            "actions", f"got {show(raw_actions)}; expected a mapping of action names to actions"
        )
    actions: dict[str, Action] = {}
    for name, raw in raw_actions.items():
        if not isinstance(name, str) or not _valid_action_name(name):
            raise reader.fail(
                f"actions.{name}",
                "bad name; expected lower-case letters, digits, '_', '.' and '-' (at most 64)",
            )
        actions[name] = parse_action(reader, name, raw)
    return ActionsConfig(server_id, keys, actions, listen, tls, log_file, max_concurrent, file)


def _valid_action_name(name: str) -> bool:
    allowed = set("abcdefghijklmnopqrstuvwxyz0123456789_.-")
    return 0 < len(name) <= 64 and name[0] not in "_.-" and set(name) <= allowed


def _parse_keys(reader: Reader, top: dict[str, object], base: Path) -> tuple[Ed25519PublicKey, ...]:
    if ("public_keys" in top) == ("public_keys_file" in top):
        raise reader.fail("public_keys", "expected exactly one of public_keys (a list) or public_keys_file")
    if "public_keys" in top:
        texts = reader.string_list(top["public_keys"], "public_keys")
        keys = [(f"public_keys[{index}]", text) for index, text in enumerate(texts)]
    else:
        path = base / reader.string(top["public_keys_file"], "public_keys_file")
        data = read_trusted_file(path, reader.file, "public_keys_file")
        lines = data.decode("utf-8", errors="replace").splitlines()
        keys = [
            (f"public_keys_file ({path}, line {number})", line.strip())
            for number, line in enumerate(lines, 1)
            if line.strip() and not line.lstrip().startswith("#")
        ]
    if not keys:
        raise reader.fail("public_keys", "is empty; expected at least one ed25519:<base64> public key")
    parsed = []
    for key, text in keys:
        try:
            parsed.append(parse_public_key(text))
        except ValueError as exc:
            raise reader.fail(key, f"got {show(text)}; {exc}") from None
    return tuple(parsed)


def _parse_listener(reader: Reader, raw: object, base: Path) -> tuple[ListenAddress, TLSConfig | None]:
    listener = reader.mapping(raw, "listener", ("address", "tls", "plain_http"))
    address = parse_listen_address(
        reader.string(listener.get("address", DEFAULT_LISTEN_ADDRESS), "listener.address"),
        reader.file,
        "listener.address",
    )
    plain = (
        reader.boolean(listener["plain_http"], "listener.plain_http") if "plain_http" in listener else False
    )
    if plain:
        if "tls" in listener:
            raise reader.fail(
                "listener.plain_http", "cannot be combined with listener.tls; keep one of the two"
            )
        return address, None
    key = "listener.tls"
    if "tls" not in listener:
        raise reader.fail(
            key, "missing; expected cert_file, key_file and client_ca_file (or plain_http: true)"
        )
    tls = reader.mapping(
        listener["tls"], key, ("cert_file", "key_file", "client_ca_file", "client_auth_required")
    )
    for required in ("cert_file", "key_file"):
        if required not in tls:
            raise reader.fail(f"{key}.{required}", "missing; expected the path of a PEM file")
    required_auth = True
    if "client_auth_required" in tls:
        required_auth = reader.boolean(tls["client_auth_required"], f"{key}.client_auth_required")
    client_ca = None
    if "client_ca_file" in tls:
        client_ca = reader.readable_file(tls["client_ca_file"], f"{key}.client_ca_file", base)
    elif required_auth:
        raise reader.fail(
            f"{key}.client_ca_file",
            "missing; client certificates are required, so name the CA that signs them",
        )
    return address, TLSConfig(
        cert_file=reader.readable_file(tls["cert_file"], f"{key}.cert_file", base),
        key_file=reader.readable_file(tls["key_file"], f"{key}.key_file", base),
        client_auth_type="RequireAndVerifyClientCert" if required_auth else "VerifyClientCertIfGiven",
        client_ca_file=client_ca,
    )
