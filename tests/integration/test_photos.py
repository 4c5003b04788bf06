"""Proof photos over HTTP: checked by their bytes, at most 10 MB, read back only through a signed URL
that expires."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

from marketplace.clock import ManualClock
from marketplace.domain.accounts import Role
from marketplace.domain.proof import PHOTO_MAX_BYTES
from marketplace.services.container import Services
from tests.helpers import PASSWORD, GraphQL

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 100


async def upload(gql: GraphQL, token: str | None, body: bytes) -> tuple[int, dict[str, object]]:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    response = await gql.client.post("/uploads/photos", content=body, headers=headers)
    return response.status_code, response.json()


async def test_only_jpeg_and_png_bytes_up_to_ten_megabytes(gql: GraphQL) -> None:
    token = (await gql.session("courier@example.com"))["accessToken"]
    status, body = await upload(gql, token, b"GIF89a" + b"\x00" * 100)
    assert (status, body["errors"][0]["code"]) == (400, "INVALID_PHOTO")  # type: ignore[index]
    status, body = await upload(gql, token, b"%PDF-1.7 image/png")
    assert status == 400
    too_big = b"\x89PNG\r\n\x1a\n" + b"\x00" * (PHOTO_MAX_BYTES - 7)
    status, body = await upload(gql, token, too_big)
    assert (status, body["errors"][0]["code"]) == (413, "PHOTO_TOO_LARGE")  # type: ignore[index]
    status, body = await upload(gql, token, too_big[:PHOTO_MAX_BYTES])
    assert status == 201
    status, body = await upload(gql, token, JPEG)
    assert status == 201
    import hashlib

    assert body == {"hash": hashlib.sha256(JPEG).hexdigest()}


async def test_uploading_needs_a_courier_or_a_retailer(gql: GraphQL, services: Services) -> None:
    """Couriers upload proof of delivery, retailers the photos of a claim; finance uploads nothing."""
    assert (await upload(gql, None, JPEG))[0] == 401
    shop = (await gql.session("shop@example.com", "RETAILER", organization="Shop"))["accessToken"]
    assert (await upload(gql, shop, JPEG))[0] == 201
    await services.accounts.create_user(email="finance@example.com", password=PASSWORD, role=Role.FINANCE)
    finance = (await gql.login("finance@example.com"))["session"]["accessToken"]
    assert (await upload(gql, finance, JPEG))[0] == 403


async def test_a_signed_url_reads_the_photo_until_it_expires(
    gql: GraphQL, services: Services, clock: ManualClock
) -> None:
    token = (await gql.session("courier@example.com"))["accessToken"]
    _, body = await upload(gql, token, JPEG)
    sha256 = str(body["hash"])
    url = services.delivery.photo_url(sha256)
    ok = await gql.client.get(url)
    assert ok.status_code == 200
    assert ok.content == JPEG
    query = parse_qs(urlsplit(url).query)
    tampered = await gql.client.get(
        f"{urlsplit(url).path}?expires={int(query['expires'][0]) + 60}&signature={query['signature'][0]}"
    )
    assert tampered.status_code == 403
    clock.advance(timedelta(seconds=services.settings.photo_url_ttl_s - 1))
    assert (await gql.client.get(url)).status_code == 200
    clock.advance(timedelta(seconds=1))
    assert (await gql.client.get(url)).status_code == 403
