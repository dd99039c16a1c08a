"""Engine overhead: a 10-node workflow (start → agent → condition → transform → set_state →
agent → condition → transform → set_state → end) with the echo provider at zero delay, run
in-process. Prints p50/p99 per turn and per node, and compiled-condition evaluations per
second with a realistic context (20 keys including a 50-message history the condition does
not reference). Targets: ≤ 1 ms engine overhead per node p50; ≥ 100,000 evaluations/s.

    .venv/bin/python bench/bench_engine.py [--turns 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import time

from chat_platform.engine import compile_workflow, start_run
from chat_platform.expressions import compile_expression, flatten_context
from chat_platform.providers.base import ChatMessage
from chat_platform.providers.echo import EchoChatModel


class Registry:
    def __init__(self) -> None:
        self.model = EchoChatModel()

    def get(self, name: str) -> EchoChatModel:
        return self.model


def ten_nodes() -> tuple[list[dict], list[dict]]:
    nodes = [{"id": "start", "type": "start", "data": {"variables": {"score": 90, "n": 0}}}]
    chain = ["start"]
    for half in (1, 2):
        nodes += [
            {
                "id": f"agent{half}",
                "type": "agent",
                "data": {"provider": "echo", "instructions": "Answer in {{language}}."},
            },
            {
                "id": f"cond{half}",
                "type": "condition",
                "data": {
                    "branches": [{"id": "long", "expression": "size(output) > 5 && score > 80"}]
                },
            },
            {
                "id": f"tf{half}",
                "type": "transform",
                "data": {
                    "mappings": [
                        {"key": "words", "expression": "wordCount(output)"},
                        {"key": "text", "expression": "output"},
                    ]
                },
            },
            {
                "id": f"set{half}",
                "type": "set_state",
                "data": {"assignments": [{"variable": "n", "expression": "n + words"}]},
            },
        ]
        chain += [f"agent{half}", f"cond{half}", f"tf{half}", f"set{half}"]
    nodes.append({"id": "end", "type": "end", "data": {"output": "{{text}}"}})
    chain.append("end")
    edges = []
    for a, b in itertools.pairwise(chain):
        edge = {"id": f"{a}-{b}", "source": a, "target": b}
        if a.startswith("cond"):
            edges.append({**edge, "sourceHandle": "long"})
            edges.append({**edge, "id": edge["id"] + "-else", "sourceHandle": "else"})
        else:
            edges.append(edge)
    for i, n in enumerate(nodes):
        if n["id"].startswith("agent") and i > 1:
            n["data"]["prompt"] = "{{text}}"
    return nodes, edges


async def bench_turns(turns: int) -> None:
    workflow = compile_workflow(*ten_nodes())
    registry = Registry()
    history = [
        ChatMessage("user" if i % 2 == 0 else "assistant", f"message {i} " * 8) for i in range(20)
    ]
    messages = [*history, ChatMessage("user", "please summarise the latest news for me")]
    durations = []
    for i in range(turns + 100):
        t0 = time.perf_counter()
        run = start_run(
            workflow,
            run_id=f"run_{i}",
            workflow_id="wf",
            messages=messages,
            variables={"language": "en"},
            providers=registry,
        )
        events = 0
        async for _ in run:
            events += 1
        if i >= 100:  # warm-up excluded
            durations.append(time.perf_counter() - t0)
        assert run.outcome is not None and run.outcome.status == "completed", run.outcome
    durations.sort()
    p50 = durations[len(durations) // 2] * 1000
    p99 = durations[int(len(durations) * 0.99)] * 1000
    print(
        f"10-node turn (echo, in-process): p50 {p50:.3f} ms, p99 {p99:.3f} ms "
        f"→ per node p50 {p50 / 10 * 1000:.1f} µs, p99 {p99 / 10 * 1000:.1f} µs; "
        f"{events} events per turn; mean {statistics.mean(durations) * 1000:.3f} ms"
    )


def bench_conditions(seconds: float = 2.0) -> None:
    variables = {f"var{i}": i for i in range(14)}
    variables["status"] = "active"
    variables["messages"] = [{"role": "user", "content": "hello " * 20} for _ in range(50)]
    context = flatten_context(
        variables, {"score": 92, "tags": ["urgent", "billing"], "email": "a@b.c"}
    )
    for source in (
        'score > 80 && status == "active"',
        '"urgent" in tags && size(tags) > 1',
        'output.email.endsWith(".c") || wordCount(status) > 3',
    ):
        expr = compile_expression(source)
        n = 0
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            for _ in range(1000):
                expr.evaluate(context)
            n += 1000
        rate = n / (time.perf_counter() - t0)
        print(
            f"compiled condition {source!r}: {rate:,.0f} evaluations/s ({1e6 / rate:.2f} µs each)"
        )
    t0 = time.perf_counter()
    for i in range(2000):
        compile_expression.__wrapped__(f"score > {i} && status == 'active'")
    print(f"compile: {(time.perf_counter() - t0) / 2000 * 1e6:.1f} µs per expression (uncached)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=2000)
    args = parser.parse_args()
    asyncio.run(bench_turns(args.turns))
    bench_conditions()


if __name__ == "__main__":
    main()
