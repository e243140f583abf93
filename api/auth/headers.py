"""Security headers on every response, errors and static files included (set as responses are prepared)."""

from __future__ import annotations

from aiohttp import web

DASHBOARD_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
"""The dashboard loads only its own files: no inline script, no third-party origin."""

API_CSP = "default-src 'none'; frame-ancestors 'none'"
"""API answers are data, never documents to render."""

_COMMON = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Add the headers; API answers may hold tokens or private data, so no cache keeps them."""
    for name, value in _COMMON.items():
        response.headers.setdefault(name, value)
    if request.path.startswith("/api/"):
        response.headers.setdefault("Content-Security-Policy", API_CSP)
        response.headers["Cache-Control"] = "no-store"
    else:
        response.headers.setdefault("Content-Security-Policy", DASHBOARD_CSP)
