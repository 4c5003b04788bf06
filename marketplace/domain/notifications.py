"""Recipient notifications: which happenings are told, in which language, with which words.

Templates are plain `str.format` text per kind and language (German and English); a recipient
whose language is unknown gets the service area's (its country's) language, English otherwise.
The PIN is only ever put into a "booked" message, and never once the parcel is handed over.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from marketplace.domain.delivery import ParcelStatus


class NotificationKind(StrEnum):
    BOOKED = "booked"
    OUT_FOR_DELIVERY = "out_for_delivery"
    ARRIVING_SOON = "arriving_soon"
    DELIVERED = "delivered"
    FAILED_ATTEMPT = "failed_attempt"
    ENDPOINT_DISABLED = "endpoint_disabled"  # to the organisation: a webhook endpoint was switched off


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"


LANGUAGES = ("de", "en")
_COUNTRY_LANGUAGE = {"DE": "de", "AT": "de", "CH": "de"}

# Once the parcel is in one of these, a PIN is no use to anyone and is never sent.
HANDED_OVER = frozenset(
    {ParcelStatus.DELIVERED, ParcelStatus.IN_LOCKER, ParcelStatus.COLLECTED, ParcelStatus.RETURNED,
     ParcelStatus.RETURNING, ParcelStatus.CANCELLED, ParcelStatus.HANDED_TO_FLEET}
)  # fmt: skip

# What the recipient should do next after a failed attempt, by the job's failure action.
_NEXT_STEP = {
    "en": {
        "locker": "The parcel goes to a parcel locker; you will receive a pickup code.",
        "return_to_pickup": "The parcel goes back to the sender, who will contact you.",
        "safe_place": "The courier leaves the parcel at the safe place you agreed to.",
    },
    "de": {
        "locker": "Das Paket kommt in eine Packstation; Sie erhalten einen Abholcode.",
        "return_to_pickup": "Das Paket geht an den Absender zurück, der sich bei Ihnen meldet.",
        "safe_place": "Der Kurier legt das Paket am vereinbarten Ablageort ab.",
    },
}

_TEMPLATES: dict[tuple[NotificationKind, str], tuple[str, str]] = {
    (NotificationKind.BOOKED, "en"): (
        "Your parcel from {sender} is on its way",
        "Hello {name},\n\n{sender} has booked your delivery. Follow it here: {tracking_url}\n{pin_line}",
    ),
    (NotificationKind.BOOKED, "de"): (
        "Ihr Paket von {sender} ist unterwegs",
        "Hallo {name},\n\n{sender} hat Ihre Lieferung gebucht. Verfolgen Sie sie hier: {tracking_url}\n{pin_line}",
    ),
    (NotificationKind.OUT_FOR_DELIVERY, "en"): (
        "Your parcel is out for delivery",
        "Hello {name},\n\nYour parcel is out for delivery and arrives between {window}.\n{tracking_url}\n",
    ),
    (NotificationKind.OUT_FOR_DELIVERY, "de"): (
        "Ihr Paket wird zugestellt",
        "Hallo {name},\n\nIhr Paket ist in Zustellung und kommt zwischen {window}.\n{tracking_url}\n",
    ),
    (NotificationKind.ARRIVING_SOON, "en"): (
        "Your parcel arrives soon",
        "Hello {name},\n\n{arriving}\n{tracking_url}\n",
    ),
    (NotificationKind.ARRIVING_SOON, "de"): (
        "Ihr Paket kommt gleich",
        "Hallo {name},\n\n{arriving}\n{tracking_url}\n",
    ),
    (NotificationKind.DELIVERED, "en"): (
        "Your parcel has been delivered",
        "Hello {name},\n\nYour parcel from {sender} has been delivered.\n",
    ),
    (NotificationKind.DELIVERED, "de"): (
        "Ihr Paket wurde zugestellt",
        "Hallo {name},\n\nIhr Paket von {sender} wurde zugestellt.\n",
    ),
    (NotificationKind.FAILED_ATTEMPT, "en"): (
        "We could not deliver your parcel",
        "Hello {name},\n\nThe courier could not hand over your parcel. {next_step}\n{tracking_url}\n",
    ),
    (NotificationKind.FAILED_ATTEMPT, "de"): (
        "Wir konnten Ihr Paket nicht zustellen",
        "Hallo {name},\n\nDer Kurier konnte Ihr Paket nicht übergeben. {next_step}\n{tracking_url}\n",
    ),
    (NotificationKind.ENDPOINT_DISABLED, "en"): (
        "Crowdship switched off a webhook endpoint",
        "Hello,\n\nEvery delivery to your webhook endpoint {url} has failed for {days} days, so it has been "
        "switched off. Fix the receiver, then enable it again (updateWebhookEndpoint) and redeliver what it "
        "missed (redeliverWebhookEvent).\n",
    ),
}
# With the live ETA (local time of the area), else the fallback's words: the stop before was completed.
_ARRIVING_AT = {
    "en": "Your courier is on the way: your parcel arrives at about {time}.",
    "de": "Ihr Kurier ist unterwegs: Ihr Paket kommt gegen {time} Uhr.",
}
_ARRIVING_NEXT = {
    "en": "The courier has just completed the stop before yours: your parcel arrives soon.",
    "de": "Der Kurier hat den Halt vor Ihnen erledigt: Ihr Paket kommt gleich.",
}
_PIN_LINE = {"en": "Your PIN for the hand-over: {pin}\n", "de": "Ihre PIN für die Übergabe: {pin}\n"}


def language_for(recipient_language: str | None, country_code: str | None) -> str:
    """The recipient's language when we have templates for it, else the area's, else English."""
    if recipient_language in LANGUAGES:
        return recipient_language
    return _COUNTRY_LANGUAGE.get(country_code or "", "en")


@dataclass(frozen=True, slots=True)
class NotificationFacts:
    """What a message may say, read when it is sent."""

    kind: NotificationKind
    language: str
    recipient_name: str
    sender: str
    tracking_url: str
    parcel_status: ParcelStatus | None
    pin: str | None
    window_start_at: datetime | None
    window_end_at: datetime | None
    time_zone: str
    failure_action: str | None
    endpoint_url: str | None = None
    disabled_after_days: int = 3
    eta_at: datetime | None = None  # "arriving soon" from the live ETA: when, as the ping computed it


@dataclass(frozen=True, slots=True)
class Message:
    subject: str
    body: str


def render(facts: NotificationFacts) -> Message:
    language = facts.language if (facts.kind, facts.language) in _TEMPLATES else "en"
    subject, body = _TEMPLATES[(facts.kind, language)]
    show_pin = (
        facts.kind is NotificationKind.BOOKED
        and facts.pin is not None
        and (facts.parcel_status is None or facts.parcel_status not in HANDED_OVER)
    )
    window = ""
    if facts.window_start_at is not None and facts.window_end_at is not None:
        tz = ZoneInfo(facts.time_zone)
        start, end = facts.window_start_at.astimezone(tz), facts.window_end_at.astimezone(tz)
        day = start.strftime("%d.%m.%Y") if language == "de" else start.strftime("%Y-%m-%d")
        window = (
            f"{start:%H:%M} - {end:%H:%M} ({day})" if language == "en" else f"{start:%H:%M} und {end:%H:%M} ({day})"
        )
    if facts.eta_at is not None:
        arriving = _ARRIVING_AT[language].format(time=f"{facts.eta_at.astimezone(ZoneInfo(facts.time_zone)):%H:%M}")
    else:
        arriving = _ARRIVING_NEXT[language]
    values = {
        "arriving": arriving,
        "name": facts.recipient_name,
        "sender": facts.sender,
        "tracking_url": facts.tracking_url,
        "pin_line": _PIN_LINE[language].format(pin=facts.pin) if show_pin else "",
        "window": window,
        "next_step": _NEXT_STEP[language].get(facts.failure_action or "", ""),
        "url": facts.endpoint_url or "",
        "days": facts.disabled_after_days,
    }
    return Message(subject=subject.format(**values), body=body.format(**values))


def sms_text(message: Message) -> str:
    """An SMS carries the body alone, on one line, within three segments."""
    return " ".join(message.body.split())[:459]
