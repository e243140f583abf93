"""``POST /api/v1/write``: the Prometheus remote-write receiver (Remote-Write 1.0 and 2.0).

A Prometheus, Grafana Alloy or vmagent pushes here with an API token that has the ``write`` scope (and at
least the operator role) as its bearer credential::

    remote_write:
      - url: https://openmanager.example.org/api/v1/write
        authorization:
          credentials: om_…

The body is a snappy block (``Content-Encoding: snappy``, also assumed when absent) holding a
``prometheus.WriteRequest`` (``Content-Type: application/x-protobuf``, the default) or an
``io.prometheus.write.v2.Request`` (``…;proto=io.prometheus.write.v2.Request``). Answers, as Prometheus's
own receiver gives them: 204 when stored; 400 for a body that is not a request and for out-of-order,
conflicting or far-future samples (a sender does not retry a 400); 413 over the body limits (compressed,
or decompressed as the block declares before anything is inflated); 415 for another encoding or message;
503 while storage lags or in a process without a collector (a sender retries a 5xx). Version 2 answers
carry the ``X-Prometheus-Remote-Write-*-Written`` counts.

Pushes are neither rate-limited per request nor audited one by one (they come many times a second); the
receiver's metrics count them, and refusals are logged.
"""

from __future__ import annotations

from typing import Final

import structlog
from aiohttp import web

from api.auth.authz import require_role
from api.errors import ApiError
from api.keys import RECEIVER, SETTINGS
from api.openapi import ApiRoutes
from collector.ingest.receiver import IngestBusyError, Version
from collector.ingest.series import SampleRejectedError
from collector.ingest.wire import V1_PROTO, V2_PROTO, DecodedTooLargeError, WireError, snappy_decode

log = structlog.get_logger(__name__)

WRITE_PATH: Final = "/api/v1/write"
WRITE_SCOPE: Final = "write"

routes = ApiRoutes()


def protocol_version(content_type: str | None) -> Version:
    """The remote-write version a ``Content-Type`` names; a 415 for anything else."""
    if not content_type:
        return 1
    media, *params = (part.strip() for part in content_type.split(";"))
    if media.lower() != "application/x-protobuf":
        raise ApiError(415, f"expected Content-Type application/x-protobuf, got {content_type!r}")
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "proto":
            value = value.strip().strip('"')
            if value == V1_PROTO:
                return 1
            if value == V2_PROTO:
                return 2
            raise ApiError(415, f"unknown remote-write message {value!r}: expected {V1_PROTO} or {V2_PROTO}")
    return 1


async def read_body(request: web.Request, limit_bytes: int, what: str = "snappy-compressed") -> bytes:
    """The request body, refused with a 413 as soon as it passes ``limit_bytes`` (``what``: which limit)."""
    too_large = ApiError(413, f"the body is larger than the limit of {limit_bytes} bytes ({what})")
    if request.content_length is not None and request.content_length > limit_bytes:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(1 << 16):
        size += len(chunk)
        if size > limit_bytes:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


@routes.post(
    WRITE_PATH,
    name="remote_write",
    summary="Receive samples by Prometheus remote write (1.0 and 2.0, snappy-compressed protobuf)",
    tag="ingest",
    role="operator",
    status=204,
)
async def remote_write(request: web.Request) -> web.Response:
    """Store pushed samples like scraped ones: needs an API token with the ``write`` scope."""
    principal = require_role(request, "operator")
    if principal.kind != "api_token" or WRITE_SCOPE not in principal.scopes:
        raise ApiError(
            403,
            "remote write needs an API token with the write scope (POST /api/tokens with scopes: [write])",
            code="scope_required",
        )
    receiver = request.app.get(RECEIVER)
    if receiver is None:
        raise ApiError(
            503,
            "this process does not receive remote write: push to an 'openmanager run' or 'openmanager api'",
            code="no_receiver",
        )
    version = protocol_version(request.headers.get("Content-Type"))
    encoding = request.headers.get("Content-Encoding", "snappy").strip().lower()
    if encoding != "snappy":
        raise ApiError(415, f"expected Content-Encoding snappy, got {encoding!r}")
    limits = request.app[SETTINGS].remote_write
    body = await read_body(request, limits.max_body_bytes)
    try:
        outcome = receiver.write(snappy_decode(body, limits.max_decoded_bytes), version)
    except DecodedTooLargeError as exc:
        raise ApiError(413, str(exc)) from None
    except SampleRejectedError as exc:
        log.info("remote write refused", reason=exc.reason, error=str(exc), token=principal.token_id)
        raise ApiError(400, str(exc), code=exc.reason.split(":")[0].replace(" ", "_")) from None
    except WireError as exc:
        raise ApiError(400, str(exc), code="bad_request") from None
    except IngestBusyError as exc:
        raise ApiError(503, str(exc), code="busy", headers={"Retry-After": "1"}) from None
    headers = {}
    if version == 2:
        headers = {
            "X-Prometheus-Remote-Write-Samples-Written": str(outcome.samples_written),
            "X-Prometheus-Remote-Write-Histograms-Written": "0",
            "X-Prometheus-Remote-Write-Exemplars-Written": "0",
        }
        if outcome.errors:
            shown = "; ".join(outcome.errors[:10])
            more = f" (and {len(outcome.errors) - 10} more)" if len(outcome.errors) > 10 else ""
            raise ApiError(
                400, f"{len(outcome.errors)} samples refused: {shown}{more}", code="rejected", headers=headers
            )
    return web.Response(status=204, headers=headers)
