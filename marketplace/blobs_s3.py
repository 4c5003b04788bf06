"""The S3-compatible blob store for deployments (AWS S3, MinIO, Ceph, R2...), behind `BlobStore`.

The only module that imports boto3. boto3 is synchronous, so each call runs in a worker thread;
objects are named `<prefix><sha256>` and written once (content addressing makes a rewrite a no-op).
"""

from __future__ import annotations

import asyncio
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError


class S3BlobStore:
    def __init__(self, client: Any, bucket: str, prefix: str = "photos/") -> None:
        self._client = client
        self._bucket = bucket
        self._prefix = prefix

    @classmethod
    def connect(cls, *, bucket: str, endpoint_url: str | None = None, region: str | None = None) -> S3BlobStore:
        """Credentials come the usual boto3 way (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, a role...)."""
        client = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            config=Config(retries={"max_attempts": 3, "mode": "standard"}, s3={"addressing_style": "path"}),
        )
        return cls(client, bucket)

    def _key(self, sha256: str) -> str:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError("not a SHA-256 hex digest")
        return self._prefix + sha256

    def _put(self, sha256: str, data: bytes) -> None:
        key = self._key(sha256)
        if self._head(key):
            return
        self._client.put_object(Bucket=self._bucket, Key=key, Body=data)

    def _head(self, key: str) -> bool:
        try:
            self._client.head_object(Bucket=self._bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def _get(self, sha256: str) -> bytes | None:
        try:
            response = self._client.get_object(Bucket=self._bucket, Key=self._key(sha256))
        except ValueError:
            return None
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        body: bytes = response["Body"].read()
        return body

    async def put(self, sha256: str, data: bytes) -> None:
        await asyncio.to_thread(self._put, sha256, data)

    async def get(self, sha256: str) -> bytes | None:
        return await asyncio.to_thread(self._get, sha256)
