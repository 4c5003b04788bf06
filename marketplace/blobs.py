"""Blobs (proof photos) by content hash behind a small interface, and short-lived signed URLs to read them.

`LocalBlobStore` keeps them in a folder (the default); a deployment plugs an S3-compatible adapter
in behind the same `BlobStore` protocol. Nothing here knows about parcels or users.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Protocol


class BlobStore(Protocol):
    async def put(self, sha256: str, data: bytes) -> None: ...

    async def get(self, sha256: str) -> bytes | None: ...


def _valid(sha256: str) -> bool:
    return len(sha256) == 64 and all(c in "0123456789abcdef" for c in sha256)


class LocalBlobStore:
    """Files named by their hash under two levels of fan-out; written atomically (temp file, rename)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self._root = Path(root)

    def _path(self, sha256: str) -> Path:
        if not _valid(sha256):
            raise ValueError("not a SHA-256 hex digest")
        return self._root / sha256[:2] / sha256[2:4] / sha256

    def _put(self, sha256: str, data: bytes) -> None:
        path = self._path(sha256)
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _get(self, sha256: str) -> bytes | None:
        try:
            return self._path(sha256).read_bytes()
        except (FileNotFoundError, ValueError):
            return None

    async def put(self, sha256: str, data: bytes) -> None:
        await asyncio.to_thread(self._put, sha256, data)

    async def get(self, sha256: str) -> bytes | None:
        return await asyncio.to_thread(self._get, sha256)


class UrlSigner:
    """`/blobs/photos/<hash>?expires=<unix s>&signature=<hmac>`: good until, not including, `expires`."""

    PATH = "/blobs/photos/"

    def __init__(self, key: bytes, ttl_s: int) -> None:
        self._key = key
        self._ttl_s = ttl_s

    def _signature(self, sha256: str, expires: int) -> str:
        return hmac.new(self._key, f"{sha256}:{expires}".encode(), hashlib.sha256).hexdigest()

    def url(self, sha256: str, now: datetime) -> str:
        expires = int(now.timestamp()) + self._ttl_s
        return f"{self.PATH}{sha256}?expires={expires}&signature={self._signature(sha256, expires)}"

    def valid(self, sha256: str, expires: int, signature: str, now: datetime) -> bool:
        if now.timestamp() >= expires:
            return False
        return hmac.compare_digest(self._signature(sha256, expires), signature)
