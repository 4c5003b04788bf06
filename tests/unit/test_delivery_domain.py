"""The parcel status machine: every pair of states is either in the table or refused by name."""

from __future__ import annotations

import pytest

from marketplace.domain.delivery import FINAL, TRANSITIONS, ParcelStatus, transition
from marketplace.domain.errors import DomainError, ErrorCode


def test_every_status_has_a_row_and_final_states_go_nowhere() -> None:
    assert set(TRANSITIONS) == set(ParcelStatus)
    assert {
        ParcelStatus.DELIVERED,
        ParcelStatus.COLLECTED,
        ParcelStatus.RETURNED,
        ParcelStatus.CANCELLED,
        ParcelStatus.HANDED_TO_FLEET,
    } == FINAL


@pytest.mark.parametrize("source", list(ParcelStatus))
@pytest.mark.parametrize("target", list(ParcelStatus))
def test_transition_allows_exactly_the_table(source: ParcelStatus, target: ParcelStatus) -> None:
    if target in TRANSITIONS[source]:
        assert transition(source, target).target is target
        return
    with pytest.raises(DomainError) as caught:
        transition(source, target)
    (error,) = caught.value.errors
    assert error.code is ErrorCode.INVALID_TRANSITION
    assert source.value in error.message


def test_a_parcel_can_only_reach_a_courier_through_an_offer() -> None:
    sources = {s for s, targets in TRANSITIONS.items() if ParcelStatus.ASSIGNED in targets}
    assert sources == {ParcelStatus.OFFERED}


def test_once_picked_up_a_parcel_is_never_simply_cancelled() -> None:
    for status in (ParcelStatus.PICKED_UP, ParcelStatus.AT_DROPOFF, ParcelStatus.FAILED_ATTEMPT):
        assert ParcelStatus.CANCELLED not in TRANSITIONS[status]
