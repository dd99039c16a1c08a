"""Widget visitors: who is chatting through a public widget, proven by a visitor token.

Two kinds of token, told apart by their shape:

- anonymous (`v1.<visitor_id>.<mac>`): issued by the server on the first `auth` without a
  token; an HMAC-SHA256 of the widget id and a random `vis_…` id under a key derived from the
  server secret. The browser keeps it (localStorage) so the same session comes back after a
  reload, and nobody without the token can open that visitor's sessions.
- identified (a compact JWT, HS256): signed by the embedding site's backend with the widget's
  signing secret; claims `sub` (the site's user id, required), `exp` (required, at most
  `MAX_SIGNED_LIFETIME_S` ahead), optional `aud` (must then be the widget id). The same `sub`
  maps to the same visitor on any device.

A visitor owns sessions through `Session.owner_key = "visitor:{widget_id}:{visitor_id}"`.
May import: PyJWT, errors, ids and the standard library.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Literal

import jwt

from chat_platform.errors import Unauthorized
from chat_platform.ids import has_prefix, new_id

MAX_SIGNED_LIFETIME_S = 24 * 3600
CLOCK_LEEWAY_S = 30
SIGNING_SECRET_PREFIX = "wgs_"
_ANON_PREFIX = "v1."


@dataclass(frozen=True, slots=True)
class Visitor:
    widget_id: str
    visitor_id: str  # vis_… (anonymous) or user:<sub> (identified by the site)
    kind: Literal["anonymous", "identified"]

    @property
    def owner_key(self) -> str:
        return f"visitor:{self.widget_id}:{self.visitor_id}"


def new_signing_secret() -> str:
    return SIGNING_SECRET_PREFIX + secrets.token_urlsafe(32)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _anon_mac(server_key: bytes, widget_id: str, visitor_id: str) -> str:
    key = hmac.new(server_key, b"chat-platform anonymous visitor tokens v1", hashlib.sha256)
    mac = hmac.new(key.digest(), f"{widget_id}\n{visitor_id}".encode(), hashlib.sha256)
    return _b64(mac.digest())


def issue_anonymous(server_key: bytes, widget_id: str) -> tuple[Visitor, str]:
    """A new anonymous visitor of the widget and the token that proves it."""
    visitor_id = new_id("vis")
    token = f"{_ANON_PREFIX}{visitor_id}.{_anon_mac(server_key, widget_id, visitor_id)}"
    return Visitor(widget_id, visitor_id, "anonymous"), token


def sign_visitor_token(
    signing_secret: str, user_id: str, *, ttl_s: int = 3600, widget_id: str | None = None
) -> str:
    """What a site's backend does (in any JWT library): HS256 over {sub, exp[, aud]}."""
    claims: dict[str, object] = {"sub": user_id, "iat": int(time.time())}
    claims["exp"] = claims["iat"] + ttl_s  # type: ignore[operator]
    if widget_id:
        claims["aud"] = widget_id
    return jwt.encode(claims, signing_secret, algorithm="HS256")


def _invalid(message: str = "Visitor token is invalid or expired") -> Unauthorized:
    return Unauthorized(message, code="INVALID_VISITOR_TOKEN")


def _verify_anonymous(server_key: bytes, widget_id: str, token: str) -> Visitor:
    parts = token.split(".")
    if len(parts) != 3 or not has_prefix(parts[1], "vis"):
        raise _invalid()
    visitor_id, mac = parts[1], parts[2]
    if not mac:
        raise _invalid()
    if not hmac.compare_digest(mac, _anon_mac(server_key, widget_id, visitor_id)):
        raise _invalid()
    return Visitor(widget_id, visitor_id, "anonymous")


def _verify_signed(signing_secret: str, widget_id: str, token: str) -> Visitor:
    try:
        claims = jwt.decode(
            token,
            signing_secret,
            algorithms=["HS256"],
            options={"require": ["exp", "sub"], "verify_aud": False},
            leeway=CLOCK_LEEWAY_S,
        )
    except jwt.PyJWTError:
        raise _invalid() from None
    sub = claims.get("sub")
    if not isinstance(sub, str) or not 0 < len(sub) <= 128:
        raise _invalid("Visitor token 'sub' must be a string of 1-128 characters")
    if "aud" in claims and claims["aud"] != widget_id:
        raise _invalid("Visitor token was signed for another widget")
    exp = claims["exp"]
    if not isinstance(exp, int | float) or exp > time.time() + MAX_SIGNED_LIFETIME_S + 60:
        raise _invalid(f"Visitor token must expire within {MAX_SIGNED_LIFETIME_S} seconds")
    return Visitor(widget_id, f"user:{sub}", "identified")


def verify_visitor_token(
    token: str, *, widget_id: str, server_key: bytes, signing_secret: str
) -> Visitor:
    """The visitor a token proves, or Unauthorized(INVALID_VISITOR_TOKEN)."""
    if not isinstance(token, str) or not token or len(token) > 4096:
        raise _invalid()
    if token.startswith(_ANON_PREFIX):
        return _verify_anonymous(server_key, widget_id, token)
    return _verify_signed(signing_secret, widget_id, token)
