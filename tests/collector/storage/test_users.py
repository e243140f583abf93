"""The users table."""

from __future__ import annotations

import pytest

from collector.config.settings import Settings
from collector.storage.connections import open_stores
from collector.storage.users import UserExistsError, count_users, create_user


async def test_create_user_then_the_same_name_again_is_refused(settings: Settings) -> None:
    async with open_stores(settings) as stores:
        before = await count_users(stores.pg)
        user = await create_user(stores.pg, "carol_users_test", "$argon2id$fake", "viewer")
        assert user.role == "viewer" and not user.disabled
        assert await count_users(stores.pg) == before + 1
        with pytest.raises(UserExistsError):
            await create_user(stores.pg, "carol_users_test", "$argon2id$fake", "admin")
        await stores.pg.execute("DELETE FROM users WHERE username = 'carol_users_test'")
