"""The exporter's configuration: one YAML file, read and validated once at start-up.

The top-level keys, all optional::

    listen_address: "0.0.0.0:9110"
    log_level: info
    web: {...}             # exactly the shape of a Prometheus exporter-toolkit web config file,
                           # plus our own bearer_token / bearer_token_file
    web_config_file: PATH  # or: point at an existing exporter-toolkit web config file instead
    collectors: {...}      # which collectors run and their options
    actions_file: PATH     # remote actions (exporter.actions); off when absent

Every value is checked at start-up (here, in web_config for the web section, with the checks of
validation) and turned into frozen dataclasses; the rest of the exporter never sees raw YAML. An error
names the file, the key path, the bad value and what was expected, e.g.
``exporter.yml: collectors.processes.top_n: got -1; expected an integer from 1 to 50``. Unknown keys are
errors, so a typo never silently falls back to a default. Secret values (tokens, password hashes) are
never repeated in an error message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from exporter.validation import ConfigError, Reader, load_yaml
from exporter.web_config import WebConfig, parse_web

DEFAULT_PORT = 9110
DEFAULT_LISTEN_ADDRESS = f"0.0.0.0:{DEFAULT_PORT}"

# The same defaults as node_exporter 1.5, so the two exporters report the same mounts and devices.
# Like node_exporter's, the patterns are unanchored searches: anchor them with ^ and $ yourself.
DEFAULT_MOUNT_POINTS_EXCLUDE = (
    r"^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)"
)
DEFAULT_FS_TYPES_EXCLUDE = (
    r"^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue"
    r"|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs)$"
)
DEFAULT_DISK_DEVICE_EXCLUDE = r"^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$"
# Loopback traffic says nothing about the host's network; Debian's node_exporter excludes it too.
DEFAULT_NETWORK_DEVICE_EXCLUDE = r"^lo$"

COLLECTOR_NAMES = (
    "cpu",
    "memory",
    "filesystem",
    "disk",
    "network",
    "system",
    "sensors",
    "processes",
    "systemd",
    "summary",
)

LOG_LEVELS = ("debug", "info", "warning", "error")
MAX_TOP_N = 50

# A systemd unit name with an explicit type suffix; the first character may not be "-" so that a name
# can never be read as an option by systemctl (we also pass "--" before the names).
UNIT_NAME_RE = re.compile(
    r"^[A-Za-z0-9_][A-Za-z0-9:_.@\\-]{0,200}"
    r"\.(service|socket|target|timer|mount|automount|path|swap|slice|scope|device)$"
)


@dataclass(frozen=True)
class ListenAddress:
    """A host and TCP port to bind; port 0 asks the kernel for a free port."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class CollectorOptions:
    """Which collectors run and their knobs."""

    enabled: frozenset[str] = frozenset(COLLECTOR_NAMES)
    cache_ttl_s: float = 5.0
    mount_points_exclude: re.Pattern[str] = re.compile(DEFAULT_MOUNT_POINTS_EXCLUDE)
    fs_types_exclude: re.Pattern[str] = re.compile(DEFAULT_FS_TYPES_EXCLUDE)
    mount_timeout_s: float = 5.0
    disk_device_exclude: re.Pattern[str] = re.compile(DEFAULT_DISK_DEVICE_EXCLUDE)
    network_device_exclude: re.Pattern[str] = re.compile(DEFAULT_NETWORK_DEVICE_EXCLUDE)
    processes_top_n: int = 5
    systemd_units: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExporterConfig:
    """The whole validated configuration."""

    # An exporter is scraped from another host, so it listens on all interfaces unless told otherwise.
    listen: ListenAddress = ListenAddress("0.0.0.0", DEFAULT_PORT)  # noqa: S104
    log_level: str = "info"
    web: WebConfig = field(default_factory=WebConfig)
    collectors: CollectorOptions = field(default_factory=CollectorOptions)
    source: str = "<defaults>"
    # Remote actions stay off unless an actions file is named here or with --actions-file.
    actions_file: Path | None = None


def parse_listen_address(text: str, file: str = "command line", key: str = "--listen") -> ListenAddress:
    """Parse ``HOST:PORT`` or ``[IPv6]:PORT``."""
    expected = "expected HOST:PORT, e.g. 0.0.0.0:9110, 127.0.0.1:9110 or [::]:9110"
    host, sep, port_text = text.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ConfigError(file, key, f"got {text!r}; {expected}")
    if host.startswith("["):
        if not host.endswith("]") or len(host) < 3:
            raise ConfigError(file, key, f"got {text!r}; {expected}")
        host = host[1:-1]
    elif ":" in host:
        raise ConfigError(file, key, f"got {text!r}; write an IPv6 host in brackets, e.g. [::1]:9110")
    port = int(port_text)
    if port > 65535:
        raise ConfigError(file, key, f"got port {port}; expected a port from 0 to 65535")
    return ListenAddress(host, port)


def load_config(path: Path) -> ExporterConfig:
    """Read and validate the exporter's YAML configuration file."""
    reader = Reader(str(path))
    top = reader.mapping(
        load_yaml(path),
        "",
        ("listen_address", "log_level", "web", "web_config_file", "collectors", "actions_file"),
    )
    listen = ExporterConfig().listen
    if "listen_address" in top:
        listen = parse_listen_address(
            reader.string(top["listen_address"], "listen_address"), reader.file, "listen_address"
        )
    log_level = "info"
    if "log_level" in top:
        log_level = reader.choice(top["log_level"], "log_level", LOG_LEVELS)
    if "web" in top and "web_config_file" in top:
        raise reader.fail("web_config_file", "cannot be combined with 'web'; keep one of the two")
    web = WebConfig(source=str(path))
    if "web" in top:
        web = parse_web(reader, top["web"], "web", path.parent)
    elif "web_config_file" in top:
        web_path = reader.readable_file(top["web_config_file"], "web_config_file", path.parent)
        web = parse_web(Reader(str(web_path)), load_yaml(web_path), "", web_path.parent)
    collectors = _parse_collectors(reader, top.get("collectors"))
    actions_file = None
    if "actions_file" in top:
        actions_file = path.parent / reader.string(top["actions_file"], "actions_file")
    return ExporterConfig(listen, log_level, web, collectors, str(path), actions_file)


def _parse_collectors(reader: Reader, raw: object) -> CollectorOptions:
    sections = ("filesystem", "disk", "network", "processes", "systemd")
    options = reader.mapping(raw, "collectors", ("enabled", "disabled", "cache_ttl_seconds", *sections))
    defaults = CollectorOptions()
    if "enabled" in options and "disabled" in options:
        raise reader.fail(
            "collectors.disabled", "cannot be combined with collectors.enabled; keep one of the two"
        )
    enabled = set(COLLECTOR_NAMES)
    for list_key in ("enabled", "disabled"):
        if list_key in options:
            names = reader.string_list(options[list_key], f"collectors.{list_key}")
            for index, name in enumerate(names):
                if name not in COLLECTOR_NAMES:
                    raise reader.fail(
                        f"collectors.{list_key}[{index}]",
                        f"got {name!r}; expected one of: {', '.join(COLLECTOR_NAMES)}",
                    )
            enabled = set(names) if list_key == "enabled" else enabled - set(names)
    ttl = defaults.cache_ttl_s
    if "cache_ttl_seconds" in options:
        ttl = reader.seconds(options["cache_ttl_seconds"], "collectors.cache_ttl_seconds", 0, 300)

    fs = reader.mapping(
        options.get("filesystem"),
        "collectors.filesystem",
        ("mount_points_exclude", "fs_types_exclude", "mount_timeout_seconds"),
    )
    mounts = defaults.mount_points_exclude
    if "mount_points_exclude" in fs:
        mounts = reader.regex(fs["mount_points_exclude"], "collectors.filesystem.mount_points_exclude")
    fs_types = defaults.fs_types_exclude
    if "fs_types_exclude" in fs:
        fs_types = reader.regex(fs["fs_types_exclude"], "collectors.filesystem.fs_types_exclude")
    mount_timeout = defaults.mount_timeout_s
    if "mount_timeout_seconds" in fs:
        mount_timeout = reader.seconds(
            fs["mount_timeout_seconds"], "collectors.filesystem.mount_timeout_seconds", 0.1, 60
        )

    disk = reader.mapping(options.get("disk"), "collectors.disk", ("device_exclude",))
    disk_exclude = defaults.disk_device_exclude
    if "device_exclude" in disk:
        disk_exclude = reader.regex(disk["device_exclude"], "collectors.disk.device_exclude")
    network = reader.mapping(options.get("network"), "collectors.network", ("device_exclude",))
    network_exclude = defaults.network_device_exclude
    if "device_exclude" in network:
        network_exclude = reader.regex(network["device_exclude"], "collectors.network.device_exclude")

    processes = reader.mapping(options.get("processes"), "collectors.processes", ("top_n",))
    top_n = defaults.processes_top_n
    if "top_n" in processes:
        top_n = reader.integer(processes["top_n"], "collectors.processes.top_n", 1, MAX_TOP_N)

    systemd = reader.mapping(options.get("systemd"), "collectors.systemd", ("units",))
    units: list[str] = []
    if "units" in systemd:
        units = reader.string_list(systemd["units"], "collectors.systemd.units")
        for index, unit in enumerate(units):
            if not UNIT_NAME_RE.match(unit):
                raise reader.fail(
                    f"collectors.systemd.units[{index}]",
                    f"got {unit!r}; expected a systemd unit name with its type, e.g. nginx.service",
                )
        if len(set(units)) != len(units):
            raise reader.fail("collectors.systemd.units", "lists a unit twice; expected each unit once")
    return CollectorOptions(
        enabled=frozenset(enabled),
        cache_ttl_s=ttl,
        mount_points_exclude=mounts,
        fs_types_exclude=fs_types,
        mount_timeout_s=mount_timeout,
        disk_device_exclude=disk_exclude,
        network_device_exclude=network_exclude,
        processes_top_n=top_n,
        systemd_units=tuple(units),
    )
