"""The process's keyring: installed once when the stores open, read by the code that seals and opens rows.

The stores that hold sealed columns take a pool, not a keyring, so the keyring is the process's, set by
:func:`install` from the settings (``open_stores`` does it) before any row is read. A keyring from a key file
is read again when the file changes, so a ``keys rotate`` in another process is followed: the new key seals,
and values it sealed open.
"""

from __future__ import annotations

import threading
from pathlib import Path

from collector.config.settings import Settings
from collector.secrets.keyring import Keyring, SecretKeyError, parse_keys, read_key_file


class _FileKeys:
    """A key file's keyring, read again when the file's identity, size or time changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._keyring = read_key_file(path, create=True)
        self._stamp = self._stat()

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def get(self) -> Keyring:
        stamp = self._stat()
        if stamp is not None and stamp != self._stamp:
            with self._lock:
                self._keyring = read_key_file(self.path, create=False)
                self._stamp = stamp
        return self._keyring


_installed: _FileKeys | Keyring | None = None


def load(settings: Settings, *, create: bool = True) -> Keyring:
    """The keyring the settings name (a missing key file is made, mode 0600, when ``create``)."""
    if settings.secrets.key is not None:
        return parse_keys(settings.secrets.key.get_secret_value(), "secrets.key")
    path = settings.secrets.key_path(settings.data_dir)
    assert path is not None
    return read_key_file(path, create=create)


def install(settings: Settings) -> Keyring:
    """Make the settings' keyring the process's; returns it."""
    global _installed  # noqa: PLW0603 - the one process-wide keyring, set at start
    if settings.secrets.key is not None:
        _installed = parse_keys(settings.secrets.key.get_secret_value(), "secrets.key")
        return _installed
    path = settings.secrets.key_path(settings.data_dir)
    assert path is not None
    holder = _FileKeys(path)
    _installed = holder
    return holder.get()


def use(keyring: Keyring) -> None:
    """Make ``keyring`` the process's as it is (tests, and tools that hold their keys)."""
    global _installed  # noqa: PLW0603 - see install
    _installed = keyring


def keyring() -> Keyring:
    """The process's keyring; :class:`SecretKeyError` when none was installed."""
    installed = _installed
    if installed is None:
        raise SecretKeyError("no secrets key is loaded: the stores were not opened with settings")
    return installed if isinstance(installed, Keyring) else installed.get()
