"""`crowdship`: thin commands that parse arguments and call the application or a service."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from marketplace.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from marketplace.domain.errors import DomainError
    from marketplace.services.container import Services

T = TypeVar("T")


@contextmanager
def database_url(settings: Settings) -> Iterator[str]:
    """DATABASE_URL when set; otherwise the embedded server under EMBEDDED_DATA_DIR, held while we run."""
    if settings.database_url:
        yield settings.database_url
        return
    from marketplace.db.embedded import embedded_dsn, start_embedded

    print(f"crowdship: using the embedded PostgreSQL in {settings.embedded_data_dir}", file=sys.stderr)
    server = start_embedded(settings.embedded_data_dir)
    # Leaving the block (however: return, exception, SystemExit from SIGTERM) lets go of the server,
    # which stops it when no other process holds it; atexit alone misses a process ended by a signal.
    with server:
        yield embedded_dsn(server)


@contextmanager
def stripe_settings(settings: Settings, *, app_url: str) -> Iterator[Settings]:
    """Settings as given when STRIPE_SECRET_KEY is set; otherwise pointed at the embedded Stripe fake, held
    while we run (see marketplace/embedded_stripe.py)."""
    if settings.stripe_secret_key:
        yield settings
        return
    from marketplace.embedded_stripe import embedded_stripe

    with embedded_stripe(settings, app_url=app_url) as faked:
        print(
            f"crowdship: using the embedded Stripe fake at {faked.stripe_api_base} "
            f"(state in {settings.embedded_stripe_file})",
            file=sys.stderr,
        )
        yield faked


def _with_services(settings: Settings, work: Callable[[Services], Awaitable[T]], *, pool_max_size: int = 1) -> T:
    """`work` run against the services on DATABASE_URL (or the embedded server), over a pool of its own
    that is closed however the work ends: what every one-shot command does around its one call."""
    from marketplace.clock import SystemClock
    from marketplace.db.pool import create_pool
    from marketplace.services.container import build_services

    async def run(dsn: str) -> T:
        pool = await create_pool(dsn, min_size=1, max_size=pool_max_size)
        try:
            return await work(build_services(settings, pool, SystemClock()))
        finally:
            await pool.close()

    with database_url(settings) as dsn:
        return asyncio.run(run(dsn))


def _print_refusal(exc: DomainError) -> None:
    for err in exc.errors:
        print(f"crowdship: {err.field or 'input'}: {err.message} ({err.code})", file=sys.stderr)


def _stripe_environment(settings: Settings) -> dict[str, str]:
    """What a child process needs to reach the same Stripe (the embedded fake lives in this process)."""
    env = {}
    if settings.stripe_secret_key:
        env["STRIPE_SECRET_KEY"] = settings.stripe_secret_key.get_secret_value()
    if settings.stripe_webhook_secret:
        env["STRIPE_WEBHOOK_SECRET"] = settings.stripe_webhook_secret.get_secret_value()
    if settings.stripe_api_base:
        env["STRIPE_API_BASE"] = settings.stripe_api_base
    return env


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from marketplace.app.core import configure, create_app
    from marketplace.db import migrations
    from marketplace.heap import settle_heap_for_serving

    configure(settings)
    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again: as SystemExit rather than
    # the default (instant death), it unwinds through the worker's and the embedded database's cleanup.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    if args.with_worker:
        _stop_with_parent()
    host, port = args.host or settings.host, args.port or settings.port
    with database_url(settings) as dsn, stripe_settings(settings, app_url=f"http://{host}:{port}") as settings:
        if args.migrate:
            migrations.upgrade(dsn)
        workers = args.workers or 1
        options: dict[str, Any] = {
            "host": host,
            "port": port,
            "log_config": None,
            "access_log": False,
            "lifespan": "on",
            "timeout_graceful_shutdown": 10,
        }
        worker = _start_worker(dsn, settings) if args.with_worker else None
        try:
            if workers == 1:
                app = create_app(settings, database_url=dsn)
                settle_heap_for_serving()
                uvicorn.run(app, **options)
            else:
                # Each server process builds its own app (and pool) from the environment; they share the
                # socket this process binds. The embedded database and Stripe fake, if any, stay held by
                # this process.
                os.environ.update({"DATABASE_URL": dsn, **_stripe_environment(settings)})
                with _shared_metrics_directory():
                    uvicorn.run("marketplace.app.core:app_from_environment", factory=True, workers=workers, **options)
        finally:
            if worker is not None:
                _stop_child(worker)
    return 0


@contextmanager
def _shared_metrics_directory() -> Iterator[None]:
    """N server processes share their request metrics through files in one fresh directory.

    prometheus-client's multiprocess mode (see `marketplace/metrics.py`): set before the processes
    start, so any of them answers `/metrics` with all of them. An operator's own directory is kept.
    """
    import shutil
    import tempfile

    from marketplace.metrics import MULTIPROC_ENV

    if os.environ.get(MULTIPROC_ENV):
        yield
        return
    directory = tempfile.mkdtemp(prefix="crowdship-metrics-")
    os.environ[MULTIPROC_ENV] = directory
    try:
        yield
    finally:
        os.environ.pop(MULTIPROC_ENV, None)
        shutil.rmtree(directory, ignore_errors=True)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _stop_with_parent() -> None:
    """SIGTERM this process when its parent dies (Linux): `make run` killed must not orphan the database.

    make does not pass a SIGTERM on to its recipe, so without this the service (and the embedded
    PostgreSQL it holds) would outlive a killed `make run`.
    """
    import contextlib
    import ctypes
    import os

    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        if os.getppid() == 1:  # the parent died before we asked
            os.kill(os.getpid(), signal.SIGTERM)


def _start_worker(dsn: str, settings: Settings) -> subprocess.Popen[bytes]:
    """One worker as a child process (its own CPU for solves), on the same database and Stripe; it dies with us."""
    import os

    env = {**os.environ, "DATABASE_URL": dsn, **_stripe_environment(settings)}
    return subprocess.Popen(
        [sys.executable, "-m", "marketplace.cli", "worker"],
        env=env,
        stdin=subprocess.DEVNULL,
        preexec_fn=_stop_with_parent,
    )


def _stop_child(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is None:
        child.send_signal(signal.SIGTERM)
    try:
        child.wait(timeout=20)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def _worker(settings: Settings, args: argparse.Namespace) -> int:
    from marketplace.app.core import configure

    configure(settings)
    if args.worker_command == "failed":
        return _failed_jobs(settings, args)
    if args.worker_command == "requeue":
        return _requeue_jobs(settings, args)
    with database_url(settings) as dsn:
        asyncio.run(_run_worker(settings, dsn, args))
    return 0


async def _run_worker(settings: Settings, dsn: str, args: argparse.Namespace) -> None:
    from marketplace.clock import SystemClock
    from marketplace.db.pool import create_pool
    from marketplace.services.container import build_services
    from marketplace.worker import run_worker

    pool = await create_pool(dsn, min_size=1, max_size=settings.database_pool_max_size)
    try:
        services = build_services(settings, pool, SystemClock())
        await run_worker(
            services, dsn, processes=args.processes, heartbeat_timeout=timedelta(seconds=args.heartbeat_timeout_s)
        )
    finally:
        await pool.close()


def _failed_jobs(settings: Settings, args: argparse.Namespace) -> int:
    async def listing(services: Services) -> int:
        jobs = await services.operations.failed_jobs(args.limit)
        for job in jobs:
            print(
                f"{job.id}\t{job.entrypoint}\tattempts={job.attempts}\tfailed_at={job.updated.isoformat()}\t"
                f"payload={json.dumps(job.payload)}\t{job.error or ''}"
            )
        print(f"crowdship: {len(jobs)} failed jobs held", file=sys.stderr)
        return 0

    return _with_services(settings, listing)


def _requeue_jobs(settings: Settings, args: argparse.Namespace) -> int:
    async def requeue(services: Services) -> int:
        await services.operations.requeue_jobs(args.ids)
        print(f"crowdship: requeued {len(args.ids)} jobs", file=sys.stderr)
        return 0

    return _with_services(settings, requeue)


def _db(settings: Settings, args: argparse.Namespace) -> int:
    from marketplace.db import migrations

    with database_url(settings) as dsn:
        if args.db_command == "upgrade":
            migrations.upgrade(dsn, args.revision)
            print(f"database at {args.revision}", file=sys.stderr)
        elif args.db_command == "downgrade":
            migrations.downgrade(dsn, args.revision)
            print(f"database at {args.revision}", file=sys.stderr)
        else:
            print(asyncio.run(_current(dsn)) or "none")
    return 0


async def _current(dsn: str) -> str | None:
    import asyncpg

    from marketplace.repositories.meta import MetaRepository

    conn = await asyncpg.connect(dsn)
    try:
        return await MetaRepository(conn).schema_revision()
    finally:
        await conn.close()


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise SystemExit("crowdship: passwords differ")
    return first


def _users(settings: Settings, args: argparse.Namespace) -> int:
    from marketplace.domain.accounts import Role
    from marketplace.domain.errors import DomainError

    password = _read_password(args)

    async def create(services: Services) -> int:
        try:
            user = await services.accounts.create_user(
                email=args.email, password=password, role=Role(args.role), organization_name=args.organization
            )
        except DomainError as exc:
            _print_refusal(exc)
            return 2
        print(f"created {user.role} {user.email} ({user.id})")
        return 0

    return _with_services(settings, create, pool_max_size=2)


def _maintenance(settings: Settings, args: argparse.Namespace) -> int:
    async def purge(services: Services) -> int:
        purged = await services.maintenance.purge()
        expired = await services.trips.expire_overdue()
        pings = await services.tracking.purge_pings()
        print(
            f"purged {purged.idempotency_keys} idempotency keys, {purged.rate_limit_buckets} rate-limit buckets, "
            f"{purged.sessions} sessions, {pings} location pings; expired {expired} overdue trips"
        )
        return 0

    return _with_services(settings, purge)


def _commutes(settings: Settings, args: argparse.Namespace) -> int:
    from marketplace.domain.errors import DomainError

    async def schedule(services: Services) -> int:
        try:
            created = await services.trips.schedule_all(args.days)
        except DomainError as exc:
            _print_refusal(exc)
            return 2
        print(f"scheduled {created} commute trips for the next {args.days} days")
        return 0

    return _with_services(settings, schedule)


def _finance(settings: Settings, args: argparse.Namespace) -> int:
    from marketplace.payments import GatewayError

    async def reconcile(services: Services) -> int:
        try:
            run = await services.reconciliation.reconcile(args.date)
        except GatewayError as exc:
            print(f"crowdship: Stripe: {exc}", file=sys.stderr)
            return 1
        print(
            f"reconciled {args.date.isoformat()}: {run.stripe_objects} Stripe objects, {run.ledger_entries} ledger "
            f"entries, {run.matched} matched, {run.mismatch_count} mismatches (run {run.id})"
        )
        return 0 if run.mismatch_count == 0 else 3

    return _with_services(settings, reconcile, pool_max_size=2)


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value) if len(value) == 10 else date.fromisoformat("")
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from None


def _instant(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {value!r}") from None
    if parsed.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give a time zone, e.g. {value}Z or {value}+01:00")
    return parsed.astimezone(UTC)


def _export_instance(settings: Settings, args: argparse.Namespace) -> int:
    from marketplace.domain.errors import DomainError
    from schema.types import decode_id

    async def export(services: Services) -> dict[str, Any] | None:
        try:
            bridge = services.matching
            now = args.now or datetime.now(UTC)
            start = args.start or now
            end = args.until or start + timedelta(hours=24)
            # Operations copy an area's ID from the API as often as they type its name.
            text = args.area.strip()
            try:
                area_id = decode_id(text, "ServiceArea", field="area")
            except DomainError:
                area_id = await bridge.find_area(text)
            return await bridge.instance_json(area_id=area_id, start=start, end=end, now=now)
        except DomainError as exc:
            _print_refusal(exc)
            return None

    data = _with_services(settings, export, pool_max_size=2)
    if data is None:
        return 2
    text = json.dumps(data, indent=1) + "\n"
    if args.output and args.output != "-":
        with open(args.output, "w", encoding="utf-8") as out:
            out.write(text)
    else:
        sys.stdout.write(text)
    print(f"crowdship: exported {len(data['parcels'])} parcels and {len(data['trips'])} trips", file=sys.stderr)
    return 0


def _stripe_fake(settings: Settings, args: argparse.Namespace) -> int:
    from stripefake.__main__ import main as stripefake_main

    argv = ["--host", args.host, "--port", str(args.port), "--settlement-days", str(args.settlement_days)]
    if args.data:
        argv += ["--data", args.data]
    return stripefake_main(argv)


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="crowdship", description="Crowdship marketplace backend.")
    commands = root.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve GraphQL on HTTP and WebSocket", description="Serve the API.")
    serve.add_argument("--host", help="address to bind (default: HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to bind (default: PORT or 8000)")
    serve.add_argument("--migrate", action="store_true", help="apply pending migrations before serving")
    serve.add_argument(
        "--with-worker",
        action="store_true",
        help="also run one background worker (a child process on the same database), stopped with the service",
    )
    serve.add_argument(
        "--workers",
        type=_positive,
        help="server processes behind the one port (default: 1); each has its own pool of "
        "DATABASE_POOL_MAX_SIZE connections",
    )
    serve.set_defaults(run=_serve)

    fake = commands.add_parser(
        "stripe-fake",
        help="run the Stripe-compatible fake alone",
        description="Serve the project's Stripe fake (what `serve` embeds without STRIPE_SECRET_KEY) in the "
        "foreground; point STRIPE_API_BASE at it with any sk_test_ key.",
    )
    fake.add_argument("--host", default="127.0.0.1")
    fake.add_argument("--port", type=int, default=12111, help="port to bind, 0 for a free one (default: 12111)")
    fake.add_argument("--data", help="SQLite file to keep its state in (default: memory only)")
    fake.add_argument("--settlement-days", type=int, default=2, help="days until charges are available (default: 2)")
    fake.set_defaults(run=_stripe_fake)

    worker = commands.add_parser(
        "worker",
        help="run the background worker (rounds, offer expiry, fleet hand-off, housekeeping)",
        description="Run the background worker: matching rounds, offer expiry, the fleet hand-off, the "
        "maintenance purge and commute scheduling, from the job queue in PostgreSQL. Run any number of them.",
    )
    worker.add_argument("--processes", type=int, default=1, help="solver processes (default: 1)")
    worker.add_argument(
        "--heartbeat-timeout-s",
        type=float,
        default=30.0,
        help="seconds without a heartbeat after which another worker takes a job over (default: 30)",
    )
    worker_commands = worker.add_subparsers(dest="worker_command")
    failed = worker_commands.add_parser(
        "failed", help="list jobs that failed every retry", description="List held (failed) jobs, newest first."
    )
    failed.add_argument("--limit", type=int, default=100)
    requeue = worker_commands.add_parser(
        "requeue", help="queue failed jobs again", description="Queue held (failed) jobs again by id."
    )
    requeue.add_argument("ids", type=int, nargs="+")
    worker.set_defaults(run=_worker)

    db = commands.add_parser("db", help="database migrations", description="Apply or inspect migrations.")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    up = db_commands.add_parser("upgrade", help="migrate up", description="Migrate up to a revision.")
    up.add_argument("revision", nargs="?", default="head", help="target revision (default: head)")
    down = db_commands.add_parser("downgrade", help="migrate down", description="Migrate down to a revision.")
    down.add_argument("revision", help="target revision, e.g. -1 or base")
    db_commands.add_parser("current", help="print the applied revision", description="Print the applied revision.")
    db.set_defaults(run=_db)

    users = commands.add_parser("users", help="manage users", description="Manage user accounts.")
    user_commands = users.add_subparsers(dest="users_command", required=True)
    create = user_commands.add_parser(
        "create",
        help="create a user of any role",
        description="Create a user; finance and admin users can only be made this way. "
        "The password is read from standard input (or prompted for), never from the command line.",
    )
    create.add_argument("--role", required=True, choices=["courier", "retailer", "finance", "admin"])
    create.add_argument("--email", required=True)
    create.add_argument("--organization", help="organisation name (retailers only)")
    create.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    users.set_defaults(run=_users)

    maintenance = commands.add_parser("maintenance", help="housekeeping", description="Housekeeping tasks.")
    maintenance_commands = maintenance.add_subparsers(dest="maintenance_command", required=True)
    maintenance_commands.add_parser(
        "purge",
        help="delete expired idempotency keys, rate-limit windows and ended sessions; expire overdue trips",
        description="Delete rows no request can use any more; run it from cron, e.g. hourly.",
    )
    maintenance.set_defaults(run=_maintenance)

    commutes = commands.add_parser("commutes", help="recurring commutes", description="Recurring commutes.")
    commute_commands = commutes.add_subparsers(dest="commutes_command", required=True)
    schedule = commute_commands.add_parser(
        "schedule",
        help="create the coming days' trips of every active commute",
        description="Create the trips of every active commute template for the coming days. Days that "
        "already have their trip (even a cancelled one) are left alone, so it is safe to run again; run it "
        "from cron, e.g. daily.",
    )
    schedule.add_argument("--days", type=int, default=7, help="local dates from today on, 1 to 28 (default: 7)")
    commutes.set_defaults(run=_commutes)

    finance = commands.add_parser("finance", help="the books", description="Finance tasks.")
    finance_commands = finance.add_subparsers(dest="finance_command", required=True)
    reconcile = finance_commands.add_parser(
        "reconcile",
        help="match a UTC day of Stripe's balance movements to the ledger",
        description="Pull Stripe's balance transactions, transfers and payouts created on the UTC day, match "
        "them to the ledger and store the run with its mismatches (finance reads them in GraphQL and as CSV). "
        "Running a day again supersedes its previous run, which is kept. Exit code 3 when there are mismatches.",
    )
    reconcile.add_argument("--date", required=True, type=_day, help="the UTC day, YYYY-MM-DD")
    finance.set_defaults(run=_finance)

    simulate = commands.add_parser(
        "simulate",
        help="a simulated city day through the real service, with a report",
        description="A city day (bookings, rounds, couriers, hand-overs, payments, reconciliation) driven "
        "through the service over GraphQL and the worker, in simulated time; writes report.html and report.json.",
    )
    simulate.add_argument("--small", action="store_true", help="60 jobs, 5 stores, 20 couriers (CI)")
    simulate.add_argument("--seed", type=int, default=1, help="the same seed replays the same day")
    simulate.add_argument("--out", default="simulation-report", help="where the report goes")
    simulate.set_defaults(run=_simulate)
    export = commands.add_parser(
        "export-instance",
        help="write an area's open trips and waiting parcels as a matching-engine instance",
        description="Write the matching engine's instance JSON for one service area and time range, with each "
        "courier's verification level and valid insurance as of --now; feed it to `python -m matching solve`.",
    )
    export.add_argument(
        "--area", required=True, help="the service area: its name, its UUID or its GraphQL ID (as `serviceArea` shows)"
    )
    export.add_argument("--from", dest="start", type=_instant, help="range start, ISO 8601 (default: --now)")
    export.add_argument("--until", type=_instant, help="range end, ISO 8601 (default: 24 hours after the start)")
    export.add_argument("--now", type=_instant, help="the instant rules are judged at (default: the current time)")
    export.add_argument("--output", "-o", help="file to write (default: standard output)")
    export.set_defaults(run=_export_instance)
    return root


def _simulate(settings: Settings, args: argparse.Namespace) -> int:
    from pathlib import Path

    from marketplace.simulation import simulate

    outcome = simulate(small=args.small, seed=args.seed, out=Path(args.out), database_url=settings.database_url)
    print(json.dumps(outcome.figures["headline"], indent=1))
    print(f"crowdship: report in {Path(args.out) / 'report.html'}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"crowdship: {exc}", file=sys.stderr)
        return 2
    return int(args.run(settings, args))


if __name__ == "__main__":
    raise SystemExit(main())
