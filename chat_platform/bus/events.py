"""The event bus: every run and session event goes through it, so any process can serve any
stream. Each channel (`run:{id}`, `session:{id}`) numbers its events with a monotonically
increasing `seq` and keeps a bounded replay log; `subscribe(channel, after_seq)` replays what
is still logged after `after_seq`, then follows live, de-duplicated by seq. `attach(channel,
after_seq, deliver)` does the same for a callback called in place as each event is published
(no queue and no task in between: a chat socket's frames), and `listen(channel, deliver)` hands
over live events only (a run's cancel signal).

`MemoryEventBus` serves one process. `RedisEventBus` shares channels between processes: seq
from INCR, the log in a capped list with a TTL, fan-out through ONE pattern subscription per
process that routes to local subscribers in memory (never one subscription per socket).
Subscriber queues are bounded: a consumer that falls too far behind gets `SubscriberOverflow`.

A session channel's counter starts at a time-based base (`seq_base`) when it is first used, not
at 0: a session outlives a process (memory bus) and the Redis TTL, and a counter restarted at 0
would hand out seqs that clients already saw — a socket or a widget de-duplicating by seq
would silently drop the new events, and a stale `resume_after_seq` could look resumable. A
restarted counter always starts far above any seq of its earlier life. Run channels count
from 1 (their seqs are the runs' own event numbers, `Last-Event-ID` on SSE); a run that resumes
after an approval calls `revive` first, so a counter forgotten during a long pause restarts at
the time-based base too, never below the seqs its followers saw before the pause.
May import: redis, the standard library and chat_platform.json_codec.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict, deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from functools import partial
from typing import Any, Protocol

from chat_platform import json_codec

log = logging.getLogger("chat_platform.bus")

REPLAY_LOG_SIZE = 5000
REPLAY_TTL_S = 3600
MEMORY_MAX_EVENTS = 50_000  # all the memory bus's logs together (JSON, ~1 KB each at most)
QUEUE_LIMIT = 10_000


def time_base() -> int:
    """1000 × Unix milliseconds: above every seq of a counter's earlier life (safe as a
    JavaScript number until the year 2255; a life would need over 1000 events per
    millisecond to reach the next one's base)."""
    return int(time.time() * 1000) * 1000


def seq_base(channel: str) -> int:
    """Where a fresh counter starts: the time base for session channels, 0 for the others."""
    return time_base() if channel.startswith("session:") else 0


Item = tuple[int, dict[str, Any]]
# Called in place with (seq, event) while the event is published; it must not block (it only
# enqueues). An exception detaches it and is logged; the publisher never sees it.
Deliver = Callable[[int, dict[str, Any]], None]
Detach = Callable[[], None]


class SubscriberOverflow(Exception):
    """A subscriber fell more than QUEUE_LIMIT events behind."""


class EventBus(Protocol):
    async def publish(self, channel: str, event: dict[str, Any]) -> int: ...

    async def publish_to(self, channels: Sequence[str], event: dict[str, Any]) -> list[int]: ...

    def subscribe(
        self, channel: str, after_seq: int | None = None
    ) -> AsyncIterator[tuple[int, dict[str, Any]]]: ...

    def subscribe_batches(
        self, channel: str, after_seq: int | None = None
    ) -> AsyncIterator[list[tuple[int, dict[str, Any]]]]: ...

    async def attach(self, channel: str, after_seq: int, deliver: Deliver) -> Detach: ...

    def listen(self, channel: str, deliver: Deliver) -> Detach: ...

    async def last_seq(self, channel: str) -> int: ...

    async def revive(self, channel: str) -> None: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


class _Subscriber:
    __slots__ = ("channel", "overflowed", "queue")

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self.queue: asyncio.Queue[tuple[int, dict[str, Any]]] = asyncio.Queue(QUEUE_LIMIT)
        self.overflowed = False

    def offer(self, item: tuple[int, dict[str, Any]]) -> None:
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.overflowed = True


class _Sink:
    """A subscriber called in place: live events that arrive while its backlog is read wait in
    `pending`; then everything after `after` is handed over in order, once."""

    __slots__ = ("channel", "deliver", "last", "pending")

    def __init__(self, channel: str, deliver: Deliver, *, live: bool = False) -> None:
        self.channel = channel
        self.deliver = deliver
        self.last = 0
        self.pending: list[Item] | None = None if live else []

    def offer(self, item: Item) -> None:
        pending = self.pending
        if pending is not None:
            if len(pending) < QUEUE_LIMIT:  # one backlog read's worth; past it, start() fails
                pending.append(item)
            return
        if item[0] > self.last:
            self.last = item[0]
            self.deliver(*item)

    def start(self, backlog: list[Item], after: int) -> None:
        pending, self.pending = self.pending or [], None
        if len(pending) >= QUEUE_LIMIT:
            raise SubscriberOverflow(f"subscriber of {self.channel} fell behind")
        self.last = after
        for item in backlog:
            self.offer(item)
        for item in pending:
            self.offer(item)


class _LocalRouter:
    """Local subscribers by channel; shared by both buses."""

    def __init__(self) -> None:
        self._subs: dict[str, set[_Subscriber | _Sink]] = {}

    def add(self, sub: _Subscriber | _Sink) -> None:
        self._subs.setdefault(sub.channel, set()).add(sub)

    def remove(self, sub: _Subscriber | _Sink) -> None:
        subs = self._subs.get(sub.channel)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[sub.channel]

    def has_subscribers(self, channel: str) -> bool:
        return channel in self._subs

    def route(self, channel: str, seq: int, event: dict[str, Any]) -> None:
        subs = self._subs.get(channel)
        if subs is None:
            return
        item = (seq, event)
        for sub in tuple(subs):  # a sink may detach itself (or others) while it runs
            try:
                sub.offer(item)
            except Exception:
                log.exception("subscriber of %s failed; detached", channel)
                self.remove(sub)

    async def follow_batches(
        self, sub: _Subscriber, backlog: list[tuple[int, dict[str, Any]]], after: int
    ) -> AsyncIterator[list[tuple[int, dict[str, Any]]]]:
        """The backlog, then live events, de-duplicated by seq; each step yields everything
        already queued (at least one event), so a consumer writing to a socket sends a burst
        of deltas in one write."""
        last = after
        try:
            batch = [item for item in backlog if item[0] > last]
            if batch:
                last = batch[-1][0]
                yield batch
            queue = sub.queue
            while True:
                if sub.overflowed:
                    raise SubscriberOverflow(f"subscriber of {sub.channel} fell behind")
                item = await queue.get()
                batch = [item] if item[0] > last else []
                last = max(last, item[0])
                while not queue.empty():
                    item = queue.get_nowait()
                    if item[0] > last:
                        last = item[0]
                        batch.append(item)
                if batch:
                    yield batch
        finally:
            self.remove(sub)


class _Following:
    """Following a channel, the same for both buses; each supplies `_backlog`."""

    _router: _LocalRouter

    async def _backlog(self, channel: str, after_seq: int | None) -> tuple[list[Item], int]:
        """The logged events after `after_seq` (None: after the latest), and that seq."""
        raise NotImplementedError

    async def subscribe_batches(
        self, channel: str, after_seq: int | None = None
    ) -> AsyncIterator[list[tuple[int, dict[str, Any]]]]:
        sub = _Subscriber(channel)
        self._router.add(sub)  # subscribe first, then read the log: nothing falls between
        try:
            backlog, after = await self._backlog(channel, after_seq)
        except BaseException:
            self._router.remove(sub)
            raise
        async for batch in self._router.follow_batches(sub, backlog, after):
            yield batch

    def subscribe(
        self, channel: str, after_seq: int | None = None
    ) -> AsyncIterator[tuple[int, dict[str, Any]]]:
        """`subscribe_batches`, one event at a time."""
        return one_by_one(self.subscribe_batches(channel, after_seq))

    async def attach(self, channel: str, after_seq: int, deliver: Deliver) -> Detach:
        """`deliver(seq, event)` for the events logged after `after_seq`, then for each live
        one in place as it is published, in order and once each, until detached."""
        sink = _Sink(channel, deliver)
        self._router.add(sink)
        try:
            sink.start(*await self._backlog(channel, after_seq))
        except BaseException:
            self._router.remove(sink)
            raise
        return partial(self._router.remove, sink)

    def listen(self, channel: str, deliver: Deliver) -> Detach:
        """`deliver(seq, event)` in place for each event that reaches this process from now
        on (no replay, no counter read: on Redis, no round trip)."""
        sink = _Sink(channel, deliver, live=True)
        self._router.add(sink)
        return partial(self._router.remove, sink)


class MemoryEventBus(_Following):
    """One process's bus. Like Redis's keys, a channel unused for `ttl_s` (no publish, no
    subscriber) is forgotten — log and counter — so a long-lived server does not keep every
    run's events forever; a session channel used again starts over at a fresh `seq_base`.
    The logs also hold at most about `max_events` events in all: past that, the least recently
    used channels nobody follows are forgotten first (at 200 turns/s an hour of logs would
    be gigabytes). A forgotten channel cannot be replayed; its clients reload the history.

    Logged events are kept as JSON text, as on Redis: (seq, str) is a pair the garbage
    collector stops tracking, where (seq, dict) pairs piled up in its oldest generation and
    every full collection walked them all (pauses growing with the logs, each one for every
    turn in flight). Text, not orjson's bytes: each of those holds a ~4 KB heap block
    (measured: 118 MB of RSS for 30,000 logged events, 11 MB as text). Replay decodes them;
    live delivery hands over the published dict itself."""

    def __init__(
        self,
        log_size: int = REPLAY_LOG_SIZE,
        ttl_s: float = REPLAY_TTL_S,
        max_events: int = MEMORY_MAX_EVENTS,
    ) -> None:
        self._router = _LocalRouter()
        self._seq: dict[str, int] = {}
        self._logs: dict[str, deque[tuple[int, str]]] = {}
        self._log_size = log_size
        self._ttl_s = ttl_s
        self._max_events = max_events
        self._events = 0  # in all the logs
        self._used: OrderedDict[str, float] = OrderedDict()  # channel → last use, oldest first
        self._swept = 0.0

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def _counter(self, channel: str) -> int:
        now = time.monotonic()
        self._used[channel] = now
        self._used.move_to_end(channel)
        if now - self._swept > 1.0:
            self._swept = now
            self._expire(now)
        seq = self._seq.get(channel)
        if seq is None:
            seq = self._seq[channel] = seq_base(channel)
        return seq

    def _expire(self, now: float, *, down_to: int | None = None) -> None:
        """Forget channels unused for `ttl_s` — or, with `down_to`, the least recently used
        ones until the logs hold at most that many events. Followed channels are kept."""
        for _ in range(len(self._used)):
            channel, used = next(iter(self._used.items()))
            if down_to is None and now - used < self._ttl_s:
                return
            if down_to is not None and self._events <= down_to:
                return
            if self._router.has_subscribers(channel):
                self._used.move_to_end(channel)  # followed: still in use
                self._used[channel] = now
                continue
            del self._used[channel]
            self._seq.pop(channel, None)
            log_ = self._logs.pop(channel, None)
            if log_ is not None:
                self._events -= len(log_)

    async def publish(self, channel: str, event: dict[str, Any]) -> int:
        return self._publish(channel, event, json_codec.dumps(event))

    async def publish_to(self, channels: Sequence[str], event: dict[str, Any]) -> list[int]:
        """`publish` on each channel in turn, the event encoded once."""
        text = json_codec.dumps(event)
        return [self._publish(channel, event, text) for channel in channels]

    def _publish(self, channel: str, event: dict[str, Any], text: str) -> int:
        seq = self._counter(channel) + 1
        self._seq[channel] = seq
        log_ = self._logs.get(channel)
        if log_ is None:
            log_ = self._logs[channel] = deque(maxlen=self._log_size)
        if len(log_) < self._log_size:
            self._events += 1
        log_.append((seq, text))
        if self._events > self._max_events:
            self._expire(time.monotonic(), down_to=self._max_events * 9 // 10)
        self._router.route(channel, seq, event)
        return seq

    async def last_seq(self, channel: str) -> int:
        if channel not in self._seq and not seq_base(channel):
            return 0  # nothing to pin (as on Redis): no entry made by a read
        return self._counter(channel)

    async def revive(self, channel: str) -> None:
        """A channel used again after a pause: if its counter was forgotten meanwhile, it
        restarts at the time base (see the module's docstring)."""
        if not self._seq.get(channel):
            self._seq[channel] = time_base()
        self._counter(channel)

    async def _backlog(self, channel: str, after_seq: int | None) -> tuple[list[Item], int]:
        after = self._counter(channel) if after_seq is None else after_seq
        logged = self._logs.get(channel, ())
        return [(seq, json_codec.loads(data)) for seq, data in logged if seq > after], after


# One event on one or more channels, numbered on each. KEYS: (seq counter, log, pub/sub
# channel) per channel. ARGV: event, log size, TTL, then each channel's seq base.
_PUBLISH = """
local seqs = {}
for i = 1, #KEYS / 3 do
  local counter, log, channel = KEYS[i * 3 - 2], KEYS[i * 3 - 1], KEYS[i * 3]
  if redis.call('EXISTS', counter) == 0 then redis.call('SET', counter, ARGV[3 + i]) end
  local seq = redis.call('INCR', counter)
  redis.call('EXPIRE', counter, ARGV[3])
  local entry = string.format('%d', seq) .. ' ' .. ARGV[1]
  redis.call('RPUSH', log, entry)
  redis.call('LTRIM', log, -tonumber(ARGV[2]), -1)
  redis.call('EXPIRE', log, ARGV[3])
  redis.call('PUBLISH', channel, entry)
  seqs[i] = seq
end
return seqs
"""

# The counter (started at the base if missing, so the first event follows on from it).
# KEYS: seq counter. ARGV: TTL, seq base.
_LAST_SEQ = """
if redis.call('SET', KEYS[1], ARGV[2], 'NX', 'EX', ARGV[1]) then return tonumber(ARGV[2]) end
return tonumber(redis.call('GET', KEYS[1]))
"""

# The log entries after a seq, and the counter, read atomically: only the tail that is needed.
# KEYS: seq counter, log. ARGV: after.
_TAIL = """
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
local count = last - tonumber(ARGV[1])
if count <= 0 then return {} end
return redis.call('LRANGE', KEYS[2], -count, -1)
"""


class RedisEventBus(_Following):
    def __init__(self, redis: Any, prefix: str = "cp:") -> None:
        self._redis = redis
        self._prefix = prefix
        self._router = _LocalRouter()
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._script = redis.register_script(_PUBLISH)
        self._last_seq_script = redis.register_script(_LAST_SEQ)
        self._tail_script = redis.register_script(_TAIL)

    def _keys(self, channel: str) -> list[str]:
        p = self._prefix
        return [f"{p}seq:{channel}", f"{p}log:{channel}", f"{p}ch:{channel}"]

    async def start(self) -> None:
        self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        await self._pubsub.psubscribe(f"{self._prefix}ch:*")
        self._reader = asyncio.create_task(self._read())

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()

    async def _read(self) -> None:
        offset = len(self._prefix) + 3
        while True:
            try:
                async for message in self._pubsub.listen():
                    if message.get("type") != "pmessage":
                        continue
                    channel = _text(message["channel"])[offset:]
                    seq, event = _decode(message["data"])
                    self._router.route(channel, seq, event)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("redis event bus reader failed; retrying")
                await asyncio.sleep(0.5)

    async def publish(self, channel: str, event: dict[str, Any]) -> int:
        return (await self.publish_to((channel,), event))[0]

    async def publish_to(self, channels: Sequence[str], event: dict[str, Any]) -> list[int]:
        """`publish` on each channel, the event encoded once: one script call, one round
        trip."""
        keys = [key for channel in channels for key in self._keys(channel)]
        bases = [seq_base(channel) for channel in channels]
        args = [json_codec.dumps_bytes(event), REPLAY_LOG_SIZE, REPLAY_TTL_S, *bases]
        return [int(seq) for seq in await self._script(keys=keys, args=args)]

    async def last_seq(self, channel: str) -> int:
        key = self._keys(channel)[0]
        base = seq_base(channel)
        if base == 0:  # nothing to pin: a plain read, no key written
            return int(await self._redis.get(key) or 0)
        return int(await self._last_seq_script(keys=[key], args=[REPLAY_TTL_S, base]))

    async def revive(self, channel: str) -> None:
        """A channel used again after a pause: a forgotten counter restarts at the time base."""
        await self._redis.set(self._keys(channel)[0], time_base(), nx=True, ex=REPLAY_TTL_S)

    async def _backlog(self, channel: str, after_seq: int | None) -> tuple[list[Item], int]:
        if after_seq is None:
            return [], await self.last_seq(channel)
        raw = await self._tail_script(keys=self._keys(channel)[:2], args=[after_seq])
        return [item for item in map(_decode, raw) if item[0] > after_seq], after_seq


async def one_by_one(
    batches: AsyncGenerator[list[tuple[int, dict[str, Any]]], None],
) -> AsyncIterator[tuple[int, dict[str, Any]]]:
    """Batches of (seq, event), one event at a time (`subscribe` from `subscribe_batches`);
    closing it closes the batches, and so the subscription, at once."""
    async with contextlib.aclosing(batches):
        async for batch in batches:
            for item in batch:
                yield item


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _decode(raw: Any) -> tuple[int, dict[str, Any]]:
    text = _text(raw)
    seq, _, data = text.partition(" ")
    return int(seq), json_codec.loads(data)
