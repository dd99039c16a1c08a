"""The fast paths that replaced standard-library code on every chat turn write exactly what the
code before them wrote: JSON as `json.dumps(..., separators=(",", ":"), ensure_ascii=False,
default=str)`, ids of [a-z2-7], timestamps as 2026-01-15T10:30:00.000Z."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import pytest

from chat_platform import json_codec
from chat_platform.ids import has_prefix, iso, new_id, now_iso
from chat_platform.store.statements import sqlite_timestamp


def stdlib(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


@dataclass
class Point:
    x: int


VALUES = [
    {"type": "node:text-delta", "delta": "héllo “quoted” \n\t\\ \u2028 😀", "seq": 17},
    {"nested": [1, 2.5, -0.0, True, False, None, {"a": []}], "empty": {}},
    {1: "int key", 2.5: "float key", None: "none key"},  # non-string keys
    {True: "bool key", False: "another"},
    {"when": datetime(2026, 1, 15, 10, 30, tzinfo=UTC)},  # default=str, not orjson's format
    {"point": Point(3)},  # dataclasses through default=str too
    {"big": 2**70, "neg": -(2**70)},  # beyond 64 bits: the standard library's encoder
    "a plain string",
    [],
]


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_dumps_writes_what_the_standard_library_wrote(value: object) -> None:
    assert json_codec.dumps(value) == stdlib(value)
    assert json_codec.dumps_bytes(value) == stdlib(value).encode()


@pytest.mark.parametrize("value", VALUES[:4] + VALUES[6:], ids=range(7))
def test_loads_reads_it_back(value: object) -> None:
    assert json_codec.loads(stdlib(value)) == json.loads(stdlib(value))
    assert json_codec.loads(stdlib(value).encode()) == json.loads(stdlib(value))


def test_loads_accepts_what_the_standard_library_accepts() -> None:
    # orjson refuses these; a provider's chunk carrying one still parses.
    assert json_codec.loads('{"d":"\\ud83d"}') == {"d": "\ud83d"}
    value = json_codec.loads("[NaN, Infinity]")
    assert value[0] != value[0] and value[1] == float("inf")
    for bad in ("", "{", '{"a":}', "[1,]", b"\xff"):
        with pytest.raises(ValueError):
            json_codec.loads(bad)


def test_ids_are_base32_and_unguessable() -> None:
    ids = [new_id("run") for _ in range(20000)]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"run_[a-z2-7]{20}", i) and has_prefix(i, "run") for i in ids)
    # Every character equally likely (each of 32 symbols ~12,500 times in 400,000).
    counts = Counter("".join(i[4:] for i in ids))
    assert len(counts) == 32
    assert min(counts.values()) > 11500 and max(counts.values()) < 13500
    assert re.fullmatch(r"wf_[a-z2-7]{8}", new_id("wf", 8))


def test_timestamps_are_utc_milliseconds_with_z() -> None:
    assert iso(datetime(2026, 1, 15, 10, 30, 0, 123999, tzinfo=UTC)) == "2026-01-15T10:30:00.123Z"
    assert iso(datetime(2026, 1, 15, 10, 30)) == "2026-01-15T10:30:00.000Z"  # naive = UTC
    plus2 = timezone(timedelta(hours=2))
    assert iso(datetime(2026, 1, 15, 12, 30, 0, 5000, tzinfo=plus2)) == "2026-01-15T10:30:00.005Z"
    assert iso(None) is None
    # formatted once per second: the next second, and a return to an earlier one, are new
    second = datetime(2026, 1, 15, 10, 30, 1, tzinfo=UTC)
    assert iso(second) == "2026-01-15T10:30:01.000Z"
    assert iso(second - timedelta(days=400)) == "2024-12-11T10:30:01.000Z"
    assert sqlite_timestamp(second) == "2026-01-15 10:30:01+00:00"  # the storage form's own
    assert iso(second + timedelta(microseconds=1500)) == "2026-01-15T10:30:01.001Z"
    now = now_iso()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", now)
    parsed = datetime.fromisoformat(now.replace("Z", "+00:00"))
    assert abs(parsed - datetime.now(UTC)) < timedelta(seconds=5)
