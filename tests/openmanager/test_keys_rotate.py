"""``openmanager keys rotate`` on a database of its own: a new key, values sealed again, old keys dropped."""

from __future__ import annotations

import asyncio

import pytest

from api.auth.accounts import credentials_by_name, set_totp_secret
from collector.alerts.notify.channels import WebhookChannel, parse_channel
from collector.alerts.notify.store import create_channel, get_channel
from collector.config.settings import load_settings
from collector.secrets import active
from collector.secrets.keyring import Keyring, SecretKeyError, read_key_file, sealed_key_id
from collector.storage.connections import open_stores
from openmanager.cli import EXIT_OK, EXIT_USAGE, main
from tests.conftest import SettingsFactory

HOOK_URL = "https://hooks.example.com/rotate-token-66d1"
TOTP = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


async def test_rotate_seals_every_value_under_a_new_key_and_drops_the_old(
    fresh_pg_dsn: str, make_settings: SettingsFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = make_settings(postgres_dsn=fresh_pg_dsn)
    env = {
        "OM_POSTGRES_DSN": fresh_pg_dsn,
        "OM_REDIS_URL": base.redis.url.get_secret_value() if base.redis.url else "",
        "OM_DATA_DIR": str(base.data_dir),
        "OM_LOG_FORMAT": "json",
    }
    settings = load_settings(None, env)  # keys from the default key file, not the tests' inline key
    async with open_stores(settings) as stores:
        user_id = await stores.pg.fetchval(
            "INSERT INTO users (username, password_hash, role) VALUES ('r', 'x', 'admin') RETURNING id"
        )
        await set_totp_secret(stores.pg, user_id, TOTP)
        channel = await create_channel(
            stores.pg, parse_channel({"kind": "webhook", "name": "h", "url": HOOK_URL})
        )
    key_file = base.data_dir / "secrets.key"
    old = read_key_file(key_file, create=False)

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("OM_SECRETS_KEY", raising=False)
    assert await _main(["keys", "rotate"]) == EXIT_OK
    rotated = read_key_file(key_file, create=False)
    assert len(rotated.keys) == 2 and rotated.keys[1:] == old.keys
    assert await _main(["keys", "rotate", "--resume", "--drop-old"]) == EXIT_OK
    assert read_key_file(key_file, create=False).keys == rotated.keys[:1]

    async with open_stores(settings) as stores:
        blobs = await stores.pg.fetch(
            "SELECT totp_secret_sealed AS b FROM users "
            "UNION ALL SELECT config_sealed FROM notification_channels"
        )
        assert {sealed_key_id(row["b"]) for row in blobs} == {rotated.current_id}
        credentials = await credentials_by_name(stores.pg, "r")
        assert credentials is not None and credentials.totp_secret == TOTP
        stored = await get_channel(stores.pg, channel.id)
        assert stored is not None and isinstance(stored.config, WebhookChannel)
        assert stored.config.url.get_secret_value() == HOOK_URL
        # With only the dropped key, reading is a clear error naming the keys, never garbage.
        active.use(Keyring(old.keys, "the old key file"))
        with pytest.raises(SecretKeyError, match=rotated.current_id.hex()):
            await credentials_by_name(stores.pg, "r")


async def _main(argv: list[str]) -> int:
    # The command runs its own event loop: run it off this test's loop.
    return await asyncio.to_thread(main, argv)


def test_rotate_with_inline_keys_asks_for_the_new_key_there(
    make_settings: SettingsFactory, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings()
    assert settings.secrets.key is not None
    monkeypatch.setenv("OM_SECRETS_KEY", settings.secrets.key.get_secret_value())
    monkeypatch.setenv("OM_DATA_DIR", str(settings.data_dir))
    assert main(["keys", "rotate"]) == EXIT_USAGE
    assert "--resume" in capsys.readouterr().err
