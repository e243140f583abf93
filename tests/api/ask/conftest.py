"""The fixture fleet in a database of its own, seeded once per module, and callers of each role.

The fleet's questions are asked about every server there is, so the fleet gets a fresh database (other
modules of the run write servers of their own into the shared one).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from api.app import create_app
from api.ask.env import ASK_CLOCK
from api.auth.principal import Principal
from api.keys import STORES
from collector.config.settings import load_settings
from tests.api.ask.fleet import BY_NAME, NOW_S, seed
from tests.api.auth.conftest import AuthUser, Client, bearer, login, make_user
from tests.conftest import create_database, drop_database


@dataclass(frozen=True)
class Seeded:
    """The running application on the seeded fleet, an admin and a viewer granted web-1 and db-1 only."""

    app: web.Application
    client: Client
    admin: Principal
    viewer: Principal
    users: dict[str, AuthUser]
    headers: dict[str, dict[str, str]] = field(default_factory=dict)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def seeded(
    pg_admin_dsn: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Seeded]:
    dsn = await create_database(pg_admin_dsn)
    data = tmp_path_factory.mktemp("ask")
    targets = data / "targets.yaml"
    targets.write_text("scrape_configs: []\n")
    settings = load_settings(
        None,
        {
            "OM_POSTGRES_DSN": dsn,
            "OM_REDIS_URL": redis_url,
            "OM_DATA_DIR": str(data / "data"),
            "OM_TARGETS": str(targets),
            "OM_LISTEN": "127.0.0.1:0",
        },
    )
    app = create_app(settings)
    app[ASK_CLOCK] = lambda: NOW_S
    try:
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            await seed(app)
            pool = app[STORES].pg
            admin_user = await make_user(pool, "admin")
            viewer_user = await make_user(pool, "viewer")
            for name in ("web-1", "db-1"):
                await pool.execute(
                    "INSERT INTO server_grants (user_id, server_id) VALUES ($1, $2)",
                    viewer_user.id,
                    BY_NAME[name].target.server_id,
                )
            yield Seeded(
                app,
                client,
                Principal(admin_user.id, admin_user.username, admin_user.role, "user", "test"),
                Principal(viewer_user.id, viewer_user.username, viewer_user.role, "user", "test"),
                {"admin": admin_user, "viewer": viewer_user},
            )
    finally:
        await drop_database(pg_admin_dsn, dsn)


async def auth_of(seeded: Seeded, role: str) -> dict[str, str]:
    """A bearer header of the seeded admin or viewer (the viewer is granted web-1 and db-1)."""
    if role not in seeded.headers:
        tokens = await login(seeded.client, seeded.users[role])
        seeded.headers[role] = bearer(tokens["access_token"])
    return seeded.headers[role]
