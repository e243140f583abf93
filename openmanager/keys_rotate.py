"""``openmanager keys rotate``: a new key for the secrets stored in PostgreSQL, and every value sealed again.

Plain ``rotate`` puts a new key first in the key file (the old ones stay after it, for opening only), then
seals every stored secret again under it, batch by batch. ``--resume`` skips the new key and finishes an
interrupted run (with keys given inline, put the new key first yourself and use it). ``--drop-old`` then
removes the old keys from the file, once no stored value needs them: do that when every running process has
followed the file (each reads it again when it changes).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable

from collector.config.settings import Settings
from collector.secrets import active
from collector.secrets.keyring import SecretKeyError, new_key, read_key_file, write_key_file
from collector.secrets.reseal import count_stale, reseal
from collector.storage.connections import open_stores

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2
HELP = "make a new key for the stored secrets current and seal them again under it"


def add_parser(
    keys_sub: argparse._SubParsersAction[argparse.ArgumentParser],
    with_config: Callable[[argparse.ArgumentParser], argparse.ArgumentParser],
) -> None:
    """Declare ``keys rotate`` under the ``keys`` command group."""
    rotate = with_config(keys_sub.add_parser("rotate", help=HELP))
    rotate.add_argument(
        "--resume", action="store_true", help="no new key: finish sealing under the current one"
    )
    rotate.add_argument("--drop-old", action="store_true", help="then remove the old keys from the key file")


def rotate_command(settings: Settings, *, resume: bool, drop_old: bool) -> int:
    """Run ``keys rotate``; the exit status."""
    path = settings.secrets.key_path(settings.data_dir)
    if path is None and (not resume or drop_old):
        sys.stderr.write(
            "the keys are given inline (secrets.key / OM_SECRETS_KEY): put a new key first there, restart, "
            "then run: openmanager keys rotate --resume\n"
        )
        return EXIT_USAGE
    try:
        if path is not None and not resume:
            keys = read_key_file(path, create=False).keys
            write_key_file(path, (new_key(), *keys))
        return asyncio.run(_reseal(settings, drop_old=drop_old))
    except SecretKeyError as exc:
        sys.stderr.write(f"{exc}\n")
        return EXIT_PROBLEMS


async def _reseal(settings: Settings, *, drop_old: bool) -> int:
    async with open_stores(settings) as stores:
        keyring = active.keyring()
        sealed = await reseal(stores.pg, keyring)
        stale = await count_stale(stores.pg, keyring)
    current = keyring.current_id.hex()
    sys.stdout.write(f"key {current} is current; {sealed} stored secrets sealed again under it\n")
    if stale:
        sys.stderr.write(f"{stale} values were sealed under an old key meanwhile: run again with --resume\n")
        return EXIT_PROBLEMS
    path = settings.secrets.key_path(settings.data_dir)
    if drop_old and path is not None:
        write_key_file(path, keyring.keys[:1])
        sys.stdout.write(f"old keys removed from {path}\n")
    elif len(keyring.keys) > 1:
        sys.stdout.write(
            "old keys are kept for opening only; remove them with: openmanager keys rotate --drop-old\n"
        )
    return EXIT_OK
