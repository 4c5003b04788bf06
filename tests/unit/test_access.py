"""The one place a service learns what its caller may reach: a Scope built from the Principal."""

from __future__ import annotations

from uuid import uuid4

import pytest

from marketplace.domain.access import Scope, Visible
from marketplace.domain.accounts import Principal, Role
from marketplace.domain.errors import DomainError, ErrorCode

ORG = uuid4()
ME = uuid4()
OTHER = uuid4()

ADMIN = Principal(role=Role.ADMIN, user_id=ME, organization_id=None, session_id=uuid4())
COURIER = Principal(role=Role.COURIER, user_id=ME, organization_id=None, session_id=uuid4())
RETAILER = Principal(role=Role.RETAILER, user_id=ME, organization_id=ORG, session_id=uuid4())
API_KEY = Principal(role=Role.RETAILER, user_id=None, organization_id=ORG, api_key_id=uuid4())
FINANCE = Principal(role=Role.FINANCE, user_id=ME, organization_id=None, session_id=uuid4())


def refused(call: object) -> None:
    assert callable(call)
    with pytest.raises(DomainError) as exc:
        call()
    assert [(e.code, e.field) for e in exc.value.errors] == [(ErrorCode.FORBIDDEN, None)]


def test_each_capacity_names_the_caller_or_refuses_everyone_else() -> None:
    assert Scope(COURIER).courier() == ME
    assert Scope(ADMIN).admin() == ME
    assert Scope(RETAILER).organization() == Scope(API_KEY).organization() == ORG
    assert Scope(RETAILER).person() == ME
    for principal in (ADMIN, RETAILER, API_KEY, FINANCE):
        refused(Scope(principal).courier)
    for principal in (COURIER, RETAILER, API_KEY, FINANCE):
        refused(Scope(principal).admin)
    for principal in (ADMIN, COURIER, FINANCE):
        refused(Scope(principal).organization)
    refused(Scope(API_KEY).person)
    refused(lambda: Scope(FINANCE).require_role(Role.ADMIN, Role.COURIER))
    Scope(FINANCE).require_role(Role.FINANCE)


def test_operations_read_everyones_rows_or_the_ones_they_ask_for() -> None:
    assert Scope(ADMIN).courier_filter() == Visible(None)
    assert Scope(ADMIN).courier_filter(OTHER) == Visible(OTHER)
    assert Scope(ADMIN).organization_filter(OTHER) == Visible(OTHER)


def test_a_tenant_reads_its_own_rows_and_anothers_read_as_none() -> None:
    assert Scope(COURIER).courier_filter() == Scope(COURIER).courier_filter(ME) == Visible(ME)
    assert Scope(COURIER).courier_filter(OTHER) == Visible(ME, nothing=True)
    assert Scope(API_KEY).organization_filter() == Visible(ORG)
    assert Scope(RETAILER).organization_filter(OTHER) == Visible(ORG, nothing=True)


def test_a_filter_of_a_kind_the_caller_has_no_rows_of_is_a_refusal() -> None:
    refused(Scope(RETAILER).courier_filter)
    refused(Scope(COURIER).organization_filter)
    refused(Scope(FINANCE).courier_filter)


def test_objects_already_read_are_judged_by_their_owner() -> None:
    assert Scope(ADMIN).sees_courier(OTHER)
    assert Scope(ADMIN).sees_organization(OTHER)
    assert Scope(COURIER).sees_courier(ME)
    assert not Scope(COURIER).sees_courier(OTHER)
    assert not Scope(COURIER).sees_organization(ORG)
    assert Scope(API_KEY).sees_organization(ORG)
    assert not Scope(API_KEY).sees_organization(OTHER)
    assert not Scope(RETAILER).sees_courier(ME)
    assert not Scope(COURIER).sees_courier(None)
