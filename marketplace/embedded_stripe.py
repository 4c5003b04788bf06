"""The embedded Stripe fake used when STRIPE_SECRET_KEY is not set, as the embedded PostgreSQL is without
DATABASE_URL: a newcomer's `make run` takes payments with nothing to sign up for.

It runs on a background thread of the serving process, on a free local port, keeping its state in
EMBEDDED_STRIPE_FILE (SQLite) so that the customers and accounts the database refers to survive a restart.
Two webhook endpoints (the platform's events and Connect events) point at this service's `/webhooks/stripe`
with one fixed secret, kept with the rest of the state.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from pydantic import SecretStr

from marketplace.settings import Settings

EMBEDDED_STRIPE_KEY = "sk_test_crowdship_embedded_fake"
WEBHOOK_PATH = "/webhooks/stripe"


@contextmanager
def embedded_stripe(settings: Settings, *, app_url: str) -> Iterator[Settings]:
    """Starts the fake and yields `settings` pointed at it (key, API base, webhook secret); stops it after."""
    from stripefake import FakeStripe, RunningFake, Store
    from stripefake.api.webhooks import add_endpoint

    # The platform pays out daily, as on Stripe: the worker posts each payout when the bank has it.
    fake = FakeStripe(store=Store(settings.embedded_stripe_file), api_key=EMBEDDED_STRIPE_KEY, platform_payouts="daily")
    url = app_url.rstrip("/") + WEBHOOK_PATH
    endpoints = list(fake.store.oldest_first("webhook_endpoint"))
    secret = endpoints[0]["_secret"] if endpoints else "whsec_" + secrets.token_hex(24)
    for connect in (False, True):
        mine = [e for e in endpoints if e["_connect"] is connect]
        if mine:
            mine[0]["url"] = url  # the service may listen on another port than last time
            fake.store.put(mine[0])
        else:
            add_endpoint(fake, None, url=url, enabled_events=["*"], connect=connect, secret=secret)
    fake.store.commit()
    with RunningFake(fake) as server:
        yield settings.model_copy(
            update={
                "stripe_secret_key": SecretStr(EMBEDDED_STRIPE_KEY),
                "stripe_api_base": server.url,
                "stripe_webhook_secret": SecretStr(secret),
            }
        )
