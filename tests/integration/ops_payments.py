"""Sample calls of the payment operations for the authorization table (test_authorization.py)."""

from __future__ import annotations

from typing import Any

_NO_USER = "VXNlcjowMDAwMDAwMC0wMDAwLTAwMDAtMDAwMC0wMDAwMDAwMDAwMDA="  # User:0000...

OPERATIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "Mutation.setupPaymentMethod": (
        'mutation { setupPaymentMethod(input: {paymentMethod: "not-a-card"}) { errors { code } } }',
        {},
    ),
    "Mutation.startPayoutOnboarding": ("mutation { startPayoutOnboarding { url errors { code } } }", {}),
    "Query.payoutAccount": (
        "query($c: ID) { payoutAccount(courierId: $c) { payoutsEnabled requirements "
        "heldPay { jobId remaining { amountMinor currency } reason } } }",
        {"c": _NO_USER},
    ),
    "Query.heldTransfers": (
        "query { heldTransfers(first: 1) { edges { node { id courierId remaining { amountMinor } } } } }",
        {},
    ),
}
