"""Application wiring: settings, pool, services and the HTTP/WebSocket surface."""

from marketplace.app.core import create_app

__all__ = ["create_app"]
