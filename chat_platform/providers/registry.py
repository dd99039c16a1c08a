"""Provider registry for one run: names → ChatModel, built with the run's resolved
credentials (workflow secret > project secret > server env; the caller resolves them).
May import: this package.
"""

from __future__ import annotations

from collections.abc import Mapping

from chat_platform.errors import ProviderError
from chat_platform.providers.anthropic import AnthropicChatModel
from chat_platform.providers.base import ChatModel
from chat_platform.providers.echo import EchoChatModel, EchoTranscriptChatModel
from chat_platform.providers.http11 import Client
from chat_platform.providers.openai import OpenAIChatModel

PROVIDERS = ("echo", "echo-transcript", "openai", "anthropic")


class Registry:
    def __init__(self, client: Client, credentials: Mapping[str, str], timeout_s: float) -> None:
        self._client = client
        self._credentials = credentials
        self._timeout_s = timeout_s
        self._cache: dict[str, ChatModel] = {}

    def get(self, name: str) -> ChatModel:
        model = self._cache.get(name)
        if model is None:
            model = self._cache[name] = self._build(name)
        return model

    def _build(self, name: str) -> ChatModel:
        c = self._credentials
        if name == "echo":
            return EchoChatModel()
        if name == "echo-transcript":
            return EchoTranscriptChatModel()
        if name == "openai":
            return OpenAIChatModel(
                self._client,
                api_key=c.get("OPENAI_API_KEY"),
                base_url=c.get("OPENAI_BASE_URL"),
                timeout_s=self._timeout_s,
            )
        if name == "anthropic":
            return AnthropicChatModel(
                self._client,
                api_key=c.get("ANTHROPIC_API_KEY"),
                base_url=c.get("ANTHROPIC_BASE_URL"),
                timeout_s=self._timeout_s,
            )
        raise ProviderError(f"Unknown provider '{name}' (known: {', '.join(PROVIDERS)})")


def build_registry(
    client: Client, credentials: Mapping[str, str], *, timeout_s: float = 60.0
) -> Registry:
    return Registry(client, credentials, timeout_s)
