"""The server's TLS context, built from an exporter-toolkit style `tls_server_config`."""

from __future__ import annotations

import ssl

from exporter.validation import ConfigError
from exporter.web_config import WebConfig

_VERSIONS = {"TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}
_VERIFY_MODES = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}


def build_server_context(web: WebConfig, key: str | None = None) -> ssl.SSLContext | None:
    """Load the certificate, key and client CA, or return None when TLS is not configured.

    A file that does not load is a ConfigError naming the file, the key and the reason, so the exporter
    refuses to start instead of failing at the first handshake. `key` names the TLS section in errors
    (default: the web config's ``tls_server_config``).
    """
    tls = web.tls
    if tls is None:
        return None
    key = key or f"{web.key_prefix}tls_server_config"
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = _VERSIONS[tls.min_version]
    if tls.max_version is not None:
        context.maximum_version = _VERSIONS[tls.max_version]
    try:
        context.load_cert_chain(tls.cert_file, tls.key_file)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(
            web.source,
            f"{key}.cert_file/key_file",
            f"cannot load {str(tls.cert_file)!r} with {str(tls.key_file)!r} ({exc}); "
            "expected a PEM certificate and its matching unencrypted PEM private key",
        ) from None
    context.verify_mode = _VERIFY_MODES[tls.client_auth_type]
    if tls.client_ca_file is not None:
        try:
            context.load_verify_locations(cafile=tls.client_ca_file)
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(
                web.source,
                f"{key}.client_ca_file",
                f"cannot load {str(tls.client_ca_file)!r} ({exc}); expected PEM CA certificates",
            ) from None
    return context
