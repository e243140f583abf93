"""The client of the exporters' actions listeners: signs each request and reads the answer.

One :class:`ActionsClient` per process holds one HTTP session whose connector applies the registered
servers' address policy (:mod:`collector.netpolicy`: metadata addresses refused, the administrator's
``registration`` networks) to every connection, as their scrapes do; no redirect is followed. With
``actions.scheme: https`` (the default) the exporter's certificate is checked against ``actions.ca_file``
and the service presents ``actions.client_cert_file``.

Failures are of two kinds: the exporter answered with a refusal of the protocol (:class:`ExporterRefusal`,
its status and code, e.g. 409 ``replayed``), or no usable answer came (:class:`ExporterUnavailable`:
connection, TLS, timeout, the address policy, an answer that is not the protocol's).
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from uuid import UUID

import aiohttp
from aiohttp.abc import AbstractResolver
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from collector.actions.answers import ActionList, BadAnswerError, RunResult, parse_list, parse_run
from collector.actions.envelope import Envelope, sign
from collector.config.actions_settings import ActionsSettings
from collector.config.api_settings import RegistrationSettings
from collector.hostport import split_host_port
from collector.netpolicy import NetworkPolicy, guarded_connector, refused_by_policy

MAX_ANSWER_BYTES = 1 << 20
"""An answer larger than this is not read: two capped outputs and a little JSON fit well below it."""


class ActionsClientError(Exception):
    """A request to an exporter's actions listener that gave no result."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class ExporterRefusal(ActionsClientError):  # noqa: N818 - it is the exporter's answer, not our error
    """The exporter refused the request (nothing ran): its HTTP status and error code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(code, message)
        self.status = status


class ExporterUnavailable(ActionsClientError):  # noqa: N818 - a state of the exporter, as seen from here
    """No usable answer: ``code`` is ``timeout``, ``connection``, ``tls``, ``refused`` (the address policy)
    or ``bad_answer``."""


@dataclass(frozen=True)
class Requester:
    """Who asks, and of which server: what the envelope carries besides the action."""

    server_id: UUID
    host: str
    """The server's registered host (the listener's port is the settings')."""
    username: str


def tls_context(settings: ActionsSettings) -> ssl.SSLContext | None:
    """The TLS context for the exporters' listeners; None with ``scheme: http``."""
    if settings.scheme == "http":
        return None
    context = ssl.create_default_context(cafile=str(settings.ca_file) if settings.ca_file else None)
    if settings.client_cert_file is not None and settings.client_key_file is not None:
        context.load_cert_chain(str(settings.client_cert_file), str(settings.client_key_file))
    return context


def host_of(address: str) -> str:
    """The host part of a registered ``host:port`` address."""
    return split_host_port(address)[0]


class ActionsClient:
    """Signs and sends action requests; open with :meth:`open`, close with :meth:`close`.

    The key is given with each request, read from its file at that moment: a key made or replaced with
    ``openmanager keys init`` while the service runs is used at once.
    """

    def __init__(
        self,
        settings: ActionsSettings,
        registration: RegistrationSettings,
        *,
        resolver: AbstractResolver | None = None,
    ) -> None:
        self._settings = settings
        self._policy = NetworkPolicy(tuple(registration.allow_networks), tuple(registration.deny_networks))
        self._resolver = resolver
        self._session: aiohttp.ClientSession | None = None

    def open(self) -> None:
        """Create the HTTP session (inside the running event loop)."""
        self._session = aiohttp.ClientSession(
            connector=guarded_connector(
                self._policy, resolver=self._resolver, ssl=tls_context(self._settings)
            ),
            timeout=aiohttp.ClientTimeout(total=self._settings.timeout_s),
        )

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _url(self, host: str, path: str) -> str:
        bracketed = f"[{host}]" if ":" in host else host
        return f"{self._settings.scheme}://{bracketed}:{self._settings.port}{path}"

    async def list_actions(self, key: Ed25519PrivateKey, requester: Requester) -> ActionList:
        """What the host offers (the request signed with ``key``)."""
        signed = sign(self._envelope(requester, "", {}), key)
        data = await self._exchange(
            "GET", self._url(requester.host, "/actions"), headers={"Authorization": signed.authorization()}
        )
        try:
            return parse_list(data)
        except BadAnswerError as exc:
            raise ExporterUnavailable("bad_answer", str(exc)) from None

    async def run_action(
        self, key: Ed25519PrivateKey, requester: Requester, action: str, params: Mapping[str, str]
    ) -> RunResult:
        """Run ``action`` with ``params`` on the host (signed with ``key``); the result when the exporter ran
        it, whatever its exit code."""
        signed = sign(self._envelope(requester, action, params), key)
        data = await self._exchange(
            "POST", self._url(requester.host, f"/actions/{action}"), body=signed.body()
        )
        try:
            return parse_run(data)
        except BadAnswerError as exc:
            raise ExporterUnavailable("bad_answer", str(exc)) from None

    def _envelope(self, requester: Requester, action: str, params: Mapping[str, str]) -> Envelope:
        return Envelope(
            server_id=str(requester.server_id),
            action=action,
            params=dict(params),
            requested_by=requester.username,
            iat=int(time.time()),
        )

    async def _exchange(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: Mapping[str, str] | None = None,
    ) -> object:
        if self._session is None:
            raise RuntimeError("ActionsClient.open() was not called")
        try:
            async with self._session.request(
                method, url, headers=headers, json=body, allow_redirects=False
            ) as response:
                raw = await response.content.read(MAX_ANSWER_BYTES + 1)
                status = response.status
        except TimeoutError:
            raise ExporterUnavailable(
                "timeout", f"the exporter did not answer within {self._settings.timeout_s:g} s"
            ) from None
        except aiohttp.ClientSSLError as exc:
            raise ExporterUnavailable("tls", f"TLS with the exporter failed: {exc}") from None
        except aiohttp.ClientError as exc:
            refused = refused_by_policy(exc)
            if refused is not None:
                raise ExporterUnavailable("refused", f"the address policy refuses it: {refused}") from None
            raise ExporterUnavailable(
                "connection", f"cannot reach the exporter's actions listener: {exc}"
            ) from None
        if len(raw) > MAX_ANSWER_BYTES:
            raise ExporterUnavailable("bad_answer", "the exporter's answer is too large")
        try:
            data = json.loads(raw)
        except ValueError:
            raise ExporterUnavailable(
                "bad_answer",
                f"the exporter answered HTTP {status} without JSON (is it the actions listener?)",
            ) from None
        if status != 200:
            error = data.get("error") if isinstance(data, dict) else None
            code = error.get("code") if isinstance(error, dict) else None
            message = error.get("message") if isinstance(error, dict) else None
            raise ExporterRefusal(
                status,
                code if isinstance(code, str) else f"http_{status}",
                message if isinstance(message, str) else f"the exporter answered HTTP {status}",
            )
        return data
