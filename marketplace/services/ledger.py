"""Posting to the ledger, inside the unit of work of the business event it records.

`LedgerService.post(uow, posting)` writes one entry per business event on the caller's connection and
transaction: the event and its entry commit together or not at all. A posting whose business key
(kind, source id) is already in the ledger writes nothing and returns the entry written first, so a
retried handler (or two workers racing on one event) posts once; the same key with other lines is a
bug upstream and is refused (`LEDGER_KEY_CONFLICT`) rather than silently ignored.

Payment handlers build postings with the rules of `marketplace/domain/ledger.py`:

    async with services.db.uow() as uow:
        ...  # the capture's own writes
        await services.ledger.post(uow, ledger.charge_captured(source_id=pi_id, ...))
        await uow.commit()
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from uuid6 import uuid7

from marketplace.clock import Clock
from marketplace.db.uow import UnitOfWork
from marketplace.domain import ledger
from marketplace.domain.errors import DomainError, ErrorCode
from marketplace.domain.ledger import Entry, Posting


@dataclass(frozen=True, slots=True)
class Posted:
    entry: Entry
    created: bool  # False: the event was posted before (a retry), and this call wrote nothing


class LedgerService:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    async def post(self, uow: UnitOfWork, posting: Posting) -> Posted:
        """Writes the posting's entry in `uow` (which the caller commits), once per business key."""
        repo = uow.repos.ledger
        written = await repo.insert_entry(posting, entry_id=uuid7(), recorded_at=self._clock.now())
        if written is not None:
            return Posted(written, created=True)
        existing = await repo.by_key(posting.kind, posting.source_id)
        assert existing is not None
        if not ledger.same_lines(posting, existing):
            raise DomainError.single(
                ErrorCode.LEDGER_KEY_CONFLICT,
                f"{posting.kind} {posting.source_id} is already posted with other amounts",
                "sourceId",
            )
        return Posted(existing, created=False)

    async def correct(self, uow: UnitOfWork, entry_id: UUID, *, reason: str) -> Posted:
        """Reverses an entry with a new one that references it; an entry is corrected at most once."""
        original = await uow.repos.ledger.get(entry_id)
        if original is None:
            raise DomainError.single(ErrorCode.NOT_FOUND, "no such journal entry", "entryId")
        if original.kind is ledger.EntryKind.CORRECTION:
            raise DomainError.single(
                ErrorCode.INVALID, "a correction is not corrected; post the event again", "entryId"
            )
        posted = await self.post(uow, ledger.correction(original, at=self._clock.now(), reason=reason))
        if not posted.created:
            raise DomainError.single(ErrorCode.ALREADY_CORRECTED, "this entry is already corrected", "entryId")
        return posted
