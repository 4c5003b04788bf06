"""Serving the fake with uvicorn, in the foreground (CLI) or on a background thread (tests, `crowdship serve`)."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType

import uvicorn

from stripefake.app import create_app
from stripefake.core import FakeStripe


def bind(host: str, port: int) -> socket.socket:
    """A listening socket; port 0 picks a free one, so parallel runs never collide."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    return sock


def _config(fake: FakeStripe) -> uvicorn.Config:
    return uvicorn.Config(create_app(fake), log_config=None, access_log=False, lifespan="on")


class RunningFake:
    """The fake on a background thread at `url`; a context manager that stops it on exit."""

    def __init__(self, fake: FakeStripe | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.fake = fake or FakeStripe()
        self._sock = bind(host, port)
        bound_port = self._sock.getsockname()[1]
        self.url = f"http://{host}:{bound_port}"
        self.fake.public_url = self.url
        self._server = uvicorn.Server(_config(self.fake))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True)

    def start(self, timeout_s: float = 10.0) -> RunningFake:
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:  # uvicorn offers no event to wait on; its flag is polled, bounded
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the Stripe fake did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()
        self.fake.store.close()

    def __enter__(self) -> RunningFake:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def serve_forever(fake: FakeStripe, host: str, port: int) -> None:
    """Serves until interrupted; the first line on stdout says where (port 0 picks a free port)."""
    sock = bind(host, port)
    fake.public_url = f"http://{host}:{sock.getsockname()[1]}"
    print(f"stripefake: listening on {fake.public_url}", flush=True)
    uvicorn.Server(_config(fake)).run(sockets=[sock])
