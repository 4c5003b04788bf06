"""`python -m stripefake --port 12111`: the fake alone, in the foreground (also `crowdship stripe-fake`)."""

from __future__ import annotations

import argparse

from stripefake.core import FakeStripe
from stripefake.server import serve_forever
from stripefake.store import Store


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="stripefake", description="A stateful Stripe-compatible server for tests.")
    root.add_argument("--host", default="127.0.0.1")
    root.add_argument("--port", type=int, default=12111, help="0 picks a free port (default: 12111)")
    root.add_argument("--data", help="SQLite file to keep state in across restarts (default: memory only)")
    root.add_argument("--settlement-days", type=int, default=2, help="days until charges become available (0: at once)")
    root.add_argument(
        "--payout-schedule",
        choices=("daily", "manual"),
        default="daily",
        help="the platform's payouts: daily automatic (Stripe's default) or manual (default: daily)",
    )
    root.add_argument("--api-key", help="accept only this secret key (default: any sk_test_ key)")
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    fake = FakeStripe(
        store=Store(args.data) if args.data else None,
        settlement_days=args.settlement_days,
        api_key=args.api_key,
        platform_payouts=args.payout_schedule,
    )
    serve_forever(fake, args.host, args.port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
