"""Payments in GraphQL: a retailer's card on file, a courier's payout onboarding and payout state."""

from __future__ import annotations

from datetime import datetime

import strawberry

from marketplace.domain.accounts import Role as DomainRole
from marketplace.domain.errors import DomainError
from marketplace.domain.paging import Position
from marketplace.domain.payments import HeldTransfer
from marketplace.payments import Card
from marketplace.services.payments import PayoutState
from schema.access import allow, mutation, query
from schema.common import IDEMPOTENCY_KEY, Money, page_or_error
from schema.context import Info
from schema.errors import UserError, user_errors
from schema.finance import BOOKS
from schema.types import Connection, decode_id, global_id

RETAILERS = allow(DomainRole.RETAILER)
COURIERS = allow(DomainRole.COURIER)
COURIERS_AND_OPERATIONS = allow(DomainRole.COURIER, DomainRole.ADMIN)


@strawberry.type(description="The organisation's default card: every booking is authorised on it.")
class PaymentCard:
    brand: str | None
    last4: str | None

    @classmethod
    def from_domain(cls, card: Card) -> PaymentCard:
        return cls(brand=card.brand, last4=card.last4)


@strawberry.input
class SetupPaymentMethodInput:
    payment_method: str = strawberry.field(
        description="A Stripe payment method id (pm_...) from Stripe.js, or a test id such as pm_card_visa."
    )
    idempotency_key: str | None = strawberry.field(default=None, description=IDEMPOTENCY_KEY)


@strawberry.type
class SetupPaymentMethodPayload:
    card: PaymentCard | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description="A courier's pay for one job owed but not transferred yet, and why.")
class HeldPay:
    id: strawberry.ID
    courier_id: strawberry.ID
    job_id: strawberry.ID
    earned: Money = strawberry.field(description="The courier's share of the job.")
    deducted: Money = strawberry.field(description="What upheld claims against the courier took from it.")
    remaining: Money = strawberry.field(description="What the transfer pays once the account can take one.")
    reason: str = strawberry.field(
        description="no_payout_account, or Stripe's refusal: insufficient_capabilities_for_transfer, account_invalid."
    )
    refusals: int = strawberry.field(description="Transfer attempts Stripe refused so far.")
    held_at: datetime

    @classmethod
    def from_domain(cls, held: HeldTransfer) -> HeldPay:
        return cls(
            id=global_id("HeldPay", held.id),
            courier_id=global_id("User", held.courier_id),
            job_id=global_id("Job", held.job_id),
            earned=Money.from_domain(held.earned),
            deducted=Money.from_domain(held.deducted),
            remaining=Money.from_domain(held.remaining),
            reason=held.reason,
            refusals=held.refusals,
            held_at=held.held_at,
        )


@strawberry.type(description="Whether Stripe pays the courier out, and what Stripe still asks of them.")
class PayoutAccount:
    courier_id: strawberry.ID
    onboarded: bool = strawberry.field(description="A Stripe Connect account exists for the courier.")
    payouts_enabled: bool = strawberry.field(description="Without it the courier is offered no paid work.")
    requirements: list[str] = strawberry.field(description="What Stripe still needs (its requirements.currently_due).")
    held_pay: list[HeldPay] = strawberry.field(
        description="Pay owed to the courier that no transfer has carried yet (oldest first), and why."
    )

    @classmethod
    def from_domain(cls, state: PayoutState) -> PayoutAccount:
        return cls(
            courier_id=global_id("User", state.courier_id),
            onboarded=state.account_id is not None,
            payouts_enabled=state.payouts_enabled,
            requirements=list(state.requirements),
            held_pay=[HeldPay.from_domain(h) for h in state.held],
        )


@strawberry.input
class StartPayoutOnboardingInput:
    country: str = strawberry.field(default="NL", description="The courier's country (ISO 3166-1 alpha-2).")


@strawberry.type
class StartPayoutOnboardingPayload:
    url: str | None = strawberry.field(default=None, description="Stripe's onboarding page; single use.")
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class PaymentMutation:
    @mutation(RETAILERS)
    async def setup_payment_method(self, info: Info, input: SetupPaymentMethodInput) -> SetupPaymentMethodPayload:
        try:
            card = await info.context.services.payments.set_up_payment_method(
                await info.context.principal(), input.payment_method, idempotency_key=input.idempotency_key
            )
        except DomainError as exc:
            return SetupPaymentMethodPayload(errors=user_errors(exc))
        return SetupPaymentMethodPayload(card=PaymentCard.from_domain(card))

    @mutation(COURIERS)
    async def start_payout_onboarding(
        self, info: Info, input: StartPayoutOnboardingInput | None = None
    ) -> StartPayoutOnboardingPayload:
        country = (input or StartPayoutOnboardingInput()).country
        try:
            url = await info.context.services.payments.start_payout_onboarding(
                await info.context.principal(), country=country
            )
        except DomainError as exc:
            return StartPayoutOnboardingPayload(errors=user_errors(exc))
        return StartPayoutOnboardingPayload(url=url)


@strawberry.type
class PaymentQuery:
    @query(
        COURIERS_AND_OPERATIONS,
        description="A courier's payout state: its own, or (operations) one named; another courier's is null.",
    )
    async def payout_account(self, info: Info, courier_id: strawberry.ID | None = None) -> PayoutAccount | None:
        requested = None if courier_id is None else decode_id(courier_id, "User")
        state = await info.context.services.payments.payout_state(await info.context.principal(), requested)
        return None if state is None else PayoutAccount.from_domain(state)

    @query(
        BOOKS,
        description="Couriers' pay owed but not transferred yet (no usable payout account), oldest first: every "
        "courier's, or the one named. A courier reads its own in `payoutAccount.heldPay`.",
    )
    async def held_transfers(
        self, info: Info, courier_id: strawberry.ID | None = None, first: int | None = None, after: str | None = None
    ) -> Connection[HeldPay]:
        page = page_or_error(first, after)
        found = await info.context.services.payments.held_transfers(
            await info.context.principal(),
            page,
            courier_id=decode_id(courier_id, "User", field="courierId", what="courier"),
        )
        return Connection[HeldPay].from_page(
            found, HeldPay.from_domain, lambda h: Position(h.held_at, h.id), has_previous=after is not None
        )
