"""A backup's manifest: written and read back, every file checked by size and SHA-256, newer schemas
refused, names that would leave the directory refused."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from openmanager.backup_manifest import (
    FORMAT_VERSION,
    MANIFEST_NAME,
    BackupInvalidError,
    Manifest,
    describe,
    read_manifest,
    verify,
)


def make_backup(directory: Path, files: dict[str, bytes], *, schema_version: int = 5) -> Manifest:
    directory.mkdir()
    for name, data in files.items():
        (directory / name).write_bytes(data)
    manifest = Manifest(
        format=FORMAT_VERSION,
        openmanager_version="1.2.3",
        schema_version=schema_version,
        created_at="2026-01-01T00:00:00+00:00",
        server_version="15.20",
        pg_dump_major=15,
        files=describe(directory, list(files)),
    )
    (directory / MANIFEST_NAME).write_text(manifest.to_json())
    return manifest


def test_the_manifest_reads_back_and_names_every_file_with_its_sha256(tmp_path: Path) -> None:
    files = {"database.dump": b"PGDMP" + bytes(range(256)) * 5000, "secrets.key": b"k\n"}
    written = make_backup(tmp_path / "b", files)
    assert read_manifest(tmp_path / "b") == written
    assert {(e.name, e.size_bytes, e.sha256) for e in written.files} == {
        (name, len(data), hashlib.sha256(data).hexdigest()) for name, data in files.items()
    }
    verify(tmp_path / "b", written, schema_version=5)


def test_a_changed_byte_is_found(tmp_path: Path) -> None:
    manifest = make_backup(tmp_path / "b", {"database.dump": b"abcdef"})
    (tmp_path / "b" / "database.dump").write_bytes(b"abcdeF")
    with pytest.raises(BackupInvalidError, match="SHA-256"):
        verify(tmp_path / "b", manifest, schema_version=5)


def test_a_newer_schema_is_refused_an_older_one_is_not(tmp_path: Path) -> None:
    manifest = make_backup(tmp_path / "b", {"database.dump": b"x"}, schema_version=7)
    verify(tmp_path / "b", manifest, schema_version=8)
    with pytest.raises(BackupInvalidError, match="at migration 7, newer than the 6 this version knows"):
        verify(tmp_path / "b", manifest, schema_version=6)


def test_a_name_leaving_the_directory_is_refused(tmp_path: Path) -> None:
    make_backup(tmp_path / "b", {"database.dump": b"x"})
    data = json.loads((tmp_path / "b" / MANIFEST_NAME).read_text())
    data["files"].append({"name": "../outside", "size_bytes": 1, "sha256": "0" * 64})
    (tmp_path / "b" / MANIFEST_NAME).write_text(json.dumps(data))
    with pytest.raises(BackupInvalidError, match="not a plain file name"):
        verify(tmp_path / "b", read_manifest(tmp_path / "b"), schema_version=5)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "cannot be read"),
        ('{"format": 1}', "not a manifest this version reads"),
        ("[]", "not a manifest this version reads"),
    ],
)
def test_a_malformed_manifest_is_refused(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / MANIFEST_NAME).write_text(text)
    with pytest.raises(BackupInvalidError, match=message):
        read_manifest(tmp_path)


def test_another_format_is_refused(tmp_path: Path) -> None:
    make_backup(tmp_path / "b", {"database.dump": b"x"})
    data = json.loads((tmp_path / "b" / MANIFEST_NAME).read_text())
    data["format"] = FORMAT_VERSION + 1
    (tmp_path / "b" / MANIFEST_NAME).write_text(json.dumps(data))
    with pytest.raises(BackupInvalidError, match="manifest format"):
        read_manifest(tmp_path / "b")
