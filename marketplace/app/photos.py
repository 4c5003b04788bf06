"""Photos over plain HTTP: uploading one (a courier's proof or a retailer's claim photo: a Bearer token, the raw
image as the body) and
reading one through a signed, short-lived URL (what `proof.photoUrl` hands the retailer and operations).
"""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.datastructures import State
from litestar.exceptions import ClientException
from litestar.params import FromPath, FromQuery
from litestar.response import Response

from marketplace.domain.accounts import Role
from marketplace.domain.errors import DomainError
from marketplace.domain.proof import PHOTO_MAX_BYTES
from marketplace.services.container import Services
from marketplace.services.tokens import InvalidTokenError


def _errors(exc: DomainError) -> dict[str, Any]:
    return {"errors": [{"field": e.field, "code": e.code.value, "message": e.message} for e in exc.errors]}


def _error(status: int, code: str, message: str) -> Response[dict[str, Any]]:
    return Response({"errors": [{"field": None, "code": code, "message": message}]}, status_code=status)


# One byte over the limit is still read, so a body of exactly 10 MB passes and 10 MB + 1 is refused by our rule.
@post("/uploads/photos", request_max_body_size=PHOTO_MAX_BYTES + 1, status_code=201)
async def upload_photo(request: Request[Any, Any, State], state: State) -> Response[dict[str, Any]]:
    """Raw JPEG or PNG bytes as the body (any Content-Type); answers `{"hash": <sha256>}` to use in proof."""
    services: Services = state["services"]
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return _error(401, "UNAUTHENTICATED", "a Bearer token is required")
    try:
        principal = await services.accounts.authenticate(token.strip())
    except InvalidTokenError:
        return _error(401, "UNAUTHENTICATED", "the token is not valid")
    if principal.role not in (Role.COURIER, Role.RETAILER, Role.ADMIN):
        return _error(403, "FORBIDDEN", "couriers upload proof photos, retailers a claim's photos")
    try:
        data = await request.body()
    except ClientException:
        return _error(413, "PHOTO_TOO_LARGE", f"a photo is at most {PHOTO_MAX_BYTES} bytes")
    try:
        sha256 = await services.delivery.upload_photo(principal, data)
    except DomainError as exc:
        status = 413 if any(e.code.value == "PHOTO_TOO_LARGE" for e in exc.errors) else 400
        return Response(_errors(exc), status_code=status)
    return Response({"hash": sha256}, status_code=201)


@get("/blobs/photos/{sha256:str}")
async def read_photo(
    sha256: FromPath[str], expires: FromQuery[int], signature: FromQuery[str], state: State
) -> Response[bytes]:
    """Valid until, not including, `expires`; a bad or expired signature is 403."""
    services: Services = state["services"]
    found = await services.delivery.read_photo(sha256, expires, signature)
    if found is None:
        return Response(b"forbidden or expired", status_code=403, media_type="text/plain")
    data, content_type = found
    return Response(data, media_type=content_type, headers={"Cache-Control": "private, max-age=60"})
