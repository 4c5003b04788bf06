"""The GraphQL schema: thin resolvers that authenticate, check shape, call a service and map the result."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import strawberry
from graphql import FieldNode, GraphQLError, OperationDefinitionNode
from strawberry.extensions import DisableIntrospection, MaskErrors, ParserCache, SchemaExtension, ValidationCache
from strawberry.types import ExecutionContext, ExecutionResult

from marketplace.logs import get_logger
from marketplace.metrics import GRAPHQL_SECONDS
from schema.accounts import AccountMutation, AccountQuery
from schema.claims import ClaimMutation, ClaimQuery
from schema.context import GraphQLContext
from schema.couriers import CourierMutation, CourierQuery
from schema.delivery import DeliveryMutation, DeliveryQuery
from schema.dispatch import DispatchMutation, DispatchQuery
from schema.finance import FinanceQuery
from schema.jobs import JobMutation, JobQuery
from schema.kpis import KpiQuery
from schema.limits import QueryLimits
from schema.loaders import Loaders
from schema.offers import OfferMutation, OfferQuery
from schema.payments import PaymentMutation, PaymentQuery
from schema.payouts import PayoutQuery
from schema.places import PlacesMutation, PlacesQuery
from schema.recipient_tracking import RecipientTrackingMutation, RecipientTrackingSubscription
from schema.reconciliation import ReconciliationQuery
from schema.tracking import TrackingMutation, TrackingSubscription
from schema.trips import TripMutation, TripQuery
from schema.vehicles import VehicleMutation, VehicleQuery
from schema.webhooks import WebhookMutation, WebhookQuery

__all__ = ["DOCUMENT_CACHE_SIZE", "GraphQLContext", "build_schema"]

log = get_logger("crowdship.graphql")

INTERNAL = "INTERNAL_SERVER_ERROR"
BAD_INPUT = "BAD_USER_INPUT"


@strawberry.type
class Query(
    AccountQuery,
    PlacesQuery,
    VehicleQuery,
    CourierQuery,
    TripQuery,
    JobQuery,
    DispatchQuery,
    OfferQuery,
    DeliveryQuery,
    FinanceQuery,
    ReconciliationQuery,
    KpiQuery,
    PayoutQuery,
    WebhookQuery,
    PaymentQuery,
    ClaimQuery,
):
    pass


@strawberry.type
class Mutation(
    AccountMutation,
    PlacesMutation,
    VehicleMutation,
    CourierMutation,
    TripMutation,
    JobMutation,
    DispatchMutation,
    OfferMutation,
    DeliveryMutation,
    TrackingMutation,
    RecipientTrackingMutation,
    WebhookMutation,
    PaymentMutation,
    ClaimMutation,
):
    pass


@strawberry.type
class Subscription(TrackingSubscription, RecipientTrackingSubscription):
    pass


def _unexpected(error: GraphQLError) -> bool:
    """A resolver failed without meaning to: a bug, whose text stays private."""
    return error.path is not None and "code" not in (error.extensions or {})


def classify(error: GraphQLError) -> GraphQLError:
    """Every error leaves with a code: ours as raised, bugs masked, the rest is bad input."""
    if "code" in (error.extensions or {}):
        return error
    if _unexpected(error):
        return GraphQLError("internal server error", nodes=error.nodes, path=error.path, extensions={"code": INTERNAL})
    # Syntax, validation and variable coercion: the caller's own input, told back to the caller.
    return GraphQLError(
        error.message, nodes=error.nodes, source=error.source, positions=error.positions, extensions={"code": BAD_INPUT}
    )


class _Classify(MaskErrors):
    """Applies `classify` to results of every transport (HTTP, and WebSocket streams too)."""

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        return [classify(e) for e in errors]


class _FreshPerOperation(SchemaExtension):
    """A WebSocket keeps one context for its life; credentials and caches must not outlive an operation."""

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context.context
        if isinstance(context, GraphQLContext):
            if context.operations:  # the first operation uses what the context was made with
                context.auth = None
                context.loaders = Loaders.create(context.services)
            context.operations += 1
        yield


class _Timed(SchemaExtension):
    """Observes each operation's time (parse to result) by its type and first root field.

    The root field, not the client's `operationName`: the schema bounds it, so a caller cannot make up
    label values. A document that does not parse or names no field of the schema counts as `invalid`.
    """

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        kind, name = _operation_label(self.execution_context)
        GRAPHQL_SECONDS.labels(kind, name).observe(time.perf_counter() - started)


def _operation_label(context: ExecutionContext) -> tuple[str, str]:
    document = context.graphql_document
    if document is None:
        return "invalid", "invalid"
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        if context.operation_name is not None and (
            definition.name is None or definition.name.value != context.operation_name
        ):
            continue
        kind = definition.operation.value
        root = context.schema._schema.get_root_type(definition.operation)
        first = next((f.name.value for f in definition.selection_set.selections if isinstance(f, FieldNode)), None)
        if (
            root is None
            or first is None
            or (first not in root.fields and first not in ("__schema", "__type", "__typename"))
        ):
            return "invalid", "invalid"
        return kind, first
    return "invalid", "invalid"


class _Schema(strawberry.Schema):
    async def execute(self, *args: Any, **kwargs: Any) -> ExecutionResult:
        """Also classifies errors raised by extensions before execution, which bypass `_Classify`."""
        result = await super().execute(*args, **kwargs)
        if result.errors:
            result.errors = [classify(e) for e in result.errors]
        return result

    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        for error in errors:
            code = (error.extensions or {}).get("code")
            if _unexpected(error):
                log.error("graphql_resolver_failed", path=error.path, exc_info=error.original_error)
            else:
                # Only the code and path: a coercion message can quote the caller's password.
                log.info("graphql_error", code=code or BAD_INPUT, path=error.path)


DOCUMENT_CACHE_SIZE = 256


def build_schema(
    *,
    max_depth: int = 10,
    max_cost: int = 5000,
    introspection: bool = True,
    document_cache_size: int = DOCUMENT_CACHE_SIZE,
) -> strawberry.Schema:
    # Factories, not instances: strawberry then makes fresh extensions per request.
    extensions: list[Any] = [
        # A document's parse and its validation against the schema depend on nothing else, so repeated
        # documents (every app sends the same few) skip both; limits still run per request. Strawberry
        # keeps one LRU per size for the whole process, so the cache outlives the per-request extension
        # and holds at most `document_cache_size` documents, however many different ones arrive.
        lambda: ParserCache(maxsize=document_cache_size),
        lambda: ValidationCache(maxsize=document_cache_size),
        _FreshPerOperation,
        _Timed,
        lambda: QueryLimits(max_depth=max_depth, max_cost=max_cost),
        lambda: _Classify(),
    ]
    if not introspection:
        extensions.append(DisableIntrospection)
    return _Schema(query=Query, mutation=Mutation, subscription=Subscription, extensions=extensions)
