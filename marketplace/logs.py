"""Structured JSON logs: one object a line, the request id on every line of a request, no secrets."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

_SECRET_KEYS = re.compile(
    r"password|passphrase|passwd|secret|token|authorization|api_?key|cookie|signing", re.IGNORECASE
)
_TOKENS = re.compile(
    r"(?i:bearer\s+)[A-Za-z0-9._~+/=\-]+"  # an Authorization header value
    r"|\b(?:csk_|csr_|sk_live_|sk_test_|rk_live_|whsec_)[A-Za-z0-9._\-]+"  # our and Stripe's secret prefixes
    r"|\beyJ[A-Za-z0-9_.\-]*"  # base64 of '{"': a JWT or a piece of one
    r"|(?<=/t/)[0-9a-f]{64}"  # a recipient's tracking token in the tracking page's path
)
REDACTED = "[redacted]"


def _redact_value(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        value = bytes(value).decode("utf-8", "replace")
    if isinstance(value, str):
        return _TOKENS.sub(REDACTED, value)
    if isinstance(value, dict):
        return {k: REDACTED if _SECRET_KEYS.search(str(k)) else _redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(v) for v in value]
    return value


def redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Last line of defence: secret-looking keys and token-shaped strings never reach the output."""
    for key in list(event):
        if _SECRET_KEYS.search(key):
            event[key] = REDACTED
        else:
            event[key] = _redact_value(event[key])
    return event


def configure_logging(level: str, stream: TextIO | None = None) -> None:
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact,
    ]
    structlog.configure(
        processors=[structlog.stdlib.filter_by_level, *shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    logging.getLogger("pgserver").setLevel(max(logging.WARNING, root.level))
    # The stripe SDK logs two INFO lines per API call (request, response): on the booking path that
    # was two formatted and redacted JSON lines per bookQuote, about 1% of the server's CPU, saying
    # nothing our own lines and the payment rows do not. Its warnings stay; DEBUG shows them all.
    logging.getLogger("stripe").setLevel(logging.NOTSET if root.level <= logging.DEBUG else logging.WARNING)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "litestar"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)  # type: ignore[no-any-return]
