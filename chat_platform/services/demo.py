"""The ready-made demo: on `serve`, a "Demo" project with a published "Demo assistant"
workflow and a chat widget for it (created once), and a banner on stderr saying how to talk to
it: a link to the hosted chat page and a curl. The provider is
`echo` (offline) unless OPENAI_API_KEY/OPENAI_BASE_URL or ANTHROPIC_API_KEY is set.
May import: store, services.
"""

from __future__ import annotations

import sys

from chat_platform.config import Settings
from chat_platform.ids import new_id
from chat_platform.services.auth import ensure_default_account
from chat_platform.services.widgets import insert_widget
from chat_platform.store.models import Project, Widget, Workflow, WorkflowVersion
from chat_platform.store.sealing import Sealer

DEMO_PROJECT = "Demo"
DEMO_WORKFLOW = "Demo assistant"


def demo_agent(settings: Settings) -> dict[str, str]:
    env = settings.provider_env
    if env.get("OPENAI_API_KEY") or env.get("OPENAI_BASE_URL"):
        return {"provider": "openai", "model": "gpt-4o-mini"}
    if env.get("ANTHROPIC_API_KEY"):
        return {"provider": "anthropic", "model": "claude-sonnet-4-6"}
    return {"provider": "echo", "model": "echo"}


def demo_graph(settings: Settings) -> tuple[list[dict], list[dict]]:
    nodes = [
        {"id": "start", "type": "start", "data": {"label": "Start"}},
        {
            "id": "assistant",
            "type": "agent",
            "data": {
                "label": "Assistant",
                **demo_agent(settings),
                "instructions": "You are a concise, friendly assistant.",
                "include_history": True,
            },
        },
        {"id": "end", "type": "end", "data": {"label": "End", "output": "{{output}}"}},
    ]
    edges = [
        {"id": "e1", "source": "start", "target": "assistant"},
        {"id": "e2", "source": "assistant", "target": "end"},
    ]
    return nodes, edges


async def ensure_demo(settings: Settings) -> str:
    account_id = await ensure_default_account()
    project = await Project.get_or_none(account_id=account_id, name=DEMO_PROJECT)
    if project is None:
        project = await Project.create(id=new_id("proj"), account_id=account_id, name=DEMO_PROJECT)
    workflow = await Workflow.get_or_none(project_id=project.id, name=DEMO_WORKFLOW)
    if workflow is None:
        nodes, edges = demo_graph(settings)
        workflow = await Workflow.create(
            id=new_id("wf"),
            project_id=project.id,
            name=DEMO_WORKFLOW,
            nodes=nodes,
            edges=edges,
            description="Created by chat-platform serve",
            status="live",
            version=1,
        )
        await WorkflowVersion.create(
            id=new_id("wfv"), workflow_id=workflow.id, version=1, nodes=nodes, edges=edges
        )
    return workflow.id


async def ensure_demo_widget(settings: Settings, workflow_id: str) -> str:
    """The demo's widget. No allowed origins: only our own hosted page may use it, so a server
    started for a try-out does not offer its provider credits to every website."""
    widget = await Widget.filter(workflow_id=workflow_id).order_by("created_at").first()
    if widget is None:
        widget, _secret = await insert_widget(
            Sealer(settings.secret_key),
            workflow_id=workflow_id,
            account_id=await ensure_default_account(),
            allowed_origins=[],
            title=DEMO_WORKFLOW,
            greeting="Hi! I'm the demo assistant. Ask me anything.",
            starter_prompts=["What can you do?", "Tell me a joke"],
        )
    return widget.id


async def announce_demo(settings: Settings, host: str, port: int) -> None:
    workflow_id = await ensure_demo(settings)
    widget_id = await ensure_demo_widget(settings, workflow_id)
    base = f"http://{host}:{port}"
    print(
        f"""
chat-platform on {base}  (data: {settings.data_dir}, provider: {demo_agent(settings)["provider"]})
Chat with the demo in a browser: {base}/chat/{widget_id}
Demo workflow: {workflow_id}
  KEY=$(.venv/bin/chat-platform keys create --role admin)
  curl -s -X POST {base}/api/v1/run -H "Authorization: Bearer $KEY" \\
       -H "Content-Type: application/json" \\
       -d '{{"workflow_id": "{workflow_id}", "input": [{{"role": "user", "content": "Hello"}}]}}'
""",
        file=sys.stderr,
        flush=True,
    )
