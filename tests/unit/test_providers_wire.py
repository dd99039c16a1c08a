"""The remote adapters against local servers speaking the real OpenAI and Anthropic streams."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from chat_platform.errors import ProviderError, ProviderTimeout
from chat_platform.providers import build_registry
from chat_platform.providers.base import ChatChunk, ChatMessage, ChatRequest, TokenUsage
from chat_platform.providers.http11 import Client
from tests.fakes.llm_wire import FakeLLM, serve_fake
from tests.fakes.raw_http import serve

KEY = "sk-test-" + "x1y2z3" * 3
REQ = ChatRequest(
    model="m1",
    messages=[ChatMessage("user", "hi")],
    system="Be brief.",
    temperature=0.2,
    max_tokens=50,
)


async def collect(provider: str, fake: FakeLLM, **creds: str) -> list[ChatChunk]:
    async with Client() as client:
        base = fake.base_url + ("/v1" if provider == "openai" else "")
        name = provider.upper()
        registry = build_registry(
            client, {f"{name}_API_KEY": KEY, f"{name}_BASE_URL": base, **creds}, timeout_s=2
        )
        return [c async for c in registry.get(provider).stream(REQ)]


async def test_openai_stream_body_and_usage() -> None:
    async with serve_fake(FakeLLM(tokens=["Hel", "lo"])) as fake:
        chunks = await collect("openai", fake)
    assert "".join(c.delta for c in chunks) == "Hello"
    assert chunks[-1].usage == TokenUsage(7, 2)
    body, headers = fake.requests[0]["body"], fake.requests[0]["headers"]
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hi"},
    ]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert (body["model"], body["temperature"], body["max_tokens"]) == ("m1", 0.2, 50)
    assert headers["authorization"] == f"Bearer {KEY}"


async def test_anthropic_stream_body_and_usage() -> None:
    async with serve_fake(FakeLLM(tokens=["A", "B", "C"])) as fake:
        chunks = await collect("anthropic", fake)
    assert "".join(c.delta for c in chunks) == "ABC"
    assert chunks[-1].usage == TokenUsage(9, 3)
    body, headers = fake.requests[0]["body"], fake.requests[0]["headers"]
    assert body["system"] == "Be brief." and body["messages"] == [{"role": "user", "content": "hi"}]
    assert body["max_tokens"] == 50 and body["stream"] is True
    assert headers["x-api-key"] == KEY and headers["anthropic-version"] == "2023-06-01"


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
@pytest.mark.parametrize("status", [429, 500, 529])
async def test_retries_before_the_first_token(provider: str, status: int) -> None:
    async with serve_fake(FakeLLM(fail_first=2, fail_status=status)) as fake:
        chunks = await collect(provider, fake)
    assert "".join(c.delta for c in chunks) == "Hello there"
    assert len(fake.requests) == 3


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_errors_carry_status_and_never_the_key(provider: str) -> None:
    async with serve_fake(FakeLLM(fail_first=10, fail_status=401)) as fake:
        with pytest.raises(ProviderError) as info:
            await collect(provider, fake)
    assert info.value.status == 401 and "HTTP 401" in info.value.message
    assert KEY not in str(info.value) and "slow down" in info.value.message
    assert len(fake.requests) == 1  # 401 is not retried


async def test_mid_stream_failures_are_not_retried() -> None:
    async with serve_fake(FakeLLM(tokens=["a", "b", "c"], mid_stream_error=True)) as fake:
        with pytest.raises(ProviderError, match="overloaded_error"):
            await collect("anthropic", fake)
    assert len(fake.requests) == 1
    async with serve_fake(FakeLLM(tokens=["a", "b", "c"], mid_stream_error=True)) as fake:
        with pytest.raises(ProviderError):
            await collect("openai", fake)
    assert len(fake.requests) == 1


async def test_timeout_becomes_provider_timeout() -> None:
    async with serve_fake(FakeLLM(delay_s=5)) as fake, Client() as client:
        registry = build_registry(client, {"OPENAI_BASE_URL": fake.base_url + "/v1"}, timeout_s=0.3)
        with pytest.raises(ProviderTimeout):
            [c async for c in registry.get("openai").stream(REQ)]


async def test_registry_errors() -> None:
    async with Client() as client:
        registry = build_registry(client, {})
        with pytest.raises(ProviderError, match="Unknown provider 'gpt'"):
            registry.get("gpt")
        with pytest.raises(ProviderError, match="no API key"):
            [c async for c in registry.get("openai").stream(REQ)]
        with pytest.raises(ProviderError, match="no API key"):
            [c async for c in registry.get("anthropic").stream(REQ)]


async def test_echo_is_exact_and_validates_delay() -> None:
    async with Client() as client:
        registry = build_registry(client, {})
        text = "  spaced   words\tand tabs  "
        req = ChatRequest(model="", messages=[ChatMessage("user", text)])
        chunks = [c async for c in registry.get("echo").stream(req)]
        assert "".join(c.delta for c in chunks) == text
        assert chunks[-1].usage == TokenUsage(4, 4)
        bad = ChatRequest(model="", messages=[ChatMessage("user", "x")], options={"delay_ms": -1})
        with pytest.raises(ProviderError, match="delay_ms"):
            [c async for c in registry.get("echo").stream(bad)]


def _openai_event(text: str) -> bytes:
    return b'data: {"choices":[{"index":0,"delta":{"content":"%s"}}]}\r\n\r\n' % text.encode()


async def test_deltas_of_one_read_become_one_chunk_and_split_events_are_joined() -> None:
    """Two events in one read are one chunk; an event cut across reads (mid-line and between
    its CR and LF) is parsed whole once complete; a mid-stream error keeps the text before it."""
    third = _openai_event("c")

    async def handler(req: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for part in (
            _openai_event("a") + _openai_event("b"),
            third[:20],
            third[20:-3],
            third[-3:] + b'data: {"error":{"message":"boom"}}\n\n'
            if b"/fail/" in req
            else third[-3:] + b"data: [DONE]\n\n",
        ):
            writer.write(b"%x\r\n%s\r\n" % (len(part), part))
            await writer.drain()
            await asyncio.sleep(0.05)
        writer.write(b"0\r\n\r\n")

    async with serve(handler) as server, Client() as client:
        for path, error in (("/ok/v1", None), ("/fail/v1", "boom")):
            registry = build_registry(
                client, {"OPENAI_BASE_URL": f"http://127.0.0.1:{server.port}{path}"}
            )
            got: list[str] = []
            with pytest.raises(ProviderError, match=error) if error else contextlib.nullcontext():
                async for chunk in registry.get("openai").stream(REQ):
                    got.append(chunk.delta)
            assert got == ["ab", "c"]
