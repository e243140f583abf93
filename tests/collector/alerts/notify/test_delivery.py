"""Delivery to real servers on 127.0.0.1: SMTP with STARTTLS and AUTH, webhook and Slack receivers; retry."""

from __future__ import annotations

import asyncio
import email
import email.policy
import ssl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import aiohttp
import pytest
import trustme
from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from collector.alerts.notify.channels import ChannelConfig, EmailChannel, SlackChannel
from collector.alerts.notify.delivery import RetryPolicy, Sender, new_http_session
from collector.alerts.notify.dispatcher import LogEntry, Notification
from tests.loopback import FakeResolver, loopback_only
from tests.ports import free_port

from .support import T0, alert, receiver, stored, webhook

FAST = RetryPolicy(attempts=4, first_backoff_s=0.01, max_backoff_s=0.05)


def notification_for(channel: ChannelConfig) -> Notification:
    ch = stored(channel)
    entry = LogEntry(ch.id, '{alertname="HighCpu"}', frozenset(), frozenset(), T0)
    firing = (alert(server="web-1"),)
    return Notification(ch, '{alertname="HighCpu"}', {"alertname": "HighCpu"}, firing, (), entry)


@dataclass
class Mailbox:
    """What the SMTP server received, and who logged in with which mechanism."""

    mechanism: str
    """The one AUTH mechanism the server offers."""
    messages: list[Envelope] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.messages.append(envelope)
        return "250 Message accepted"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: object
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        ok = (data.login, data.password) == (b"om", b"s3cret")
        if ok:
            self.logins.append((data.login.decode(), mechanism))
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def client_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


@pytest.fixture(params=["LOGIN", "PLAIN"])
def smtp(request: pytest.FixtureRequest, ca: trustme.CA) -> Iterator[tuple[Mailbox, int]]:
    """A real SMTP server on loopback that requires STARTTLS and offers only one AUTH mechanism."""
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_tls)
    mailbox = Mailbox(request.param)
    other = "PLAIN" if request.param == "LOGIN" else "LOGIN"
    port = free_port()
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=server_tls,
        require_starttls=True,
        auth_required=True,
        authenticator=mailbox.authenticate,
        auth_exclude_mechanism=[other],
    )
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """The session the service delivers with: the address policy applies, loopback receivers work."""
    async with new_http_session() as s:
        yield s


@pytest.mark.parametrize(
    ("url", "answers"),
    [
        ("http://hooks.test/hook", ["169.254.169.254"]),
        ("http://hooks.test/hook", ["::ffff:169.254.169.254"]),
        ("http://hooks.test/hook", ["fd00:ec2::254"]),
        ("http://169.254.169.254/latest/meta-data/iam/security-credentials/", []),
        ("http://[fd00:ec2::254]/latest/api/token", []),
        ("http://100.100.100.200/latest/meta-data/", []),
    ],
)
async def test_a_webhook_cannot_reach_a_metadata_address(
    monkeypatch: pytest.MonkeyPatch, url: str, answers: list[str]
) -> None:
    loopback_only(monkeypatch)
    resolver = FakeResolver({"hooks.test": answers})
    channel = webhook(url)
    async with new_http_session(resolver=resolver) as guarded:
        result = await Sender(guarded).deliver(channel, notification_for(channel), FAST)
    assert not result.ok and result.attempts == 1, "a refusal is not retried"
    assert result.error == "connection refused by the address policy: a link-local or cloud metadata address"


def mail_channel(port: int, password: str = "s3cret") -> EmailChannel:
    return EmailChannel(
        name="ops mail",
        to=("ops@example.com", "dba@example.com"),
        from_address="openmanager@example.com",
        smtp_host="127.0.0.1",
        smtp_port=port,
        username="om",
        password=password,  # type: ignore[arg-type]  # pydantic turns it into a SecretStr
        timeout_s=10,
    )


async def test_email_goes_over_starttls_with_auth_to_every_recipient(
    smtp: tuple[Mailbox, int], session: aiohttp.ClientSession, client_tls: ssl.SSLContext
) -> None:
    mailbox, port = smtp
    channel = mail_channel(port)
    result = await Sender(session, smtp_tls_context=client_tls).deliver(
        channel, notification_for(channel), FAST
    )
    assert result.ok and result.attempts == 1, result.error
    (envelope,) = mailbox.messages
    assert envelope.mail_from == "openmanager@example.com"
    assert envelope.rcpt_tos == ["ops@example.com", "dba@example.com"]
    assert isinstance(envelope.content, bytes)
    message = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert message["Subject"] == "[FIRING:1] HighCpu on web-1"
    body = message.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "HighCpu is over its threshold on web-1" in text and "[warning]" in text and "since: 2026-" in text
    assert mailbox.logins == [("om", mailbox.mechanism)]


async def test_a_refused_smtp_login_is_not_retried(
    smtp: tuple[Mailbox, int], session: aiohttp.ClientSession, client_tls: ssl.SSLContext
) -> None:
    mailbox, port = smtp
    channel = mail_channel(port, password="wrong")
    result = await Sender(session, smtp_tls_context=client_tls).deliver(
        channel, notification_for(channel), FAST
    )
    assert not result.ok and result.attempts == 1
    assert result.error is not None and result.error.startswith("SMTP 535") and "wrong" not in result.error
    assert mailbox.messages == []


async def test_an_smtp_server_whose_certificate_is_not_trusted_fails(
    smtp: tuple[Mailbox, int], session: aiohttp.ClientSession
) -> None:
    mailbox, port = smtp
    channel = mail_channel(port)
    result = await Sender(session, smtp_tls_context=ssl.create_default_context()).deliver(
        channel, notification_for(channel), RetryPolicy(attempts=1)
    )
    assert not result.ok and mailbox.messages == []


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # it is TLS, implicitly
async def test_email_over_implicit_tls(
    ca: trustme.CA, session: aiohttp.ClientSession, client_tls: ssl.SSLContext
) -> None:
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_tls)
    mailbox = Mailbox("PLAIN")
    port = free_port()
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=port,
        ssl_context=server_tls,
        auth_required=True,
        auth_require_tls=False,  # aiosmtpd only counts STARTTLS as TLS; this whole connection is TLS
        authenticator=mailbox.authenticate,
    )
    controller.start()
    try:
        channel = mail_channel(port).model_copy(update={"tls": True, "starttls": False})
        result = await Sender(session, smtp_tls_context=client_tls).deliver(
            channel, notification_for(channel), FAST
        )
    finally:
        controller.stop()
    assert result.ok, result.error
    assert [e.rcpt_tos for e in mailbox.messages] == [["ops@example.com", "dba@example.com"]]
    assert mailbox.logins == [("om", "PLAIN")]


async def test_an_smtp_server_that_is_not_there_is_retried(session: aiohttp.ClientSession) -> None:
    channel = mail_channel(free_port())
    result = await Sender(session).deliver(channel, notification_for(channel), FAST)
    assert not result.ok and result.attempts == FAST.attempts
    assert result.error is not None and result.error.startswith("SMTP connection failed")


async def test_the_webhook_receives_the_document_with_its_secret_headers(
    session: aiohttp.ClientSession,
) -> None:
    async with receiver() as rec:
        channel = webhook(rec.url, headers={"Authorization": "Bearer t0k"})
        result = await Sender(session).deliver(channel, notification_for(channel), FAST)
        assert result.ok
        (doc,) = rec.received
        assert doc["status"] == "firing" and doc["groupLabels"] == {"alertname": "HighCpu"}
        assert rec.headers[0]["Authorization"] == "Bearer t0k"


async def test_the_slack_receiver_gets_text_and_blocks(session: aiohttp.ClientSession) -> None:
    async with receiver() as rec:
        channel = SlackChannel(name="slack", url=rec.url)  # type: ignore[arg-type]
        result = await Sender(session).deliver(channel, notification_for(channel), FAST)
        assert result.ok
        (doc,) = rec.received
        assert doc["text"] == "[FIRING:1] HighCpu on web-1"
        assert isinstance(doc["blocks"], list) and doc["blocks"][0]["type"] == "header"


async def test_a_503_then_success_gives_exactly_one_delivery(session: aiohttp.ClientSession) -> None:
    async with receiver() as rec:
        rec.statuses = [503, 503]
        channel = webhook(rec.url)
        result = await Sender(session).deliver(channel, notification_for(channel), FAST)
        assert result.ok and result.attempts == 3
        assert rec.requests == 3 and len(rec.received) == 1


async def test_a_400_is_not_retried(session: aiohttp.ClientSession) -> None:
    async with receiver() as rec:
        rec.statuses = [400]
        channel = webhook(rec.url)
        result = await Sender(session).deliver(channel, notification_for(channel), FAST)
        assert not result.ok and result.attempts == 1 and result.error == "HTTP 400: nope"
        assert rec.requests == 1


async def test_a_server_that_keeps_failing_is_given_up_after_the_attempt_bound(
    session: aiohttp.ClientSession,
) -> None:
    async with receiver() as rec:
        rec.statuses = [500] * 10
        channel = webhook(rec.url)
        result = await Sender(session).deliver(channel, notification_for(channel), FAST)
        assert not result.ok and result.attempts == FAST.attempts == rec.requests


async def test_a_refused_connection_is_retried_and_the_url_stays_out_of_the_error(
    session: aiohttp.ClientSession,
) -> None:
    url = f"http://127.0.0.1:{free_port()}/services/T0/B0/secret-token"
    channel = SlackChannel(name="slack", url=url)  # type: ignore[arg-type]
    result = await Sender(session).deliver(channel, notification_for(channel), FAST)
    assert not result.ok and result.attempts == FAST.attempts
    assert result.error is not None and "secret-token" not in result.error


async def test_a_receiver_that_does_not_answer_times_out_and_is_retried(
    session: aiohttp.ClientSession,
) -> None:
    async with receiver() as rec:
        rec.statuses = [200]
        rec.hang = asyncio.Event()
        channel = webhook(rec.url, timeout_s=0.2)
        result = await Sender(session).deliver(channel, notification_for(channel), RetryPolicy(2, 0.01, 0.01))
        assert not result.ok and result.attempts == 2 and result.error == "no answer within 0.2 s"


async def test_a_webhook_whose_certificate_is_not_trusted_gets_nothing(
    ca: trustme.CA, session: aiohttp.ClientSession
) -> None:
    """Certificates are verified by default: a receiver whose CA the system does not trust is not sent the
    document (nor its secret headers)."""
    hits: list[str] = []

    async def take(request: web.Request) -> web.Response:
        hits.append(await request.text())
        return web.Response(text="ok")

    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_tls)
    app = web.Application()
    app.router.add_post("/hook", take)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=server_tls).start()
    try:
        channel = webhook(f"https://127.0.0.1:{port}/hook", headers={"Authorization": "Bearer t0k"})
        result = await Sender(session).deliver(channel, notification_for(channel), FAST)
        assert not result.ok and hits == []
        assert result.error is not None and "certificate" in result.error.lower()
    finally:
        await runner.cleanup()
