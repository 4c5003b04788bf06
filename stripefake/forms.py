"""Stripe's form encoding: `a[b][c]=1`, `items[0][price]=x` and `expand[]=y` into nested dicts and lists.

The SDK sends every request body (and GET query) as application/x-www-form-urlencoded with bracket
notation; values stay strings here and each endpoint coerces the ones it knows.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

_PART = re.compile(r"\[([^\[\]]*)\]")


class FormError(ValueError):
    """A key that cannot be read as Stripe's bracket notation (`a[b`, `a]`, a list index mixed with a name)."""


def _path(key: str) -> list[str]:
    head, _, rest = key.partition("[")
    if not head or "]" in head:
        raise FormError(key)
    parts = [head]
    if rest:
        rest = "[" + rest
        end = 0
        for match in _PART.finditer(rest):
            if match.start() != end:
                raise FormError(key)
            parts.append(match.group(1))
            end = match.end()
        if end != len(rest):
            raise FormError(key)
    return parts


def parse_form(body: str) -> dict[str, Any]:
    """Nested params from a query string or form body; numeric and empty brackets make lists."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        _insert(root, _path(key), value, key)
    return _listify(root)  # type: ignore[no-any-return]


def _insert(node: dict[str, Any], parts: list[str], value: str, key: str) -> None:
    for i, part in enumerate(parts[:-1]):
        nxt = node.get(part)
        if nxt is None:
            nxt = node[part] = {}
        if not isinstance(nxt, dict):
            raise FormError(key)
        if parts[i + 1] == "":
            # `a[]=x`: append, keyed by position, so a later `_listify` turns it into a list.
            nxt = nxt.setdefault("", {})
            parts = [*parts[: i + 1], str(len(nxt)), *parts[i + 2 :]]
            nxt_parts = parts[i + 1 :]
            _insert(nxt, nxt_parts, value, key)
            return
        node = nxt
    last = parts[-1]
    if last == "":
        raise FormError(key)
    if isinstance(node.get(last), dict):
        raise FormError(key)
    node[last] = value


def _listify(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    if set(value) == {""}:
        value = value[""]
        return [_listify(value[k]) for k in sorted(value, key=int)]
    if value and all(k.isdigit() for k in value):
        return [_listify(value[k]) for k in sorted(value, key=int)]
    return {k: _listify(v) for k, v in value.items()}
