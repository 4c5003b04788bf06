"""Reconciliation's pure rules: Stripe's movements of our balance against the ledger's card clearing.

Card clearing (1100) is our Stripe balance, so every Stripe object that moves the balance has one
ledger entry whose clearing lines move by the same signed amount: a charge (gross, under the
PaymentIntent, which `LedgerItem.object_id` names by its charge), its fee (under the balance
transaction), a refund (`re_`), a transfer (`tr_`), a reversal (`trr_`), a payout (`po_`). Matching
is by that Stripe object id, whatever the entry's kind, so a new kind of entry under a Stripe id
is reconciled without a rule of its own. A platform payout is recorded in one entry per service area
(domain/payouts.py): those shares (`LedgerItem.part`) are summed and the sum compared, so a payout not
fully explained by its lines is `amount_differs`.

A day is matched with a margin either side (`MARGIN`): an object made at 23:59:59 whose entry was
written at 00:00:01 matches; only what belongs to the day (created, or occurred, in it) is reported.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from uuid import UUID

from marketplace.payments.gateway import BalanceTransaction, PayoutRecord, TransferRecord

MARGIN = timedelta(hours=1)

# The ids of Stripe objects that move our balance (and the PaymentIntent, which entries use for a charge).
STRIPE_ID = re.compile(r"^(pi|ch|py|txn|tr|trr|re|pyr|po)_[A-Za-z0-9]+$")


class MismatchKind(StrEnum):
    MISSING_IN_LEDGER = "missing_in_ledger"  # Stripe moved money the books do not record
    MISSING_IN_STRIPE = "missing_in_stripe"  # the books record money Stripe never moved
    AMOUNT_DIFFERS = "amount_differs"
    CURRENCY_DIFFERS = "currency_differs"
    DUPLICATE = "duplicate"  # the same movement twice: two entries for one object, or a second object


@dataclass(frozen=True, slots=True)
class StripeItem:
    """One movement of our Stripe balance, signed as it moves the balance."""

    object_id: str
    object_type: str  # charge, stripe_fee, refund, transfer, transfer_reversal, payout, or Stripe's type
    amount_minor: int
    currency: str
    created_at: datetime
    balance_transaction_id: str | None = None
    # What makes two objects the same movement (a transfer made twice: destination, group, amount).
    fingerprint: str | None = None


@dataclass(frozen=True, slots=True)
class LedgerItem:
    """One entry's movement of card clearing, under the Stripe object it records."""

    object_id: str
    entry_id: UUID
    entry_kind: str
    area_id: UUID
    amount_minor: int
    currency: str
    occurred_at: datetime
    is_correction: bool = False
    # One share of an object recorded in several entries (a platform payout: one entry per service area,
    # `part` the area). Shares are not duplicates of each other; their sum is compared with Stripe's amount.
    part: str | None = None


@dataclass(frozen=True, slots=True)
class RecordedPayout:
    """A courier's payout as we recorded it (`courier_payouts`, from Stripe's payout webhooks); no ledger entry."""

    payout_id: str
    courier_id: UUID
    amount_minor: int
    currency: str


@dataclass(frozen=True, slots=True)
class Mismatch:
    kind: MismatchKind
    object_id: str
    object_type: str
    area_id: UUID | None
    stripe: StripeItem | None
    ledger: LedgerItem | None
    ledger_amount_minor: int | None  # the ledger's total for the object (corrections included)
    detail: str
    ledger_currency: str | None = None  # our side's currency where there is no entry (a courier's payout)


@dataclass(frozen=True, slots=True)
class Outcome:
    stripe_objects: int
    ledger_entries: int
    matched: int
    mismatches: tuple[Mismatch, ...]


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return start, start + timedelta(days=1)


_TYPES = {
    "charge": "charge",
    "payment": "charge",
    "refund": "refund",
    "payment_refund": "refund",
    "transfer": "transfer",
    "transfer_refund": "transfer_reversal",
    "payout": "payout",
}


def stripe_items(
    txns: Iterable[BalanceTransaction], transfers: Iterable[TransferRecord], payouts: Iterable[PayoutRecord]
) -> list[StripeItem]:
    """Balance transactions as movements (a charge's fee its own); transfers and payouts the balance list
    lacks are added from their own lists, and transfers lend their fingerprint."""
    by_id: dict[str, StripeItem] = {}
    fingerprints = {
        t.id: f"transfer:{t.destination}:{t.transfer_group}:{t.amount_minor}:{t.currency}" for t in transfers
    }
    for t in txns:
        kind = _TYPES.get(t.type, t.type)
        object_id = t.source or t.id
        by_id[object_id] = StripeItem(
            object_id, kind, t.amount_minor, t.currency, t.created_at, t.id, fingerprints.get(object_id)
        )
        if t.fee_minor:
            by_id[t.id] = StripeItem(t.id, "stripe_fee", -t.fee_minor, t.currency, t.created_at, t.id)
    for tr in transfers:
        if tr.id not in by_id:
            by_id[tr.id] = StripeItem(
                tr.id, "transfer", -tr.amount_minor, tr.currency, tr.created_at, None, fingerprints[tr.id]
            )
    for p in payouts:
        if p.account_id is None and p.id not in by_id:
            by_id[p.id] = StripeItem(p.id, "payout", -p.amount_minor, p.currency, p.created_at)
    return sorted(by_id.values(), key=lambda i: (i.created_at, i.object_id))


def reconcile(day: date, stripe: Iterable[StripeItem], ledger: Iterable[LedgerItem]) -> Outcome:
    """Matches both sides by Stripe object id; reports what belongs to `day` and does not agree."""
    start, end = day_bounds(day)

    def in_day(at: datetime) -> bool:
        return start <= at < end

    by_object: dict[str, list[LedgerItem]] = {}
    for item in ledger:
        by_object.setdefault(item.object_id, []).append(item)
    stripe_by_id = {s.object_id: s for s in stripe}

    mismatches: list[Mismatch] = []
    matched = 0
    seen_fingerprints: dict[str, LedgerItem] = {}
    # First pass: objects the ledger knows, so a second object of the same fingerprint is seen as its duplicate.
    ordered = sorted(stripe_by_id.values(), key=lambda s: (s.object_id not in by_object, s.created_at, s.object_id))
    for s in ordered:
        items = by_object.get(s.object_id, [])
        originals = [i for i in items if not i.is_correction]
        belongs = in_day(s.created_at) or any(in_day(i.occurred_at) for i in items)
        if not items:
            twin = None if s.fingerprint is None else seen_fingerprints.get(s.fingerprint)
            if belongs:
                if twin is not None:
                    mismatches.append(
                        Mismatch(
                            MismatchKind.DUPLICATE,
                            s.object_id,
                            s.object_type,
                            twin.area_id,
                            s,
                            twin,
                            None,
                            f"a second {s.object_type} like {twin.object_id}, which the ledger records; this one"
                            " it does not",
                        )
                    )
                else:
                    mismatches.append(
                        Mismatch(
                            MismatchKind.MISSING_IN_LEDGER,
                            s.object_id,
                            s.object_type,
                            None,
                            s,
                            None,
                            None,
                            f"Stripe's {s.object_type} has no ledger entry",
                        )
                    )
            continue
        first = originals[0] if originals else items[0]
        if s.fingerprint is not None:
            seen_fingerprints.setdefault(s.fingerprint, first)
        if not belongs:
            continue
        total = sum(i.amount_minor for i in items)
        currencies = {i.currency for i in items}
        twice = _repeated(originals)
        if twice:
            kinds = ", ".join(sorted(i.entry_kind for i in twice))
            mismatches.append(
                Mismatch(
                    MismatchKind.DUPLICATE,
                    s.object_id,
                    s.object_type,
                    first.area_id,
                    s,
                    twice[1],
                    total,
                    f"{len(twice)} ledger entries ({kinds}) record one {s.object_type}",
                )
            )
        elif currencies != {s.currency}:
            mismatches.append(
                Mismatch(
                    MismatchKind.CURRENCY_DIFFERS,
                    s.object_id,
                    s.object_type,
                    first.area_id,
                    s,
                    first,
                    total,
                    f"Stripe {s.currency}, ledger {'/'.join(sorted(currencies))}",
                )
            )
        elif total != s.amount_minor:
            mismatches.append(
                Mismatch(
                    MismatchKind.AMOUNT_DIFFERS,
                    s.object_id,
                    s.object_type,
                    first.area_id,
                    s,
                    first,
                    total,
                    f"Stripe {s.amount_minor}, ledger {total} ({s.currency}, as they move our balance)",
                )
            )
        else:
            matched += 1

    for object_id, items in sorted(by_object.items()):
        if object_id in stripe_by_id or not any(in_day(i.occurred_at) for i in items):
            continue
        originals = [i for i in items if not i.is_correction]
        total = sum(i.amount_minor for i in items)
        if not originals:
            continue  # a correction of an entry from another day: that day's object, not this day's
        if total == 0 and len(originals) == 1:
            continue  # recorded and corrected away: nothing to find in Stripe
        first = originals[0] if originals else items[0]
        mismatches.append(
            Mismatch(
                MismatchKind.MISSING_IN_STRIPE,
                object_id,
                first.entry_kind,
                first.area_id,
                None,
                first,
                total,
                f"the ledger's {first.entry_kind} entry has no Stripe object created around the day",
            )
        )
    ledger_entries = len({i.entry_id for its in by_object.values() for i in its})
    return Outcome(len(stripe_by_id), ledger_entries, matched, tuple(mismatches))


def _repeated(originals: list[LedgerItem]) -> list[LedgerItem]:
    """The entries that record the same share of one object (empty when each share has one entry)."""
    by_part: dict[str | None, list[LedgerItem]] = {}
    for item in originals:
        by_part.setdefault(item.part, []).append(item)
    return next((items for items in by_part.values() if len(items) > 1), [])


def reconcile_courier_payouts(
    day: date, payouts: Iterable[PayoutRecord], recorded: dict[str, RecordedPayout]
) -> tuple[int, list[Mismatch]]:
    """Couriers' payouts from their connected accounts against what we recorded of them: (matched, mismatches).

    They move no money of ours (it left with the transfer), so they are matched to `courier_payouts`,
    not to the ledger; a payout we never heard of means a lost webhook, and finance should know."""
    start, end = day_bounds(day)
    matched, out = 0, []
    for p in sorted(payouts, key=lambda p: (p.created_at, p.id)):
        if not start <= p.created_at < end:
            continue
        stripe = StripeItem(p.id, "courier_payout", -p.amount_minor, p.currency, p.created_at)
        ours = recorded.get(p.id)
        if ours is None:
            kind, detail = MismatchKind.MISSING_IN_LEDGER, f"a payout of account {p.account_id} we have not recorded"
        elif ours.currency != p.currency:
            kind, detail = MismatchKind.CURRENCY_DIFFERS, f"Stripe {p.currency}, recorded {ours.currency}"
        elif ours.amount_minor != p.amount_minor:
            kind, detail = MismatchKind.AMOUNT_DIFFERS, f"Stripe {p.amount_minor}, recorded {ours.amount_minor}"
        else:
            matched += 1
            continue
        out.append(
            Mismatch(
                kind,
                p.id,
                "courier_payout",
                None,
                stripe,
                None,
                None if ours is None else -ours.amount_minor,
                detail,
                None if ours is None else ours.currency,
            )
        )
    return matched, out


def combine(outcome: Outcome, payouts_seen: int, matched: int, mismatches: list[Mismatch]) -> Outcome:
    return Outcome(
        outcome.stripe_objects + payouts_seen,
        outcome.ledger_entries,
        outcome.matched + matched,
        outcome.mismatches + tuple(mismatches),
    )
