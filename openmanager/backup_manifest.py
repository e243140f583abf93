"""A backup's manifest, ``manifest.json``: what the backup holds, and the checks before it is restored.

It names the manifest format, the OpenManager version, the schema's migration level, when the backup was
made, the PostgreSQL versions of the server and of ``pg_dump``, and every file with its size and SHA-256.
:func:`verify` refuses a backup whose files are missing, extra, changed or corrupted, and one made by a
newer schema than this version of OpenManager knows.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

MANIFEST_NAME = "manifest.json"
FORMAT_VERSION = 1
_CHUNK_BYTES = 1 << 20


class BackupInvalidError(RuntimeError):
    """The backup cannot be restored: its message says which file or value and why."""


@dataclass(frozen=True)
class FileEntry:
    """One file of the backup."""

    name: str
    size_bytes: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    """What ``manifest.json`` says."""

    format: int
    openmanager_version: str
    schema_version: int
    created_at: str
    server_version: str
    pg_dump_major: int
    files: tuple[FileEntry, ...]

    def to_json(self) -> str:
        """The manifest's text."""
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    def names(self) -> set[str]:
        """The names of the backup's files."""
        return {entry.name for entry in self.files}


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file, read in chunks (a dump may be large)."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def describe(directory: Path, names: list[str]) -> tuple[FileEntry, ...]:
    """The entries of ``names`` in ``directory``, sorted by name."""
    entries = []
    for name in sorted(names):
        path = directory / name
        entries.append(FileEntry(name, path.stat().st_size, sha256_of(path)))
    return tuple(entries)


def read_manifest(directory: Path) -> Manifest:
    """The manifest of the backup in ``directory``; :class:`BackupInvalidError` when missing or malformed."""
    path = directory / MANIFEST_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BackupInvalidError(f"{path} is missing: {directory} is not a whole backup") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BackupInvalidError(f"{path} cannot be read: {exc}") from None
    try:
        files = tuple(
            FileEntry(str(f["name"]), int(f["size_bytes"]), str(f["sha256"])) for f in data.pop("files")
        )
        manifest = Manifest(**data, files=files)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise BackupInvalidError(f"{path} is not a manifest this version reads: {exc}") from None
    if manifest.format != FORMAT_VERSION:
        raise BackupInvalidError(f"{path}: manifest format {manifest.format!r}, expected {FORMAT_VERSION}")
    return manifest


def verify(directory: Path, manifest: Manifest, *, schema_version: int) -> None:
    """Check every file against the manifest, and that ``schema_version`` (the newest migration this
    version ships) is not older than the backup's; :class:`BackupInvalidError` naming the first problem."""
    if manifest.schema_version > schema_version:
        raise BackupInvalidError(
            f"the backup's schema is at migration {manifest.schema_version}, newer than the {schema_version} "
            f"this version knows (the backup was made by OpenManager {manifest.openmanager_version}): "
            "restore it with that version or a newer one"
        )
    present = {p.name for p in directory.iterdir() if p.name != MANIFEST_NAME}
    if extra := sorted(present - manifest.names()):
        raise BackupInvalidError(f"{directory}: files not in the manifest: {', '.join(extra)}")
    for entry in manifest.files:
        if Path(entry.name).name != entry.name:
            raise BackupInvalidError(f"{directory / MANIFEST_NAME}: {entry.name!r} is not a plain file name")
        path = directory / entry.name
        if not path.is_file():
            raise BackupInvalidError(f"{path} is missing")
        if path.stat().st_size != entry.size_bytes:
            raise BackupInvalidError(
                f"{path} has {path.stat().st_size} bytes, the manifest says {entry.size_bytes}: it is damaged"
            )
        if sha256_of(path) != entry.sha256:
            raise BackupInvalidError(f"{path} does not match its SHA-256 in the manifest: it is damaged")
