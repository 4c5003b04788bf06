"""The composition of services for one running application (or one test)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from marketplace.blobs import BlobStore, LocalBlobStore, UrlSigner
from marketplace.clock import Clock
from marketplace.db.listener import Listener
from marketplace.db.uow import Database
from marketplace.domain.recipient_tracking import TrackingLimits
from marketplace.domain.webhooks import WebhookPolicy
from marketplace.messaging import email_sender, sms_sender
from marketplace.payments import PaymentGateway
from marketplace.payments.unconfigured import UnconfiguredGateway
from marketplace.services.accounts import AccountService, LoginPolicy
from marketplace.services.claims import ClaimService
from marketplace.services.couriers import CourierService
from marketplace.services.delivery import DeliveryService
from marketplace.services.finance import FinanceService
from marketplace.services.fleet import FleetService
from marketplace.services.idempotency import Idempotency
from marketplace.services.jobs import JobService
from marketplace.services.kpis import KpiService
from marketplace.services.ledger import LedgerService
from marketplace.services.live import LiveService
from marketplace.services.maintenance import MaintenanceService
from marketplace.services.matching_bridge import MatchingBridge
from marketplace.services.notifications import NotificationService
from marketplace.services.offers import OfferService
from marketplace.services.operations import OperationsService
from marketplace.services.passwords import Passwords
from marketplace.services.payments import PaymentService
from marketplace.services.payouts import PayoutService
from marketplace.services.places import PlacesService
from marketplace.services.recipient_tracking import RecipientTrackingService
from marketplace.services.reconciliation import ReconciliationService
from marketplace.services.rounds import RoundService
from marketplace.services.service_health import ServiceHealthService
from marketplace.services.tokens import AccessTokens
from marketplace.services.tracking import TrackingService
from marketplace.services.trips import TripService
from marketplace.services.vehicles import VehicleService
from marketplace.services.webhooks import WebhookService
from marketplace.settings import BlobStoreKind, Settings


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    clock: Clock
    db: Database
    accounts: AccountService
    maintenance: MaintenanceService
    places: PlacesService
    vehicles: VehicleService
    couriers: CourierService
    trips: TripService
    jobs: JobService
    matching: MatchingBridge
    rounds: RoundService
    fleet: FleetService
    operations: OperationsService
    offers: OfferService
    delivery: DeliveryService
    ledger: LedgerService
    finance: FinanceService
    kpis: KpiService
    service_health: ServiceHealthService
    tracking: TrackingService
    live: LiveService
    recipient_tracking: RecipientTrackingService
    webhooks: WebhookService
    notifications: NotificationService
    payments: PaymentService
    claims: ClaimService
    reconciliation: ReconciliationService
    payouts: PayoutService


def blob_store(settings: Settings) -> BlobStore:
    """The local folder by default; an S3-compatible bucket with BLOB_STORE=s3."""
    if settings.blob_store is BlobStoreKind.S3:
        from marketplace.blobs_s3 import S3BlobStore  # boto3 is loaded only where it is used

        assert settings.s3_bucket is not None
        return S3BlobStore.connect(
            bucket=settings.s3_bucket, endpoint_url=settings.s3_endpoint_url, region=settings.s3_region
        )
    return LocalBlobStore(settings.blob_dir)


def payment_gateway(settings: Settings) -> PaymentGateway:
    """Stripe (or the fake at STRIPE_API_BASE); without a key every payment call is refused as unavailable."""
    if settings.stripe_secret_key is None:
        return UnconfiguredGateway()
    from marketplace.payments.stripe_gateway import StripeGateway

    secret = settings.stripe_webhook_secret
    return StripeGateway(
        settings.stripe_secret_key.get_secret_value(),
        webhook_secret=None if secret is None else secret.get_secret_value(),
        api_base=settings.stripe_api_base,
    )


def build_services(
    settings: Settings, pool: asyncpg.Pool, clock: Clock, *, listener: Listener | None = None
) -> Services:
    """`listener` is the process's LISTEN connection (the app's lifespan owns it); without it, no subscriptions."""
    db = Database(pool)
    signing_key = settings.jwt_signing_key.get_secret_value()
    idempotency = Idempotency(
        clock, ttl_s=settings.idempotency_ttl_s, fingerprint_key=("idempotency:" + signing_key).encode()
    )
    accounts = AccountService(
        db,
        clock,
        Passwords(time_cost=settings.password_hash_time_cost, memory_kib=settings.password_hash_memory_kib),
        AccessTokens(
            signing_key=signing_key,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            ttl_s=settings.access_token_ttl_s,
        ),
        idempotency,
        refresh_token_ttl_s=settings.refresh_token_ttl_s,
        login_policy=LoginPolicy(
            max_attempts_per_email=settings.login_max_attempts_per_email,
            max_attempts_per_address=settings.login_max_attempts_per_address,
            max_sign_ups_per_address=settings.signup_max_per_address,
            window_s=settings.login_window_s,
        ),
    )
    # Recipient PINs are stored as HMACs under a key of their own, derived from the signing key.
    pin_key = ("recipient-pin:" + signing_key).encode()
    maintenance = MaintenanceService(
        db, clock, idempotency_ttl_s=settings.idempotency_ttl_s, rate_window_s=settings.login_window_s
    )
    bridge = MatchingBridge(db, clock)
    ledger_service = LedgerService(clock)
    gateway = payment_gateway(settings)
    payouts = PayoutService(db, clock, gateway, ledger_service)
    payments = PaymentService(db, clock, gateway, ledger_service, platform_payouts=payouts)
    live = LiveService(db, clock, listener)
    return Services(
        settings=settings,
        clock=clock,
        db=db,
        accounts=accounts,
        maintenance=maintenance,
        places=PlacesService(db, clock, idempotency),
        vehicles=VehicleService(db, clock, idempotency),
        couriers=CourierService(db, clock, idempotency),
        trips=TripService(db, clock, idempotency),
        jobs=JobService(db, clock, idempotency, payments, pin_key=pin_key),
        matching=bridge,
        rounds=RoundService(db, clock, bridge, idempotency),
        fleet=FleetService(db, clock),
        operations=OperationsService(db),
        offers=OfferService(db, clock, idempotency),
        delivery=DeliveryService(
            db,
            clock,
            idempotency,
            pin_key=pin_key,
            blobs=blob_store(settings),
            signer=UrlSigner(("photo-url:" + signing_key).encode(), settings.photo_url_ttl_s),
        ),
        ledger=ledger_service,
        finance=FinanceService(db, clock),
        kpis=KpiService(db, clock),
        service_health=ServiceHealthService(db, clock),
        tracking=TrackingService(db, clock, arriving_soon=timedelta(seconds=settings.arriving_soon_s)),
        live=live,
        recipient_tracking=RecipientTrackingService(
            db,
            clock,
            idempotency,
            live,
            TrackingLimits(per_token=settings.tracking_max_per_token, per_address=settings.tracking_max_per_address),
        ),
        webhooks=WebhookService(
            db,
            clock,
            idempotency,
            WebhookPolicy(
                initial_delay=timedelta(seconds=settings.webhook_retry_initial_s),
                allow_private_addresses=settings.webhook_allow_private_addresses,
            ),
        ),
        notifications=NotificationService(
            db,
            clock,
            email=email_sender(settings),
            sms=sms_sender(settings),
            public_base_url=settings.public_base_url,
        ),
        payments=payments,
        claims=ClaimService(db, clock, payments.gateway, ledger_service, idempotency),
        reconciliation=ReconciliationService(db, clock, gateway),
        payouts=payouts,
    )
