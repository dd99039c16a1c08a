"""The workflow engine: compiled definitions, the runner, events and resumable state.
Free of HTTP and ORM; talks to models only through `chat_platform.providers.base`.
"""

from chat_platform.engine.definition import CompiledWorkflow, compile_workflow
from chat_platform.engine.events import Event
from chat_platform.engine.runner import (
    EngineLimits,
    RunOutcome,
    WorkflowRun,
    resume_run,
    start_run,
)
from chat_platform.engine.state import RunState, StateAlreadyResumed

__all__ = [
    "CompiledWorkflow",
    "EngineLimits",
    "Event",
    "RunOutcome",
    "RunState",
    "StateAlreadyResumed",
    "WorkflowRun",
    "compile_workflow",
    "resume_run",
    "start_run",
]
