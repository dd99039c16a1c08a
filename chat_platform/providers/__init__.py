"""Model providers: the `ChatModel` port and its adapters (echo, openai, anthropic)."""

from chat_platform.providers.anthropic import AnthropicChatModel
from chat_platform.providers.echo import EchoChatModel, EchoTranscriptChatModel
from chat_platform.providers.openai import OpenAIChatModel
from chat_platform.providers.registry import PROVIDERS, build_registry

__all__ = [
    "PROVIDERS",
    "AnthropicChatModel",
    "EchoChatModel",
    "EchoTranscriptChatModel",
    "OpenAIChatModel",
    "build_registry",
]
