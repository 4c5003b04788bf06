"""Stripe's `pm_card_*` test payment methods and what each does when attached or charged."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Decline:
    code: str
    decline_code: str
    message: str


GENERIC = Decline("card_declined", "generic_decline", "Your card was declined.")


@dataclass(frozen=True)
class TestCard:
    brand: str
    last4: str
    funding: str = "credit"
    country: str = "US"
    decline: Decline | None = None  # declines everything: attaching, setting up and charging
    charge_decline: Decline | None = None  # attaches fine, every charge fails (4000000000000341)
    bypass_pending: bool = False  # charges settle at once (4000000000000077)

    def decline_on_charge(self) -> Decline | None:
        return self.decline or self.charge_decline


CARDS: dict[str, TestCard] = {
    "pm_card_visa": TestCard("visa", "4242"),
    "pm_card_visa_debit": TestCard("visa", "5556", funding="debit"),
    "pm_card_mastercard": TestCard("mastercard", "4444"),
    "pm_card_mastercard_debit": TestCard("mastercard", "8210", funding="debit"),
    "pm_card_amex": TestCard("amex", "8431"),
    "pm_card_de": TestCard("visa", "0016", country="DE"),
    "pm_card_fr": TestCard("visa", "0003", country="FR"),
    "pm_card_gb": TestCard("visa", "0002", country="GB"),
    "pm_card_bypassPending": TestCard("visa", "0077", bypass_pending=True),
    "pm_card_chargeCustomerFail": TestCard("visa", "0341", charge_decline=GENERIC),
    "pm_card_chargeDeclined": TestCard("visa", "0002", decline=GENERIC),
    "pm_card_chargeDeclinedInsufficientFunds": TestCard(
        "visa", "9995", decline=Decline("card_declined", "insufficient_funds", "Your card has insufficient funds.")
    ),
    "pm_card_chargeDeclinedLostCard": TestCard(
        "visa", "9987", decline=Decline("card_declined", "lost_card", "Your card was declined.")
    ),
    "pm_card_chargeDeclinedStolenCard": TestCard(
        "visa", "9979", decline=Decline("card_declined", "stolen_card", "Your card was declined.")
    ),
    "pm_card_chargeDeclinedFraudulent": TestCard(
        "visa", "0019", decline=Decline("card_declined", "fraudulent", "Your card was declined.")
    ),
    "pm_card_chargeDeclinedExpiredCard": TestCard(
        "visa", "0069", decline=Decline("expired_card", "expired_card", "Your card has expired.")
    ),
    "pm_card_chargeDeclinedIncorrectCvc": TestCard(
        "visa", "0127", decline=Decline("incorrect_cvc", "incorrect_cvc", "Your card's security code is incorrect.")
    ),
    "pm_card_chargeDeclinedProcessingError": TestCard(
        "visa",
        "0119",
        decline=Decline(
            "processing_error",
            "processing_error",
            "An error occurred while processing your card. Try again in a little bit.",
        ),
    ),
}
