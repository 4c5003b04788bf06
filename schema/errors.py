"""User errors: expected failures returned as data in every mutation payload."""

from __future__ import annotations

import strawberry

from marketplace.domain.errors import DomainError
from marketplace.domain.errors import ErrorCode as DomainErrorCode

ErrorCode = strawberry.enum(DomainErrorCode, name="ErrorCode", description="Why a mutation refused its input.")


@strawberry.type(description="A problem with the input; `field` names the input field when there is one.")
class UserError:
    field: str | None
    code: ErrorCode  # type: ignore[valid-type]
    message: str


def user_errors(exc: DomainError) -> list[UserError]:
    return [UserError(field=e.field, code=e.code, message=e.message) for e in exc.errors]
