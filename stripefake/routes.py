"""The route table: each endpoint declares its method, path and the parameters it accepts."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from stripefake.core import Handler
from stripefake.params import Spec


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler
    spec: Spec


ROUTES: list[Route] = []


def route(method: str, path: str, spec: Spec) -> Callable[[Handler], Handler]:
    """Registers a handler; `{id}` segments become path ids handed over in `Req.path_ids`."""
    pattern = re.compile("^" + re.sub(r"\{[a-z_]+\}", "([^/]+)", path) + "$")

    def register(handler: Handler) -> Handler:
        ROUTES.append(Route(method, pattern, handler, spec))
        return handler

    return register
