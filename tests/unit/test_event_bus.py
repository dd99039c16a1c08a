"""The event bus on both backends (Redis against the real server when
CHAT_PLATFORM_TEST_REDIS_URL is set): seq numbering, replay after a seq, and what happens
when a channel's counter is forgotten (Redis TTL, the memory bus's idle expiry) — new events
must never reuse seqs that clients have already seen."""

from __future__ import annotations

import asyncio
import gc
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from chat_platform.bus.events import MemoryEventBus, RedisEventBus
from tests.conftest import REDIS_URL


@pytest.fixture(params=["memory", "redis"])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    if request.param == "memory":
        yield MemoryEventBus()
        return
    if not REDIS_URL:
        pytest.skip("CHAT_PLATFORM_TEST_REDIS_URL not set")
    import redis.asyncio as aioredis

    client = aioredis.from_url(REDIS_URL, decode_responses=False)
    prefix = f"cp-test-{uuid.uuid4().hex[:8]}:"
    redis_bus = RedisEventBus(client, prefix=prefix)
    await redis_bus.start()
    try:
        yield redis_bus
    finally:
        await redis_bus.close()
        keys = [k async for k in client.scan_iter(f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def forget(bus: Any, channel: str) -> None:
    """What an idle hour does to a channel: Redis expires its keys, the memory bus drops it."""
    if isinstance(bus, RedisEventBus):
        await bus._redis.delete(*bus._keys(channel)[:2])
    else:
        bus._used[channel] -= bus._ttl_s + 1
        bus._used.move_to_end(channel, last=False)
        bus._swept = 0.0
        await bus.publish("session:other", {"type": "tick"})  # a use sweeps (once a second)


async def take(stream: AsyncIterator[tuple[int, dict]], n: int) -> list[tuple[int, dict]]:
    return [await asyncio.wait_for(anext(stream), 5) for _ in range(n)]


async def test_session_channels_count_from_a_time_based_base(bus: Any) -> None:
    channel = f"session:{uuid.uuid4().hex}"
    before = int(time.time() * 1000) * 1000
    base = await bus.last_seq(channel)
    assert before <= base <= int(time.time() * 1000) * 1000
    assert await bus.last_seq(channel) == base  # reading it twice does not move it
    published = [await bus.publish(channel, {"n": n}) for n in range(3)]
    assert published == [base + 1, base + 2, base + 3]
    # run channels keep their own event numbers, from 1
    run = f"run:{uuid.uuid4().hex}"
    assert await bus.last_seq(run) == 0
    assert await bus.publish(run, {"n": 0}) == 1


async def test_replay_after_a_seq_brings_exactly_the_tail_then_follows_live(bus: Any) -> None:
    channel = f"session:{uuid.uuid4().hex}"
    seqs = [await bus.publish(channel, {"n": n}) for n in range(10)]
    stream = bus.subscribe(channel, seqs[6])
    got = await take(stream, 3)
    assert [(s, e["n"]) for s, e in got] == [(seqs[7], 7), (seqs[8], 8), (seqs[9], 9)]
    live = await bus.publish(channel, {"n": 10})
    assert await take(stream, 1) == [(live, {"n": 10})]
    await stream.aclose()
    # after the latest seq: nothing replayed; before everything: all of it, once
    assert [s for s, _ in await take(bus.subscribe(channel, seqs[0] - 5), 11)] == [*seqs, live]


async def test_a_forgotten_counter_restarts_above_every_seq_already_seen(bus: Any) -> None:
    """A socket follows an idle session across the expiry of its counter: the next turn's
    events must reach it (a restart at 1 would be dropped as already seen), and a client
    resuming from an old seq must not be served the new events as if they were the missed
    ones."""
    channel = f"session:{uuid.uuid4().hex}"
    old = [await bus.publish(channel, {"n": n}) for n in range(3)]
    follower = bus.subscribe(channel, old[-1])
    pending = asyncio.ensure_future(anext(follower))
    await asyncio.sleep(0.05)
    await forget(bus, channel)
    await asyncio.sleep(0.002)  # the new base is at least one millisecond later
    new = await bus.publish(channel, {"n": "after"})
    assert await asyncio.wait_for(pending, 5) == (new, {"n": "after"})
    await follower.aclose()
    assert await bus.last_seq(channel) == new
    if isinstance(bus, RedisEventBus):
        assert new > old[-1] + 5000  # expired: beyond any replay window of the old life
    else:
        assert new == old[-1] + 1  # the memory bus keeps a followed channel
        # ...and a restarted process (a new bus) starts beyond any replay window of the old
        assert await MemoryEventBus().last_seq(channel) > old[-1] + 5000


async def test_publish_to_numbers_the_event_on_each_channel_of_its_own(bus: Any) -> None:
    run, session = f"run:{uuid.uuid4().hex}", f"session:{uuid.uuid4().hex}"
    follower = bus.subscribe(session, await bus.last_seq(session))
    first = await bus.publish(session, {"n": 0})
    assert await bus.publish_to([run, session], {"n": 1, "usage": {"in": 2}}) == [1, first + 1]
    assert await bus.publish_to([run], {"n": 2}) == [2]
    assert await take(follower, 2) == [(first, {"n": 0}), (first + 1, {"n": 1, "usage": {"in": 2}})]
    assert await take(bus.subscribe(run, 0), 2) == [
        (1, {"n": 1, "usage": {"in": 2}}),
        (2, {"n": 2}),
    ]
    await follower.aclose()


async def test_memory_bus_forgets_idle_channels_but_not_followed_ones() -> None:
    bus = MemoryEventBus(ttl_s=60)
    await bus.publish("run:idle", {"n": 1})
    await bus.publish("run:followed", {"n": 1})
    follower = bus.subscribe("run:followed", 0)
    assert await take(follower, 1) == [(1, {"n": 1})]
    for channel in ("run:idle", "run:followed"):
        bus._used[channel] -= 61
    bus._swept = 0.0
    await bus.publish("run:fresh", {"n": 1})
    assert "run:idle" not in bus._logs and await bus.last_seq("run:idle") == 0
    assert await bus.publish("run:followed", {"n": 2}) == 2  # kept: someone follows it
    assert await take(follower, 1) == [(2, {"n": 2})]
    await follower.aclose()


async def test_memory_bus_logs_are_bounded_in_all_oldest_unfollowed_channels_first() -> None:
    bus = MemoryEventBus(max_events=100)
    follower = bus.subscribe("run:0", 0)  # the oldest channel, but followed
    followed = asyncio.create_task(take(follower, 10))
    await asyncio.sleep(0.01)  # the follower is subscribed
    for run in range(30):
        for n in range(10):
            await bus.publish(f"run:{run}", {"n": n})
    assert sum(len(log) for log in bus._logs.values()) <= 100
    assert len(await followed) == 10 and "run:0" in bus._logs  # kept: followed
    assert "run:1" not in bus._logs and await bus.last_seq("run:1") == 0  # forgotten first
    recent = bus.subscribe("run:29", 0)  # the newest channels still replay in full
    assert [seq for seq, _ in await take(recent, 10)] == list(range(1, 11))
    await follower.aclose()
    await recent.aclose()


async def test_memory_bus_logs_give_the_garbage_collector_nothing_to_walk() -> None:
    """Logged events stay out of the collector's generations (a full collection walked every
    logged event: tens of ms under load); replay still brings them back whole."""
    bus = MemoryEventBus()
    event = {"type": "node:complete", "output": {"items": [1, "two", None]}, "usage": {"n": 1}}
    await bus.publish("run:warm", event)
    gc.collect()
    before = len(gc.get_objects())
    for n in range(2000):
        await bus.publish(f"run:{n % 50}", {**event, "n": n})
    gc.collect()
    assert len(gc.get_objects()) - before < 100  # a deque per channel, not objects per event
    assert await take(bus.subscribe("run:7", 0), 2) == [
        (1, {**event, "n": 7}),
        (2, {**event, "n": 57}),
    ]


async def wait_for_count(seen: list[Any], n: int) -> None:
    for _ in range(500):
        if len(seen) >= n:
            return
        await asyncio.sleep(0.01)


async def test_attach_replays_the_tail_then_delivers_live_in_place(bus: Any) -> None:
    channel = f"session:{uuid.uuid4().hex}"
    seqs = [await bus.publish(channel, {"n": n}) for n in range(5)]
    seen: list[tuple[int, Any]] = []
    detach = await bus.attach(channel, seqs[2], lambda seq, event: seen.append((seq, event["n"])))
    assert seen == [(seqs[3], 3), (seqs[4], 4)]  # the backlog, during attach itself
    live = await bus.publish(channel, {"n": 5})
    if isinstance(bus, MemoryEventBus):
        assert seen[-1] == (live, 5)  # handed over inside publish: no task, no loop pass
    await wait_for_count(seen, 3)
    assert seen == [(seqs[3], 3), (seqs[4], 4), (live, 5)]
    detach()
    await bus.publish(channel, {"n": 6})
    await asyncio.sleep(0.05)
    assert len(seen) == 3  # detached: nothing more
    assert not bus._router.has_subscribers(channel)


async def test_events_published_while_attaching_come_once_in_order(bus: Any) -> None:
    """An event can land between subscribing and reading the log (Redis: the log read is a
    round trip); it is in both, and must be delivered once, after the backlog."""
    channel = f"session:{uuid.uuid4().hex}"
    first = await bus.publish(channel, {"n": 0})
    read_backlog = bus._backlog

    async def racing_backlog(ch: str, after: int | None) -> Any:
        await bus.publish(channel, {"n": 1})  # lands live and in the log
        return await read_backlog(ch, after)

    bus._backlog = racing_backlog
    seen: list[int] = []
    detach = await bus.attach(channel, first - 1, lambda seq, event: seen.append(seq))
    await bus.publish(channel, {"n": 2})
    await wait_for_count(seen, 3)
    await asyncio.sleep(0.05)
    assert seen == [first, first + 1, first + 2]
    detach()


async def test_listen_brings_live_events_only(bus: Any) -> None:
    channel = f"control:{uuid.uuid4().hex}"
    await bus.publish(channel, {"type": "before"})
    await asyncio.sleep(0.05)  # Redis: past this process's reader too
    seen: list[str] = []
    stop = bus.listen(channel, lambda seq, event: seen.append(event["type"]))
    await bus.publish(channel, {"type": "cancel"})
    await wait_for_count(seen, 1)
    assert seen == ["cancel"]
    stop()


async def test_a_failing_sink_is_detached_and_the_others_still_get_the_event() -> None:
    bus = MemoryEventBus()
    seen: list[int] = []
    detach_self: list[Any] = []

    def broken(seq: int, event: Any) -> None:
        raise RuntimeError("consumer bug")

    def leaves(seq: int, event: Any) -> None:  # detaches itself while the event is routed
        seen.append(-seq)
        detach_self[0]()

    await bus.attach("session:s", 0, broken)
    detach_self.append(await bus.attach("session:s", 0, leaves))
    await bus.attach("session:s", 0, lambda seq, event: seen.append(seq))
    first = await bus.publish("session:s", {})  # neither the bug nor the detach reach here
    second = await bus.publish("session:s", {})
    assert sorted(seen) == [-first, first, second]
    assert len(bus._router._subs["session:s"]) == 1  # the broken one and the leaver are gone


async def test_a_run_channel_revived_after_a_long_pause_goes_on_above_its_seqs(bus: Any) -> None:
    """A run paused for an approval longer than the bus keeps its channel: when it resumes,
    its events must still reach a follower from before the pause (who is past seq 3)."""
    channel = f"run:{uuid.uuid4().hex}"
    seen = [await bus.publish(channel, {"n": n}) for n in range(3)]
    assert seen == [1, 2, 3]
    await bus.revive(channel)  # not forgotten yet: the counter goes on as it was
    assert await bus.publish(channel, {"n": 3}) == 4
    await forget(bus, channel)
    assert await bus.last_seq(channel) == 0
    await bus.revive(channel)
    follower = bus.subscribe(channel, seen[-1])
    pending = asyncio.ensure_future(anext(follower))
    await asyncio.sleep(0.05)
    resumed = await bus.publish(channel, {"n": "resumed"})
    assert resumed > int(time.time() * 1000) * 1000 - 60_000_000  # the time base, not 1
    assert await asyncio.wait_for(pending, 5) == (resumed, {"n": "resumed"})
    await follower.aclose()


async def test_reading_a_run_channels_seq_writes_nothing() -> None:
    if not REDIS_URL:
        pytest.skip("CHAT_PLATFORM_TEST_REDIS_URL not set")
    import redis.asyncio as aioredis

    client = aioredis.from_url(REDIS_URL)
    bus = RedisEventBus(client, prefix=f"cp-test-{uuid.uuid4().hex[:8]}:")
    try:
        channel = f"run:{uuid.uuid4().hex}"
        assert await bus.last_seq(channel) == 0
        assert await client.exists(*bus._keys(channel)) == 0
        await bus.publish(channel, {"n": 0})
        assert await bus.last_seq(channel) == 1
        await client.delete(*bus._keys(channel))
    finally:
        await client.aclose()
