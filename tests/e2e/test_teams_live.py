"""Teams end to end: a real `chat-platform serve` process, a fake Bot Framework on loopback
(OpenID metadata + JWKS, token endpoint, connector), real signed JWTs, and the real run service
with the offline echo provider: a conversation with memory, a forged token, a replayed
activity, group-chat mentions, an approval by Adaptive Card, and the connector failing then
recovering."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer, start_server, stop_server
from tests.fakes.bot_framework import (
    APP_ID,
    APP_PASSWORD,
    TENANT_ID,
    FakeBotFramework,
    Recorded,
    mention,
    message_activity,
    new_key,
)

AGENT = {"provider": "echo-transcript", "model": "echo", "include_history": True}
CHAT_GRAPH = {
    "nodes": [
        {"id": "start", "type": "start", "data": {"label": "Start"}},
        {"id": "agent_1", "type": "agent", "data": {"label": "Echo", **AGENT}},
        {"id": "end", "type": "end", "data": {"output": "{{output}}"}},
    ],
    "edges": [
        {"id": "e1", "source": "start", "target": "agent_1"},
        {"id": "e2", "source": "agent_1", "target": "end"},
    ],
}
APPROVAL_GRAPH = {
    "nodes": [
        {"id": "start", "type": "start", "data": {"label": "Start"}},
        {"id": "gate", "type": "approval", "data": {"label": "Gate", "prompt": "Deploy now?"}},
        {"id": "done", "type": "end", "data": {"output": "Deployed."}},
        {"id": "stop", "type": "end", "data": {"output": "Not deployed."}},
    ],
    "edges": [
        {"id": "e1", "source": "start", "target": "gate"},
        {"id": "e2", "source": "gate", "sourceHandle": "approved", "target": "done"},
        {"id": "e3", "source": "gate", "sourceHandle": "rejected", "target": "stop"},
    ],
}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeBotFramework]:
    server = FakeBotFramework().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = start_server(tmp_path_factory.mktemp("teams"))
    yield live
    stop_server(live)


def _api(server: LiveServer) -> httpx.Client:
    return httpx.Client(
        base_url=server.base_url + "/api/v1",
        headers={"Authorization": f"Bearer {server.admin_key}"},
        timeout=10,
    )


def bot_for(server: LiveServer, fake: FakeBotFramework, graph: dict, **extra: Any) -> dict:
    with _api(server) as api:
        project = api.post("/projects", json={"name": "Teams"}).json()["id"]
        wf = api.post("/workflows", json={"project_id": project, "name": "Bot", **graph})
        assert wf.status_code == 201, wf.text
        published = api.post(f"/workflows/{wf.json()['id']}/publish")
        assert published.status_code in (200, 201), published.text
        r = api.post(
            "/integrations/teams",
            json={
                "workflow_id": wf.json()["id"],
                "app_id": APP_ID,
                "app_password": APP_PASSWORD,
                "tenant_id": TENANT_ID,
                "openid_metadata_url": fake.openid_metadata_url,
                "token_endpoint": fake.token_endpoint,
                **extra,
            },
        )
        assert r.status_code == 201, r.text
        assert APP_PASSWORD not in r.text
        return r.json()


async def send(
    server: LiveServer, bot: dict, activity: dict, token: str | None = None
) -> httpx.Response:
    path = bot["messaging_endpoint"].split("/api/v1", 1)[1]
    async with httpx.AsyncClient(base_url=server.base_url + "/api/v1", timeout=10) as http:
        return await http.post(
            path, json=activity, headers={"Authorization": f"Bearer {token}"} if token else {}
        )


def finals(posted: list[Recorded], conversation_id: str) -> list[str]:
    return [
        a.body.get("text", "")
        for a in posted
        if a.conversation_id == conversation_id
        and a.body.get("type") == "message"
        and a.method == "POST"
        and not a.body.get("attachments")
    ]


async def test_conversation_with_memory_forgery_and_replay(
    server: LiveServer, fake: FakeBotFramework
) -> None:
    bot = bot_for(server, fake, CHAT_GRAPH)
    conv = "a:1personal-e2e"
    first = message_activity("my name is Ada", service_url=fake.service_url, conversation_id=conv)
    assert (await send(server, bot, first, fake.sign())).status_code == 200
    await fake.wait_for(lambda p: len(finals(p, conv)) == 1)

    # A forged token is refused and changes nothing.
    forged = message_activity("forged", service_url=fake.service_url, conversation_id=conv)
    r = await send(server, bot, forged, fake.sign(key=new_key()))
    assert r.status_code == 401
    for bad in (fake.sign(audience="other"), fake.sign(expires_in=-3600)):
        assert (await send(server, bot, forged, bad)).status_code == 401

    second = message_activity("what is my name", service_url=fake.service_url, conversation_id=conv)
    assert (await send(server, bot, second, fake.sign())).status_code == 200
    assert (await send(server, bot, second, fake.sign())).status_code == 200  # replay
    posted = await fake.wait_for(lambda p: len(finals(p, conv)) >= 2)
    answer = finals(posted, conv)[-1]
    assert "my name is Ada" in answer and "what is my name" in answer  # history flowed in
    assert "forged" not in answer
    streamed = [a.body for a in posted if a.conversation_id == conv]
    kinds = [(b["type"], (b.get("entities") or [{}])[0].get("streamType")) for b in streamed]
    assert ("typing", "informative") in kinds and ("message", "final") in kinds

    # The turns are ordinary session messages.
    with _api(server) as api:
        sessions = api.get("/sessions", params={"workflow_id": bot["workflow_id"]}).json()["data"]
        assert len(sessions) == 1
        msgs = api.get(f"/sessions/{sessions[0]['id']}/messages").json()["data"]
        assert [m["role"] for m in msgs] == ["user", "assistant", "user", "assistant"]
        assert "forged" not in str(msgs)
    await fake_settle(fake, conv, 2)


async def fake_settle(fake: FakeBotFramework, conv: str, count: int) -> None:
    """The replay produced no extra answer."""
    import asyncio

    await asyncio.sleep(1.0)
    assert len(finals(fake.posted(), conv)) == count


async def test_group_chat_mentions(server: LiveServer, fake: FakeBotFramework) -> None:
    bot = bot_for(server, fake, CHAT_GRAPH)
    conv = "19:e2e-group@thread.v2"
    activity = message_activity(
        "<at>Helper Bot</at> hello group",
        service_url=fake.service_url,
        conversation_id=conv,
        conversation_type="groupChat",
        entities=[mention()],
    )
    assert (await send(server, bot, activity, fake.sign())).status_code == 200
    posted = await fake.wait_for(lambda p: len(finals(p, conv)) == 1)
    answer = finals(posted, conv)[0]
    assert "hello group" in answer and "Helper Bot" not in answer and "<at>" not in answer


async def test_approval_by_card(server: LiveServer, fake: FakeBotFramework) -> None:
    bot = bot_for(server, fake, APPROVAL_GRAPH)
    conv = "a:1personal-approval"
    msg = message_activity("ship it", service_url=fake.service_url, conversation_id=conv)
    assert (await send(server, bot, msg, fake.sign())).status_code == 200
    posted = await fake.wait_for(
        lambda p: any(a.conversation_id == conv and a.body.get("attachments") for a in p)
    )
    card = next(a for a in posted if a.conversation_id == conv and a.body.get("attachments"))
    content = card.body["attachments"][0]["content"]
    assert "Deploy now?" in str(content["body"])
    approve = next(a for a in content["actions"] if a["verb"] == "approve")
    invoke = {
        **message_activity("", service_url=fake.service_url, conversation_id=conv),
        "type": "invoke",
        "name": "adaptiveCard/action",
        "replyToId": card.id,
        "value": {"action": {"type": "Action.Execute", "verb": "approve", "data": approve["data"]}},
    }
    r = await send(server, bot, invoke, fake.sign())
    assert r.status_code == 200
    assert r.json()["value"]["body"][-1]["text"] == "Approved by Ada Lovelace"
    posted = await fake.wait_for(lambda p: "Deployed." in finals(p, conv))
    again = await send(server, bot, {**invoke, "id": "second-click"}, fake.sign())
    assert "already decided" in again.json()["value"]


async def test_connector_failing_then_recovering(
    server: LiveServer, fake: FakeBotFramework
) -> None:
    bot = bot_for(server, fake, CHAT_GRAPH)
    conv = "a:1personal-flaky"
    fake.connector_failures.extend([503, 503, 429])
    msg = message_activity("still there?", service_url=fake.service_url, conversation_id=conv)
    assert (await send(server, bot, msg, fake.sign())).status_code == 200
    posted = await fake.wait_for(lambda p: len(finals(p, conv)) == 1, within=30)
    assert "still there?" in finals(posted, conv)[0]
