"""The S3-compatible blob store against a local S3-compatible server (moto in server mode), through the
real boto3 client: no mock of the SDK."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import boto3
import pytest
from moto.server import ThreadedMotoServer

from marketplace.blobs_s3 import S3BlobStore
from marketplace.clock import ManualClock
from marketplace.settings import SettingsError, load_settings
from tests.conftest import make_settings
from tests.helpers import running_app

JPEG = b"\xff\xd8\xff\xe0" + b"\x01" * 64


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def store(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> S3BlobStore:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    client = boto3.client("s3", endpoint_url=endpoint, region_name="eu-west-1")
    if "proof" not in [b["Name"] for b in client.list_buckets()["Buckets"]]:
        client.create_bucket(Bucket="proof", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    return S3BlobStore.connect(bucket="proof", endpoint_url=endpoint, region="eu-west-1")


async def test_a_photo_round_trips_by_its_hash(store: S3BlobStore) -> None:
    sha256 = hashlib.sha256(JPEG).hexdigest()
    assert await store.get(sha256) is None
    await store.put(sha256, JPEG)
    await store.put(sha256, JPEG)  # content addressed: writing it again changes nothing
    assert await store.get(sha256) == JPEG
    assert await store.get("0" * 64) is None
    assert await store.get("not-a-hash") is None


async def test_the_application_keeps_photos_in_the_bucket_with_blob_store_s3(
    store: S3BlobStore, endpoint: str, database_url: str, clock: ManualClock
) -> None:
    settings = make_settings(
        database_url, blob_store="s3", s3_bucket="proof", s3_endpoint_url=endpoint, s3_region="eu-west-1"
    )
    async with running_app(settings, clock) as (app, gql):
        token = (await gql.session("courier@example.com"))["accessToken"]
        response = await gql.client.post("/uploads/photos", content=JPEG, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 201
        sha256 = response.json()["hash"]
        assert await store.get(sha256) == JPEG
        url = app.state.services.delivery.photo_url(sha256)
        read = await gql.client.get(url)
        assert read.status_code == 200
        assert read.content == JPEG


def test_blob_store_s3_needs_a_bucket() -> None:
    with pytest.raises(SettingsError, match="S3_BUCKET"):
        load_settings(blob_store="s3")
