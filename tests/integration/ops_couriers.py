"""Sample calls of the couriers operations for the authorization table (test_authorization.py).

Each entry: operation name -> (document, variables). Arguments may name objects that do not exist;
the table only checks who gets past the access rule.
"""

from __future__ import annotations

from typing import Any

OPERATIONS: dict[str, tuple[str, dict[str, Any]]] = {}
