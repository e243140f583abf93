"""Sending one notification over one channel: SMTP, a webhook POST or a Slack webhook, with bounded retries.

A failure is either transient (a timeout, a refused or dropped connection, an HTTP 5xx or 429, an SMTP 4xx
reply), retried after a capped exponential backoff up to :attr:`RetryPolicy.attempts` times, or permanent (any
other HTTP 4xx, an SMTP 5xx reply such as a refused login), given up at once. Error texts never carry a
channel's secrets: the URL is replaced by ``<url>``; only HTTP status lines and the start of a body are kept.

HTTP deliveries go through :func:`new_http_session`, which applies the address policy's link-local and cloud
metadata refusal (:mod:`collector.netpolicy`) to every connection, after DNS and for redirects too: a webhook
URL cannot make the service read instance credentials. Such a refusal is permanent, not retried.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from typing import Final

import aiohttp
import aiosmtplib
import structlog
from aiohttp.abc import AbstractResolver

from collector.alerts.notify.channels import (
    ChannelConfig,
    EmailChannel,
    SlackChannel,
    WebhookChannel,
    without_secrets,
)
from collector.alerts.notify.dispatcher import Notification
from collector.alerts.notify.payloads import email_message, slack_message, webhook_document
from collector.backoff import Backoff, retry
from collector.netpolicy import BASE_POLICY, guarded_connector, refused_by_policy

log = structlog.get_logger(__name__)

ERROR_BODY_CHARS: Final = 200
"""How much of a failed response's body an error keeps."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a delivery is tried."""

    attempts: int = 5
    first_backoff_s: float = 1.0
    max_backoff_s: float = 30.0

    @property
    def backoff(self) -> Backoff:
        """The waits between attempts: doubling from the first, capped."""
        return Backoff(self.first_backoff_s, self.max_backoff_s)


@dataclass(frozen=True)
class DeliveryResult:
    """How a delivery ended."""

    ok: bool
    attempts: int
    error: str | None = None
    """The last failure's text, None on success."""


class DeliveryError(Exception):
    """One attempt failed; ``transient`` says whether another attempt may succeed."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


def new_http_session(
    *, timeout_s: float | None = None, resolver: AbstractResolver | None = None
) -> aiohttp.ClientSession:
    """The session for webhook and Slack deliveries: metadata and link-local addresses refused on connect.

    ``resolver`` replaces the system's DNS (tests map names with it).
    """
    timeout = aiohttp.ClientTimeout(total=timeout_s) if timeout_s is not None else aiohttp.ClientTimeout()
    return aiohttp.ClientSession(connector=guarded_connector(BASE_POLICY, resolver=resolver), timeout=timeout)


class Sender:
    """Delivers notifications; holds the HTTP session and the TLS context for SMTP (both the caller's)."""

    def __init__(
        self, session: aiohttp.ClientSession, *, smtp_tls_context: ssl.SSLContext | None = None
    ) -> None:
        self._session = session
        self._smtp_tls_context = smtp_tls_context

    async def deliver(
        self, channel: ChannelConfig, notification: Notification, policy: RetryPolicy
    ) -> DeliveryResult:
        """Send, retrying transient failures as ``policy`` allows."""
        bound = log.bind(channel=channel.name, kind=channel.kind, group=notification.group_key)
        attempts = 0

        async def attempt() -> None:
            nonlocal attempts
            attempts += 1
            await self.send_once(channel, notification)

        def retrying(attempt: int, exc: Exception, delay_s: float) -> None:
            error = without_secrets(str(exc), channel)
            bound.info("notification attempt failed, retrying", attempt=attempt, error=error, delay_s=delay_s)

        try:
            await retry(
                attempt,
                policy.backoff,
                transient=lambda exc: isinstance(exc, DeliveryError) and exc.transient,
                attempts=policy.attempts,
                on_retry=retrying,
            )
        except DeliveryError as exc:
            # A receiver may echo a secret (a token in the URL, a header) back in its answer.
            error = without_secrets(str(exc), channel)
            bound.warning("notification failed", attempt=attempts, error=error)
            return DeliveryResult(False, attempts, error)
        bound.info("notification sent", attempt=attempts, status=notification.status)
        return DeliveryResult(True, attempts)

    async def send_once(self, channel: ChannelConfig, notification: Notification) -> None:
        """One attempt; raises :class:`DeliveryError`."""
        if isinstance(channel, EmailChannel):
            await self._send_email(channel, notification)
        elif isinstance(channel, WebhookChannel):
            headers = {k: v.get_secret_value() for k, v in channel.headers.items()}
            await self._post(
                channel.url.get_secret_value(), webhook_document(notification), headers, channel.timeout_s
            )
        else:
            assert isinstance(channel, SlackChannel)
            await self._post(
                channel.url.get_secret_value(), slack_message(notification), {}, channel.timeout_s
            )

    async def _send_email(self, channel: EmailChannel, notification: Notification) -> None:
        password = channel.password.get_secret_value() if channel.password is not None else None
        try:
            async with asyncio.timeout(channel.timeout_s):
                await aiosmtplib.send(
                    email_message(channel, notification),
                    hostname=channel.smtp_host,
                    port=channel.smtp_port,
                    username=channel.username,
                    password=password,
                    use_tls=channel.tls,
                    start_tls=channel.starttls,
                    timeout=channel.timeout_s,
                    tls_context=self._smtp_tls_context,
                )
        except aiosmtplib.SMTPResponseException as exc:
            raise DeliveryError(f"SMTP {exc.code}: {exc.message}", transient=400 <= exc.code < 500) from None
        except TimeoutError:
            raise DeliveryError(f"SMTP timed out after {channel.timeout_s:g} s", transient=True) from None
        except OSError as exc:  # refused, reset, DNS; aiosmtplib's connect and disconnect errors are OSErrors
            raise DeliveryError(f"SMTP connection failed: {exc}", transient=True) from None
        except aiosmtplib.SMTPException as exc:
            raise DeliveryError(f"SMTP failed: {exc}", transient=False) from None

    async def _post(
        self, url: str, document: dict[str, object], headers: dict[str, str], timeout_s: float
    ) -> None:
        try:
            async with self._session.post(
                url, json=document, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout_s)
            ) as response:
                if response.status < 300:
                    return
                body = (await response.text(errors="replace"))[:ERROR_BODY_CHARS]
                status = response.status
        except TimeoutError:
            raise DeliveryError(f"no answer within {timeout_s:g} s", transient=True) from None
        except aiohttp.ClientError as exc:
            refused = refused_by_policy(exc)
            if refused is not None:
                raise DeliveryError(f"connection {refused.strerror}", transient=False) from None
            text = str(exc).replace(url, "<url>") or type(exc).__name__
            raise DeliveryError(f"connection failed: {text}", transient=True) from None
        transient = status >= 500 or status == 429
        raise DeliveryError(f"HTTP {status}: {body.replace(url, '<url>')}".strip(), transient=transient)
