"""The checks before a remote action is signed: the per-user rate limit (Redis), the signing key, and the
TOTP step-up of destructive actions (a code accepted once, refusals as 403s with their codes)."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from api.action_checks import signing_key, spend_rate, step_up
from api.auth import totp
from api.auth.principal import Principal
from api.errors import ApiError
from collector.actions.signing import create_key_file, public_key_text
from collector.config.actions_settings import ActionsSettings
from collector.config.settings import Settings
from collector.storage.connections import Stores, open_stores
from tests.api.auth.conftest import make_user


@pytest.fixture
async def stores(settings: Settings) -> AsyncIterator[Stores]:
    async with open_stores(settings) as opened:
        yield opened


async def test_the_rate_limit_counts_per_user_and_minute(stores: Stores) -> None:
    user, other = uuid.uuid4(), uuid.uuid4()
    now = 60 * 16_666_667 + 20.0
    for _ in range(2):
        await spend_rate(stores.redis, user, 2, now=now)
    with pytest.raises(ApiError) as limited:
        await spend_rate(stores.redis, user, 2, now=now + 1)
    assert (limited.value.status, limited.value.code) == (429, "rate_limited")
    assert limited.value.headers["Retry-After"] == "39"
    await spend_rate(stores.redis, other, 2, now=now)
    await spend_rate(stores.redis, user, 2, now=now + 60)


async def test_the_signing_key_is_read_when_asked_for(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    configured = settings.model_copy(update={"actions": ActionsSettings(signing_key_file=path)})
    with pytest.raises(ApiError) as missing:
        await signing_key(configured)
    assert (missing.value.status, missing.value.code) == (409, "actions_not_configured")
    made = create_key_file(path)
    assert public_key_text((await signing_key(configured)).public_key()) == public_key_text(made.public_key())


async def test_step_up_needs_an_enrolled_users_fresh_code_once(stores: Stores) -> None:
    await stores.redis.flushdb()
    secret = totp.new_secret()
    enrolled = await make_user(stores.pg, "operator", totp_secret=secret)
    bare = await make_user(stores.pg, "operator")
    now = time.time()
    code = totp.code_at(secret, int(now // totp.STEP_S))

    def principal(user_id: uuid.UUID, name: str) -> Principal:
        return Principal(user_id, name, "operator", "user", "jti")

    refusals = [
        (principal(bare.id, bare.username), code, "totp_not_enrolled"),
        (principal(enrolled.id, enrolled.username), None, "totp_required"),
        (
            principal(enrolled.id, enrolled.username),
            "000000" if code != "000000" else "111111",
            "invalid_totp",
        ),
    ]
    for caller, given, expected in refusals:
        with pytest.raises(ApiError) as refused:
            await step_up(stores, caller, given, now=now)
        assert (refused.value.status, refused.value.code) == (403, expected)
    await step_up(stores, principal(enrolled.id, enrolled.username), code, now=now)
    with pytest.raises(ApiError) as replayed:
        await step_up(stores, principal(enrolled.id, enrolled.username), code, now=now)
    assert replayed.value.code == "invalid_totp"
