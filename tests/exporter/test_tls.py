"""TLS: the context built from tls_server_config, and real handshakes with and without client certificates."""

from __future__ import annotations

import ssl
from pathlib import Path

import aiohttp
import pytest

from exporter.config import ExporterConfig, load_config
from exporter.tls import build_server_context
from exporter.validation import ConfigError
from exporter.web_config import TLSConfig, WebConfig
from tests.exporter.conftest import Certificates, Serve


def tls_config(certs: Certificates, client_auth_type: str = "NoClientCert", **kwargs: str) -> ExporterConfig:
    client_ca = certs.ca_cert if client_auth_type != "NoClientCert" else None
    tls = TLSConfig(certs.server_cert, certs.server_key, client_auth_type, client_ca, **kwargs)
    return ExporterConfig(web=WebConfig(tls=tls, source="exporter.yml"))


def client_context(certs: Certificates, with_client_cert: bool = False) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(certs.ca_cert))
    if with_client_cert:
        context.load_cert_chain(certs.client_cert, certs.client_key)
    return context


def test_no_tls_section_means_plain_http() -> None:
    assert build_server_context(WebConfig()) is None


def test_tls_settings_reach_the_ssl_context(certificates: Certificates) -> None:
    config = tls_config(certificates, "RequireAndVerifyClientCert", min_version="TLS13")
    context = build_server_context(config.web)
    assert context is not None
    assert context.minimum_version == ssl.TLSVersion.TLSv1_3
    assert context.verify_mode == ssl.CERT_REQUIRED


def test_key_that_does_not_match_the_certificate_is_a_config_error(certificates: Certificates) -> None:
    tls = TLSConfig(certificates.server_cert, certificates.client_key)
    with pytest.raises(ConfigError) as caught:
        build_server_context(WebConfig(tls=tls, source="exporter.yml"))
    assert str(caught.value).startswith("exporter.yml: web.tls_server_config.cert_file/key_file: cannot load")


def test_file_that_is_not_pem_is_a_config_error_naming_the_key(
    tmp_path: Path, certificates: Certificates
) -> None:
    garbage = tmp_path / "ca.pem"
    garbage.write_text("not a certificate\n")
    path = tmp_path / "exporter.yml"
    path.write_text(
        "web:\n  tls_server_config:\n"
        f"    cert_file: {certificates.server_cert}\n    key_file: {certificates.server_key}\n"
        f"    client_auth_type: RequireAndVerifyClientCert\n    client_ca_file: {garbage}\n"
    )
    with pytest.raises(ConfigError) as caught:
        build_server_context(load_config(path).web)
    assert str(caught.value).startswith(f"{path}: web.tls_server_config.client_ca_file: cannot load")


async def test_tls_client_trusting_the_ca_can_scrape(serve: Serve, certificates: Certificates) -> None:
    config = tls_config(certificates)
    url = await serve(config, build_server_context(config.web))
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{url}/metrics", ssl=client_context(certificates)) as response,
    ):
        assert response.status == 200
        assert "node_cpu_seconds_total" in await response.text()


async def test_plain_http_to_the_tls_port_gets_no_metrics(serve: Serve, certificates: Certificates) -> None:
    config = tls_config(certificates)
    url = await serve(config, build_server_context(config.web))
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientError):
            async with session.get(url.replace("https://", "http://") + "/metrics") as response:
                await response.read()


async def test_required_client_certificate_is_accepted(serve: Serve, certificates: Certificates) -> None:
    config = tls_config(certificates, "RequireAndVerifyClientCert")
    url = await serve(config, build_server_context(config.web))
    async with aiohttp.ClientSession() as session:
        context = client_context(certificates, with_client_cert=True)
        async with session.get(f"{url}/-/healthy", ssl=context) as response:
            assert response.status == 200


async def test_missing_client_certificate_is_refused_when_required(
    serve: Serve, certificates: Certificates
) -> None:
    config = tls_config(certificates, "RequireAndVerifyClientCert")
    url = await serve(config, build_server_context(config.web))
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientError):
            async with session.get(f"{url}/metrics", ssl=client_context(certificates)) as response:
                await response.read()


async def test_client_certificate_from_another_ca_is_refused(
    serve: Serve, certificates: Certificates
) -> None:
    tls = TLSConfig(
        certificates.server_cert,
        certificates.server_key,
        "RequireAndVerifyClientCert",
        certificates.other_ca_cert,
    )
    config = ExporterConfig(web=WebConfig(tls=tls))
    url = await serve(config, build_server_context(config.web))
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientError):
            context = client_context(certificates, with_client_cert=True)
            async with session.get(f"{url}/metrics", ssl=context) as response:
                await response.read()
