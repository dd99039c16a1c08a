"""Request bodies of the workflows resource: create (with the LoopLLama `crew` shorthand),
update (including pause/resume through `status`), publish overrides and rollback.

`nodes` / `edges` / `settings` accept a JSON value or the same value stringified, as the spec
allows; either way they are decoded here, so services only ever see lists and dicts.
May import: pydantic and chat_platform.schemas.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AliasChoices, Field, field_validator

from chat_platform.schemas._common import StrictModel, json_array_of_objects, json_object

MAX_NODES = 500
MAX_EDGES = 1000


class CrewMember(StrictModel):
    role: str = Field(min_length=1, max_length=60)
    systemPrompt: str = Field(min_length=1, max_length=8000)  # the wire name
    model: str | None = Field(default=None, min_length=1, max_length=80)


class _Graph(StrictModel):
    nodes: Any = None
    edges: Any = None

    @field_validator("nodes")
    @classmethod
    def _nodes(cls, value: Any) -> list[dict[str, Any]] | None:
        return json_array_of_objects(value, max_items=MAX_NODES)

    @field_validator("edges")
    @classmethod
    def _edges(cls, value: Any) -> list[dict[str, Any]] | None:
        return json_array_of_objects(value, max_items=MAX_EDGES)


class _Definition(_Graph):
    description: str | None = Field(default=None, max_length=2000)
    settings: Any = None

    @field_validator("settings")
    @classmethod
    def _settings(cls, value: Any) -> dict[str, Any] | None:
        return json_object(value)


class WorkflowCreate(_Definition):
    name: str = Field(default="Untitled workflow", min_length=1, max_length=200)
    project_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        validation_alias=AliasChoices("projectId", "project_id"),
    )
    crew: list[CrewMember] | None = Field(default=None, min_length=1, max_length=10)
    model: str | None = Field(default=None, min_length=1, max_length=80)


class WorkflowUpdate(_Definition):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    status: Literal["paused", "live", "active"] | None = None


class WorkflowPublish(_Graph):
    """Optional overrides of the draft's nodes and edges at publish time."""


class WorkflowRollback(StrictModel):
    version: int = Field(ge=1)
