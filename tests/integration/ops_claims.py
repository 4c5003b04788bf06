"""Sample calls of the refund and claim operations for the authorization table (test_authorization.py)."""

from __future__ import annotations

from typing import Any

_NO_JOB = "Sm9iOjAwMDAwMDAwLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwMDAwMA=="  # Job:0000...
_NO_PARCEL = "UGFyY2VsOjAwMDAwMDAwLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwMDAwMA=="  # Parcel:0000...
_NO_CLAIM = "Q2xhaW06MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAw"  # Claim:0000...

OPERATIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "Mutation.refundPayment": (
        "mutation($j: ID!) { refundPayment(input: {jobId: $j, reason: GOODWILL}) { errors { code } } }",
        {"j": _NO_JOB},
    ),
    "Mutation.fileClaim": (
        'mutation($p: ID!) { fileClaim(input: {parcelId: $p, kind: LOST, description: "gone", '
        'amount: {amountMinor: 100, currency: "EUR"}}) { errors { code } } }',
        {"p": _NO_PARCEL},
    ),
    "Mutation.upholdClaim": (
        "mutation($c: ID!) { upholdClaim(input: {claimId: $c, courierAtFault: false}) { errors { code } } }",
        {"c": _NO_CLAIM},
    ),
    "Mutation.rejectClaim": (
        'mutation($c: ID!) { rejectClaim(input: {claimId: $c, reason: "no"}) { errors { code } } }',
        {"c": _NO_CLAIM},
    ),
    "Query.claim": ("query($c: ID!) { claim(id: $c) { id } }", {"c": _NO_CLAIM}),
    "Query.claims": ("query { claims(first: 1) { edges { node { id status } } } }", {}),
    "Query.refunds": ("query($j: ID!) { refunds(jobId: $j) { id } }", {"j": _NO_JOB}),
}
