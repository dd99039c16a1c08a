"""Loading resources as a principal sees them: anything outside the key's account or project
scope answers 404 as if absent (never 403, which would confirm it exists).

May import: store, errors, services.auth.
"""

from __future__ import annotations

from chat_platform.errors import NotFound
from chat_platform.services.auth import Principal
from chat_platform.store.models import Project, Run, Session, Workflow


async def get_project(principal: Principal, project_id: str) -> Project:
    project = await Project.get_or_none(id=project_id, account_id=principal.account_id)
    if project is None or not principal.can_see_project(project.id):
        raise NotFound("Project does not exist", code="PROJECT_NOT_FOUND")
    return project


async def get_workflow(principal: Principal, workflow_id: str) -> Workflow:
    workflow = await Workflow.get_or_none(id=workflow_id).select_related("project")
    if (
        workflow is None
        or workflow.project.account_id != principal.account_id
        or not principal.can_see_project(workflow.project_id)
    ):
        raise NotFound("The specified workflow does not exist", code="WORKFLOW_NOT_FOUND")
    return workflow


async def get_session(principal: Principal, session_id: str) -> Session:
    session = await Session.get_or_none(id=session_id).select_related("workflow__project")
    if (
        session is None
        or session.workflow.project.account_id != principal.account_id
        or not principal.can_see_project(session.workflow.project_id)
    ):
        raise NotFound("Session does not exist", code="SESSION_NOT_FOUND")
    return session


async def get_run(principal: Principal, run_id: str) -> Run:
    run = await Run.get_or_none(id=run_id).select_related("workflow__project")
    if (
        run is None
        or run.account_id != principal.account_id
        or not principal.can_see_project(run.workflow.project_id)
    ):
        raise NotFound("Run not found")
    return run
