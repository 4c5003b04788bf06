"""A parcel's life in GraphQL: its status, its event history, and the proof of its hand-over."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

from marketplace.domain import delivery as domain
from marketplace.domain import proof as proof_rules
from marketplace.domain import settlement
from schema.common import GeoPoint

ParcelStatus = strawberry.enum(domain.ParcelStatus, name="ParcelStatus")
ActorKind = strawberry.enum(domain.ActorKind, name="ActorKind")
FailureReason = strawberry.enum(settlement.FailureReason, name="FailureReason", description="Why a hand-over failed.")
DeclineReason = strawberry.enum(settlement.DeclineReason, name="DeclineReason")
IdDocumentKind = strawberry.enum(proof_rules.IdDocumentKind, name="IdDocumentKind")
IdCheckResult = strawberry.enum(proof_rules.IdCheckResult, name="IdCheckResult")


@strawberry.type(description="One immutable line of a parcel's history: who, when, where, why.")
class ParcelEvent:
    kind: str = strawberry.field(description="The status reached (`picked_up`), or what happened (`pin_locked`).")
    from_status: ParcelStatus | None  # type: ignore[valid-type]
    to_status: ParcelStatus | None  # type: ignore[valid-type]
    actor_kind: ActorKind  # type: ignore[valid-type]
    reason_code: str | None
    position: GeoPoint | None
    details: JSON = strawberry.field(description="What a reader needs without joins: offer, locker, proof flags.")
    occurred_at: datetime

    @classmethod
    def from_domain(cls, e: domain.ParcelEvent) -> ParcelEvent:
        return cls(
            kind=e.kind,
            from_status=e.from_status,
            to_status=e.to_status,
            actor_kind=e.actor.kind,
            reason_code=e.reason_code,
            position=None if e.position is None else GeoPoint.from_domain(e.position),
            details=JSON(e.details),
            occurred_at=e.occurred_at,
        )


@strawberry.type(description="An ID or 18+ check at the door: the document's kind and the result, nothing more.")
class IdCheck:
    document_kind: IdDocumentKind  # type: ignore[valid-type]
    result: IdCheckResult  # type: ignore[valid-type]


@strawberry.type(description="How the parcel was handed over. Shown to the booking organisation and operations.")
class DeliveryProof:
    kind: str = strawberry.field(description="`handover` at the door, or `safe_place`.")
    pin_verified: bool
    photo_url: str | None = strawberry.field(description="Signed, short-lived; fetch it with a plain GET.")
    signature: list[list[list[float]]] | None = strawberry.field(description="Strokes of [x, y] points, 0 to 1.")
    id_check: IdCheck | None
    position: GeoPoint | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: Any, photo_url: str | None) -> DeliveryProof:
        import json

        kind = row["id_document_kind"]
        return cls(
            kind=row["kind"],
            pin_verified=row["pin_verified"],
            photo_url=photo_url,
            signature=None if row["signature"] is None else json.loads(row["signature"]),
            id_check=None
            if kind is None
            else IdCheck(
                document_kind=proof_rules.IdDocumentKind(kind),
                result=proof_rules.IdCheckResult(row["id_check_result"]),
            ),
            position=None if row["lat"] is None else GeoPoint(lat=row["lat"], lng=row["lng"]),
            created_at=row["created_at"],
        )
