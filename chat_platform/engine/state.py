"""Run state: everything a paused run needs to resume in any process, as plain JSON.

`RunState.to_json()` / `from_json()` round-trip through json.dumps; `claim()` guards against
resuming the same state object twice (the service also claims the run row in the database).
May import: the standard library and chat_platform.errors.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from chat_platform.errors import ChatPlatformError

STATE_VERSION = 1


class StateAlreadyResumed(ChatPlatformError):
    """This paused state has already been resumed."""


@dataclass
class RunState:
    run_id: str
    workflow_id: str
    variables: dict[str, Any]
    messages: list[dict[str, str]]
    last_output: Any = None
    node_id: str | None = None  # the approval node it is paused at
    prev_node_id: str | None = None
    trace: list[dict[str, Any]] = field(default_factory=list)
    executed: list[str] = field(default_factory=list)
    tokens: dict[str, int] = field(default_factory=lambda: {"input": 0, "output": 0})
    duration_ms: int = 0
    loop_counts: dict[str, int] = field(default_factory=dict)
    steps: int = 0
    provider: str | None = None
    model: str | None = None
    version: int = STATE_VERSION
    resumed: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunState:
        if data.get("version") != STATE_VERSION:
            raise ChatPlatformError(f"unsupported run state version {data.get('version')!r}")
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def claim(self) -> None:
        if self.resumed:
            raise StateAlreadyResumed("this paused run has already been resumed")
        self.resumed = True
