"""The messaging endpoint end to end over real HTTP to a fake Bot Framework (JWKS, token
endpoint, connector on loopback), with the run service replaced by a scripted `RunPort`: the
protocol side (auth, acknowledgement, dedupe, conversation mapping, streaming, cards, retries)
is what is under test here; tests/e2e/test_teams_live.py runs the real run service."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from chat_platform.ids import new_id
from chat_platform.integrations.teams.bot import TeamsRuntime
from chat_platform.integrations.teams.connector import RetryPolicy
from chat_platform.services.teams import BotConfig
from chat_platform.store.models import Session, TeamsActivity, TeamsConversation
from tests.fakes.bot_framework import (
    APP_ID,
    APP_PASSWORD,
    TENANT_ID,
    FakeBotFramework,
    mention,
    message_activity,
    new_key,
)
from tests.workflows import stored_workflow


@dataclass
class ScriptedRuns:
    """Echoes the message word by word; a message containing "deploy" pauses for approval."""

    turns: list[tuple[str, str, str]] = field(default_factory=list)
    decisions: list[tuple[str, str, str]] = field(default_factory=list)
    pending: set[str] = field(default_factory=set)

    async def turn(
        self, *, bot: BotConfig, session_id: str, text: str, user: str
    ) -> AsyncIterator[dict[str, Any]]:
        self.turns.append((session_id, text, user))
        run_id = new_id("run")
        yield {"type": "run:start", "runId": run_id, "totalNodes": 3}
        if "deploy" in text:
            self.pending.add(run_id)
            yield {"type": "node:waiting_approval", "runId": run_id, "approvalPrompt": "Deploy?"}
            yield {"type": "run:paused", "runId": run_id, "pausedAtNodeId": "approval_1"}
            yield {
                "type": "run:result",
                "id": run_id,
                "status": "pending_approval",
                "output": None,
                "approval_prompt": "Deploy to production?",
            }
            return
        for i, word in enumerate(text.split()):
            yield {"type": "node:text-delta", "runId": run_id, "delta": (" " if i else "") + word}
        yield {"type": "run:result", "id": run_id, "status": "completed", "output": text}

    async def decide(
        self, *, bot: BotConfig, run_id: str, decision: str, comment: str | None, user: str
    ) -> AsyncIterator[dict[str, Any]]:
        self.decisions.append((run_id, decision, user))
        self.pending.discard(run_id)
        yield {"type": "run:resumed", "runId": run_id}
        status = "completed" if decision == "approve" else "failed"
        yield {
            "type": "run:result",
            "id": run_id,
            "status": status,
            "output": "Deployed." if decision == "approve" else None,
            "error": None if decision == "approve" else "Rejected by approver",
        }

    async def is_pending(self, *, bot: BotConfig, run_id: str) -> bool:
        return run_id in self.pending


@pytest.fixture(scope="module")
def server() -> Iterator[FakeBotFramework]:
    fake = FakeBotFramework().start()
    yield fake
    fake.stop()


@dataclass
class Env:
    api: httpx.AsyncClient
    fake: FakeBotFramework
    runs: ScriptedRuns
    rt: TeamsRuntime
    integration: dict[str, Any]

    @property
    def endpoint(self) -> str:
        return f"/api/v1/integrations/teams/{self.integration['id']}/messages"

    async def post(self, activity: dict[str, Any], token: str | None = None) -> httpx.Response:
        token = token or self.fake.sign()
        return await self.api.post(
            self.endpoint, json=activity, headers={"Authorization": f"Bearer {token}"}
        )

    def activity(self, text: str, **kw: Any) -> dict[str, Any]:
        return message_activity(text, service_url=self.fake.service_url, **kw)


async def make_env(api: httpx.AsyncClient, fake: FakeBotFramework, **settings: Any) -> Env:
    fake.activities.clear()
    fake.connector_failures.clear()
    wf = await stored_workflow(settings={"greeting": "Hello, I am the helpdesk bot."})
    r = await api.post(
        "/api/v1/integrations/teams",
        json={
            "workflow_id": wf,
            "app_id": APP_ID,
            "app_password": APP_PASSWORD,
            "tenant_id": TENANT_ID,
            "openid_metadata_url": fake.openid_metadata_url,
            "token_endpoint": fake.token_endpoint,
            **settings,
        },
    )
    assert r.status_code == 201, r.text
    runtime = api._transport.app.state.runtime  # type: ignore[attr-defined]
    runs = ScriptedRuns()
    rt = TeamsRuntime(
        http=runtime.http,
        runs=runs,
        retry=RetryPolicy(attempts=3, base_delay_s=0.01, max_delay_s=0.05),
        stream_interval_s=0.0,
    )
    runtime.extras["teams"] = rt
    # The API client also serves the webhook: drop the API key header for realism.
    return Env(api, fake, runs, rt, r.json())


@pytest.fixture
async def env(api: httpx.AsyncClient, server: FakeBotFramework) -> Env:
    return await make_env(api, server)


def texts(env: Env, kind: str = "message") -> list[str]:
    return [a.body.get("text", "") for a in env.fake.posted() if a.body.get("type") == kind]


async def test_happy_path_streams_the_answer_as_a_reply(env: Env) -> None:
    activity = env.activity("hello from teams")
    r = await env.post(activity)
    assert r.status_code == 200
    await env.rt.drain()
    posted = env.fake.posted()
    assert all(a.activity_id == activity["id"] for a in posted)  # replies to the message
    kinds = [(a.body["type"], a.body["entities"][0]["streamType"]) for a in posted]
    assert kinds[0] == ("typing", "informative")
    assert kinds[-1] == ("message", "final")
    assert ("typing", "streaming") in kinds
    assert posted[-1].body["text"] == "hello from teams"
    conv = await TeamsConversation.get(conversation_id=activity["conversation"]["id"])
    assert await Session.exists(id=conv.session_id)
    session_id, text, user = env.runs.turns[0]
    assert (session_id, text, user) == (conv.session_id, "hello from teams", "Ada Lovelace")
    # A second message continues the same session.
    await env.post(env.activity("and again"))
    await env.rt.drain()
    assert env.runs.turns[1][0] == conv.session_id


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(lambda f: f.sign(key=new_key()), id="forged-signature"),
        pytest.param(lambda f: f.sign(audience="someone-else"), id="wrong-audience"),
        pytest.param(lambda f: f.sign(expires_in=-3600), id="expired"),
        pytest.param(lambda f: f.sign(service_url="http://127.0.0.1:1/"), id="service-url"),
        pytest.param(lambda f: "garbage", id="garbage"),
    ],
)
async def test_invalid_tokens_get_401_without_side_effects(env: Env, token: Any) -> None:
    activity = env.activity("should not run")
    r = await env.post(activity, token=token(env.fake))
    assert r.status_code == 401 and r.json()["error"]["code"] == "UNAUTHORIZED"
    await env.rt.drain()
    assert env.fake.posted() == [] and env.runs.turns == []
    assert not await TeamsActivity.exists(activity_id=activity["id"])
    assert not await TeamsConversation.exists(conversation_id=activity["conversation"]["id"])
    r = await env.api.post(env.endpoint, json=activity)  # no token at all
    assert r.status_code == 401


async def test_unknown_bot_is_401(env: Env) -> None:
    r = await env.api.post(
        "/api/v1/integrations/teams/tms_nope/messages",
        json=env.activity("x"),
        headers={"Authorization": f"Bearer {env.fake.sign()}"},
    )
    assert r.status_code == 401


async def test_replayed_activity_is_processed_once(env: Env) -> None:
    activity = env.activity("only once", activity_id="replayed-1")
    first, second = await env.post(activity), await env.post(activity)
    assert first.status_code == second.status_code == 200
    await env.rt.drain()
    assert [t[1] for t in env.runs.turns] == ["only once"]
    assert texts(env) == ["only once"]


async def test_group_chat_mentions_and_shared_session(env: Env) -> None:
    group = {"conversation_id": "19:meeting_abc@thread.v2", "conversation_type": "groupChat"}
    await env.post(
        env.activity("<at>Helper Bot</at> summarise please", entities=[mention()], **group)
    )
    await env.post(
        env.activity(
            "<at>Helper Bot</at> me too",
            entities=[mention()],
            aad_object_id="aad-2",
            user_name="Grace",
            **group,
        )
    )
    await env.rt.drain()
    assert sorted(t[1] for t in env.runs.turns) == ["me too", "summarise please"]
    assert len({t[0] for t in env.runs.turns}) == 1  # one session for the group
    # No streaming in group chats: typing indicators, then plain messages.
    assert all("entities" not in a.body for a in env.fake.posted())
    assert sorted(texts(env)) == ["me too", "summarise please"]
    assert len(texts(env, "typing")) == 2


async def test_per_user_sessions_in_group_chats(api: httpx.AsyncClient, server) -> None:
    env = await make_env(api, server, per_user_sessions=True)
    group = {"conversation_id": "19:group2@thread.v2", "conversation_type": "groupChat"}
    await env.post(env.activity("one", **group))
    await env.post(env.activity("two", aad_object_id="aad-2", **group))
    await env.post(env.activity("three", **group))
    await env.rt.drain()
    sessions = {t[1]: t[0] for t in env.runs.turns}
    assert sessions["one"] == sessions["three"] != sessions["two"]


async def test_bot_added_sends_the_greeting(env: Env) -> None:
    update = {
        "type": "conversationUpdate",
        "id": "cu-1",
        "serviceUrl": env.fake.service_url,
        "channelId": "msteams",
        "from": {"id": "29:user-1"},
        "recipient": {"id": f"28:{APP_ID}"},
        "conversation": {"id": "a:greet", "conversationType": "personal"},
        "membersAdded": [{"id": f"28:{APP_ID}"}],
    }
    assert (await env.post(update)).status_code == 200
    await env.rt.drain()
    assert texts(env) == ["Hello, I am the helpdesk bot."]
    assert env.runs.turns == []


async def test_tenant_outside_the_allow_list_is_refused(api: httpx.AsyncClient, server) -> None:
    env = await make_env(api, server, allowed_tenants=["another-tenant"])
    r = await env.post(env.activity("hi"))
    assert r.status_code == 403
    await env.rt.drain()
    assert env.runs.turns == [] and env.fake.posted() == []


async def test_approval_by_adaptive_card(env: Env) -> None:
    await env.post(env.activity("please deploy"))
    await env.rt.drain()
    card_post = next(a for a in env.fake.posted() if a.body.get("attachments"))
    card = card_post.body["attachments"][0]["content"]
    assert card["body"][1]["text"] == "Deploy to production?"
    approve = next(a for a in card["actions"] if a["verb"] == "approve")
    run_id = approve["data"]["run_id"]
    invoke = {
        **env.activity(""),
        "type": "invoke",
        "name": "adaptiveCard/action",
        "replyToId": "act-card",
        "value": {"action": {"type": "Action.Execute", "verb": "approve", "data": approve["data"]}},
    }
    invoke.pop("text")

    # Someone in another conversation cannot decide it.
    stranger = {**invoke, "id": "inv-x", "conversation": {"id": "a:other"}}
    r = await env.post(stranger)
    assert r.status_code == 200 and r.json()["type"] == "application/vnd.microsoft.activity.message"
    assert env.runs.decisions == []

    env.fake.activities.clear()
    r = await env.post({**invoke, "id": "inv-1"})
    assert r.status_code == 200
    refreshed = r.json()
    assert refreshed["statusCode"] == 200
    assert refreshed["type"] == "application/vnd.microsoft.card.adaptive"
    assert refreshed["value"]["body"][-1]["text"] == "Approved by Ada Lovelace"
    await env.rt.drain()
    assert env.runs.decisions == [(run_id, "approve", "Ada Lovelace")]
    assert texts(env)[-1] == "Deployed."

    r = await env.post({**invoke, "id": "inv-2"})  # a second click: already decided
    assert "already decided by Ada Lovelace" in r.json()["value"]
    await env.rt.drain()
    assert len(env.runs.decisions) == 1


async def test_rejection_with_action_submit_updates_the_card(env: Env) -> None:
    await env.post(env.activity("deploy now", channel_id="webchat"))
    await env.rt.drain()
    card_post = next(a for a in env.fake.posted() if a.body.get("attachments"))
    reject = card_post.body["attachments"][0]["content"]["actions"][1]
    assert reject["type"] == "Action.Submit"
    submit = env.activity("", channel_id="webchat", value=reject["data"])
    assert (await env.post(submit)).status_code == 200
    await env.rt.drain()
    put = next(a for a in env.fake.posted() if a.method == "PUT")
    assert put.activity_id == card_post.id
    assert put.body["attachments"][0]["content"]["body"][-1]["text"] == "Rejected by Ada Lovelace"
    assert "Rejected by approver" in texts(env)[-1]


async def test_connector_failing_then_recovering(env: Env) -> None:
    env.fake.connector_failures.extend([503, 429])  # retried: the answer still arrives
    await env.post(env.activity("first answer"))
    await env.rt.drain()
    assert texts(env)[-1] == "first answer"

    # Down for longer than the retries: the failure is recorded, nothing crashes...
    env.fake.connector_failures.extend([503] * 20)
    activity = env.activity("lost answer")
    await env.post(activity)
    await env.rt.drain()
    conv = await TeamsConversation.get(conversation_id=activity["conversation"]["id"])
    failures = conv.data["delivery_failures"]
    assert failures and failures[-1]["what"] == "answer" and "503" in failures[-1]["error"]
    assert "lost answer" not in texts(env)

    # ...and once the connector is back, the next turn is delivered.
    env.fake.connector_failures.clear()
    await env.post(env.activity("back again"))
    await env.rt.drain()
    assert texts(env)[-1] == "back again"


async def test_a_refused_turn_is_answered_with_an_apology(env: Env) -> None:
    from chat_platform.errors import NotFound

    async def refused(**_: Any) -> AsyncIterator[dict[str, Any]]:
        raise NotFound("Workflow exists but is not published", code="WORKFLOW_NOT_PUBLISHED")
        yield {}  # pragma: no cover

    env.runs.turn = refused  # type: ignore[method-assign]
    await env.post(env.activity("anyone there?"))
    await env.rt.drain()
    assert texts(env) == ["Sorry, I can't answer right now (Workflow exists but is not published)."]


async def test_secrets_never_reach_the_logs(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    env.fake.connector_failures.extend([500] * 10)
    await env.post(env.activity("log me"))
    await env.post(env.activity("bad", channel_id="msteams"), token=env.fake.sign(key=new_key()))
    await env.rt.drain()
    assert "teams:" in caplog.text  # something was logged...
    assert APP_PASSWORD not in caplog.text  # ...but neither the password nor any token
    assert not any(t in caplog.text for t in env.fake.issued_tokens)
    assert "eyJ" not in caplog.text
