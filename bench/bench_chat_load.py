"""Chat load generator: C concurrent sessions × T turns, closed loop, history growing each
turn, over the WebSocket protocol and over POST /api/v1/run/stream, against a real
`chat-platform serve` process on SQLite whose `openai` provider points at a local
OpenAI-compatible stub streaming 20 tokens with no delay — so the figures are platform
overhead, provider HTTP path included. Prints time-to-first-delta and turn time
p50/p95/p99, turns/s, the server's peak RSS, CPU per turn and `node:text-delta` events per
turn (the deltas one network read brings are one event: with no delay the 20 tokens arrive
in a few reads); then idle sockets held and RSS per socket. Every streamed answer is checked.

    .venv/bin/python bench/bench_chat_load.py [--concurrency 10 50] [--turns 20] [--idle 10000]
        [--stub-delay-ms 2]   # every token a read — and an event — of its own

Nothing here asserts: it prints figures (issue targets: C=10 p99 TTFD ≤ 20 ms, C=50 ≤ 80 ms,
≥ 300 turns/s, < 300 MB RSS under load, 10,000 idle sockets < 500 MB).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import websockets

ROOT = Path(__file__).resolve().parent.parent
TOKENS = 20  # the stub's answer: " tok0 tok1 … tok19", one SSE chunk per token
ANSWER = "".join(f" tok{i}" for i in range(TOKENS))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: process exited")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


class Stack:
    """The stub provider and one chat-platform server process."""

    def __init__(self, stub_delay_ms: float = 0.0) -> None:
        self.stub_delay_ms = stub_delay_ms
        self.tmp = tempfile.TemporaryDirectory()
        self.stub_port, self.port = free_port(), free_port()
        self.procs: list[subprocess.Popen] = []

    def __enter__(self) -> Stack:
        stub = subprocess.Popen(
            [
                *(sys.executable, str(ROOT / "bench" / "openai_stub.py")),
                *("--port", str(self.stub_port), "--tokens", str(TOKENS)),
                *("--delay-ms", str(self.stub_delay_ms)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.procs.append(stub)
        self.stub = stub
        env = {
            **os.environ,
            "CHAT_PLATFORM_DATA_DIR": self.tmp.name,
            "CHAT_PLATFORM_RATE_LIMIT_PER_MINUTE": "10000000",
            "OPENAI_BASE_URL": f"http://127.0.0.1:{self.stub_port}/v1",
            "OPENAI_API_KEY": "sk-bench",
        }
        env.pop("CHAT_PLATFORM_DATABASE_URL", None)
        env.pop("CHAT_PLATFORM_REDIS_URL", None)
        cli = [sys.executable, "-m", "chat_platform.cli"]
        self.key = subprocess.run(
            [*cli, "keys", "create", "--role", "admin"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        server = subprocess.Popen(
            [*cli, "serve", "--port", str(self.port), "--log-level", "warning"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.procs.append(server)
        self.server = server
        self.base = f"http://127.0.0.1:{self.port}"
        wait_http(self.base + "/healthz", server)
        return self

    def __exit__(self, *exc: object) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        self.tmp.cleanup()


def setup_workflow(stack: Stack) -> str:
    h = {"Authorization": f"Bearer {stack.key}"}
    with httpx.Client(base_url=stack.base + "/api/v1", headers=h, timeout=30) as c:
        project = c.post("/projects", json={"name": "bench"}).json()["id"]
        nodes = [
            {"id": "start", "type": "start", "data": {}},
            {
                "id": "agent",
                "type": "agent",
                "data": {
                    "provider": "openai",
                    "model": "stub",
                    "instructions": "Be brief.",
                    "include_history": True,
                },
            },
            {"id": "end", "type": "end", "data": {"output": "{{output}}"}},
        ]
        edges = [
            {"id": "e1", "source": "start", "target": "agent"},
            {"id": "e2", "source": "agent", "target": "end"},
        ]
        wf = c.post(
            "/workflows",
            json={"projectId": project, "name": "bench", "nodes": nodes, "edges": edges},
        ).json()["id"]
        r = c.post(f"/workflows/{wf}/publish")
        r.raise_for_status()
        return wf


class Sampler:
    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._task = pid, 0.0, None

    async def run(self) -> None:
        while True:
            self.peak = max(self.peak, rss_mb(self.pid))
            await asyncio.sleep(0.1)


class RawHttp:
    """A minimal keep-alive HTTP/1.1 client (JSON POST, chunked SSE): httpx spent ~20 ms of
    CPU per streamed turn on the client side, on the same two cores as the server."""

    def __init__(self, host: str, port: int, key: str) -> None:
        self.host, self.port, self.key = host, port, key
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> RawHttp:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.writer is not None
        self.writer.close()

    async def _request(self, path: str, body: dict) -> tuple[int, dict[str, str]]:
        assert self.reader is not None and self.writer is not None
        data = json.dumps(body).encode()
        self.writer.write(
            (
                f"POST /api/v1{path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                f"Authorization: Bearer {self.key}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(data)}\r\n\r\n"
            ).encode()
            + data
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            if line:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
        return status, headers

    async def _chunks(self) -> AsyncIterator[bytes]:
        assert self.reader is not None
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            chunk = await self.reader.readexactly(size + 2)
            if size == 0:
                return
            yield chunk[:-2]

    async def post_json(self, path: str, body: dict) -> dict:
        status, headers = await self._request(path, body)
        assert self.reader is not None
        if "content-length" in headers:
            raw = await self.reader.readexactly(int(headers["content-length"]))
        else:
            raw = b"".join([c async for c in self._chunks()])
        if status >= 400:
            raise RuntimeError(f"{path}: HTTP {status}: {raw[:300]!r}")
        return json.loads(raw)

    async def stream(self, path: str, body: dict) -> AsyncIterator[dict]:
        """The JSON `data:` payloads of an SSE response, read to its end."""
        status, headers = await self._request(path, body)
        if status >= 400 or headers.get("transfer-encoding") != "chunked":
            raise RuntimeError(f"{path}: HTTP {status} {headers}")
        buf = b""
        async for chunk in self._chunks():
            buf += chunk
            *events, buf = buf.split(b"\r\n\r\n" if b"\r\n\r\n" in buf else b"\n\n")
            for event in events:
                for line in event.splitlines():
                    if line.startswith(b"data:"):
                        yield json.loads(line[5:])


@dataclass
class Tally:
    """Per-turn figures of one load run: time to first delta, turn time, delta events."""

    ttfd: list[float] = field(default_factory=list)
    turn: list[float] = field(default_factory=list)
    deltas: list[int] = field(default_factory=list)

    def add(self, t0: float, first: float | None, text: list[str]) -> None:
        if "".join(text) != ANSWER:  # coalesced deltas must still add up to the exact answer
            raise RuntimeError(f"streamed text {''.join(text)!r} is not the stub's answer")
        self.turn.append(time.perf_counter() - t0)
        self.ttfd.append(first if first is not None else float("nan"))
        self.deltas.append(len(text))


async def sse_client(stack: Stack, wf: str, turns: int, tally: Tally) -> None:
    async with RawHttp("127.0.0.1", stack.port, stack.key) as c:
        session = (await c.post_json("/sessions", {"workflow_id": wf}))["id"]
        for i in range(turns):
            body = {
                "workflow_id": wf,
                "session_id": session,
                "input": [{"role": "user", "content": f"turn {i} hello"}],
            }
            t0 = time.perf_counter()
            first = None
            done = False
            text: list[str] = []
            async for event in c.stream("/run/stream", body):
                if event.get("type") == "node:text-delta":
                    first = time.perf_counter() - t0 if first is None else first
                    text.append(event["delta"])
                if event.get("type") == "run:result":
                    done = True  # keep reading to the end of the body (keep-alive)
            if not done:
                raise RuntimeError("stream ended without run:result")
            tally.add(t0, first, text)


async def ws_client(stack: Stack, wf: str, turns: int, tally: Tally) -> None:
    url = stack.base.replace("http", "ws") + "/api/v1/ws"
    async with websockets.connect(url, max_size=2**20, compression=None) as ws:
        await ws.send(json.dumps({"type": "auth", "api_key": stack.key}))
        await _expect(ws, "auth.ok")
        await ws.send(json.dumps({"type": "session.open", "workflow_id": wf, "new": True}))
        await _expect(ws, "session.ready")
        for i in range(turns):
            t0 = time.perf_counter()
            first = None
            text: list[str] = []
            await ws.send(
                json.dumps(
                    {
                        "type": "message.send",
                        "content": f"turn {i} hello",
                        "client_message_id": uuid.uuid4().hex,
                    }
                )
            )
            while True:
                frame = json.loads(await ws.recv())
                if frame.get("type") == "node:text-delta":
                    first = time.perf_counter() - t0 if first is None else first
                    text.append(frame["delta"])
                if frame.get("type") == "run:result":
                    break
                if frame.get("type") == "error":
                    raise RuntimeError(frame)
            tally.add(t0, first, text)


async def _expect(ws, kind: str) -> dict:
    while True:
        frame = json.loads(await ws.recv())
        if frame.get("type") == kind:
            return frame
        if frame.get("type") == "error":
            raise RuntimeError(frame)


async def load(
    stack: Stack, wf: str, transport: str, concurrency: int, turns: int, profile: str = ""
) -> None:
    tally = Tally()
    sampler = Sampler(stack.server.pid)
    task = asyncio.create_task(sampler.run())
    client = sse_client if transport == "sse" else ws_client
    cpu0 = cpu_s(stack.server.pid), cpu_s(stack.stub.pid), time.process_time()
    spy = None
    if profile:
        out = f"{profile}-{transport}-c{concurrency}.txt"
        spy = subprocess.Popen(  # noqa: ASYNC220 (a profiler, started once)
            [
                str(Path(sys.executable).parent / "py-spy"),
                "record",
                "-p",
                str(stack.server.pid),
                "-o",
                out,
                "-r",
                "200",
                "-f",
                "raw",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    t0 = time.perf_counter()
    await asyncio.gather(*(client(stack, wf, turns, tally) for _ in range(concurrency)))
    wall = time.perf_counter() - t0
    if spy is not None:
        spy.send_signal(2)
        spy.wait(30)
    task.cancel()
    tt = tally.turn
    n = max(1, len(tt))
    server_ms = (cpu_s(stack.server.pid) - cpu0[0]) * 1000 / n
    stub_ms = (cpu_s(stack.stub.pid) - cpu0[1]) * 1000 / n
    client_ms = (time.process_time() - cpu0[2]) * 1000 / n
    ms = [x * 1000 for x in tally.ttfd if x == x]
    tms = [x * 1000 for x in tt]
    print(
        f"{transport:>3} C={concurrency:<3} T={turns:<3} turns={len(tt):<5} "
        f"TTFD p50/p95/p99 {pct(ms, 50):6.1f}/{pct(ms, 95):6.1f}/{pct(ms, 99):6.1f} ms  "
        f"turn p50/p95/p99 {pct(tms, 50):6.1f}/{pct(tms, 95):6.1f}/{pct(tms, 99):6.1f} ms  "
        f"{len(tt) / wall:6.1f} turns/s  server RSS peak {sampler.peak:6.1f} MB  "
        f"CPU/turn server {server_ms:.1f} stub {stub_ms:.1f} client {client_ms:.1f} ms  "
        f"delta events/turn {sum(tally.deltas) / n:.1f}",
        flush=True,
    )


async def warm_up(stack: Stack, wf: str, transport: str, clients: int) -> None:
    """Imports, the compiled workflow, caches, and as many keep-alive connections to the stub
    as the load will hold at once (else the first turns of a run pay for TCP connects to a
    loopback stub: a bench artifact, not the platform's steady state)."""
    client = sse_client if transport == "sse" else ws_client
    await asyncio.gather(*(client(stack, wf, 2, Tally()) for _ in range(clients)))


async def idle(stack: Stack, wf: str, count: int) -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, count + 1000), hard))
    url = stack.base.replace("http", "ws") + "/api/v1/ws"
    before = rss_mb(stack.server.pid)
    sockets = []
    sem = asyncio.Semaphore(200)

    async def one() -> None:
        async with sem:
            ws = await websockets.connect(url, max_size=2**20, compression=None, ping_interval=None)
            await ws.send(json.dumps({"type": "auth", "api_key": stack.key}))
            await _expect(ws, "auth.ok")
            sockets.append(ws)

    await asyncio.gather(*(one() for _ in range(count)))
    await asyncio.sleep(1)
    after = rss_mb(stack.server.pid)
    print(
        f"idle: {len(sockets)} authenticated sockets held; server RSS {before:.1f} → "
        f"{after:.1f} MB ({(after - before) * 1024 / max(1, len(sockets)):.1f} KiB per socket)",
        flush=True,
    )
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[10, 50])
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--transports", nargs="+", default=["ws", "sse"])
    parser.add_argument("--idle", type=int, default=10000, help="idle sockets (0 to skip)")
    parser.add_argument(
        "--stub-delay-ms",
        type=float,
        default=0.0,
        help="pause between the stub's tokens (the issue's setup is 0; with a few ms every "
        "token arrives in a read of its own, as from a real model, and is its own event)",
    )
    parser.add_argument(
        "--profile",
        default="",
        help="py-spy collapsed stacks of the server: PREFIX-<transport>-cN.txt",
    )
    args = parser.parse_args()
    with Stack(args.stub_delay_ms) as stack:
        wf = setup_workflow(stack)
        print(f"server pid {stack.server.pid}, idle RSS {rss_mb(stack.server.pid):.1f} MB")
        for transport in args.transports:
            asyncio.run(warm_up(stack, wf, transport, max(args.concurrency)))
        for transport in args.transports:
            for c in args.concurrency:
                asyncio.run(load(stack, wf, transport, c, args.turns, args.profile))
        if args.idle:
            asyncio.run(idle(stack, wf, args.idle))


if __name__ == "__main__":
    main()
