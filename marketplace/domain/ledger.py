"""The ledger's pure rules: the chart of accounts and, per business event, the lines of its entry.

Double entry with signed integer minor units: a debit is positive, a credit negative, and the lines
of every entry sum to zero in each currency (PostgreSQL refuses any other entry at commit; see
migration 0012). Each posting rule below turns one business event into one `Posting` whose business
key `(kind, source_id)` is unique in the ledger, so an event retried by a handler posts once.

An authorisation (a PaymentIntent with manual capture) moves no money: it has no entry. Money enters
the books when it is captured.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from marketplace.domain.errors import DomainError, ErrorCode, FieldError
from marketplace.domain.money import Money


class AccountType(StrEnum):
    ASSET = "asset"
    LIABILITY = "liability"
    REVENUE = "revenue"
    CONTRA_REVENUE = "contra_revenue"
    EXPENSE = "expense"


class AccountKind(StrEnum):
    """The chart of accounts; per service area and currency, and per owner where one is named."""

    BANK = "bank"
    CARD_CLEARING = "card_clearing"
    RETAILER_RECEIVABLE = "retailer_receivable"
    COURIER_PAYABLE = "courier_payable"
    PLATFORM_REVENUE = "platform_revenue"
    CANCELLATION_FEE_REVENUE = "cancellation_fee_revenue"
    REFUNDS = "refunds"
    STRIPE_FEES = "stripe_fees"
    CLAIMS_EXPENSE = "claims_expense"
    CLAIMS_RECOVERIES = "claims_recoveries"


@dataclass(frozen=True, slots=True)
class AccountSpec:
    code: str
    name: str
    type: AccountType
    owner: str | None  # "organization", "courier" or None


CHART: dict[AccountKind, AccountSpec] = {
    AccountKind.BANK: AccountSpec("1000", "Bank", AccountType.ASSET, None),
    AccountKind.CARD_CLEARING: AccountSpec("1100", "Card clearing (Stripe balance)", AccountType.ASSET, None),
    AccountKind.RETAILER_RECEIVABLE: AccountSpec("1200", "Retailer receivable", AccountType.ASSET, "organization"),
    AccountKind.COURIER_PAYABLE: AccountSpec("2100", "Courier payable", AccountType.LIABILITY, "courier"),
    AccountKind.PLATFORM_REVENUE: AccountSpec("4000", "Platform revenue (delivery fees)", AccountType.REVENUE, None),
    AccountKind.CANCELLATION_FEE_REVENUE: AccountSpec("4100", "Cancellation fee revenue", AccountType.REVENUE, None),
    AccountKind.REFUNDS: AccountSpec("4900", "Refunds", AccountType.CONTRA_REVENUE, None),
    AccountKind.STRIPE_FEES: AccountSpec("6100", "Stripe fees", AccountType.EXPENSE, None),
    AccountKind.CLAIMS_EXPENSE: AccountSpec("6200", "Claims paid", AccountType.EXPENSE, None),
    AccountKind.CLAIMS_RECOVERIES: AccountSpec("6210", "Claims recovered from couriers", AccountType.EXPENSE, None),
}


class EntryKind(StrEnum):
    """One per kind of business event; with the event's own id, the entry's unique business key."""

    CHARGE_CAPTURED = "charge_captured"
    STRIPE_FEE = "stripe_fee"
    TRANSFER = "transfer"
    TRANSFER_REVERSAL = "transfer_reversal"
    REFUND = "refund"
    CANCELLATION_FEE = "cancellation_fee"
    CLAIM_UPHELD = "claim_upheld"
    PAYOUT = "payout"
    CORRECTION = "correction"


@dataclass(frozen=True, slots=True)
class AccountRef:
    """Names an account without its row: the repository opens it on first use."""

    kind: AccountKind
    area_id: UUID
    currency: str
    organization_id: UUID | None = None
    courier_id: UUID | None = None

    def __post_init__(self) -> None:
        owner = CHART[self.kind].owner
        if (owner == "organization") != (self.organization_id is not None):
            raise ValueError(f"{self.kind} names an organisation iff it is a retailer receivable")
        if (owner == "courier") != (self.courier_id is not None):
            raise ValueError(f"{self.kind} names a courier iff it is a courier payable")


@dataclass(frozen=True, slots=True)
class PostingLine:
    account: AccountRef
    amount_minor: int  # debit positive, credit negative, never zero

    @property
    def currency(self) -> str:
        return self.account.currency


@dataclass(frozen=True, slots=True)
class Posting:
    """One business event's entry, before it is written."""

    kind: EntryKind
    source_id: str
    area_id: UUID
    occurred_at: datetime
    description: str
    lines: tuple[PostingLine, ...]
    corrects_entry_id: UUID | None = None

    def __post_init__(self) -> None:
        problems = balance_problems(self.lines)
        if any(line.account.area_id != self.area_id for line in self.lines):
            problems.append("every line must be in the entry's service area")
        if self.occurred_at.tzinfo is None:
            problems.append("occurred_at must be aware")
        if not self.source_id or len(self.source_id) > 200:
            problems.append("source_id must be 1 to 200 characters")
        if (self.kind is EntryKind.CORRECTION) != (self.corrects_entry_id is not None):
            problems.append("a correction, and only a correction, names the entry it corrects")
        if problems:
            raise ValueError("; ".join(problems))


@dataclass(frozen=True, slots=True)
class Account:
    id: UUID
    code: str
    kind: AccountKind
    area_id: UUID
    currency: str
    organization_id: UUID | None
    courier_id: UUID | None
    created_at: datetime

    @property
    def name(self) -> str:
        return CHART[self.kind].name


@dataclass(frozen=True, slots=True)
class EntryLine:
    account: Account
    line_no: int
    amount_minor: int


@dataclass(frozen=True, slots=True)
class Entry:
    id: UUID
    kind: EntryKind
    source_id: str
    area_id: UUID
    occurred_at: datetime
    recorded_at: datetime
    description: str
    corrects_entry_id: UUID | None
    lines: tuple[EntryLine, ...]


# --- what finance reads -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountBalance:
    account: Account
    debit_minor: int
    credit_minor: int  # positive: the sum of the credit lines' amounts
    balance_minor: int  # debit minus credit

    @property
    def created_at(self) -> datetime:
        return self.account.created_at

    @property
    def id(self) -> UUID:
        return self.account.id


@dataclass(frozen=True, slots=True)
class LedgerLine:
    """One line with its entry and account, as statements, exports and the API show it."""

    id: UUID
    entry_id: UUID
    entry_kind: EntryKind
    source_id: str
    description: str
    corrects_entry_id: UUID | None
    line_no: int
    account: Account
    amount_minor: int  # debit positive, credit negative
    balance_after_minor: int | None  # the account's running balance, where a statement asks for it
    occurred_at: datetime
    recorded_at: datetime
    created_at: datetime


@dataclass(frozen=True, slots=True)
class KindTotal:
    """The day's lines of one account kind from one kind of entry, per area and currency."""

    area_id: UUID
    currency: str
    account_kind: AccountKind
    entry_kind: EntryKind
    amount_minor: int


def balance_problems(lines: tuple[PostingLine, ...]) -> list[str]:
    """What keeps lines from being an entry: fewer than two, a zero or non-integer amount, a currency off."""
    problems: list[str] = []
    if len(lines) < 2:
        problems.append("an entry needs at least two lines")
    totals: dict[str, int] = {}
    for line in lines:
        if type(line.amount_minor) is not int:
            problems.append("amounts are integer minor units")
            continue
        if line.amount_minor == 0:
            problems.append("a line moves a non-zero amount")
        totals[line.currency] = totals.get(line.currency, 0) + line.amount_minor
    problems.extend(f"lines in {c} sum to {t}, not 0" for c, t in sorted(totals.items()) if t != 0)
    return problems


# --- posting rules ------------------------------------------------------------------------------


def _positive(name: str, money: Money, currency: str | None = None) -> list[FieldError]:
    errors: list[FieldError] = []
    if money.amount_minor <= 0:
        errors.append(FieldError(ErrorCode.INVALID, f"{name} must be more than zero", name))
    if currency is not None and money.currency != currency:
        errors.append(FieldError(ErrorCode.CURRENCY_MISMATCH, f"{name} must be in {currency}", name))
    return errors


def _raise(errors: list[FieldError]) -> None:
    if errors:
        raise DomainError(errors)


def _lines(*pairs: tuple[AccountRef, int]) -> tuple[PostingLine, ...]:
    """Lines with zero amounts left out (a capture with no courier share has no payable line)."""
    return tuple(PostingLine(account, amount) for account, amount in pairs if amount != 0)


def charge_captured(
    *,
    source_id: str,
    area_id: UUID,
    organization_id: UUID,
    charged: Money,
    courier_id: UUID | None,
    courier_pay: Money | None,
    at: datetime,
    description: str = "charge captured",
) -> Posting:
    """A delivery (or a failed attempt's share) charged to the retailer's card.

    The retailer is billed (receivable against revenue and the courier's pay, the platform acting as
    agent: only its margin is revenue) and pays at once by card (card clearing against receivable).
    """
    cur = charged.currency
    pay = courier_pay or Money(0, cur)
    errors = _positive("charged", charged)
    if pay.currency != cur:
        errors.append(FieldError(ErrorCode.CURRENCY_MISMATCH, f"courierPay must be in {cur}", "courierPay"))
    if pay.amount_minor < 0 or pay.amount_minor > charged.amount_minor:
        errors.append(FieldError(ErrorCode.INVALID, "courier pay is between 0 and the amount charged", "courierPay"))
    if (courier_id is None) != (pay.amount_minor == 0):
        errors.append(FieldError(ErrorCode.INVALID, "courier pay goes with a courier", "courierId"))
    _raise(errors)
    receivable = AccountRef(AccountKind.RETAILER_RECEIVABLE, area_id, cur, organization_id=organization_id)
    lines = _lines(
        (receivable, charged.amount_minor),
        (AccountRef(AccountKind.PLATFORM_REVENUE, area_id, cur), -(charged.amount_minor - pay.amount_minor)),
        (
            AccountRef(AccountKind.COURIER_PAYABLE, area_id, cur, courier_id=courier_id)
            if courier_id is not None
            else receivable,
            -pay.amount_minor,
        ),
        (AccountRef(AccountKind.CARD_CLEARING, area_id, cur), charged.amount_minor),
        (receivable, -charged.amount_minor),
    )
    return Posting(EntryKind.CHARGE_CAPTURED, source_id, area_id, at, description, lines)


def stripe_fee(*, source_id: str, area_id: UUID, fee: Money, at: datetime, description: str = "Stripe fee") -> Posting:
    """Stripe's fee on a charge (its balance transaction's `fee`), taken from our Stripe balance."""
    _raise(_positive("fee", fee))
    cur = fee.currency
    lines = _lines(
        (AccountRef(AccountKind.STRIPE_FEES, area_id, cur), fee.amount_minor),
        (AccountRef(AccountKind.CARD_CLEARING, area_id, cur), -fee.amount_minor),
    )
    return Posting(EntryKind.STRIPE_FEE, source_id, area_id, at, description, lines)


def transfer(
    *, source_id: str, area_id: UUID, courier_id: UUID, amount: Money, at: datetime, description: str = "transfer"
) -> Posting:
    """Pay moved to the courier's connected account: what we owe them falls, our Stripe balance too."""
    _raise(_positive("amount", amount))
    cur = amount.currency
    lines = _lines(
        (AccountRef(AccountKind.COURIER_PAYABLE, area_id, cur, courier_id=courier_id), amount.amount_minor),
        (AccountRef(AccountKind.CARD_CLEARING, area_id, cur), -amount.amount_minor),
    )
    return Posting(EntryKind.TRANSFER, source_id, area_id, at, description, lines)


def transfer_reversal(
    *,
    source_id: str,
    area_id: UUID,
    courier_id: UUID,
    amount: Money,
    at: datetime,
    description: str = "transfer reversed",
) -> Posting:
    """A transfer (or part of it) pulled back from the courier's connected account into our balance."""
    _raise(_positive("amount", amount))
    cur = amount.currency
    lines = _lines(
        (AccountRef(AccountKind.CARD_CLEARING, area_id, cur), amount.amount_minor),
        (AccountRef(AccountKind.COURIER_PAYABLE, area_id, cur, courier_id=courier_id), -amount.amount_minor),
    )
    return Posting(EntryKind.TRANSFER_REVERSAL, source_id, area_id, at, description, lines)


def refund(
    *,
    source_id: str,
    area_id: UUID,
    organization_id: UUID,
    amount: Money,
    at: datetime,
    description: str = "refund",
) -> Posting:
    """A full or partial refund to the retailer's card: revenue given back, out of our Stripe balance."""
    _raise(_positive("amount", amount))
    cur = amount.currency
    receivable = AccountRef(AccountKind.RETAILER_RECEIVABLE, area_id, cur, organization_id=organization_id)
    lines = _lines(
        (AccountRef(AccountKind.REFUNDS, area_id, cur), amount.amount_minor),
        (receivable, -amount.amount_minor),
        (receivable, amount.amount_minor),
        (AccountRef(AccountKind.CARD_CLEARING, area_id, cur), -amount.amount_minor),
    )
    return Posting(EntryKind.REFUND, source_id, area_id, at, description, lines)


def cancellation_fee(
    *,
    source_id: str,
    area_id: UUID,
    organization_id: UUID,
    fee: Money,
    courier_id: UUID | None = None,
    courier_share: Money | None = None,
    at: datetime,
    description: str = "cancellation fee",
) -> Posting:
    """A cancellation fee captured from the retailer's card; a courier already under way may get a share."""
    cur = fee.currency
    share = courier_share or Money(0, cur)
    errors = _positive("fee", fee)
    if share.currency != cur:
        errors.append(FieldError(ErrorCode.CURRENCY_MISMATCH, f"courierShare must be in {cur}", "courierShare"))
    if share.amount_minor < 0 or share.amount_minor > fee.amount_minor:
        errors.append(FieldError(ErrorCode.INVALID, "the courier's share is between 0 and the fee", "courierShare"))
    if (courier_id is None) != (share.amount_minor == 0):
        errors.append(FieldError(ErrorCode.INVALID, "a courier's share goes with a courier", "courierId"))
    _raise(errors)
    receivable = AccountRef(AccountKind.RETAILER_RECEIVABLE, area_id, cur, organization_id=organization_id)
    lines = _lines(
        (receivable, fee.amount_minor),
        (AccountRef(AccountKind.CANCELLATION_FEE_REVENUE, area_id, cur), -(fee.amount_minor - share.amount_minor)),
        (
            AccountRef(AccountKind.COURIER_PAYABLE, area_id, cur, courier_id=courier_id)
            if courier_id is not None
            else receivable,
            -share.amount_minor,
        ),
        (AccountRef(AccountKind.CARD_CLEARING, area_id, cur), fee.amount_minor),
        (receivable, -fee.amount_minor),
    )
    return Posting(EntryKind.CANCELLATION_FEE, source_id, area_id, at, description, lines)


def claim_upheld(
    *,
    source_id: str,
    area_id: UUID,
    organization_id: UUID,
    amount: Money,
    courier_id: UUID | None = None,
    charged_to_courier: Money | None = None,
    refunded: Money | None = None,
    at: datetime,
    description: str = "claim upheld",
) -> Posting:
    """A claim paid to the retailer (refunded to its card) and, where the courier was at fault, charged to them.

    The courier's part lowers what we owe them (or makes them owe us); the transfer reversal that
    collects it is its own event (`transfer_reversal`). `refunded` (default: all of it) is what went
    back to the card: a claim larger than what the card can still take back leaves the rest owed to
    the retailer, a credit on its receivable.
    """
    cur = amount.currency
    charged = charged_to_courier or Money(0, cur)
    back = amount if refunded is None else refunded
    errors = _positive("amount", amount)
    if back.currency != cur:
        errors.append(FieldError(ErrorCode.CURRENCY_MISMATCH, f"refunded must be in {cur}", "refunded"))
    if back.amount_minor < 0 or back.amount_minor > amount.amount_minor:
        errors.append(FieldError(ErrorCode.INVALID, "at most the claim goes back to the card", "refunded"))
    if charged.currency != cur:
        errors.append(FieldError(ErrorCode.CURRENCY_MISMATCH, f"chargedToCourier must be in {cur}", "chargedToCourier"))
    if charged.amount_minor < 0 or charged.amount_minor > amount.amount_minor:
        errors.append(FieldError(ErrorCode.INVALID, "the courier is charged at most the claim", "chargedToCourier"))
    if (courier_id is None) != (charged.amount_minor == 0):
        errors.append(FieldError(ErrorCode.INVALID, "only a courier at fault is charged", "courierId"))
    _raise(errors)
    receivable = AccountRef(AccountKind.RETAILER_RECEIVABLE, area_id, cur, organization_id=organization_id)
    pairs: list[tuple[AccountRef, int]] = [
        (AccountRef(AccountKind.CLAIMS_EXPENSE, area_id, cur), amount.amount_minor),
        (receivable, -amount.amount_minor),
        (receivable, back.amount_minor),
        (AccountRef(AccountKind.CARD_CLEARING, area_id, cur), -back.amount_minor),
    ]
    if courier_id is not None:
        pairs += [
            (AccountRef(AccountKind.COURIER_PAYABLE, area_id, cur, courier_id=courier_id), charged.amount_minor),
            (AccountRef(AccountKind.CLAIMS_RECOVERIES, area_id, cur), -charged.amount_minor),
        ]
    return Posting(EntryKind.CLAIM_UPHELD, source_id, area_id, at, description, _lines(*pairs))


def payout(*, source_id: str, area_id: UUID, amount: Money, at: datetime, description: str = "payout") -> Posting:
    """Our Stripe balance paid out to the platform's bank account.

    A courier's payout from its own connected account moves money that is no longer ours (it left our
    books with the transfer), so it has no entry here; reconciliation matches it against transfers.
    """
    _raise(_positive("amount", amount))
    cur = amount.currency
    lines = _lines(
        (AccountRef(AccountKind.BANK, area_id, cur), amount.amount_minor),
        (AccountRef(AccountKind.CARD_CLEARING, area_id, cur), -amount.amount_minor),
    )
    return Posting(EntryKind.PAYOUT, source_id, area_id, at, description, lines)


def correction(original: Entry, *, at: datetime, reason: str) -> Posting:
    """The exact opposite of an entry, referencing it: the books never change, they are corrected."""
    lines = tuple(
        PostingLine(
            AccountRef(
                line.account.kind,
                line.account.area_id,
                line.account.currency,
                organization_id=line.account.organization_id,
                courier_id=line.account.courier_id,
            ),
            -line.amount_minor,
        )
        for line in original.lines
    )
    return Posting(
        EntryKind.CORRECTION,
        str(original.id),
        original.area_id,
        at,
        f"correction of {original.kind} {original.source_id}: {reason}",
        lines,
        corrects_entry_id=original.id,
    )


def same_lines(posting: Posting, entry: Entry) -> bool:
    """Whether an entry already written is this posting (a retry), not another event under the same key."""

    def key(kind: AccountKind, cur: str, org: UUID | None, courier: UUID | None, amount: int) -> tuple[object, ...]:
        return (kind.value, cur, str(org), str(courier), amount)

    mine = sorted(
        key(x.account.kind, x.currency, x.account.organization_id, x.account.courier_id, x.amount_minor)
        for x in posting.lines
    )
    theirs = sorted(
        key(x.account.kind, x.account.currency, x.account.organization_id, x.account.courier_id, x.amount_minor)
        for x in entry.lines
    )
    return mine == theirs and posting.area_id == entry.area_id
