"""Recipient notifications: one message per parcel, kind and channel, sent at most once.

The outbox statement writes the notification rows with the parcel event; the worker's
`send_notification` job claims one (status `sending`, committed before anything is sent), renders
it from what is true when it is sent (a handed-over parcel's message never carries the PIN), sends
it and marks it sent. A send that certainly failed goes back to `pending` and the job is retried
with back-off; a claim whose worker died mid-send is never sent again (`unconfirmed`), since the
server may already have it: at most once per event and channel.
"""

from __future__ import annotations

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
from marketplace.messaging import EmailSender, SmsSender
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
    )


class NotificationService:
    def __init__(self, db: Database, clock: Clock, *, email: EmailSender, sms: SmsSender, public_base_url: str) -> None:
        self._db = db
        self._clock = clock
        self.email = email
        self.sms = sms
        self._base_url = public_base_url

    async def send(self, notification_id: UUID) -> str:
        """Sends one notification if it is still pending; what became of it."""
        async with self._db.uow() as uow:
            claimed = await uow.repos.notifications.claim(notification_id)
            if claimed is None:
                # Claimed before by a worker that never finished: it may have gone out, so never again.
                gave_up = await uow.repos.notifications.unconfirmed(notification_id)
                await uow.commit()
                return "unconfirmed" if gave_up else "skipped"
            await uow.commit()
        message = render(facts_of(claimed, self._base_url))
        key = f"notification-{claimed.id}"
        try:
            if claimed.channel == Channel.EMAIL.value:
                await self.email.send_email(
                    to=claimed.address, subject=message.subject, body=message.body, message_key=key
                )
            else:
                await self.sms.send_sms(to=claimed.address, text=sms_text(message), message_key=key)
        except Exception as exc:
            async with self._db.uow() as uow:
                await uow.repos.notifications.release(claimed.id, f"{type(exc).__name__}: {exc}")
                await uow.commit()
            raise
        async with self._db.uow() as uow:
            await uow.repos.notifications.sent(claimed.id, self._clock.now())
            await uow.commit()
        log.info("notification sent", notification_id=str(claimed.id), kind=claimed.kind, channel=claimed.channel)
        return "sent"
