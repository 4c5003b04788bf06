"""Pure rules after booking: a job's status from its parcels', the cancellation fee table, proof checks."""

from __future__ import annotations

from uuid import uuid4

import pytest

from marketplace.domain import proof
from marketplace.domain.delivery import ParcelStatus as S
from marketplace.domain.errors import DomainError, ErrorCode
from marketplace.domain.jobs import JobStatus
from marketplace.domain.settlement import cancellation_fee_minor, cancelled_status, job_status


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([S.BOOKED, S.OFFERED], JobStatus.BOOKED),
        ([S.ASSIGNED, S.BOOKED], JobStatus.ASSIGNED),
        ([S.AT_PICKUP, S.ASSIGNED], JobStatus.ASSIGNED),
        ([S.PICKED_UP, S.ASSIGNED], JobStatus.IN_TRANSIT),
        ([S.FAILED_ATTEMPT], JobStatus.IN_TRANSIT),
        ([S.IN_LOCKER, S.DELIVERED], JobStatus.IN_LOCKER),
        ([S.DELIVERED, S.CANCELLED], JobStatus.DELIVERED),
        ([S.COLLECTED], JobStatus.DELIVERED),
        ([S.RETURNED, S.CANCELLED], JobStatus.RETURNED),
        ([S.DELIVERED, S.RETURNED], JobStatus.DELIVERED),
        ([S.CANCELLED, S.CANCELLED], JobStatus.CANCELLED),
        ([S.HANDED_TO_FLEET], JobStatus.HANDED_TO_FLEET),
        ([S.RETURNING, S.DELIVERED], JobStatus.IN_TRANSIT),
    ],
)
def test_a_jobs_status_follows_its_parcels(statuses: list[S], expected: JobStatus) -> None:
    assert job_status(statuses) is expected


@pytest.mark.parametrize(
    ("status", "eur", "sek"),
    [
        (S.BOOKED, 0, 0),
        (S.OFFERED, 0, 0),
        (S.ASSIGNED, 250, 2875),
        (S.AT_PICKUP, 250, 2875),
        (S.PICKED_UP, 600, 6900),
        (S.AT_DROPOFF, 600, 6900),
        (S.FAILED_ATTEMPT, 600, 6900),
    ],
)
def test_the_cancellation_fee_table(status: S, eur: int, sek: int) -> None:
    assert cancellation_fee_minor(status, "EUR") == eur
    assert cancellation_fee_minor(status, "SEK") == sek


@pytest.mark.parametrize("status", [S.DELIVERED, S.IN_LOCKER, S.COLLECTED, S.RETURNED, S.RETURNING, S.CANCELLED])
def test_nothing_delivered_or_on_its_way_back_is_cancellable(status: S) -> None:
    with pytest.raises(DomainError) as caught:
        cancellation_fee_minor(status, "EUR")
    assert caught.value.errors[0].code is ErrorCode.NOT_CANCELLABLE


def test_a_cancelled_parcel_goes_back_to_the_store_once_picked_up() -> None:
    assert cancelled_status(S.ASSIGNED) is S.CANCELLED
    assert cancelled_status(S.PICKED_UP) is S.RETURNING


def test_photos_are_recognised_by_their_bytes() -> None:
    assert proof.image_type(b"\xff\xd8\xff\xdb rest") == "image/jpeg"
    assert proof.image_type(b"\x89PNG\r\n\x1a\n rest") == "image/png"
    assert proof.image_type(b"GIF89a") is None
    assert [e.code for e in proof.photo_problems(b"")] == [ErrorCode.INVALID_PHOTO]
    too_big = b"\xff\xd8\xff" + b"\x00" * proof.PHOTO_MAX_BYTES
    assert [e.code for e in proof.photo_problems(too_big)] == [ErrorCode.PHOTO_TOO_LARGE]


def test_pins_are_keyed_and_salted_by_parcel() -> None:
    parcel = uuid4()
    stored = proof.pin_hash(b"key", parcel, "1234")
    assert proof.pin_matches(b"key", parcel, stored, " 1234 ")
    assert not proof.pin_matches(b"key", parcel, stored, "1235")
    assert not proof.pin_matches(b"other", parcel, stored, "1234")
    assert proof.pin_hash(b"key", uuid4(), "1234") != stored
    pin = proof.new_pin()
    assert len(pin) == 4
    assert pin.isdigit()


def test_label_codes_avoid_look_alike_characters() -> None:
    code = proof.new_label_code()
    assert len(code) == 8
    assert not set(code) & set("01OI")
    assert proof.label_matches(code, "-".join([code[:4].lower(), code[4:]]))


def test_signatures_and_handover_proof() -> None:
    assert proof.signature_problems((((0.1, 0.2), (0.3, 0.4)),)) == []
    assert proof.signature_problems((((0.1, 0.2),),))[0].code is ErrorCode.INVALID
    assert proof.signature_problems((((0.1, 0.2), (1.5, 0.4)),))[0].code is ErrorCode.OUT_OF_RANGE
    codes = [e.code for e in proof.handover_problems(proof.HandoverProof(pin="12a4"), needs_id_check=True)]
    assert codes == [ErrorCode.WRONG_PIN, ErrorCode.ID_CHECK_REQUIRED]
