"""What a node returns, and the execution surface nodes may use (a Protocol, so node
modules do not import the runner)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from chat_platform.engine.definition import CompiledWorkflow
from chat_platform.engine.events import Event
from chat_platform.providers.base import ChatMessage, ProviderRegistry, TokenUsage


@dataclass(slots=True)
class NodeResult:
    output: Any
    handle: str | None = None  # the chosen handle of a branching node
    usage: TokenUsage | None = None
    pause_prompt: str | None = None  # set by approval: pause here
    finished: bool = False  # set by end: the run's output is `output`


class Execution(Protocol):
    workflow: CompiledWorkflow
    run_id: str
    variables: dict[str, Any]
    messages: list[ChatMessage]
    providers: ProviderRegistry
    provider: str | None
    model: str | None

    async def emit(self, event: Event) -> None: ...

    def context(self, last_output: Any) -> dict[str, Any]: ...
