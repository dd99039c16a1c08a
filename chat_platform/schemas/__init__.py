"""Wire shapes of request bodies (pydantic v2), one module per resource; shared by HTTP, WS
and the OpenAPI document. Unknown fields are ignored, types are strict.

May import: pydantic only.
"""

from chat_platform.schemas.keys import KeyCreate
from chat_platform.schemas.projects import ProjectCreate, ProjectUpdate
from chat_platform.schemas.secrets import SecretCreate
from chat_platform.schemas.sessions import SessionCreate
from chat_platform.schemas.workflows import (
    CrewMember,
    WorkflowCreate,
    WorkflowPublish,
    WorkflowRollback,
    WorkflowUpdate,
)

__all__ = [
    "CrewMember",
    "KeyCreate",
    "ProjectCreate",
    "ProjectUpdate",
    "SecretCreate",
    "SessionCreate",
    "WorkflowCreate",
    "WorkflowPublish",
    "WorkflowRollback",
    "WorkflowUpdate",
]
