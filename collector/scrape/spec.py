"""From a target and its job to what the fetcher needs: URL, timeout, limits, credentials, TLS."""

from __future__ import annotations

import ssl

from collector.config.scrape_job import ScrapeJob, TLSConfig
from collector.discovery import Target
from collector.scrape.fetch import FetchSpec

_TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}


def ssl_context(tls: TLSConfig) -> ssl.SSLContext:
    """A client TLS context for ``tls``: its CA (else the system's), client certificate, minimum version."""
    context = ssl.create_default_context(cafile=str(tls.ca_file) if tls.ca_file else None)
    if tls.cert_file and tls.key_file:
        context.load_cert_chain(str(tls.cert_file), str(tls.key_file))
    if tls.insecure_skip_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if tls.min_version:
        context.minimum_version = _TLS_VERSIONS[tls.min_version.upper()]
    return context


def fetch_spec(target: Target, job: ScrapeJob, context: ssl.SSLContext | None = None) -> FetchSpec:
    """The fetch of ``target`` as ``job`` configures it (``context`` built once per job by the caller)."""
    basic = (job.basic_auth.username, job.basic_auth.password.get_secret_value()) if job.basic_auth else None
    bearer = None
    headers: dict[str, str] = {}
    if job.authorization is not None:
        credentials = job.authorization.credentials.get_secret_value()
        if job.authorization.type.lower() == "bearer":
            bearer = credentials
        else:
            headers["Authorization"] = f"{job.authorization.type} {credentials}"
    return FetchSpec(
        url=target.url,
        timeout_s=target.scrape_timeout_s,
        body_limit_bytes=job.body_size_limit_bytes,
        headers=headers,
        basic_auth=basic,
        bearer_token=bearer,
        ssl_context=context,
        server_name=job.tls_config.server_name if job.tls_config else None,
        follow_redirects=job.follow_redirects,
    )
