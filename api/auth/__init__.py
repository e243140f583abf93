"""Authentication and authorization for the API.

:func:`setup_auth` gives an application the auth configuration and the security headers; :mod:`api.auth.authz`
is what other handlers use (``require_role``, ``allowed_servers``, ``require_server``), and
:class:`~api.auth.principal.Principal` is who is calling. The middlewares
(:func:`~api.auth.middleware.auth_middleware`, :func:`~api.auth.audit.audit_middleware`) are installed by
``create_app`` after the error middleware. The endpoints are the declared :class:`~api.openapi.ApiRoutes`
tables of :mod:`~api.auth.routes`, :mod:`~api.auth.user_routes`, :mod:`~api.auth.token_routes` and
:mod:`~api.auth.audit_routes`, which ``create_app`` registers like every other module's table. This package
does not import them: they import :mod:`api.openapi`, which imports :mod:`api.auth.authz`.
"""

from __future__ import annotations

from aiohttp import web

from api.auth.headers import security_headers
from api.auth.principal_cache import PrincipalCache, RefusedTokens
from api.auth.secret import resolve_jwt_secret
from api.auth.state import AuthConfig
from api.keys import AUTH_CONFIG, PRINCIPAL_CACHE, REFUSED_TOKENS, SETTINGS

__all__ = ["setup_auth"]


def setup_auth(app: web.Application) -> None:
    """Add the security headers and the auth configuration to ``app`` (the endpoints are registered apart).

    Needs ``app[SETTINGS]``. The JWT signing key is resolved here, once: from the settings, else generated
    into ``data_dir/jwt.secret`` (mode 0600) on first start and read from there afterwards.
    """
    settings = app[SETTINGS]
    app[AUTH_CONFIG] = AuthConfig(
        jwt_secret=resolve_jwt_secret(settings),
        access_token_ttl_s=settings.auth.access_token_ttl_s,
        refresh_token_ttl_s=settings.auth.refresh_token_ttl_s,
        api_token_default_ttl_s=settings.auth.api_token_default_ttl_days * 86400,
        api_token_max_ttl_s=settings.auth.api_token_max_ttl_days * 86400,
    )
    app[PRINCIPAL_CACHE] = PrincipalCache(settings.auth.principal_cache_s)
    app[REFUSED_TOKENS] = RefusedTokens()
    app.on_response_prepare.append(security_headers)
