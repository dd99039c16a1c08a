"""agent / llm: one model call, streamed. The system prompt is the rendered `instructions`;
the messages are the whole conversation (history + input) when `include_history` (default),
else the last user message; then the rendered `prompt` if set, or else — when the previous
node is not the start — the previous output as a user message (how a crew passes work on).
Each chunk becomes a `node:text-delta`; `output: "json"` parses the text into an object."""

from __future__ import annotations

import json
from typing import Any

from chat_platform.engine.definition import Node
from chat_platform.engine.events import NodeTextDelta
from chat_platform.engine.nodes.base import Execution, NodeResult
from chat_platform.errors import ExpressionError
from chat_platform.expressions import stringify
from chat_platform.providers.base import ChatMessage, ChatRequest, TokenUsage


async def execute(ex: Execution, node: Node, last_output: Any, prev: str | None) -> NodeResult:
    d = node.data
    context = ex.context(last_output)
    system = stringify(ex.workflow.render(node.id, "instructions", context)) or None
    if d.get("include_history", True):
        messages = list(ex.messages)
    else:
        last = next((m for m in reversed(ex.messages) if m.role == "user"), None)
        messages = [last] if last else []
    if (node.id, "prompt") in ex.workflow.templates:
        messages.append(
            ChatMessage("user", stringify(ex.workflow.render(node.id, "prompt", context)))
        )
    elif prev is not None and ex.workflow.nodes[prev].kind != "start":
        messages.append(ChatMessage("user", stringify(last_output)))
    provider = str(d.get("provider") or "echo")
    model_name = str(d.get("model") or "")
    options = {k: d[k] for k in ("delay_ms",) if k in d}
    request = ChatRequest(
        model=model_name,
        messages=messages,
        system=system,
        temperature=d.get("temperature"),
        max_tokens=d.get("max_tokens"),
        options=options,
    )
    model = ex.providers.get(provider)
    ex.provider, ex.model = provider, model_name or None
    parts: list[str] = []
    usage = TokenUsage()
    async for chunk in model.stream(request):
        if chunk.delta:
            parts.append(chunk.delta)
            await ex.emit(NodeTextDelta(ex.run_id, node.id, node.type, node.label, chunk.delta))
        if chunk.usage is not None:
            usage = usage + chunk.usage
    text = "".join(parts)
    ex.partial_text = text  # type: ignore[attr-defined]
    if d.get("output") == "json":
        try:
            return NodeResult(json.loads(text), usage=usage)
        except json.JSONDecodeError:
            raise ExpressionError("the model's answer is not valid JSON") from None
    return NodeResult(text, usage=usage)
