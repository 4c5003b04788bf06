"""Which parameters an endpoint takes, and reading them with Stripe's coercions.

A spec maps each known key to a nested spec (a dict), `FREE` (any keys: metadata) or `LEAF` (a scalar or a
list of scalars). Anything else is refused as Stripe refuses it: 400 `parameter_unknown` naming the key in
bracket notation, e.g. `capabilities[transfers][asked]`.
"""

from __future__ import annotations

from typing import Any, Final

from stripefake.errors import invalid, missing, unknown

LEAF: Final = "leaf"
FREE: Final = "free"
Spec = dict[str, Any]

COMMON: Spec = {"expand": LEAF}
LIST: Spec = {"limit": LEAF, "starting_after": LEAF, "ending_before": LEAF, "expand": LEAF, "created": FREE}


def check(params: dict[str, Any], spec: Spec, prefix: str = "") -> None:
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else key
        rule = spec.get(key)
        if rule is None:
            raise unknown(name)
        if rule in (FREE, LEAF):
            continue
        if isinstance(value, dict):
            check(value, rule, name)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, dict):
                    check(item, rule, f"{name}[{i}]")
        elif value != "":
            raise invalid(f"Invalid object: {name} must be a hash", param=name)


def text(params: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    value = params.get(key)
    if value is None or value == "":
        if required:
            raise missing(key)
        return None
    if not isinstance(value, str):
        raise invalid(f"Invalid string: {key}", param=key)
    return value


def required_text(params: dict[str, Any], key: str) -> str:
    value = text(params, key, required=True)
    assert value is not None
    return value


def integer(params: dict[str, Any], key: str, *, required: bool = False, minimum: int = 0) -> int | None:
    value = params.get(key)
    if value is None or value == "":
        if required:
            raise missing(key)
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise invalid(f"Invalid integer: {value}", param=key) from None
    if number < minimum:
        raise invalid(f"This value must be greater than or equal to {minimum}.", param=key)
    return number


def required_integer(params: dict[str, Any], key: str, *, minimum: int = 0) -> int:
    value = integer(params, key, required=True, minimum=minimum)
    assert value is not None
    return value


def boolean(params: dict[str, Any], key: str, default: bool = False) -> bool:
    value = params.get(key)
    if value is None or value == "":
        return default
    if value in ("true", True):
        return True
    if value in ("false", False):
        return False
    raise invalid(f"Invalid boolean: {value}", param=key)


def currency(params: dict[str, Any], key: str = "currency") -> str:
    value = required_text(params, key).lower()
    if len(value) != 3 or not value.isalpha():
        raise invalid(f"Invalid currency: {value}.", param=key)
    return value


def strings(params: dict[str, Any], key: str) -> list[str]:
    value = params.get(key)
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise invalid(f"Invalid array: {key}", param=key)


def merge_metadata(current: dict[str, str], params: dict[str, Any]) -> dict[str, str]:
    """Stripe's metadata update: keys merge, an empty value deletes a key, `metadata=""` clears all."""
    if "metadata" not in params:
        return current
    value = params["metadata"]
    if value == "":
        return {}
    if not isinstance(value, dict):
        raise invalid("Invalid hash", param="metadata")
    merged = dict(current)
    for key, item in value.items():
        if not isinstance(item, str):
            raise invalid("Invalid metadata value", param=f"metadata[{key}]")
        if item == "":
            merged.pop(key, None)
        else:
            merged[key] = item
    return merged
