"""Recipient notifications: one message per parcel, kind and channel, sent at most once.

The outbox statement writes the notification rows with the parcel event; the worker's
`send_notification` job takes one under its advisory lock (`sending`), renders it from what is true
when it is sent (a handed-over parcel's message never carries the PIN), marks it `handing_over`
just before the server may receive it (SMTP DATA), sends it and marks it `sent`. A send that
certainly failed (before the hand-over, or refused by the server) goes back to `pending` and the job
is retried with back-off; a sender that died before the hand-over is simply taken over; one that
died (or lost its connection) during the hand-over leaves it `unconfirmed`, never sent again, since
the server may have it: at most once per event and channel.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from marketplace.clock import Clock
from marketplace.db.uow import Database
from marketplace.domain.delivery import ParcelStatus
from marketplace.domain.notifications import (
    Channel,
    NotificationFacts,
    NotificationKind,
    language_for,
    render,
    sms_text,
)
from marketplace.logs import get_logger
from marketplace.messaging import EmailSender, RefusedError, SmsSender
from marketplace.repositories import Repositories
from marketplace.repositories.notifications import ClaimedNotification

log = get_logger("crowdship.notifications")


def facts_of(claimed: ClaimedNotification, public_base_url: str) -> NotificationFacts:
    token = claimed.tracking_token
    return NotificationFacts(
        kind=NotificationKind(claimed.kind),
        language=language_for(claimed.language, claimed.country_code),
        recipient_name=claimed.recipient_name or "",
        sender=claimed.sender,
        tracking_url="" if token is None else f"{public_base_url.rstrip('/')}/t/{token}",
        parcel_status=None if claimed.parcel_status is None else ParcelStatus(claimed.parcel_status),
        pin=claimed.pin,
        window_start_at=claimed.window_start_at,
        window_end_at=claimed.window_end_at,
        time_zone=claimed.time_zone or "UTC",
        failure_action=claimed.failure_action,
        endpoint_url=claimed.details.get("url"),
        disabled_after_days=int(claimed.details.get("days", 3)),
        eta_at=datetime.fromisoformat(claimed.details["eta_at"]) if claimed.details.get("eta_at") else None,
    )


class NotificationService:
    def __init__(self, db: Database, clock: Clock, *, email: EmailSender, sms: SmsSender, public_base_url: str) -> None:
        self._db = db
        self._clock = clock
        self.email = email
        self.sms = sms
        self._base_url = public_base_url

    async def send(self, notification_id: UUID) -> str:
        """Sends one notification unless it was sent or handed over before; what became of it.

        The worker holds the notification's advisory lock on its own connection for the whole send,
        so a second worker (a job taken over after a missed heartbeat) never sends it at the same time,
        and a worker that dies drops the lock with its connection. The connection comes straight from
        the pool, not through `Database`, so asyncpg's reset on release unlocks it even when the send is
        cancelled before its own unlock runs.
        """
        async with self._db.pool.acquire() as conn:
            repos = Repositories(conn)
            if not await repos.notifications.try_lock(notification_id):
                return "busy"
            try:
                return await self._send_locked(repos, notification_id)
            finally:
                await repos.notifications.unlock(notification_id)

    async def _send_locked(self, repos: Repositories, notification_id: UUID) -> str:
        notifications = repos.notifications  # autocommit: every mark below is durable at once
        status = await notifications.status(notification_id)
        if status == "handing_over":
            # Its sender died while handing it over: the server may have it, so never again.
            await notifications.unconfirmed(notification_id, "the sender stopped during the hand-over")
            return "unconfirmed"
        claimed = await notifications.claim(notification_id)
        if claimed is None:
            return "skipped"
        message = render(facts_of(claimed, self._base_url))
        key = f"notification-{claimed.id}"
        handed = False

        async def handing_over() -> None:
            nonlocal handed
            await notifications.handing_over(claimed.id)
            handed = True

        try:
            if claimed.channel == Channel.EMAIL.value:
                await self.email.send_email(
                    to=claimed.address,
                    subject=message.subject,
                    body=message.body,
                    message_key=key,
                    handing_over=handing_over,
                )
            else:
                await self.sms.send_sms(
                    to=claimed.address, text=sms_text(message), message_key=key, handing_over=handing_over
                )
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            if handed and not isinstance(exc, RefusedError):
                await notifications.unconfirmed(claimed.id, f"no answer to the hand-over: {error}")
                return "unconfirmed"
            await notifications.release(claimed.id, error)
            raise  # certainly not delivered: the job is retried with back-off
        await notifications.sent(claimed.id, self._clock.now())
        log.info("notification sent", notification_id=str(claimed.id), kind=claimed.kind, channel=claimed.channel)
        return "sent"
