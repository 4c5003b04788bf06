"""Payments: retailers' cards, the authorisation at booking, settlement after delivery, couriers' payouts.

Stripe is reached only through the `PaymentGateway` protocol (marketplace/payments/). No database
transaction is held open across a Stripe call: each step is "call Stripe with an idempotency key
derived from our ids, then record the answer (payment row and ledger entry) in one transaction". A
step that dies between the two is retried by the worker, Stripe replays its first answer for the
same key, and the record is written once (the payment row's state guard and the ledger's
(kind, source_id) key), so a retried handler moves and posts no money twice.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from uuid import UUID, uuid4

from marketplace.clock import Clock
from marketplace.db.uow import Database, UnitOfWork
from marketplace.domain import ledger
from marketplace.domain.access import Scope
from marketplace.domain.accounts import Principal, Role
from marketplace.domain.claims import transfer_to_send
from marketplace.domain.delivery import SYSTEM
from marketplace.domain.errors import DomainError, ErrorCode
from marketplace.domain.jobs import Quote
from marketplace.domain.money import Money
from marketplace.domain.paging import Page, PageRequest
from marketplace.domain.payments import (
    HeldTransfer,
    PaymentStatus,
    Settlement,
    SettlementKind,
    authorize_at,
    payment_keys,
    settle,
    transfer_key,
)
from marketplace.logs import get_logger
from marketplace.payments import Card, CardDeclinedError, GatewayError, PaymentGateway, RequestRefusedError
from marketplace.repositories.payments import CustomerRow, PaymentRow, PayoutAccountRow
from marketplace.services.dispatch_common import SETTLE_PAYMENT_JOB, event
from marketplace.services.ledger import LedgerService
from marketplace.services.payouts import PayoutService

log = get_logger("crowdship.payments")

# What may go into a Stripe idempotency key (an HTTP header) from a caller's input.
_PAYMENT_METHOD = re.compile(r"pm_[A-Za-z0-9_]{1,96}")
_KEY = re.compile(r"[\x21-\x7e]{1,100}")

# Worker jobs (pgqueuer entrypoints) this module's steps run in.
SETTLE_JOB = SETTLE_PAYMENT_JOB
STRIPE_EVENT_JOB = "stripe_event"
RELEASE_AUTHORIZATION_JOB = "release_authorization"
AUTHORIZE_JOB = "authorize_payment"
TRANSFER_PAY_JOB = "transfer_pay"

# Stripe's refusals of a transfer that mean the destination cannot take one now (not a fault of ours):
# the courier's pay is held on its payable until its account is enabled again.
CANNOT_RECEIVE_TRANSFERS = frozenset({"insufficient_capabilities_for_transfer", "account_invalid"})


@dataclass(frozen=True, slots=True)
class Authorization:
    """A card authorised for a quote before its booking transaction opens (None: not yet, see authorize_at)."""

    payment_intent_id: str | None
    amount_minor: int
    currency: str
    authorize_at: datetime


@dataclass(frozen=True, slots=True)
class PayoutState:
    courier_id: UUID
    account_id: str | None
    payouts_enabled: bool
    requirements: tuple[str, ...]
    held: tuple[HeldTransfer, ...] = ()  # pay owed but not transferred yet, oldest first


def declined(exc: CardDeclinedError) -> DomainError:
    detail = f" ({exc.decline_code})" if exc.decline_code else ""
    return DomainError.single(ErrorCode.CARD_DECLINED, f"the card was declined{detail}: {exc.message}", "paymentMethod")


def unavailable(exc: GatewayError) -> DomainError:
    log.warning("stripe unavailable", error=str(exc))
    return DomainError.single(ErrorCode.PAYMENT_UNAVAILABLE, "payments are unavailable; try again shortly", None)


class PaymentService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        gateway: PaymentGateway,
        ledger_service: LedgerService,
        *,
        public_url: str = "http://127.0.0.1:8000",
        platform_payouts: PayoutService | None = None,
    ) -> None:
        self._db = db
        self._platform_payouts = platform_payouts
        self._clock = clock
        self.gateway = gateway
        self._ledger = ledger_service
        self._public_url = public_url.rstrip("/")

    # --- retailers: a card on file ------------------------------------------------------------

    async def set_up_payment_method(
        self, principal: Principal, payment_method: str, *, idempotency_key: str | None = None
    ) -> Card:
        """Saves a card (a payment method id from Stripe.js, or a `pm_card_*` test id) as the default.

        The customer is created once per organisation (its key is the organisation id); the card is
        confirmed with a SetupIntent, so a card that cannot be charged is refused here, not at booking.
        """
        organization_id = Scope(principal).organization()
        if not _PAYMENT_METHOD.fullmatch(payment_method):
            raise DomainError.single(ErrorCode.INVALID, "give a Stripe payment method id (pm_...)", "paymentMethod")
        if idempotency_key is not None and not _KEY.fullmatch(idempotency_key):
            raise DomainError.single(
                ErrorCode.INVALID_IDEMPOTENCY_KEY,
                "idempotency key must be 1 to 100 printable ASCII characters",
                "idempotencyKey",
            )
        customer_id = await self._customer(organization_id)
        try:
            card = await self.gateway.set_up_card(
                customer_id=customer_id,
                payment_method=payment_method,
                idempotency_key=f"setup:{organization_id}:{payment_method}:{idempotency_key or uuid4()}",
            )
        except CardDeclinedError as exc:
            raise declined(exc) from exc
        except GatewayError as exc:
            raise unavailable(exc) from exc
        async with self._db.uow() as uow:
            await uow.repos.payments.set_card(
                organization_id, card.payment_method_id, card.brand, card.last4, self._clock.now()
            )
            await uow.commit()
        return card

    async def card_of(self, organization_id: UUID) -> Card | None:
        async with self._db.read() as repos:
            row = await repos.payments.customer(organization_id)
        if row is None or row.payment_method_id is None:
            return None
        return Card(row.payment_method_id, row.card_brand, row.card_last4)

    async def _customer(self, organization_id: UUID) -> str:
        async with self._db.read() as repos:
            row = await repos.payments.customer(organization_id)
            orgs = await repos.organizations.get_many([organization_id]) if row is None else {}
        if row is not None:
            return row.customer_id
        try:
            customer_id = await self.gateway.create_customer(
                name=orgs[organization_id].name if organization_id in orgs else str(organization_id),
                organization_id=str(organization_id),
                idempotency_key=f"customer:{organization_id}",
            )
        except GatewayError as exc:
            raise unavailable(exc) from exc
        async with self._db.uow() as uow:
            await uow.repos.payments.add_customer(organization_id, customer_id, self._clock.now())
            row = await uow.repos.payments.customer(organization_id)
            await uow.commit()
        assert row is not None
        return row.customer_id

    # --- booking: authorise first, then write the job ----------------------------------------------

    async def authorize_quote(self, quote: Quote, customer: CustomerRow | None) -> Authorization:
        """Authorises the quoted price on the organisation's default card (`customer`, read with the
        quote), before the booking transaction.

        The Stripe key is derived from the quote and the card, so a retried booking replays the same
        PaymentIntent. A release job, committed before the call and due after the quote has expired,
        cancels the authorisation unless a job took it: a crash between this call and the booking's
        commit leaves no hold on the retailer's card.
        """
        if customer is None or customer.payment_method_id is None:
            raise DomainError.single(
                ErrorCode.PAYMENT_METHOD_REQUIRED, "add a card (setupPaymentMethod) before booking", "quoteId"
            )
        now = self._clock.now()
        when = authorize_at(quote.order.pickup_window_open.start_at, now)
        if when > now:  # authorised by the worker 6 days before the pickup (after_booking queues it)
            return Authorization(None, quote.price.total_minor, quote.price.currency, when)
        key = f"authorize:quote:{quote.id}:{customer.payment_method_id}"
        request = {
            "customer_id": customer.customer_id,
            "payment_method_id": customer.payment_method_id,
            "amount_minor": quote.price.total_minor,
            "currency": quote.price.currency,
            "transfer_group": f"job-quote:{quote.id}",
            "metadata": {"quote_id": str(quote.id), "organization_id": str(quote.organization_id)},
            "idempotency_key": key,
        }
        release_after = max(quote.expires_at - self._clock.now(), timedelta(0)) + timedelta(minutes=1)
        # One statement, committed by itself before Stripe is called (no transaction of its own needed).
        async with self._db.autocommit() as repos:
            await repos.job_queue.enqueue(
                RELEASE_AUTHORIZATION_JOB, {"request": request}, dedupe_key=key, execute_after=release_after
            )
        try:
            intent_id = await self.gateway.authorize(**request)  # type: ignore[arg-type]
        except CardDeclinedError as exc:
            raise declined(exc) from exc
        except GatewayError as exc:
            raise unavailable(exc) from exc
        return Authorization(intent_id, quote.price.total_minor, quote.price.currency, now)

    def payment_of_booking(self, auth: Authorization, quote: Quote, job_id: UUID) -> PaymentRow:
        """The job's payment row, written by the booking in the statement that writes the job."""
        return PaymentRow(
            id=uuid4(),
            job_id=job_id,
            area_id=quote.area_id,
            organization_id=quote.organization_id,
            payment_intent_id=auth.payment_intent_id,
            transfer_group=f"job-quote:{quote.id}",
            status=PaymentStatus.AUTHORIZED if auth.payment_intent_id else PaymentStatus.PENDING,
            amount_minor=auth.amount_minor,
            currency=auth.currency,
            captured_minor=None,
            charge_id=None,
            balance_transaction_id=None,
            fee_minor=None,
            created_at=self._clock.now(),
            authorize_at=auth.authorize_at,
        )

    async def after_booking(self, uow: UnitOfWork, auth: Authorization, job_id: UUID) -> None:
        """In the booking's transaction: a pickup too far out for an authorisation now is authorised by
        the worker later (6 days before the pickup)."""
        if auth.payment_intent_id is None:
            await uow.repos.job_queue.enqueue(
                AUTHORIZE_JOB,
                {"job_id": str(job_id)},
                dedupe_key=f"authorize:{job_id}",
                execute_after=max(auth.authorize_at - self._clock.now(), timedelta(0)),
            )

    async def require_card(self, organization_id: UUID) -> None:
        """Refuses a booking of an organisation with no card on file."""
        async with self._db.read() as repos:
            customer = await repos.payments.customer(organization_id)
        if customer is None or customer.payment_method_id is None:
            raise DomainError.single(
                ErrorCode.PAYMENT_METHOD_REQUIRED, "add a card (setupPaymentMethod) before booking", "jobs"
            )

    async def record_bulk(self, uow: UnitOfWork, quotes: list[Quote]) -> None:
        """A bulk booking's jobs, each with a pending payment the worker authorises right after the commit
        (or 6 days before a far pickup), in two statements whatever the batch size. Until authorised a job is
        not offered to anyone; a declined card is told in its parcels' histories (`payment_failed`)."""
        now = self._clock.now()
        rows = [
            PaymentRow(
                id=uuid4(),
                job_id=q.job_id,
                area_id=q.area_id,
                organization_id=q.organization_id,
                payment_intent_id=None,
                transfer_group=f"job-quote:{q.id}",
                status=PaymentStatus.PENDING,
                amount_minor=q.price.total_minor,
                currency=q.price.currency,
                captured_minor=None,
                charge_id=None,
                balance_transaction_id=None,
                fee_minor=None,
                created_at=now,
                authorize_at=now,
            )
            for q in quotes
            if q.job_id is not None
        ]
        await uow.repos.payments.add_pending(rows, now)
        far = {q.job_id for q in quotes if authorize_at(q.order.pickup_window_open.start_at, now) > now}
        soon = [r.job_id for r in rows if r.job_id not in far]
        await uow.repos.job_queue.enqueue_many(
            [AUTHORIZE_JOB] * len(soon),
            [{"job_id": str(j)} for j in soon],
            dedupe_keys=[f"authorize:{j}" for j in soon],
        )
        for q in quotes:  # far pickups (rare in a bulk booking): each its own delayed job
            if q.job_id in far:
                await uow.repos.job_queue.enqueue(
                    AUTHORIZE_JOB,
                    {"job_id": str(q.job_id)},
                    dedupe_key=f"authorize:{q.job_id}",
                    execute_after=authorize_at(q.order.pickup_window_open.start_at, now) - now,
                )

    async def authorize_pending(self, job_id: UUID) -> PaymentStatus | None:
        """The worker's later authorisation (6 days before a far pickup). A decline keeps the job's parcels
        out of rounds and tells the retailer in each parcel's history (`payment_failed`)."""
        async with self._db.read() as repos:
            payment = await repos.payments.payment_of_job(job_id)
            customer = None if payment is None else await repos.payments.customer(payment.organization_id)
        if payment is None or payment.status is not PaymentStatus.PENDING:
            return None if payment is None else payment.status
        intent_id: str | None = None
        failure: CardDeclinedError | None = None
        if customer is None or customer.payment_method_id is None:
            failure = CardDeclinedError("payment_method_required", None, "no card on file")
        else:
            try:
                intent_id = await self.gateway.authorize(
                    customer_id=customer.customer_id,
                    payment_method_id=customer.payment_method_id,
                    amount_minor=payment.amount_minor,
                    currency=payment.currency,
                    transfer_group=payment.transfer_group,
                    metadata={"job_id": str(job_id), "organization_id": str(payment.organization_id)},
                    idempotency_key=f"authorize:job:{job_id}:{customer.payment_method_id}",
                )
            except CardDeclinedError as exc:
                failure = exc
        async with self._db.uow() as uow:
            now = self._clock.now()
            if await uow.repos.payments.set_authorized(payment.id, intent_id, now) and failure is not None:
                parcels = await uow.repos.delivery.parcels_of_job(job_id)
                await uow.repos.parcel_events.append(
                    [
                        event(
                            p,
                            SYSTEM,
                            now,
                            kind="payment_failed",
                            reason_code=failure.decline_code or failure.code,
                            details={"message": failure.message},
                        )
                        for p in parcels
                    ]
                )
            await uow.commit()
        return PaymentStatus.AUTHORIZED if failure is None else PaymentStatus.FAILED

    async def release_if_orphaned(self, payment_intent_id: str) -> bool:
        """Cancels an authorisation no job took (its booking failed or never committed)."""
        async with self._db.read() as repos:
            taken = await repos.payments.payment_by_intent(payment_intent_id)
        if taken is not None:
            return False
        await self.gateway.cancel(payment_intent_id=payment_intent_id, idempotency_key=f"release:{payment_intent_id}")
        log.info("orphaned authorisation released", payment_intent=payment_intent_id)
        return True

    async def release_request(self, request: dict[str, object]) -> bool:
        """The release job: the PaymentIntent is found by replaying its create (same key, no new money)."""
        try:
            intent_id = await self.gateway.authorize(**request)  # type: ignore[arg-type]
        except CardDeclinedError:
            return False  # nothing was authorised
        return await self.release_if_orphaned(intent_id)

    # --- settlement after delivery (worker) ----------------------------------------------------------

    async def settle_job(self, job_id: UUID) -> Settlement | None:
        """Captures (or cancels) a finished job's payment, then transfers each courier's pay; idempotent."""
        async with self._db.read() as repos:
            payment = await repos.payments.payment_of_job(job_id)
            job = await repos.payments.job_to_settle(job_id)
        if payment is None or not job.final:
            return None
        outcome = settle(payment.amount_minor, job.parcels)
        keys = payment_keys(payment.id)
        if payment.payment_intent_id is None:  # never authorised: nothing was delivered, nothing to take
            if outcome.kind is not SettlementKind.NOTHING:
                log.warning("a fee is due on a job never authorised", job_id=str(job_id))
            async with self._db.uow() as uow:
                await uow.repos.payments.set_cancelled(payment.id, self._clock.now())
                await uow.commit()
            return outcome
        if payment.status is PaymentStatus.AUTHORIZED:
            if outcome.kind is SettlementKind.NOTHING:
                await self.gateway.cancel(payment_intent_id=payment.payment_intent_id, idempotency_key=keys["cancel"])
                async with self._db.uow() as uow:
                    await uow.repos.payments.set_cancelled(payment.id, self._clock.now())
                    await uow.commit()
                return outcome
            captured = await self.gateway.capture(
                payment_intent_id=payment.payment_intent_id,
                amount_minor=outcome.capture_minor,
                idempotency_key=keys["capture"],
            )
            async with self._db.uow() as uow:
                now = self._clock.now()
                locked = await uow.repos.payments.payment_of_job(job_id, for_update=True)
                assert locked is not None
                if locked.status is PaymentStatus.AUTHORIZED:
                    await uow.repos.payments.set_captured(
                        payment.id,
                        captured.amount_minor,
                        captured.charge_id,
                        captured.balance_transaction_id,
                        captured.fee_minor,
                        now,
                    )
                    await self._ledger.post(uow, _capture_posting(payment, outcome, captured.amount_minor, now))
                    if captured.fee_minor > 0:
                        await self._ledger.post(
                            uow,
                            ledger.stripe_fee(
                                source_id=captured.balance_transaction_id,
                                area_id=payment.area_id,
                                fee=Money(captured.fee_minor, payment.currency),
                                at=now,
                                description=f"Stripe fee on {captured.charge_id}",
                            ),
                        )
                await uow.commit()
            async with self._db.read() as repos:
                payment = await repos.payments.payment_of_job(job_id)
            assert payment is not None
        if payment.status is PaymentStatus.CAPTURED:
            await self._transfer_pay(payment, outcome)
        return outcome

    async def transfer_outstanding(self, job_id: UUID, courier_id: UUID) -> bool:
        """The worker's `transfer_pay`: one courier's pay for a settled job, held until its account could take
        it (see `refresh_account`). The same step as the settlement's, under the same Stripe key, so the two
        racing move the money once. False when nothing was left to transfer."""
        async with self._db.read() as repos:
            payment = await repos.payments.payment_of_job(job_id)
            job = await repos.payments.job_to_settle(job_id)
        if payment is None or payment.status is not PaymentStatus.CAPTURED or not job.final:
            return False
        outcome = settle(payment.amount_minor, job.parcels)
        if courier_id not in outcome.courier_pay:
            return False
        if await self._transfer_pay(payment, outcome, only=courier_id) > 0:
            return True
        async with self._db.read() as repos:
            paid = any(t.courier_id == courier_id for t in await repos.payments.transfers(payment.id))
            hold = await repos.payments.hold(payment.id, courier_id)
        closed = hold is not None and hold.released  # released with no transfer: claims took all of the pay
        if not paid and not closed:  # Stripe still refuses (newer than the event said): the job's back-off retries
            raise GatewayError(f"the transfer to courier {courier_id} for job {job_id} is still held")
        return False

    async def _transfer_pay(self, payment: PaymentRow, outcome: Settlement, *, only: UUID | None = None) -> int:
        """One transfer per courier of the job (transfer group: the job's), funded by its captured charge.

        A courier without a payout account, or whose account Stripe refuses transfers to (it lost its
        `transfers` capability: requirements past due), keeps its pay on its payable and the rest of the job
        settles; `account.updated` turning the account's payouts on queues the held transfers. Returns the
        transfers recorded now.
        """
        assert payment.charge_id is not None
        async with self._db.read() as repos:
            done = {t.courier_id for t in await repos.payments.transfers(payment.id)}
            accounts = await repos.payments.payout_accounts(list(outcome.courier_pay))
            holds = await repos.payments.holds(payment.id)
        made = 0
        for courier_id, share in sorted(outcome.courier_pay.items()):
            if courier_id in done or (only is not None and courier_id != only):
                continue
            hold = holds.get(courier_id)
            if hold is not None and hold.released:
                continue  # claims took all of it: nothing is left to transfer
            account = accounts.get(courier_id)
            if account is None:
                log.warning("courier has no payout account; pay held on its payable", courier_id=str(courier_id))
                await self._hold(payment, courier_id, share, "no_payout_account", None)
                continue
            amount, key_no = share, 0
            if hold is not None:
                started = await self._start_held_transfer(payment, courier_id)
                if started is None:
                    continue
                amount, key_no = started
            try:
                transfer_id = await self.gateway.transfer(
                    amount_minor=amount,
                    currency=payment.currency,
                    destination=account.account_id,
                    transfer_group=payment.transfer_group,
                    source_transaction=payment.charge_id,
                    metadata={"job_id": str(payment.job_id), "courier_id": str(courier_id)},
                    idempotency_key=transfer_key(payment.id, courier_id, key_no),
                )
            except RequestRefusedError as exc:
                if exc.code not in CANNOT_RECEIVE_TRANSFERS:
                    raise
                log.warning(
                    "courier's account cannot receive transfers; pay held on its payable",
                    courier_id=str(courier_id),
                    account=account.account_id,
                    code=exc.code,
                )
                await self._hold(payment, courier_id, share, exc.code or "refused", key_no)
                continue
            async with self._db.uow() as uow:
                now = self._clock.now()
                if await uow.repos.payments.add_transfer(
                    uuid4(), payment, courier_id, transfer_id, account.account_id, amount, now
                ):
                    await self._ledger.post(
                        uow,
                        ledger.transfer(
                            source_id=transfer_id,
                            area_id=payment.area_id,
                            courier_id=courier_id,
                            amount=Money(amount, payment.currency),
                            at=now,
                            description=f"pay for job {payment.job_id}",
                        ),
                    )
                    made += 1
                await uow.repos.payments.release_hold(payment.id, courier_id, now)
                await uow.commit()
        return made

    async def _start_held_transfer(self, payment: PaymentRow, courier_id: UUID) -> tuple[int, int] | None:
        """Under the hold's row lock (which a claim's deduction takes too): the amount claims left of the pay,
        or the amount already in flight under the current key, recorded as sent before Stripe is called.
        None: nothing is left (the hold closes) or the hold was released meanwhile."""
        async with self._db.uow() as uow:
            hold = await uow.repos.payments.hold(payment.id, courier_id, for_update=True)
            refusals = (await uow.repos.payments.transfer_refusals(payment.id)).get(courier_id, 0)
            if hold is None or hold.released:
                return None
            amount = transfer_to_send(hold)
            now = self._clock.now()
            if amount == 0:
                await uow.repos.payments.release_hold(payment.id, courier_id, now)
            elif hold.sending_minor is None:
                await uow.repos.payments.start_held_transfer(payment.id, courier_id, amount, now)
            await uow.commit()
        return None if amount == 0 else (amount, refusals)

    async def _hold(
        self, payment: PaymentRow, courier_id: UUID, amount: int, reason: str, refused_key_no: int | None
    ) -> None:
        async with self._db.uow() as uow:
            await uow.repos.payments.hold_transfer(
                payment, courier_id, amount, reason, self._clock.now(), refused_key_no=refused_key_no
            )
            await uow.commit()

    # --- couriers: onboarding and payouts ---------------------------------------------------------------

    async def start_payout_onboarding(self, principal: Principal, *, country: str = "NL") -> str:
        """A Connect Express account for the courier (created once) and a fresh onboarding link to it."""
        courier_id = Scope(principal).courier()
        if not re.fullmatch(r"[A-Z]{2}", country):
            raise DomainError.single(ErrorCode.INVALID, "a country is two capital letters (ISO 3166-1)", "country")
        async with self._db.read() as repos:
            account = await repos.payments.payout_account(courier_id)
            user = await repos.users.get(courier_id) if account is None else None
        try:
            if account is None:
                account_id = await self.gateway.create_account(
                    email=getattr(user, "email", f"{courier_id}@couriers.invalid"),
                    country=country,
                    courier_id=str(courier_id),
                    idempotency_key=f"account:{courier_id}",
                )
                async with self._db.uow() as uow:
                    await uow.repos.payments.add_payout_account(courier_id, account_id, self._clock.now())
                    await uow.commit()
            else:
                account_id = account.account_id
            return await self.gateway.account_link(
                account_id=account_id,
                refresh_url=f"{self._public_url}/payouts/onboarding/refresh",
                return_url=f"{self._public_url}/payouts/onboarding/done",
                idempotency_key=f"account_link:{courier_id}:{uuid4()}",
            )
        except GatewayError as exc:
            raise unavailable(exc) from exc

    async def payout_state(self, principal: Principal, courier_id: UUID | None = None) -> PayoutState | None:
        """A courier reads its own (another's is None, as if missing); operations name one."""
        scope = Scope(principal)
        if principal.role is Role.COURIER:
            target = scope.courier()
            if courier_id is not None and courier_id != target:
                return None
        else:
            scope.admin()
            if courier_id is None:
                raise DomainError.single(ErrorCode.REQUIRED, "name the courier", "courierId")
            target = courier_id
        async with self._db.read() as repos:
            account = await repos.payments.payout_account(target)
            held = await repos.payments.held_pay_of(target)
        return replace(_state(target, account), held=tuple(held))

    async def held_transfers(
        self, principal: Principal, page: PageRequest, *, courier_id: UUID | None = None
    ) -> Page[HeldTransfer]:
        """Pay owed to couriers that no transfer carried yet, for finance and operations (a courier reads its
        own through `payout_state`)."""
        Scope(principal).books()
        async with self._db.read() as repos:
            return await repos.payments.held_transfers(page, courier_id=courier_id)

    async def refresh_account(self, account_id: str) -> bool:
        """The account's payout state as Stripe has it now (not as an event said it once).

        With payouts on, the courier's held pay follows in the same transaction: a `transfer_pay` job per
        captured payment whose capture made the courier's pay payable and that has no transfer to it yet
        (dedupe key `transfer:<payment>:<courier>`, the Stripe key of that transfer).
        """
        state = await self.gateway.account(account_id)
        async with self._db.uow() as uow:
            changed = await uow.repos.payments.set_account_state(
                account_id, state.payouts_enabled, state.requirements, self._clock.now()
            )
            courier_id = await uow.repos.payments.courier_of_account(account_id) if state.payouts_enabled else None
            if courier_id is not None:
                held = await uow.repos.payments.untransferred_pay(courier_id)
                await uow.repos.job_queue.enqueue_many(
                    [TRANSFER_PAY_JOB] * len(held),
                    [{"job_id": str(job_id), "courier_id": str(courier_id)} for job_id, _ in held],
                    dedupe_keys=[transfer_key(payment_id, courier_id) for _, payment_id in held],
                )
                if held:
                    log.info("held courier pay queued", courier_id=str(courier_id), payments=len(held))
            await uow.commit()
        return changed

    async def refresh_payout(self, payout_id: str, account_id: str | None) -> bool:
        if account_id is None:
            return False
        async with self._db.read() as repos:
            courier_id = await repos.payments.courier_of_account(account_id)
        if courier_id is None:
            return False
        payout = await self.gateway.payout(payout_id, account_id)
        async with self._db.uow() as uow:
            await uow.repos.payments.upsert_payout(
                payout.payout_id,
                courier_id,
                account_id,
                payout.amount_minor,
                payout.currency,
                payout.status,
                payout.arrival_at,
                self._clock.now(),
            )
            await uow.commit()
        return True

    # --- incoming webhooks -------------------------------------------------------------------------------

    async def receive_webhook(self, payload: bytes, signature: str | None) -> bool:
        """Verifies, stores once by event id and queues the event; True when it was new. Raises ValueError."""
        event = self.gateway.verify_event(payload, signature)
        async with self._db.uow() as uow:
            new = await uow.repos.payments.record_event(
                event.id, event.type, event.account_id, event.object_id, self._clock.now()
            )
            if new:
                await uow.repos.job_queue.enqueue(
                    STRIPE_EVENT_JOB,
                    {"event_id": event.id, "type": event.type, "account": event.account_id, "object": event.object_id},
                )
            await uow.commit()
        return new

    async def process_event(self, event_id: str, type_: str, account_id: str | None, object_id: str) -> None:
        """Acts on the object as Stripe has it now, so duplicates and out-of-order events do no harm."""
        if type_ == "account.updated":
            await self.refresh_account(object_id)
        elif type_.startswith("payout.") and account_id is None and self._platform_payouts is not None:
            await self._platform_payouts.refresh_platform_payout(object_id)  # the platform's own, to its bank
        elif type_.startswith("payout."):
            await self.refresh_payout(object_id, account_id)
        async with self._db.uow() as uow:
            await uow.repos.payments.mark_event_processed(event_id, self._clock.now())
            await uow.commit()


def _state(courier_id: UUID, account: PayoutAccountRow | None) -> PayoutState:
    if account is None:
        return PayoutState(courier_id, None, False, ())
    return PayoutState(courier_id, account.account_id, account.payouts_enabled, account.requirements)


def _capture_posting(payment: PaymentRow, outcome: Settlement, captured_minor: int, at: datetime) -> ledger.Posting:
    """`charge_captured` (the couriers' pay owed to each) or, with only cancellation fees, `cancellation_fee`."""
    cur = payment.currency
    charged = Money(captured_minor, cur)
    assert payment.payment_intent_id is not None
    couriers = sorted(outcome.courier_pay.items())
    first = couriers[0] if couriers else None
    revenue_kind = ledger.AccountKind.PLATFORM_REVENUE
    if outcome.kind is SettlementKind.CANCELLATION:
        # The fee, and the share of it earned by the courier who held a cancelled parcel (settle()).
        revenue_kind = ledger.AccountKind.CANCELLATION_FEE_REVENUE
        posting = ledger.cancellation_fee(
            source_id=payment.payment_intent_id,
            area_id=payment.area_id,
            organization_id=payment.organization_id,
            fee=charged,
            courier_id=None if first is None else first[0],
            courier_share=None if first is None else Money(first[1], cur),
            at=at,
            description=f"cancellation fee, job {payment.job_id}",
        )
    else:
        posting = ledger.charge_captured(
            source_id=payment.payment_intent_id,
            area_id=payment.area_id,
            organization_id=payment.organization_id,
            charged=charged,
            courier_id=None if first is None else first[0],
            courier_pay=None if first is None else Money(first[1], cur),
            at=at,
            description=f"job {payment.job_id}",
        )
    extra: list[ledger.PostingLine] = []
    for courier_id, amount in couriers[1:]:
        # Another courier of the same job: its pay moves from revenue to what we owe it.
        extra.append(ledger.PostingLine(ledger.AccountRef(revenue_kind, payment.area_id, cur), amount))
        extra.append(
            ledger.PostingLine(
                ledger.AccountRef(ledger.AccountKind.COURIER_PAYABLE, payment.area_id, cur, courier_id=courier_id),
                -amount,
            )
        )
    return dataclasses.replace(posting, lines=posting.lines + tuple(extra)) if extra else posting
