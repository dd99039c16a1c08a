"""Loading resources as a principal sees them: anything outside the key's account or project
scope answers 404 as if absent (never 403, which would confirm it exists).

May import: store, errors, services.auth.
"""

from __future__ import annotations

from typing import TypeVar

from chat_platform.errors import NotFound
from chat_platform.services.auth import Principal
from chat_platform.store.models import Project, Run, Session, TeamsIntegration, Widget, Workflow

Bound = TypeVar("Bound", Widget, TeamsIntegration)


async def get_project(principal: Principal, project_id: str) -> Project:
    project = await Project.get_or_none(id=project_id)
    if project is None or not principal.can_see(project.account_id, project.id):
        raise NotFound("Project does not exist", code="PROJECT_NOT_FOUND")
    return project


async def get_workflow(principal: Principal, workflow_id: str) -> Workflow:
    workflow = await Workflow.get_or_none(id=workflow_id).select_related("project")
    if workflow is None or not principal.can_see(workflow.project.account_id, workflow.project_id):
        raise NotFound("The specified workflow does not exist", code="WORKFLOW_NOT_FOUND")
    return workflow


async def get_published_workflow(principal: Principal, workflow_id: str) -> Workflow:
    """A workflow something can be bound to (a widget, a Teams bot): published at least once."""
    workflow = await get_workflow(principal, workflow_id)
    if workflow.version <= 0:
        raise NotFound("Workflow exists but is not published", code="WORKFLOW_NOT_PUBLISHED")
    return workflow


async def get_session(principal: Principal, session_id: str) -> Session:
    session = await Session.get_or_none(id=session_id).select_related("workflow__project")
    if session is None or not principal.can_see(
        session.workflow.project.account_id, session.workflow.project_id
    ):
        raise NotFound("Session does not exist", code="SESSION_NOT_FOUND")
    return session


async def get_run(principal: Principal, run_id: str) -> Run:
    run = await Run.get_or_none(id=run_id).select_related("workflow__project")
    if run is None or not principal.can_see(run.account_id, run.workflow.project_id):
        raise NotFound("Run not found")
    return run


async def get_bound(
    principal: Principal, model: type[Bound], row_id: str, missing: NotFound
) -> Bound:
    """A row of the key's account bound to one workflow (a widget, a Teams integration):
    visible when that workflow's project is."""
    row = await model.get_or_none(id=row_id, account_id=principal.account_id)
    if row is not None and principal.project_id is not None:
        workflow = await Workflow.get_or_none(id=row.workflow_id).only("id", "project_id")
        if workflow is None or not principal.can_see_project(workflow.project_id):
            row = None
    if row is None:
        raise missing
    return row
