"""Inbound authentication of Bot Framework requests: the channel's RS256 JWT is checked against
the signing keys published by the OpenID metadata document (cached per metadata URL, refetched
once when an unknown `kid` shows up, at most once per `min_refresh_s`), then issuer, audience
(the bot's app id), expiry/not-before with a small leeway, the key's endorsements (must contain
the activity's channelId) and the `serviceurl` claim (must equal the activity's serviceUrl).
Every failure is a `TeamsAuthError` whose message never contains the token.
May import: httpx, PyJWT and the standard library.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt

BOT_FRAMEWORK_ISSUER = "https://api.botframework.com"
CLOCK_SKEW_S = 300


class TeamsAuthError(Exception):
    """The request is not a valid Bot Framework call for this bot (answered 401)."""


@dataclass
class _KeySet:
    issuer: str | None
    keys: dict[str, dict[str, Any]]
    fetched_at: float


@dataclass
class JwksCache:
    """Signing keys by metadata URL. `ttl_s`: keys are refetched after a day anyway."""

    http: httpx.AsyncClient
    ttl_s: float = 24 * 3600
    min_refresh_s: float = 30.0
    _sets: dict[str, _KeySet] = field(default_factory=dict)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    async def _fetch(self, metadata_url: str) -> _KeySet:
        try:
            meta = (await self.http.get(metadata_url, timeout=10.0)).raise_for_status().json()
            jwks_uri = meta["jwks_uri"]
            jwks = (await self.http.get(jwks_uri, timeout=10.0)).raise_for_status().json()
        except (httpx.HTTPError, KeyError, ValueError, TypeError) as exc:
            raise TeamsAuthError(
                f"cannot load the OpenID signing keys: {type(exc).__name__}"
            ) from None
        keys = {k["kid"]: k for k in jwks.get("keys", []) if isinstance(k, dict) and "kid" in k}
        return _KeySet(meta.get("issuer"), keys, time.monotonic())

    async def get(self, metadata_url: str, kid: str) -> tuple[dict[str, Any], str | None]:
        """The JWK for `kid` and the metadata's issuer; refetch once on an unknown kid."""
        lock = self._locks.setdefault(metadata_url, asyncio.Lock())
        async with lock:
            ks = self._sets.get(metadata_url)
            now = time.monotonic()
            stale = ks is None or now - ks.fetched_at > self.ttl_s
            unknown = ks is not None and kid not in ks.keys
            if stale or (unknown and now - ks.fetched_at >= self.min_refresh_s):
                ks = await self._fetch(metadata_url)
                self._sets[metadata_url] = ks
            assert ks is not None
            key = ks.keys.get(kid)
            if key is None:
                raise TeamsAuthError("unknown signing key")
            return key, ks.issuer

    def forget(self) -> None:
        self._sets.clear()


def allowed_issuers(tenant_id: str | None, metadata_issuer: str | None) -> set[str]:
    issuers = {BOT_FRAMEWORK_ISSUER}
    if metadata_issuer:
        issuers.add(metadata_issuer)
    if tenant_id:
        issuers.add(f"https://sts.windows.net/{tenant_id}/")
        issuers.add(f"https://login.microsoftonline.com/{tenant_id}/v2.0")
    return issuers


def _same_url(a: str, b: str) -> bool:
    return a.rstrip("/").lower() == b.rstrip("/").lower()


async def verify_request(
    authorization: str | None,
    activity: dict[str, Any],
    *,
    app_id: str,
    tenant_id: str | None,
    metadata_url: str,
    keys: JwksCache,
    leeway_s: int = CLOCK_SKEW_S,
) -> dict[str, Any]:
    """The verified claims of the bearer token for `activity`, or TeamsAuthError."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise TeamsAuthError("missing bearer token")
    token = token.strip()
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise TeamsAuthError("malformed token") from None
    if header.get("alg") != "RS256" or not isinstance(header.get("kid"), str):
        raise TeamsAuthError("unsupported token algorithm")
    jwk, metadata_issuer = await keys.get(metadata_url, header["kid"])
    channel_id = activity.get("channelId")
    endorsements = jwk.get("endorsements")
    if endorsements is not None and channel_id not in endorsements:
        raise TeamsAuthError("the signing key is not endorsed for this channel")
    try:
        public_key = jwt.PyJWK.from_json(json.dumps(jwk), algorithm="RS256").key
        claims = jwt.decode(
            token,
            public_key,
            algorithms=["RS256"],
            audience=app_id,
            leeway=leeway_s,
            options={"require": ["exp", "iss", "aud"]},
        )
    except jwt.ExpiredSignatureError:
        raise TeamsAuthError("token expired") from None
    except jwt.InvalidAudienceError:
        raise TeamsAuthError("token audience is not this bot") from None
    except jwt.PyJWTError as exc:
        raise TeamsAuthError(f"invalid token: {type(exc).__name__}") from None
    if claims.get("iss") not in allowed_issuers(tenant_id, metadata_issuer):
        raise TeamsAuthError("untrusted token issuer")
    service_url = activity.get("serviceUrl")
    claim = claims.get("serviceurl") or claims.get("serviceUrl")
    if not isinstance(service_url, str) or not isinstance(claim, str):
        raise TeamsAuthError("serviceUrl claim missing")
    if not _same_url(claim, service_url):
        raise TeamsAuthError("serviceUrl does not match the token")
    return claims
