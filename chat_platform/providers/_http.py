"""Shared plumbing of the remote adapters: POST a streaming request with retries (429/5xx/529,
honouring Retry-After, only before the first token), SSE line parsing, and translation of
every transport failure into ProviderError / ProviderTimeout with credentials scrubbed.
May import: the standard library, chat_platform.errors/json_codec, providers.base/http11.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from chat_platform import json_codec
from chat_platform.errors import ProviderError, ProviderTimeout
from chat_platform.providers.base import ChatChunk, TokenUsage
from chat_platform.providers.http11 import Client, Response, TransportError

RETRYABLE = {429, 500, 502, 503, 504, 529}
MAX_RETRY_AFTER_S = 10.0


def scrub(text: str, secrets: list[str | None]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _error_message(name: str, response_text: str, status: int, secrets: list[str | None]) -> str:
    detail = response_text
    try:
        body = json_codec.loads(response_text)
        err = body.get("error") if isinstance(body, dict) else None
        if isinstance(err, dict):
            detail = str(err.get("message") or err)
        elif isinstance(err, str):
            detail = err
    except ValueError:
        pass
    return f"{name}: HTTP {status}: {scrub(detail, secrets)[:300]}"


def _retry_after(response: Response, attempt: int) -> float:
    raw = response.headers.get("retry-after")
    try:
        return min(float(raw), MAX_RETRY_AFTER_S) if raw else min(0.5 * 2**attempt, 4.0)
    except ValueError:
        return min(0.5 * 2**attempt, 4.0)


@asynccontextmanager
async def open_stream(
    client: Client,
    name: str,
    url: str,
    *,
    headers: dict[str, str],
    body: dict[str, Any],
    timeout_s: float,
    max_retries: int,
    secrets: list[str | None],
) -> AsyncIterator[Response]:
    """A 2xx streaming response, after retries. Errors: ProviderError / ProviderTimeout."""
    payload = json_codec.dumps_bytes(body)
    headers = {"content-type": "application/json", **headers}
    attempt = 0
    while True:
        try:
            response = await client.stream(
                "POST",
                url,
                headers=headers,
                body=payload,
                connect_timeout=min(timeout_s, 10.0),
                read_timeout=timeout_s,
            )
        except TimeoutError:
            if attempt < max_retries:
                attempt += 1
                continue
            raise ProviderTimeout(f"{name}: provider timeout") from None
        except TransportError as exc:
            if attempt < max_retries:
                attempt += 1
                await asyncio.sleep(min(0.5 * 2**attempt, 4.0))
                continue
            raise ProviderError(
                f"{name}: {scrub(str(exc), secrets)[:300]}", retryable=True
            ) from None
        if response.status_code < 400:
            break
        try:
            text = (await response.aread()).decode("utf-8", "replace")
        except (TimeoutError, TransportError):
            text = ""
        finally:
            await response.aclose()
        if response.status_code in RETRYABLE and attempt < max_retries:
            await asyncio.sleep(_retry_after(response, attempt))
            attempt += 1
            continue
        raise ProviderError(
            _error_message(name, text, response.status_code, secrets),
            status=response.status_code,
            retryable=response.status_code in RETRYABLE,
        )
    try:
        yield response
    except TimeoutError:
        raise ProviderTimeout(f"{name}: provider timeout") from None
    except TransportError as exc:
        raise ProviderError(
            f"{name}: stream interrupted: {scrub(str(exc), secrets)[:200]}", retryable=True
        ) from None
    finally:
        await response.aclose()


async def sse_batches(response: Response) -> AsyncIterator[list[tuple[str | None, str]]]:
    """(event name, data) pairs of an SSE body, grouped by the network read that completed
    them; comments and blank keep-alives skipped."""
    event: str | None = None
    data: list[str] = []
    pending = b""

    def parse(lines: list[bytes], batch: list[tuple[str | None, str]]) -> None:
        nonlocal event, data
        for raw in lines:
            line = raw.decode("utf-8", "replace")
            if not line:
                if data:
                    batch.append((event, "\n".join(data)))
                event, data = None, []
                continue
            if line.startswith(":"):
                continue
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "event":
                event = value
            elif field == "data":
                data.append(value)

    async for piece in response.aiter_bytes():
        pending += piece
        cut = max(pending.rfind(b"\n"), pending.rfind(b"\r", 0, len(pending) - 1))
        if cut < 0:
            continue
        complete, pending = pending[: cut + 1], pending[cut + 1 :]
        batch: list[tuple[str | None, str]] = []
        parse(complete.splitlines(), batch)
        if batch:
            yield batch
    batch = []
    parse([*pending.splitlines(), b""], batch)
    if batch:
        yield batch


# An adapter's reading of one SSE event: the chunks it carries, or None when the stream is over.
EventParser = Callable[[str | None, str], list[ChatChunk] | None]


async def read_chunks(response: Response, parse: EventParser) -> AsyncIterator[ChatChunk]:
    """The chunks of an SSE body: the text of one network read as ONE chunk (it arrived
    together: with a fast model, 20 tokens come in a few reads, and each chunk becomes an event
    that goes all the way to the browser), then the usage it carried. Text read before a
    ProviderError is yielded first, so a failed turn keeps it as partial text."""
    async for batch in sse_batches(response):
        text: list[str] = []
        usage: TokenUsage | None = None
        failure: ProviderError | None = None
        done = False
        for event, data in batch:
            try:
                chunks = parse(event, data)
            except ProviderError as exc:
                failure = exc
                break
            if chunks is None:
                done = True
                break
            for chunk in chunks:
                if chunk.delta:
                    text.append(chunk.delta)
                usage = chunk.usage or usage
        if text:
            yield ChatChunk(delta="".join(text))
        if failure is not None:
            raise failure
        if usage is not None:
            yield ChatChunk(usage=usage)
        if done:
            return
