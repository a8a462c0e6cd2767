"""Access control: optional API keys for ``/v1``, a separate admin key for admin endpoints.

Keys come from configuration (``SEGMENTS_API_KEYS``, ``SEGMENTS_ADMIN_KEY``), are held as
``SecretStr`` and never logged. A client sends its key as ``Authorization: Bearer <key>``
or ``X-API-Key: <key>``. Keys are compared in constant time (``hmac.compare_digest``),
against every configured key, so neither the match nor its position leaks through timing.

Status codes:

- 401 with ``WWW-Authenticate: Bearer``: no key sent, or the key is not a valid key at all.
- 403: a valid API key on an admin endpoint, or admin endpoints disabled (no admin key set).
- The admin key is also accepted on ``/v1``; health endpoints are always open.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import Depends
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr

from shopper_segments.app.deps import SettingsDep
from shopper_segments.app.errors import Forbidden, Unauthorized
from shopper_segments.app.responses import Problem

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="segments"'}

# auto_error=False: we raise our own problem+json errors; these only document the schemes.
_bearer = HTTPBearer(auto_error=False, description="an API key (or the admin key) as a bearer token")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="an API key (or the admin key)")

#: ``responses=`` entries for routes behind a key, so errors conform to the OpenAPI schema.
API_KEY_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "no key, or not a valid key"},
}
ADMIN_RESPONSES: dict[int | str, dict[str, Any]] = {
    **API_KEY_RESPONSES,
    403: {"model": Problem, "description": "a valid API key that is not the admin key, or admin disabled"},
}


async def presented_key(
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header: Annotated[str | None, Depends(_header)],
) -> str | None:
    """The key a request carries: the bearer token, else the ``X-API-Key`` header."""
    if bearer is not None and bearer.credentials:
        return bearer.credentials.strip()
    return header.strip() if header else None


def matches(key: str, secrets: Iterable[SecretStr | None]) -> bool:
    """Whether ``key`` equals one of ``secrets``, comparing against all of them in constant time."""
    given = key.encode("utf-8")
    found = False
    for secret in secrets:
        if secret is not None:
            found |= hmac.compare_digest(given, secret.get_secret_value().encode("utf-8"))
    return found


async def require_api_key(settings: SettingsDep, key: Annotated[str | None, Depends(presented_key)]) -> None:
    """Guard of the ``/v1`` endpoints: open when no API keys are configured."""
    if not settings.api_keys:
        return
    if key is None:
        raise Unauthorized("an API key is required: send 'Authorization: Bearer <key>'", headers=CHALLENGE)
    if not matches(key, [*settings.api_keys, settings.admin_key]):
        raise Unauthorized("the API key is not valid", headers=CHALLENGE)


async def require_admin(settings: SettingsDep, key: Annotated[str | None, Depends(presented_key)]) -> None:
    """Guard of the admin endpoints: only the admin key passes."""
    if settings.admin_key is None:
        raise Forbidden("admin endpoints are disabled: no admin key is configured (SEGMENTS_ADMIN_KEY)")
    if key is None:
        raise Unauthorized("the admin key is required: send 'Authorization: Bearer <key>'", headers=CHALLENGE)
    if matches(key, [settings.admin_key]):
        return
    if matches(key, settings.api_keys):
        raise Forbidden("this API key may not use admin endpoints; the admin key is required")
    raise Unauthorized("the key is not valid", headers=CHALLENGE)


ApiKeyDep = Annotated[None, Depends(require_api_key)]
AdminDep = Annotated[None, Depends(require_admin)]
