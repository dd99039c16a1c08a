"""The outbound half and the parsing of the Teams integration over real HTTP against the fake
Bot Framework: token caching, URL-encoded conversation ids, retries on 429/5xx, the streaming
protocol (informative → cumulative updates with streamId/streamSequence → final), throttling,
the non-streaming fallback, splitting long answers, mentions and approval actions, cards."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from chat_platform.integrations.teams import activities as acts
from chat_platform.integrations.teams import cards
from chat_platform.integrations.teams.connector import (
    BotCredentials,
    ConnectorClient,
    ConnectorError,
    RetryPolicy,
    TokenClient,
)
from chat_platform.integrations.teams.streaming import ReplyWriter, split_text
from tests.fakes.bot_framework import (
    APP_ID,
    APP_PASSWORD,
    FakeBotFramework,
    mention,
    message_activity,
)

FAST = RetryPolicy(attempts=4, base_delay_s=0.01, max_delay_s=0.05)
CONV = "19:group;messageid=1:2=="


@pytest.fixture(scope="module")
def server() -> Iterator[FakeBotFramework]:
    fake = FakeBotFramework().start()
    yield fake
    fake.stop()


@pytest.fixture
def fake(server: FakeBotFramework) -> FakeBotFramework:
    server.activities.clear()
    server.connector_failures.clear()
    server.token_failures.clear()
    return server


@pytest.fixture
async def connector(fake: FakeBotFramework) -> AsyncIterator[ConnectorClient]:
    async with httpx.AsyncClient() as http:
        creds = BotCredentials(APP_ID, APP_PASSWORD, fake.token_endpoint)
        yield ConnectorClient(http, TokenClient(http, retry=FAST), creds, retry=FAST)


async def test_token_is_cached_and_conversation_ids_are_url_encoded(
    fake: FakeBotFramework, connector: ConnectorClient
) -> None:
    before = fake.token_requests
    for n in range(3):
        await connector.send(fake.service_url, CONV, {"type": "message", "text": f"m{n}"})
    assert fake.token_requests == before + 1
    posted = fake.posted()
    assert [a.conversation_id for a in posted] == [CONV] * 3  # decoded back intact
    assert all(a.authorization.startswith("Bearer bot-token-") for a in posted)
    assert "secret" not in repr(connector.creds)


async def test_reply_goes_to_the_activity_and_update_uses_put(
    fake: FakeBotFramework, connector: ConnectorClient
) -> None:
    new_id = await connector.send(fake.service_url, CONV, {"type": "message"}, reply_to_id="a;1")
    await connector.update(fake.service_url, CONV, new_id or "", {"type": "message"})
    post, put = fake.posted()
    assert (post.method, post.activity_id, post.body["replyToId"]) == ("POST", "a;1", "a;1")
    assert (put.method, put.activity_id, put.body["id"]) == ("PUT", new_id, new_id)


async def test_connector_retries_429_and_5xx_then_succeeds(
    fake: FakeBotFramework, connector: ConnectorClient
) -> None:
    fake.connector_failures.extend([429, 503, 502])
    assert await connector.send(fake.service_url, CONV, {"type": "message", "text": "x"})
    assert len(fake.posted()) == 1


async def test_connector_gives_up_after_the_last_attempt_and_on_4xx(
    fake: FakeBotFramework, connector: ConnectorClient
) -> None:
    fake.connector_failures.extend([500] * 4)
    with pytest.raises(ConnectorError) as info:
        await connector.send(fake.service_url, CONV, {"type": "message"})
    assert info.value.status == 500
    fake.connector_failures.extend([400])
    with pytest.raises(ConnectorError, match="400"):
        await connector.send(fake.service_url, CONV, {"type": "message"})
    assert fake.posted() == []


async def test_token_endpoint_failures_are_retried_and_never_leak_the_password(
    fake: FakeBotFramework,
) -> None:
    async with httpx.AsyncClient() as http:
        tokens = TokenClient(http, retry=FAST)
        fake.token_failures.extend([503])
        assert await tokens.token(BotCredentials(APP_ID, APP_PASSWORD, fake.token_endpoint))
        with pytest.raises(ConnectorError) as info:
            await TokenClient(http, retry=FAST).token(
                BotCredentials(APP_ID, "wrong-password", fake.token_endpoint)
            )
        assert "wrong-password" not in str(info.value)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_streaming_protocol_with_throttling(
    fake: FakeBotFramework, connector: ConnectorClient
) -> None:
    clock = Clock()
    writer = ReplyWriter(
        connector,
        service_url=fake.service_url,
        conversation_id=CONV,
        reply_to_id="user-msg-1",
        streaming=True,
        min_interval_s=1.0,
        clock=clock,
    )
    await writer.start()
    for word in ["Hello", " there", ",", " friend"]:
        clock.now += 0.6  # updates allowed at most once a second
        await writer.push(word)
    await writer.finish()
    bodies = [a.body for a in fake.posted()]
    info = [b["entities"][0] for b in bodies]
    assert [b["type"] for b in bodies] == ["typing", "typing", "typing", "message"]
    assert [i["streamType"] for i in info] == ["informative", "streaming", "streaming", "final"]
    stream_id = writer.stream_id
    assert stream_id and all(i["streamId"] == stream_id for i in info[1:])
    assert [i.get("streamSequence") for i in info] == [1, 2, 3, None]
    assert [b.get("text") for b in bodies[1:]] == [
        "Hello there",
        "Hello there, friend",
        "Hello there, friend",
    ]
    assert bodies[-1]["textFormat"] == "markdown"


async def test_without_streaming_a_typing_indicator_then_one_message(
    fake: FakeBotFramework, connector: ConnectorClient
) -> None:
    writer = ReplyWriter(
        connector,
        service_url=fake.service_url,
        conversation_id=CONV,
        reply_to_id=None,
        streaming=False,
        min_interval_s=0,
    )
    await writer.start()
    for word in ["a", " b", " c"]:
        await writer.push(word)
    await writer.finish()
    bodies = [a.body for a in fake.posted()]
    assert bodies == [
        {"type": "typing"},
        {"type": "message", "text": "a b c", "textFormat": "markdown"},
    ]


async def test_a_failing_stream_update_still_delivers_the_answer(
    fake: FakeBotFramework, connector: ConnectorClient
) -> None:
    writer = ReplyWriter(
        connector,
        service_url=fake.service_url,
        conversation_id=CONV,
        reply_to_id=None,
        streaming=True,
        min_interval_s=0,
    )
    await writer.start()
    fake.connector_failures.extend([403])  # e.g. streaming not allowed here
    await writer.push("part one")
    await writer.push(" part two")
    await writer.finish()
    bodies = [a.body for a in fake.posted()]
    assert [b["type"] for b in bodies] == ["typing", "message"]
    assert bodies[-1]["text"] == "part one part two"
    assert bodies[-1]["entities"][0]["streamType"] == "final"


async def test_long_answers_are_split(fake: FakeBotFramework, connector: ConnectorClient) -> None:
    writer = ReplyWriter(
        connector,
        service_url=fake.service_url,
        conversation_id=CONV,
        reply_to_id=None,
        streaming=False,
        max_bytes=100,
    )
    paragraph = "word " * 15
    await writer.finish("\n\n".join([paragraph.strip()] * 4))
    texts = [a.body["text"] for a in fake.posted()]
    assert len(texts) == 4 and all(len(t.encode()) <= 100 for t in texts)


def test_split_text_respects_bytes_and_boundaries() -> None:
    assert split_text("short") == ["short"]
    chunks = split_text("é" * 300, max_bytes=101)
    assert "".join(chunks) == "é" * 300 and all(len(c.encode()) <= 101 for c in chunks)
    assert split_text("aaa bbb ccc", max_bytes=8) == ["aaa bbb", "ccc"]


def test_mentions_of_the_bot_are_stripped() -> None:
    activity = message_activity(
        "<at>Helper Bot</at> what is <at>Grace</at> doing?",
        service_url="http://x/",
        conversation_type="groupChat",
        entities=[mention(), mention(bot_id="29:grace", name="Grace")],
    )
    assert acts.user_text(activity) == "what is Grace doing?"
    assert acts.is_group(activity) and not acts.supports_streaming(activity)
    personal = message_activity("hi", service_url="http://x/")
    assert acts.supports_streaming(personal)


def test_conversation_keys_per_conversation_or_per_user() -> None:
    one = message_activity(
        "x", service_url="s", conversation_id="19:g", conversation_type="groupChat"
    )
    two = message_activity(
        "x",
        service_url="s",
        conversation_id="19:g",
        conversation_type="groupChat",
        aad_object_id="aad-user-2",
    )
    assert acts.conversation_key("tms_1", one, False) == acts.conversation_key("tms_1", two, False)
    assert acts.conversation_key("tms_1", one, True) != acts.conversation_key("tms_1", two, True)
    personal = message_activity("x", service_url="s", conversation_id="a:1")
    assert acts.conversation_key("tms_1", personal, True) == "tms_1|a:1"


def test_approval_actions_from_execute_and_submit() -> None:
    card = cards.approval_card("Ship it?", "run_1", universal=True)
    approve = card["actions"][0]
    assert approve["type"] == "Action.Execute" and approve["verb"] == "approve"
    invoke = {
        "type": "invoke",
        "name": "adaptiveCard/action",
        "value": {"action": {"type": "Action.Execute", "verb": "approve", "data": approve["data"]}},
    }
    assert acts.approval_action(invoke) == acts.ApprovalAction("run_1", "approve", None, True)
    submit_card = cards.approval_card("Ship it?", "run_1", universal=False)
    reject = submit_card["actions"][1]
    assert reject["type"] == "Action.Submit"
    message = {"type": "message", "value": reject["data"]}
    assert acts.approval_action(message) == acts.ApprovalAction("run_1", "reject", None, False)
    assert acts.approval_action({"type": "message", "text": "hi"}) is None
    assert acts.approval_action({"type": "message", "value": {"run_id": "run_1"}}) is None
    decided = cards.decided_card("Ship it?", decision="approve", by="Ada")
    assert "actions" not in decided and decided["body"][-1]["text"] == "Approved by Ada"


def test_bot_added_is_recognised() -> None:
    update = {
        "type": "conversationUpdate",
        "recipient": {"id": "28:bot"},
        "membersAdded": [{"id": "28:bot"}],
    }
    assert acts.bot_was_added(update)
    assert not acts.bot_was_added({**update, "membersAdded": [{"id": "29:someone"}]})
