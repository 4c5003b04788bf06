"""Sending to recipients: e-mail over SMTP (aiosmtplib) and SMS behind a provider interface.

The worker's notification job is the only caller. A sender awaits `handing_over()` just before the
step after which the message may have arrived (SMTP DATA; the SMS provider's call), so the job knows
which failures may be retried (before it, or a refusal the server answered: `Refused`) and which
must never be (after it, without an answer).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid, parseaddr
from typing import Protocol

import aiosmtplib

from marketplace.logs import get_logger
from marketplace.settings import EmailProvider, Settings

log = get_logger("crowdship.messaging")


HandingOver = Callable[[], Awaitable[None]]


class RefusedError(Exception):
    """The server answered that it did not take the message: certainly not delivered, safe to retry."""


async def _nothing() -> None:
    return None


class EmailSender(Protocol):
    async def send_email(
        self, *, to: str, subject: str, body: str, message_key: str, handing_over: HandingOver = _nothing
    ) -> None: ...


class SmsSender(Protocol):
    async def send_sms(self, *, to: str, text: str, message_key: str, handing_over: HandingOver = _nothing) -> None: ...


@dataclass(frozen=True, slots=True)
class SmtpEmailSender:
    host: str
    port: int
    sender: str
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout_s: float = 30.0

    async def send_email(
        self, *, to: str, subject: str, body: str, message_key: str, handing_over: HandingOver = _nothing
    ) -> None:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject
        # One Message-ID per notification, so a receiving system can tell it apart from any other.
        message["Message-ID"] = make_msgid(idstring=message_key, domain="crowdship.invalid")
        message["X-Crowdship-Notification"] = message_key
        message.set_content(body)
        smtp = aiosmtplib.SMTP(hostname=self.host, port=self.port, timeout=self.timeout_s, start_tls=self.starttls)
        async with smtp:
            if self.username is not None and self.password is not None:
                await smtp.login(self.username, self.password)
            try:
                await smtp.mail(parseaddr(self.sender)[1])
                await smtp.rcpt(to)
            except aiosmtplib.SMTPResponseException as exc:
                raise RefusedError(f"{exc.code} {exc.message}") from exc
            await handing_over()
            try:
                await smtp.data(message.as_bytes())
            except aiosmtplib.SMTPResponseException as exc:  # the server answered: it did not take it
                raise RefusedError(f"{exc.code} {exc.message}") from exc


class LogEmailSender:
    """Development: the message is logged (without its body, which may hold a PIN), not sent."""

    async def send_email(
        self, *, to: str, subject: str, body: str, message_key: str, handing_over: HandingOver = _nothing
    ) -> None:
        await handing_over()
        log.info("email not sent (EMAIL_PROVIDER=log)", to=to, subject=subject, notification=message_key)


class LogSmsSender:
    """The development SMS provider: logs instead of sending. A real provider implements SmsSender."""

    async def send_sms(self, *, to: str, text: str, message_key: str, handing_over: HandingOver = _nothing) -> None:
        await handing_over()
        log.info("sms not sent (SMS_PROVIDER=log)", to=to[:4] + "...", length=len(text), notification=message_key)


def email_sender(settings: Settings) -> EmailSender:
    if settings.email_provider is EmailProvider.SMTP:
        return SmtpEmailSender(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.mail_from,
            username=settings.smtp_username,
            password=None if settings.smtp_password is None else settings.smtp_password.get_secret_value(),
            starttls=settings.smtp_starttls,
            timeout_s=settings.smtp_timeout_s,
        )
    return LogEmailSender()


def sms_sender(settings: Settings) -> SmsSender:
    return LogSmsSender()
