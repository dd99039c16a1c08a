"""The model port: what the engine needs from a chat model, and nothing more.

`ChatModel.stream(request)` yields `ChatChunk`s: text deltas, and (usually last) one chunk
carrying token usage. Implementations live beside this module (echo, openai, anthropic) and
raise only `ProviderError` / `ProviderTimeout` from `chat_platform.errors`; no transport exception
ever leaves `providers/`. May import: the standard library and `chat_platform.errors`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol


class ChatMessage(NamedTuple):
    """One message of a conversation (a named tuple: a turn builds dozens of them)."""

    role: str  # "system" | "user" | "assistant"
    content: str


@dataclass(frozen=True, slots=True)
class TokenUsage:
    input: int = 0
    output: int = 0

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(self.input + other.input, self.output + other.output)

    def as_dict(self) -> dict[str, int]:
        return {"input": self.input, "output": self.output}


@dataclass(frozen=True, slots=True)
class ChatRequest:
    model: str
    messages: list[ChatMessage]
    system: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    # Extra node data the adapter may honour (e.g. echo's delay_ms); never credentials.
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ChatChunk:
    delta: str = ""
    usage: TokenUsage | None = None


class ChatModel(Protocol):
    """One provider adapter. `stream` is an async generator of chunks."""

    def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]: ...


class ProviderRegistry(Protocol):
    """Resolves a node's `provider` name to a ChatModel; raises ProviderError if unknown."""

    def get(self, name: str) -> ChatModel: ...
