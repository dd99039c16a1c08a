"""Outbound Bot Framework calls: the bot's access token (client-credentials grant against the
token endpoint, cached until shortly before it expires) and the connector REST client that posts
and updates activities under `{serviceUrl}/v3/conversations/{conversationId}/activities`, with
the conversation id URL-encoded and retries with backoff on 429 (honouring Retry-After), 5xx and
transport errors. Failures become `ConnectorError`; neither the password nor a token ever appears
in an error or a log line. May import: httpx and the standard library.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

log = logging.getLogger("chat_platform.teams")

BOT_FRAMEWORK_SCOPE = "https://api.botframework.com/.default"


class ConnectorError(Exception):
    """A connector or token call failed for good (after retries)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class BotCredentials:
    app_id: str
    app_password: str = field(repr=False)
    token_endpoint: str

    def __repr__(self) -> str:  # never print the password
        return f"BotCredentials(app_id={self.app_id!r}, token_endpoint={self.token_endpoint!r})"


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    base_delay_s: float = 0.5
    max_delay_s: float = 8.0

    def delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after:
            try:
                return min(float(retry_after), self.max_delay_s)
            except ValueError:
                pass
        return min(self.base_delay_s * (2**attempt), self.max_delay_s)


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


async def _with_retries(
    policy: RetryPolicy, what: str, call: Callable[[], Awaitable[httpx.Response]]
) -> httpx.Response:
    last_status: int | None = None
    for attempt in range(policy.attempts):
        retry_after: str | None = None
        try:
            response = await call()
        except httpx.HTTPError as exc:
            log.warning("%s failed (%s), attempt %d", what, type(exc).__name__, attempt + 1)
        else:
            if response.status_code < 400:
                return response
            last_status = response.status_code
            if not _retryable(response.status_code):
                raise ConnectorError(f"{what} answered {response.status_code}", status=last_status)
            retry_after = response.headers.get("retry-after")
            log.warning("%s answered %d, attempt %d", what, last_status, attempt + 1)
        if attempt + 1 < policy.attempts:
            await asyncio.sleep(policy.delay(attempt, retry_after))
    detail = f" (last status {last_status})" if last_status else ""
    raise ConnectorError(
        f"{what} failed after {policy.attempts} attempts{detail}", status=last_status
    )


@dataclass
class TokenClient:
    """Access tokens per (token endpoint, app id), reused until 5 minutes before expiry."""

    http: httpx.AsyncClient
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    scope: str = BOT_FRAMEWORK_SCOPE
    _cache: dict[tuple[str, str], tuple[str, float]] = field(default_factory=dict)
    _locks: dict[tuple[str, str], asyncio.Lock] = field(default_factory=dict)

    async def token(self, creds: BotCredentials) -> str:
        key = (creds.token_endpoint, creds.app_id)
        async with self._locks.setdefault(key, asyncio.Lock()):
            cached = self._cache.get(key)
            if cached and cached[1] > time.monotonic():
                return cached[0]
            response = await _with_retries(
                self.retry,
                "token request",
                lambda: self.http.post(
                    creds.token_endpoint,
                    data={
                        "grant_type": "client_credentials",
                        "client_id": creds.app_id,
                        "client_secret": creds.app_password,
                        "scope": self.scope,
                    },
                    timeout=15.0,
                ),
            )
            try:
                body = response.json()
                token = body["access_token"]
                expires_in = float(body.get("expires_in", 3600))
            except (ValueError, KeyError, TypeError):
                raise ConnectorError("token endpoint answered without an access_token") from None
            self._cache[key] = (token, time.monotonic() + max(expires_in - 300, 30))
            return token

    def invalidate(self, creds: BotCredentials) -> None:
        self._cache.pop((creds.token_endpoint, creds.app_id), None)


@dataclass
class ConnectorClient:
    """The connector REST API of one bot, for any serviceUrl it was called from."""

    http: httpx.AsyncClient
    tokens: TokenClient
    creds: BotCredentials
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def _url(self, service_url: str, conversation_id: str, activity_id: str | None) -> str:
        base = f"{service_url.rstrip('/')}/v3/conversations/{quote(conversation_id, safe='')}"
        base += "/activities"
        return f"{base}/{quote(activity_id, safe='')}" if activity_id else base

    async def _call(self, method: str, url: str, activity: dict[str, Any]) -> dict[str, Any]:
        async def call() -> httpx.Response:
            token = await self.tokens.token(self.creds)
            response = await self.http.request(
                method,
                url,
                json=activity,
                headers={"Authorization": f"Bearer {token}"},
                timeout=15.0,
            )
            if response.status_code == 401:  # token revoked or rotated: fetch a new one next try
                self.tokens.invalidate(self.creds)
            return response

        response = await _with_retries(self.retry, f"connector {method}", call)
        try:
            body = response.json()
        except ValueError:
            return {}
        return body if isinstance(body, dict) else {}

    async def send(
        self,
        service_url: str,
        conversation_id: str,
        activity: dict[str, Any],
        *,
        reply_to_id: str | None = None,
    ) -> str | None:
        """Post an activity (as a reply when `reply_to_id`); the new activity's id if given."""
        if reply_to_id:
            activity = {**activity, "replyToId": reply_to_id}
        url = self._url(service_url, conversation_id, reply_to_id)
        body = await self._call("POST", url, activity)
        return body.get("id")

    async def update(
        self, service_url: str, conversation_id: str, activity_id: str, activity: dict[str, Any]
    ) -> None:
        url = self._url(service_url, conversation_id, activity_id)
        await self._call("PUT", url, {**activity, "id": activity_id})
