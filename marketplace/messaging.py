"""Sending to recipients: e-mail over SMTP (aiosmtplib) and SMS behind a provider interface.

The worker's notification job is the only caller. A sender raises on a failure it knows of (the
server refused, the connection failed) so the job can try again; what it cannot know (the process
died mid-send) is settled by the job's claim, never by sending twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Protocol

import aiosmtplib

from marketplace.logs import get_logger
from marketplace.settings import EmailProvider, Settings

log = get_logger("crowdship.messaging")


class EmailSender(Protocol):
    async def send_email(self, *, to: str, subject: str, body: str, message_key: str) -> None: ...


class SmsSender(Protocol):
    async def send_sms(self, *, to: str, text: str, message_key: str) -> None: ...


@dataclass(frozen=True, slots=True)
class SmtpEmailSender:
    host: str
    port: int
    sender: str
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout_s: float = 30.0

    async def send_email(self, *, to: str, subject: str, body: str, message_key: str) -> None:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject
        # One Message-ID per notification, so a receiving system can tell it apart from any other.
        message["Message-ID"] = make_msgid(idstring=message_key, domain="crowdship.invalid")
        message["X-Crowdship-Notification"] = message_key
        message.set_content(body)
        await aiosmtplib.send(
            message,
            hostname=self.host,
            port=self.port,
            username=self.username,
            password=self.password,
            start_tls=self.starttls,
            timeout=self.timeout_s,
        )


class LogEmailSender:
    """Development: the message is logged (without its body, which may hold a PIN), not sent."""

    async def send_email(self, *, to: str, subject: str, body: str, message_key: str) -> None:
        log.info("email not sent (EMAIL_PROVIDER=log)", to=to, subject=subject, notification=message_key)


class LogSmsSender:
    """The development SMS provider: logs instead of sending. A real provider implements SmsSender."""

    async def send_sms(self, *, to: str, text: str, message_key: str) -> None:
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
