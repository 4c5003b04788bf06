"""All SQL lives here: one repository per aggregate, each bound to one connection."""

from __future__ import annotations

from marketplace.repositories._base import Conn
from marketplace.repositories.api_keys import ApiKeyRepository
from marketplace.repositories.areas import ServiceAreaRepository
from marketplace.repositories.claims import ClaimRepository
from marketplace.repositories.couriers import CourierRepository
from marketplace.repositories.delivery import DeliveryRepository, OfferDecisionRepository
from marketplace.repositories.dispatch import DispatchRepository
from marketplace.repositories.idempotency import IdempotencyRepository
from marketplace.repositories.job_queue import JobQueueRepository
from marketplace.repositories.jobs import JobRepository
from marketplace.repositories.kpis import KpiRepository
from marketplace.repositories.ledger import LedgerRepository
from marketplace.repositories.matching_input import MatchingInputRepository
from marketplace.repositories.meta import MetaRepository
from marketplace.repositories.notifications import NotificationRepository
from marketplace.repositories.offers import OfferRepository
from marketplace.repositories.parcel_events import ParcelEventRepository
from marketplace.repositories.payments import PaymentRepository
from marketplace.repositories.payouts import PayoutRepository
from marketplace.repositories.places import LockerRepository, PickupLocationRepository
from marketplace.repositories.rate_limits import RateLimitRepository
from marketplace.repositories.recipient_tracking import RecipientTrackingRepository
from marketplace.repositories.reconciliation import ReconciliationRepository
from marketplace.repositories.rounds import RoundRepository
from marketplace.repositories.service_health import ServiceHealthRepository
from marketplace.repositories.sessions import SessionRepository
from marketplace.repositories.tracking import TrackingRepository
from marketplace.repositories.trips import CommuteRepository, TripRepository
from marketplace.repositories.users import OrganizationRepository, UserRepository
from marketplace.repositories.vans import VanRepository
from marketplace.repositories.vehicles import VehicleRepository
from marketplace.repositories.webhooks import WebhookRepository

__all__ = ["Conn", "Repositories"]


class Repositories:
    def __init__(self, conn: Conn) -> None:
        self.conn = conn
        self.users = UserRepository(conn)
        self.organizations = OrganizationRepository(conn)
        self.sessions = SessionRepository(conn)
        self.api_keys = ApiKeyRepository(conn)
        self.rate_limits = RateLimitRepository(conn)
        self.idempotency = IdempotencyRepository(conn)
        self.meta = MetaRepository(conn)
        self.matching_input = MatchingInputRepository(conn)

        # Areas and places
        self.areas = ServiceAreaRepository(conn)
        self.pickup_locations = PickupLocationRepository(conn)
        self.lockers = LockerRepository(conn)
        # Couriers
        self.vehicles = VehicleRepository(conn)
        self.couriers = CourierRepository(conn)

        # Trips
        self.trips = TripRepository(conn)
        self.commutes = CommuteRepository(conn)

        # Jobs
        self.jobs = JobRepository(conn)

        # Dispatch and delivery
        self.parcel_events = ParcelEventRepository(conn)
        self.offers = OfferRepository(conn)
        self.rounds = RoundRepository(conn)
        self.dispatch = DispatchRepository(conn)
        self.job_queue = JobQueueRepository(conn)
        self.delivery = DeliveryRepository(conn)
        self.offer_decisions = OfferDecisionRepository(conn)
        self.vans = VanRepository(conn)

        # Finance
        self.ledger = LedgerRepository(conn)
        self.reconciliation = ReconciliationRepository(conn)
        # Operations' KPIs
        self.kpis = KpiRepository(conn)
        self.service_health = ServiceHealthRepository(conn)
        self.payouts = PayoutRepository(conn)
        # Live tracking
        self.tracking = TrackingRepository(conn)
        self.recipient_tracking = RecipientTrackingRepository(conn)
        # Webhooks and notifications (the outbox itself is written with the events: outbox.py)
        self.webhooks = WebhookRepository(conn)
        self.notifications = NotificationRepository(conn)
        self.payments = PaymentRepository(conn)
        self.claims = ClaimRepository(conn)
