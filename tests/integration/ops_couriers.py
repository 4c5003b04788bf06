"""Sample calls of the couriers operations for the authorization table (test_authorization.py).

Each entry: operation name -> (document, variables). Arguments may name objects that do not exist;
the table only checks who gets past the access rule.
"""

from __future__ import annotations

from typing import Any

from strawberry import relay

NO_REQUEST = str(relay.GlobalID("VerificationRequest", "00000000-0000-4000-8000-000000000000"))
NO_POLICY = str(relay.GlobalID("InsurancePolicy", "00000000-0000-4000-8000-000000000000"))
NO_USER = str(relay.GlobalID("User", "00000000-0000-4000-8000-000000000000"))

OPERATIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "Query.verification": ("query { verification { level } }", {}),
    "Query.verificationRequest": ("query($id: ID!) { verificationRequest(id: $id) { id } }", {"id": NO_REQUEST}),
    "Query.verificationRequests": ("query { verificationRequests(first: 1) { edges { node { id } } } }", {}),
    "Query.insurancePolicy": ("query($id: ID!) { insurancePolicy(id: $id) { id } }", {"id": NO_POLICY}),
    "Query.insurancePolicies": ("query { insurancePolicies(first: 1) { edges { node { id } } } }", {}),
    "Mutation.submitVerification": (
        "mutation($i: SubmitVerificationInput!) { submitVerification(input: $i) { errors { code } } }",
        {"i": {"level": 3, "documents": []}},
    ),
    "Mutation.approveVerification": (
        "mutation($i: ApproveVerificationInput!) { approveVerification(input: $i) { errors { code } } }",
        {"i": {"requestId": NO_REQUEST}},
    ),
    "Mutation.rejectVerification": (
        "mutation($i: RejectVerificationInput!) { rejectVerification(input: $i) { errors { code } } }",
        {"i": {"requestId": NO_REQUEST, "reason": "probe"}},
    ),
    "Mutation.revokeVerification": (
        "mutation($i: RevokeVerificationInput!) { revokeVerification(input: $i) { errors { code } } }",
        {"i": {"courierId": NO_USER, "reason": "probe"}},
    ),
    "Mutation.registerInsurancePolicy": (
        "mutation($i: RegisterInsurancePolicyInput!) { registerInsurancePolicy(input: $i) { errors { code } } }",
        {
            "i": {
                "insurer": "",
                "policyNumber": "",
                "coverPerParcel": {"amountMinor": 0, "currency": "EUR"},
                "coverPerTrip": {"amountMinor": 0, "currency": "EUR"},
                "validFrom": "2026-01-01T00:00:00+00:00",
                "validUntil": "2026-01-02T00:00:00+00:00",
            }
        },
    ),
    "Mutation.verifyInsurancePolicy": (
        "mutation($i: VerifyInsurancePolicyInput!) { verifyInsurancePolicy(input: $i) { errors { code } } }",
        {"i": {"policyId": NO_POLICY}},
    ),
    "Mutation.rejectInsurancePolicy": (
        "mutation($i: RejectInsurancePolicyInput!) { rejectInsurancePolicy(input: $i) { errors { code } } }",
        {"i": {"policyId": NO_POLICY, "reason": "probe"}},
    ),
}
