"""Authentication and authorization for the API.

:func:`setup_auth` wires everything into an application; :mod:`api.auth.authz` is what other handlers use
(``require_role``, ``allowed_servers``, ``require_server``), and :class:`~api.auth.principal.Principal` is who
is calling. The middlewares (:func:`~api.auth.middleware.auth_middleware`,
:func:`~api.auth.audit.audit_middleware`) are installed by ``create_app`` after the error middleware.
"""

from __future__ import annotations

from aiohttp import web

from api.auth import audit_routes, routes, token_routes, user_routes
from api.auth.headers import security_headers
from api.auth.secret import resolve_jwt_secret
from api.auth.state import AUTH_CONFIG, AuthConfig
from api.keys import SETTINGS

__all__ = ["setup_auth"]


def setup_auth(app: web.Application) -> None:
    """Add the auth endpoints, the security headers and the auth configuration to ``app``.

    Needs ``app[SETTINGS]``. The JWT signing key is resolved here, once: from the settings, else generated
    into ``data_dir/jwt.secret`` (mode 0600) on first start and read from there afterwards.
    """
    settings = app[SETTINGS]
    app[AUTH_CONFIG] = AuthConfig(
        jwt_secret=resolve_jwt_secret(settings),
        access_token_ttl_s=settings.auth.access_token_ttl_s,
        refresh_token_ttl_s=settings.auth.refresh_token_ttl_s,
    )
    for table in (routes.routes, user_routes.routes, token_routes.routes, audit_routes.routes):
        app.router.add_routes(table)
    app.on_response_prepare.append(security_headers)
