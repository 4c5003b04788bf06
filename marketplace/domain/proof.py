"""Proof at pickup and hand-over: label codes, recipient PINs, photos, signatures, ID / 18+ checks.

Pure rules only. The label code is printed on the parcel at booking and shown to the retailer; the
courier types it at the pickup. The PIN (4 digits) is shown once to the retailer to pass on to the
recipient and stored only as a keyed hash; five wrong tries lock it until operations reset it.
Photos are JPEG or PNG, recognised by their first bytes (never by a declared type), at most 10 MB,
and named by their SHA-256. No ID document number or image is ever taken: only its kind and result.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID

from marketplace.domain.errors import DomainError, ErrorCode, FieldError

LABEL_CODE_LENGTH = 8
# No 0/O or 1/I: a code read off a crumpled label is typed without guessing.
LABEL_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
PIN_DIGITS = 4
PIN_MAX_FAILURES = 5
LOCKER_CODE_DIGITS = 6
PHOTO_MAX_BYTES = 10 * 1024 * 1024
SIGNATURE_MAX_STROKES = 50
SIGNATURE_MAX_POINTS = 2_000

_JPEG = b"\xff\xd8\xff"
_PNG = b"\x89PNG\r\n\x1a\n"


def new_label_code() -> str:
    return "".join(secrets.choice(LABEL_ALPHABET) for _ in range(LABEL_CODE_LENGTH))


def new_pin() -> str:
    return "".join(secrets.choice("0123456789") for _ in range(PIN_DIGITS))


def new_locker_code() -> str:
    return "".join(secrets.choice("0123456789") for _ in range(LOCKER_CODE_DIGITS))


def normalize_label_code(raw: str) -> str:
    return "".join(raw.split()).upper().replace("-", "")


def label_matches(expected: str | None, given: str) -> bool:
    return expected is not None and hmac.compare_digest(expected, normalize_label_code(given))


def pin_hash(key: bytes, parcel_id: UUID, pin: str) -> bytes:
    """Keyed with a server secret and salted with the parcel: a leaked table alone reveals no PIN."""
    return hmac.new(key, parcel_id.bytes + pin.encode(), hashlib.sha256).digest()


def pin_matches(key: bytes, parcel_id: UUID, stored: bytes | None, given: str) -> bool:
    return stored is not None and hmac.compare_digest(stored, pin_hash(key, parcel_id, given.strip()))


def image_type(data: bytes) -> str | None:
    """'image/jpeg' or 'image/png' from the bytes themselves; None for anything else."""
    if data.startswith(_JPEG):
        return "image/jpeg"
    if data.startswith(_PNG):
        return "image/png"
    return None


def photo_problems(data: bytes) -> list[FieldError]:
    if not data:
        return [FieldError(ErrorCode.INVALID_PHOTO, "the photo is empty", "photo")]
    if len(data) > PHOTO_MAX_BYTES:
        return [FieldError(ErrorCode.PHOTO_TOO_LARGE, f"a photo is at most {PHOTO_MAX_BYTES} bytes", "photo")]
    if image_type(data) is None:
        return [FieldError(ErrorCode.INVALID_PHOTO, "a photo must be a JPEG or PNG image", "photo")]
    return []


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def is_content_hash(value: str) -> bool:
    return len(value) == 64 and all(c in "0123456789abcdef" for c in value)


class IdDocumentKind(StrEnum):
    PASSPORT = "passport"
    NATIONAL_ID = "national_id"
    DRIVING_LICENCE = "driving_licence"
    RESIDENCE_PERMIT = "residence_permit"


class IdCheckResult(StrEnum):
    PASSED = "passed"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class IdCheck:
    document_kind: IdDocumentKind
    result: IdCheckResult


Stroke = tuple[tuple[float, float], ...]


def signature_problems(strokes: tuple[Stroke, ...] | None, field: str = "signature") -> list[FieldError]:
    if strokes is None:
        return []
    points = sum(len(s) for s in strokes)
    if not strokes or any(len(s) < 2 for s in strokes):
        return [FieldError(ErrorCode.INVALID, "a signature is strokes of at least two points each", field)]
    if len(strokes) > SIGNATURE_MAX_STROKES or points > SIGNATURE_MAX_POINTS:
        msg = f"at most {SIGNATURE_MAX_STROKES} strokes and {SIGNATURE_MAX_POINTS} points"
        return [FieldError(ErrorCode.INVALID, msg, field)]
    if any(not (0 <= x <= 1 and 0 <= y <= 1) for s in strokes for x, y in s):
        return [FieldError(ErrorCode.OUT_OF_RANGE, "points are fractions of the pad, 0 to 1", field)]
    return []


@dataclass(frozen=True, slots=True)
class HandoverProof:
    """What the courier presents at the door. The PIN is checked against its hash, then forgotten."""

    pin: str | None = None
    photo_sha256: str | None = None
    signature: tuple[Stroke, ...] | None = None
    id_check: IdCheck | None = None


def handover_problems(proof: HandoverProof, *, needs_id_check: bool) -> list[FieldError]:
    """Shape only; the PIN's correctness is the service's (it counts failures)."""
    problems: list[FieldError] = []
    if proof.pin is None or not proof.pin.strip():
        problems.append(FieldError(ErrorCode.REQUIRED, "the recipient's PIN is required", "proof.pin"))
    elif not (proof.pin.strip().isdigit() and len(proof.pin.strip()) == PIN_DIGITS):
        problems.append(FieldError(ErrorCode.WRONG_PIN, f"a PIN is {PIN_DIGITS} digits", "proof.pin"))
    if proof.photo_sha256 is not None and not is_content_hash(proof.photo_sha256):
        problems.append(FieldError(ErrorCode.NOT_FOUND, "no such photo", "proof.photoHash"))
    problems += signature_problems(proof.signature, "proof.signature")
    if needs_id_check:
        if proof.id_check is None:
            problems.append(FieldError(ErrorCode.ID_CHECK_REQUIRED, "this parcel needs an ID check", "proof.idCheck"))
        elif proof.id_check.result is not IdCheckResult.PASSED:
            problems.append(
                FieldError(
                    ErrorCode.ID_CHECK_FAILED,
                    "the ID check failed: report a failed attempt (REFUSED) instead",
                    "proof.idCheck",
                )
            )
    return problems


def require(problems: list[FieldError]) -> None:
    if problems:
        raise DomainError(problems)
