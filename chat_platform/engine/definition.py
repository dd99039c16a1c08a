"""The compiled workflow: an immutable, validated graph with every expression and template
precompiled once, successor maps, and the fan-in (join) node of every fan-out.

`compile_workflow(nodes, edges)` raises WorkflowDefinitionError naming the offending node.
Rules: 1–500 nodes and ≤1000 edges; unique ids; known types; exactly one start; edges between
existing nodes with handles the source node has; an end reachable from the start; cycles only
through a while_loop's `body` handle; no approval inside parallel branches (a paused run
resumes one path); expressions and templates that compile.
May import: the standard library, chat_platform.errors, chat_platform.expressions.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from chat_platform.errors import ExpressionError, WorkflowDefinitionError
from chat_platform.expressions import (
    CompiledExpression,
    Template,
    compile_expression,
    compile_template,
    has_template_markers,
)

MAX_NODES = 500
MAX_EDGES = 1000
MAX_LOOP_ITERATIONS = 1000
KNOWN_TYPES = frozenset(
    {
        "start",
        "end",
        "agent",
        "llm",
        "condition",
        "transform",
        "set_state",
        "while_loop",
        "approval",
        "merge",
    }
)
HANDLES = {"while_loop": {"body", "exit"}, "approval": {"approved", "rejected"}}


@dataclass(frozen=True, slots=True)
class Node:
    id: str
    type: str
    label: str
    data: MappingProxyType

    @property
    def kind(self) -> str:
        """The behaviour: `llm` is an alias of `agent`."""
        return "agent" if self.type == "llm" else self.type


@dataclass(frozen=True, slots=True)
class Edge:
    id: str
    source: str
    target: str
    handle: str | None


@dataclass(frozen=True)
class CompiledWorkflow:
    nodes: MappingProxyType  # id -> Node
    edges: tuple[Edge, ...]
    start_id: str
    outgoing: MappingProxyType  # id -> tuple[Edge, ...]
    joins: MappingProxyType  # (node id, handle) -> join node id (or None)
    expressions: MappingProxyType  # (node id, key) -> CompiledExpression
    templates: MappingProxyType  # (node id, key) -> Template | str
    loop_limits: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))

    def expr(self, node_id: str, key: str) -> CompiledExpression:
        return self.expressions[(node_id, key)]

    def render(self, node_id: str, key: str, context: dict[str, Any]) -> Any:
        tpl = self.templates.get((node_id, key))
        if tpl is None:
            return None
        return tpl.render(context) if isinstance(tpl, Template) else tpl


def _fail(message: str, node_id: str | None = None) -> WorkflowDefinitionError:
    prefix = f"Node '{node_id}': " if node_id else ""
    return WorkflowDefinitionError(prefix + message, node_id=node_id)


def _node(raw: Any, index: int) -> Node:
    if not isinstance(raw, dict):
        raise _fail(f"nodes[{index}] must be an object")
    node_id = raw.get("id")
    if not isinstance(node_id, str) or not node_id or len(node_id) > 128:
        raise _fail(f"nodes[{index}] needs a string id (1–128 characters)")
    node_type = raw.get("type")
    if node_type not in KNOWN_TYPES:
        raise _fail(f"unknown node type {node_type!r}", node_id)
    data = raw.get("data") or {}
    if not isinstance(data, dict):
        raise _fail("data must be an object", node_id)
    label = data.get("label") or raw.get("label") or node_id
    return Node(node_id, node_type, str(label), MappingProxyType(dict(data)))


def _edge(raw: Any, index: int, nodes: dict[str, Node]) -> Edge:
    if not isinstance(raw, dict):
        raise _fail(f"edges[{index}] must be an object")
    source, target = raw.get("source"), raw.get("target")
    if source not in nodes:
        raise _fail(f"edges[{index}] starts at unknown node {source!r}", None)
    if target not in nodes:
        raise _fail(f"edge to unknown node {target!r}", source)
    handle = raw.get("sourceHandle")
    if handle is not None and not isinstance(handle, str):
        raise _fail(f"edges[{index}].sourceHandle must be a string", source)
    node = nodes[source]
    allowed = _handles(node)
    if allowed is None:
        handle = None  # plain nodes: a stray handle from the editor means nothing
    elif handle not in allowed:
        raise _fail(f"edge with sourceHandle {handle!r}; expected one of {sorted(allowed)}", source)
    edge_id = raw.get("id") or f"{source}->{target}"
    return Edge(str(edge_id), source, target, handle)


def _handles(node: Node) -> set[str] | None:
    if node.kind == "condition":
        return {b.get("id") for b in node.data.get("branches") or [] if isinstance(b, dict)} | {
            "else"
        }
    return HANDLES.get(node.kind)


def _compile_node(
    node: Node, exprs: dict[tuple[str, str], CompiledExpression], tpls: dict, loops: dict
) -> None:
    d = node.data

    def expr(key: str, source: Any) -> None:
        if not isinstance(source, str) or not source.strip():
            raise _fail(f"{key} must be a non-empty expression", node.id)
        try:
            exprs[(node.id, key)] = compile_expression(source)
        except ExpressionError as exc:
            raise _fail(f"{key}: {exc.message}", node.id) from None

    def tpl(key: str, source: Any, default: str | None = None) -> None:
        source = default if source is None else source
        if source is None:
            return
        if not isinstance(source, str):
            raise _fail(f"{key} must be a string", node.id)
        try:
            tpls[(node.id, key)] = (
                compile_template(source) if has_template_markers(source) else source
            )
        except ExpressionError as exc:
            raise _fail(f"{key}: {exc.message}", node.id) from None

    if node.kind == "condition":
        branches = d.get("branches") or []
        if not isinstance(branches, list):
            raise _fail("branches must be a list", node.id)
        seen: set[str] = set()
        for i, b in enumerate(branches):
            if not isinstance(b, dict) or not isinstance(b.get("id"), str) or not b["id"]:
                raise _fail(f"branches[{i}] needs a string id", node.id)
            if b["id"] in seen or b["id"] == "else":
                raise _fail(f"duplicate branch id {b['id']!r}", node.id)
            seen.add(b["id"])
            expr(f"branch:{b['id']}", b.get("expression"))
    elif node.kind == "transform":
        for i, m in enumerate(_rows(node, "mappings")):
            if not isinstance(m.get("key"), str) or not m["key"]:
                raise _fail(f"mappings[{i}] needs a key", node.id)
            expr(f"mapping:{i}", m.get("expression"))
    elif node.kind == "set_state":
        for i, a in enumerate(_rows(node, "assignments")):
            if not isinstance(a.get("variable"), str) or not a["variable"]:
                raise _fail(f"assignments[{i}] needs a variable", node.id)
            expr(f"assignment:{i}", a.get("expression"))
    elif node.kind == "while_loop":
        expr("condition", d.get("condition"))
        limit = d.get("max_iterations", d.get("maxIterations", 10))
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise _fail("max_iterations must be a positive integer", node.id)
        loops[node.id] = min(limit, MAX_LOOP_ITERATIONS)
    elif node.kind == "agent":
        tpl("instructions", d.get("instructions"))
        tpl("prompt", d.get("prompt"))
        for key in ("temperature",):
            v = d.get(key)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
                raise _fail(f"{key} must be a number", node.id)
        v = d.get("max_tokens")
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise _fail("max_tokens must be a positive integer", node.id)
        if d.get("output", "text") not in ("text", "json"):
            raise _fail("output must be 'text' or 'json'", node.id)
    elif node.kind == "approval":
        tpl("prompt", d.get("prompt"), "Approve?")
    elif node.kind == "end":
        tpl("output", d.get("output"), "{{output}}")


def _rows(node: Node, key: str) -> list[dict]:
    rows = node.data.get(key) or []
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise _fail(f"{key} must be a list of objects", node.id)
    return rows


def _reachable(
    start: str, outgoing: dict[str, list[Edge]], stop: str | None = None
) -> dict[str, int]:
    """BFS distances from `start`, not expanding past `stop`."""
    dist = {start: 0}
    queue = deque([start])
    while queue:
        cur = queue.popleft()
        if cur == stop:
            continue
        for e in outgoing.get(cur, []):
            if e.target not in dist:
                dist[e.target] = dist[cur] + 1
                queue.append(e.target)
    return dist


def _find_cycle(nodes: dict[str, Node], outgoing: dict[str, list[Edge]]) -> str | None:
    """A node on a cycle that does not pass through a while_loop's body edge."""
    color: dict[str, int] = {}
    for root in nodes:
        if color.get(root):
            continue
        stack = [(root, iter(outgoing.get(root, [])))]
        color[root] = 1
        while stack:
            node_id, it = stack[-1]
            edge = next(it, None)
            if edge is None:
                color[node_id] = 2
                stack.pop()
                continue
            if nodes[edge.source].kind == "while_loop" and edge.handle == "body":
                continue
            state = color.get(edge.target, 0)
            if state == 1:
                return edge.target
            if state == 0:
                color[edge.target] = 1
                stack.append((edge.target, iter(outgoing.get(edge.target, []))))
    return None


def compile_workflow(nodes: Any, edges: Any) -> CompiledWorkflow:
    if not isinstance(nodes, list) or not nodes:
        raise _fail("the workflow has no nodes")
    if not isinstance(edges, list):
        raise _fail("edges must be a list")
    if len(nodes) > MAX_NODES:
        raise _fail(f"more than {MAX_NODES} nodes")
    if len(edges) > MAX_EDGES:
        raise _fail(f"more than {MAX_EDGES} edges")
    by_id: dict[str, Node] = {}
    for i, raw in enumerate(nodes):
        node = _node(raw, i)
        if node.id in by_id:
            raise _fail("duplicate node id", node.id)
        by_id[node.id] = node
    starts = [n.id for n in by_id.values() if n.kind == "start"]
    if len(starts) != 1:
        raise _fail(
            f"a workflow needs exactly one start node, found {len(starts)}",
            starts[1] if len(starts) > 1 else None,
        )
    start_id = starts[0]
    outgoing: dict[str, list[Edge]] = {}
    parsed = []
    for i, raw in enumerate(edges):
        edge = _edge(raw, i, by_id)
        outgoing.setdefault(edge.source, []).append(edge)
        parsed.append(edge)
    reach = _reachable(start_id, outgoing)
    if not any(by_id[n].kind == "end" for n in reach):
        raise _fail("no end node is reachable from the start", start_id)
    cyclic = _find_cycle(by_id, outgoing)
    if cyclic is not None:
        raise _fail("is on a cycle that does not go through a while_loop body", cyclic)
    exprs: dict[tuple[str, str], CompiledExpression] = {}
    tpls: dict[tuple[str, str], Any] = {}
    loops: dict[str, int] = {}
    for node in by_id.values():
        _compile_node(node, exprs, tpls, loops)
    joins = _joins(by_id, outgoing)
    return CompiledWorkflow(
        nodes=MappingProxyType(by_id),
        edges=tuple(parsed),
        start_id=start_id,
        outgoing=MappingProxyType({k: tuple(v) for k, v in outgoing.items()}),
        joins=MappingProxyType(joins),
        expressions=MappingProxyType(exprs),
        templates=MappingProxyType(tpls),
        loop_limits=MappingProxyType(loops),
    )


def fan_out_edges(node: Node, edges: tuple[Edge, ...]) -> list[Edge]:
    """Plain outgoing edges of a node that does not choose a handle."""
    if _handles(node) is not None:
        return []
    return [e for e in edges if e.handle is None]


def _joins(
    by_id: dict[str, Node], outgoing: dict[str, list[Edge]]
) -> dict[tuple[str, str | None], str | None]:
    """The join of every fan-out, keyed by (node id, handle or None)."""
    joins: dict[tuple[str, str | None], str | None] = {}
    for node in by_id.values():
        groups: dict[str | None, list[Edge]] = {}
        for e in outgoing.get(node.id, []):
            groups.setdefault(e.handle, []).append(e)
        for handle, branches in groups.items():
            if len(branches) >= 2:
                joins[(node.id, handle)] = _join_of(by_id, outgoing, node, branches)
    return joins


def _join_of(
    by_id: dict[str, Node], outgoing: dict[str, list[Edge]], node: Node, branches: list[Edge]
) -> str | None:
    dists = [_reachable(e.target, outgoing) for e in branches]
    common = set(dists[0]).intersection(*dists[1:])
    join = min(common, key=lambda n: (max(d[n] for d in dists), n)) if common else None
    for e in branches:
        inside = _reachable(e.target, outgoing, stop=join)
        for n in inside:
            if n != join and by_id[n].kind == "approval":
                raise _fail(
                    "approval nodes cannot run inside parallel branches "
                    f"(fan-out from '{node.id}'); place it before the fan-out or after "
                    "the branches meet",
                    n,
                )
    return join
