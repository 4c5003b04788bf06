"""`create_app`: the litestar application, its lifespan (pool, services) and its plain HTTP routes."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, ClassVar

import asyncpg
import strawberry
import structlog
from cross_web import HTTPException
from litestar import Litestar, Request, get
from litestar.background_tasks import BackgroundTasks
from litestar.datastructures import State
from litestar.di import Provide
from litestar.enums import ScopeType
from litestar.response import Response
from litestar.types import ASGIApp, Dependencies, Message, Receive, Scope, Send
from strawberry.litestar import make_graphql_controller
from strawberry.litestar.controller import GraphQLController

from marketplace.app.client import client_address
from marketplace.app.fleet_csv import fleet_manifest_csv
from marketplace.app.kpis_csv import kpis_csv
from marketplace.app.ledger_csv import ledger_csv, reconciliation_csv
from marketplace.app.metrics import metrics
from marketplace.app.photos import read_photo, upload_photo
from marketplace.app.stripe_webhooks import stripe_webhook
from marketplace.app.tracking_page import tracking_page, tracking_script
from marketplace.clock import Clock, SystemClock
from marketplace.db import migrations
from marketplace.db.listener import Listener
from marketplace.db.pool import StatementCounter, create_pool, current_statements
from marketplace.heap import settle_heap_for_serving
from marketplace.logs import configure_logging, get_logger
from marketplace.services.container import Services, build_services
from marketplace.settings import Environment, Settings, get_settings
from schema import GraphQLContext, build_schema
from schema.loaders import Loaders

log = get_logger("crowdship.http")

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def request_id_middleware(app: ASGIApp) -> ASGIApp:
    """Binds a request id (the caller's X-Request-Id when sane) to every log line of the request."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        request_id = incoming if incoming and _REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        counter = StatementCounter()
        token = current_statements.set(counter)
        started = time.perf_counter()
        status: dict[str, int] = {}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await app(scope, receive, send_with_id)
        finally:
            await asyncio.sleep(0)  # let asyncpg's query-logger callbacks land in the counter
            log.info(
                "request",
                kind=scope["type"],
                method=scope.get("method"),
                path=scope.get("path"),
                status=status.get("code"),
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
                sql_statements=counter.count,
            )
            current_statements.reset(token)
            structlog.contextvars.clear_contextvars()

    return middleware


def one_connection_per_request(app: ASGIApp) -> ASGIApp:
    """An HTTP request's reads and units of work share one pooled connection (see `Database.request_scope`).

    WebSockets are left out: a subscription lives for hours and must not hold a connection all along.
    """

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        services = scope["app"].state.get("services") if scope["type"] == ScopeType.HTTP else None
        if services is None:
            await app(scope, receive, send)
            return
        async with services.db.request_scope():
            await app(scope, receive, send)

    return middleware


def _services(state: State) -> Services:
    services = state.get("services")
    if services is None:
        raise RuntimeError("application state has no services; is the lifespan running?")
    return services  # type: ignore[no-any-return]


def graphql_context(state: State, scope: Scope, root_value: Any) -> GraphQLContext:
    """`root_value` (always None) only orders it after the root value; see `Controller.dependencies`."""
    services = _services(state)
    peer = scope.get("client")
    return GraphQLContext(
        services=services,
        loaders=Loaders.create(services),
        authorization=_header(scope, b"authorization"),
        client_address=client_address(
            peer[0] if peer else None, _header(scope, b"x-forwarded-for"), state["trusted_proxies"]
        ),
    )


@get("/health", sync_to_thread=False)
def health() -> dict[str, str]:
    """The process is up; says nothing about the database."""
    return {"status": "ok"}


@get("/ready")
async def ready(state: State) -> Response[dict[str, Any]]:
    """Ready when the database answers and its schema is at the newest migration."""
    services = _services(state)
    expected = state["migration_head"]
    try:
        async with asyncio.timeout(2), services.db.read() as repos:
            current = await repos.meta.schema_revision()
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
        return Response({"status": "unavailable"}, status_code=503)
    if current != expected:
        return Response({"status": "migrations_pending", "current": current, "expected": expected}, status_code=503)
    return Response({"status": "ready", "revision": current}, status_code=200)


# A request refused before any GraphQL runs still answers in GraphQL's shape, with a code to act on.
_REFUSED_CODES = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}


def _new_response() -> Response[Any]:
    """What strawberry's own getter returns: a response for resolvers to set headers and cookies on."""
    return Response({}, background=BackgroundTasks([]))


def _no_root_value(response: Response[Any]) -> None:
    """Strawberry's root value (none). `response` only orders it after the response; see `Controller.dependencies`."""


def graphql_controller(schema: strawberry.Schema, *, graphql_ide: bool) -> type[GraphQLController]:
    """Strawberry's controller, with every malformed request answered as a GraphQL error body.

    Strawberry answers a body that is not JSON, a `variables` that is not an object or a missing
    query with plain text; JSON nested past Python's recursion limit, or a body that is JSON but not
    an object, would even fail with a 500. All of these get their HTTP status (400 for bad input)
    and `{"errors": [{"message", "extensions": {"code": "BAD_USER_INPUT"}}]}`.
    """
    # The context getter is given below as a plain dependency (see `Controller.dependencies`); handed
    # to strawberry as well, litestar would warn at start-up about a sync callable without sync_to_thread.
    base = make_graphql_controller(schema, path="/graphql", graphql_ide="graphiql" if graphql_ide else None)

    class Controller(base):  # type: ignore[valid-type,misc]
        # Strawberry makes the per-request Response in a worker thread (`sync_to_thread=True`): a thread
        # hop per request for a constructor call, which showed in profiles. Made in the event loop here.
        # Litestar resolves the dependencies that do not depend on one another together, in an anyio
        # task group: for strawberry's response, root value and custom context that was a task group
        # and three tasks per request, about 1.5% of a booking's CPU. Chained (response, then root
        # value, then context), each is one plain call; none of them awaits anything.
        dependencies: ClassVar[Dependencies] = {
            **base.dependencies,
            "response": Provide(_new_response, sync_to_thread=False),
            "root_value": Provide(_no_root_value, sync_to_thread=False),
            "custom_context": Provide(graphql_context, sync_to_thread=False),
        }

        def decode_json(self, data: str | bytes) -> object:
            try:
                return super().decode_json(data)
            except RecursionError:
                # Told apart from other bad JSON by its message only; the WebSocket handler closes on it too.
                raise json.JSONDecodeError("JSON nested too deeply", "", 0) from None

        def parse_json(self, data: str | bytes) -> Any:
            parsed = super().parse_json(data)
            if not isinstance(parsed, dict | list):  # a list is a batch, which strawberry refuses itself
                raise HTTPException(400, "The request body must be a JSON object")
            return parsed

        async def execute_request(
            self, request: Request[Any, Any, Any], context: Any, root_value: Any
        ) -> Response[Any]:
            try:
                response: Response[Any] = await self.run(request, context=context, root_value=root_value)
            except HTTPException as exc:
                code = _REFUSED_CODES.get(exc.status_code, "BAD_USER_INPUT")
                # The reason is strawberry's own fixed sentence, never the caller's text.
                log.info("graphql_request_refused", status=exc.status_code, code=code, reason=exc.reason)
                return Response(
                    {"errors": [{"message": exc.reason, "extensions": {"code": code}}]},
                    status_code=exc.status_code,
                    media_type="application/json",
                )
            return response

    return Controller


def create_app(
    settings: Settings | None = None, *, clock: Clock | None = None, database_url: str | None = None
) -> Litestar:
    """`database_url` overrides the settings' (the CLI passes the embedded server's socket URL)."""
    settings = settings or get_settings()
    clock = clock or SystemClock()
    dsn = database_url or settings.database_url
    if dsn is None:
        raise ValueError("create_app needs a database URL; the CLI starts the embedded server and passes its URL")

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        pool = await create_pool(
            dsn, min_size=settings.database_pool_min_size, max_size=settings.database_pool_max_size
        )
        # One LISTEN connection per process for every live subscription; it reconnects on its own.
        listener = Listener(dsn)
        try:
            await listener.start()
        except BaseException:
            await pool.close()
            raise
        app.state.listener = listener
        app.state.services = build_services(settings, pool, clock, listener=listener)
        app.state.migration_head = migrations.head_revision()
        app.state.trusted_proxies = settings.trusted_proxy_networks
        log.info("started", environment=settings.environment.value)
        try:
            yield
        finally:
            await listener.stop()
            await pool.close()
            log.info("stopped")

    production = settings.environment is Environment.PRODUCTION
    graphql = graphql_controller(
        build_schema(
            max_depth=settings.graphql_max_depth, max_cost=settings.graphql_max_cost, introspection=not production
        ),
        graphql_ide=not production,
    )
    return Litestar(
        route_handlers=[
            health,
            ready,
            graphql,
            fleet_manifest_csv,
            ledger_csv,
            reconciliation_csv,
            kpis_csv,
            metrics,
            upload_photo,
            read_photo,
            stripe_webhook,
            tracking_page,
            tracking_script,
        ],
        lifespan=[lifespan],
        middleware=[request_id_middleware, one_connection_per_request],
        logging_config=None,
        debug=False,
    )


def configure(settings: Settings) -> None:
    configure_logging(settings.log_level.value)


def app_from_environment() -> Litestar:
    """`crowdship serve --workers N`: each server process builds its app, logging and pool from the environment."""
    settings = get_settings()
    configure(settings)
    app = create_app(settings)
    settle_heap_for_serving()
    return app
