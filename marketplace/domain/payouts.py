"""The platform's payouts in the books: how one Stripe payout becomes one `payout` entry per service area.

Stripe pays the platform's balance out to its bank (automatically, daily) in one payout per currency that
carries the balance transactions it settles. Our bank (1000) and card clearing (1100) are kept per
service area, so a payout is split by area through its balance transactions: each moved our balance
under a Stripe object that has a ledger entry with an area (a charge's gross under its `charge_captured`
or `cancellation_fee` entry, the charge's fee under its `stripe_fee` entry, a refund, a transfer, a
reversal under theirs). An area's share is the net its lines moved; its entry debits the area's bank and
credits its clearing by that share (an area whose lines net negative, say transfers paid out after their
charge's payout, gets the entry the other way round), so the entries sum to the payout.

A line whose object has no entry (a transfer made at the Dashboard, an adjustment) has no area: its
share is not posted, the entries then fall short of the payout, and reconciliation reports the payout
as `amount_differs` until finance records that money. Entries are keyed `<po_ id>:<area id>`, so a
retried handler posts each area's share once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from marketplace.domain import ledger
from marketplace.domain.money import Money
from marketplace.payments.gateway import BalanceTransaction


class PayoutStatus(StrEnum):
    """Stripe's payout statuses."""

    PENDING = "pending"
    IN_TRANSIT = "in_transit"
    PAID = "paid"
    FAILED = "failed"
    CANCELED = "canceled"


@dataclass(frozen=True, slots=True)
class EntryRef:
    """A ledger entry that records a Stripe object, with its area."""

    entry_id: UUID
    kind: str
    area_id: UUID


@dataclass(frozen=True, slots=True)
class PayoutLine:
    """One balance transaction a payout settles, matched to the entries recording it."""

    txn: BalanceTransaction
    entry: EntryRef | None  # the entry under the object (its gross amount)
    fee_entry: EntryRef | None  # the `stripe_fee` entry under the balance transaction (its fee)

    @property
    def net_minor(self) -> int:
        return self.txn.amount_minor - self.txn.fee_minor

    @property
    def area_id(self) -> UUID | None:
        found = self.entry or self.fee_entry
        return None if found is None else found.area_id

    @property
    def explained(self) -> bool:
        return self.entry is not None and (self.txn.fee_minor == 0 or self.fee_entry is not None)


@dataclass(frozen=True, slots=True)
class PayoutSplit:
    shares: tuple[tuple[UUID, int], ...]  # (area, signed net share), by area id; zero shares left out
    unexplained_minor: int  # the net of what no entry records
    unexplained: tuple[str, ...]  # those balance transactions' ids

    @property
    def explained_minor(self) -> int:
        return sum(amount for _, amount in self.shares)


def settled_by(payout_id: str, txns: Iterable[BalanceTransaction]) -> list[BalanceTransaction]:
    """The lines of a payout: Stripe's list for `payout=` without the payout's own balance transaction."""
    return sorted((t for t in txns if t.source != payout_id), key=lambda t: (t.created_at, t.id))


def object_of(txn: BalanceTransaction) -> str:
    """The Stripe object whose entry records the line's gross amount (its source; the txn itself if none)."""
    return txn.source or txn.id


def split_by_area(lines: Sequence[PayoutLine]) -> PayoutSplit:
    """Each area's share of the payout: the gross of lines whose object it records, less their fees."""
    shares: dict[UUID, int] = {}
    unexplained_minor = 0
    unexplained: list[str] = []
    for line in lines:
        parts = ((line.entry, line.txn.amount_minor), (line.fee_entry, -line.txn.fee_minor))
        missing = False
        for entry, amount in parts:
            if amount == 0:
                continue
            if entry is None:
                unexplained_minor += amount
                missing = True
            else:
                shares[entry.area_id] = shares.get(entry.area_id, 0) + amount
        if missing:
            unexplained.append(line.txn.id)
    return PayoutSplit(
        tuple(sorted(((a, v) for a, v in shares.items() if v != 0), key=lambda kv: str(kv[0]))),
        unexplained_minor,
        tuple(unexplained),
    )


def entry_key(payout_id: str, area_id: UUID) -> str:
    return f"{payout_id}:{area_id}"


def postings(payout_id: str, currency: str, split: PayoutSplit, *, at: datetime) -> list[ledger.Posting]:
    """One `payout` entry per area: 1000 bank Dr / 1100 clearing Cr by the area's share (reversed if negative)."""
    out = []
    for area_id, amount in split.shares:
        key = entry_key(payout_id, area_id)
        description = f"payout {payout_id} to the bank"
        if amount > 0:
            money = Money(amount, currency)
            out.append(ledger.payout(source_id=key, area_id=area_id, amount=money, at=at, description=description))
        else:
            lines = (
                ledger.PostingLine(ledger.AccountRef(ledger.AccountKind.BANK, area_id, currency), amount),
                ledger.PostingLine(ledger.AccountRef(ledger.AccountKind.CARD_CLEARING, area_id, currency), -amount),
            )
            out.append(ledger.Posting(ledger.EntryKind.PAYOUT, key, area_id, at, description, lines))
    return out
