"""What a caller may reach: one `Scope` per caller, built from its Principal, asked by every service.

Operations (the admin role) reach everything; a retailer (a user, or its organisation's API key)
its own organisation's rows; a courier its own. A service never reads roles itself:

- `courier()`, `organization()`, `admin()` and `person()` say who the caller is in that capacity
  and refuse anyone else: `DomainError` FORBIDDEN, which GraphQL answers exactly like an access rule
  that refused the call. The access rule on the operation normally refuses first; this keeps a
  service honest when a rule is widened by mistake, and is the one way a service refuses a caller.
- `courier_filter(requested)` and `organization_filter(requested)` say whose rows a list or a get
  reads (`Visible.owner`, None for everyone's). Asking for another tenant's rows is not a refusal:
  they read as missing, so `Visible.nothing` is set and the list is empty.
- `sees_courier(id)` and `sees_organization(id)` judge an object already read.
- `books()` admits the readers of the ledger (finance and operations); `courier_statement_filter` and
  `organization_statement_filter` say whose statement a caller reads: the readers of the books
  anyone's, a courier or a retailer only its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from marketplace.domain.accounts import Principal, Role
from marketplace.domain.errors import DomainError, ErrorCode

NOT_ALLOWED = "not allowed for this account"


def forbidden() -> DomainError:
    return DomainError.single(ErrorCode.FORBIDDEN, NOT_ALLOWED)


@dataclass(frozen=True, slots=True)
class Visible:
    """Whose rows a read returns: `owner` None means everyone's; `nothing` means none at all."""

    owner: UUID | None
    nothing: bool = False


@dataclass(frozen=True, slots=True)
class Scope:
    principal: Principal

    @property
    def is_admin(self) -> bool:
        return self.principal.role is Role.ADMIN

    def require_role(self, *roles: Role) -> None:
        if self.principal.role not in roles:
            raise forbidden()

    def admin(self) -> UUID:
        """The operations user calling."""
        if self.principal.role is not Role.ADMIN or self.principal.user_id is None:
            raise forbidden()
        return self.principal.user_id

    def courier(self) -> UUID:
        """The courier calling, for what couriers do for themselves."""
        if self.principal.role is not Role.COURIER or self.principal.user_id is None:
            raise forbidden()
        return self.principal.user_id

    def organization(self) -> UUID:
        """The retailer organisation calling, through one of its users or an API key."""
        if self.principal.role is not Role.RETAILER or self.principal.organization_id is None:
            raise forbidden()
        return self.principal.organization_id

    def person(self) -> UUID:
        """A signed-in user: an API key is a machine's credential and has no account or session."""
        if self.principal.user_id is None or self.principal.api_key_id is not None:
            raise forbidden()
        return self.principal.user_id

    @property
    def reads_books(self) -> bool:
        return self.principal.role in (Role.FINANCE, Role.ADMIN)

    def books(self) -> None:
        """A finance or operations user, who reads the ledger: its balances, totals and exports."""
        if not self.reads_books or self.principal.api_key_id is not None:
            raise forbidden()

    def courier_statement_filter(self, requested: UUID | None) -> Visible:
        """Finance and operations read any courier's statement (one must be named); a courier only its own."""
        if self.reads_books:
            return Visible(requested, nothing=requested is None)
        return self.courier_filter(requested)

    def organization_statement_filter(self, requested: UUID | None) -> Visible:
        """Finance and operations read any organisation's charges (one must be named); a retailer only its own."""
        if self.reads_books:
            return Visible(requested, nothing=requested is None)
        return self.organization_filter(requested)

    def claims_filter(self, requested: UUID | None = None) -> Visible:
        """Claims: operations and finance read every organisation's (or `requested`'s); a retailer its own;
        a courier none (refused)."""
        if self.reads_books and self.principal.api_key_id is None:
            return Visible(requested)
        return self.organization_filter(requested)

    def courier_filter(self, requested: UUID | None = None) -> Visible:
        """Operations read every courier's rows (or `requested`'s); a courier only its own."""
        if self.is_admin:
            return Visible(requested)
        me = self.courier()
        return Visible(me, nothing=requested is not None and requested != me)

    def organization_filter(self, requested: UUID | None = None) -> Visible:
        """Operations read every organisation's rows (or `requested`'s); a retailer only its own."""
        if self.is_admin:
            return Visible(requested)
        mine = self.organization()
        return Visible(mine, nothing=requested is not None and requested != mine)

    def sees_courier(self, courier_id: UUID | None) -> bool:
        if self.is_admin:
            return True
        return self.principal.role is Role.COURIER and courier_id is not None and courier_id == self.principal.user_id

    def sees_organization(self, organization_id: UUID | None) -> bool:
        if self.is_admin:
            return True
        return (
            self.principal.role is Role.RETAILER
            and organization_id is not None
            and organization_id == self.principal.organization_id
        )
