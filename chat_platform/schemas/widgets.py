"""Request bodies of the widgets resource (DESIGN §6): the workflow a public chat widget talks
to, the browser origins allowed to embed it, and its look (title, greeting, starter prompts,
theme colour, feedback buttons). Origins are normalised here (`https://example.com`, no path,
default ports dropped; `*` and `https://*.example.com` wildcards allowed), so services only ever
see canonical origins. May import: pydantic and chat_platform.schemas.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from chat_platform.schemas._common import StrictModel

MAX_ORIGINS = 50
MAX_STARTER_PROMPTS = 10
_COLOR = re.compile(r"^(#[0-9a-fA-F]{3,8}|[a-zA-Z]{3,20}|(rgb|hsl)a?\([0-9.,% ]{5,40}\))$")
_HOST = re.compile(r"^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def normalize_origin(value: str) -> str:
    """`HTTPS://Example.com:443/` → `https://example.com`; raises ValueError when not an origin."""
    value = value.strip()
    if value == "*":
        return value
    parts = urlsplit(value)
    if parts.scheme.lower() not in _DEFAULT_PORTS or not parts.netloc:
        raise ValueError(f"'{value}' is not an origin like https://example.com")
    if parts.path not in ("", "/") or parts.query or parts.fragment or "@" in parts.netloc:
        raise ValueError(f"'{value}' must be an origin only (scheme, host, port): no path")
    host = parts.hostname or ""
    if not _HOST.match(host):
        raise ValueError(f"'{value}' has an invalid host")
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"'{value}' has an invalid port") from None
    if port == _DEFAULT_PORTS[scheme]:
        port = None
    return f"{scheme}://{host}" + (f":{port}" if port else "")


class WidgetUpdate(StrictModel):
    """PUT body: every field optional; a given field replaces the stored one."""

    workflow_id: str | None = Field(default=None, min_length=1, max_length=64)
    allowed_origins: list[str] | None = Field(default=None, max_length=MAX_ORIGINS)
    title: str | None = Field(default=None, max_length=200)
    greeting: str | None = Field(default=None, max_length=2000)
    starter_prompts: list[str] | None = Field(default=None, max_length=MAX_STARTER_PROMPTS)
    theme_color: str | None = Field(default=None, max_length=32)
    show_feedback: bool | None = None

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        out: list[str] = []
        for item in value:
            if not isinstance(item, str) or len(item) > 300:
                raise ValueError("each origin must be a string of at most 300 characters")
            origin = normalize_origin(item)
            if origin not in out:
                out.append(origin)
        return out

    @field_validator("starter_prompts")
    @classmethod
    def _prompts(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        for item in value:
            if not item.strip() or len(item) > 500:
                raise ValueError("each starter prompt must be 1-500 characters")
        return value

    @field_validator("theme_color")
    @classmethod
    def _color(cls, value: str | None) -> str | None:
        if value is not None and not _COLOR.match(value):
            raise ValueError("must be a CSS colour such as #2563eb")
        return value


class WidgetCreate(WidgetUpdate):
    workflow_id: str = Field(min_length=1, max_length=64)
