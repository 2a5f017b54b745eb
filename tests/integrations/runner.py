"""Runs a translated definition in memory, node by node through the registry's classes, as the engine would:
inputs from active edges (a port not emitted is a branch not taken), configs rendered over trigger, nodes, vars
and execution. For translator tests that check results without a database or a worker."""

from graphlib import TopologicalSorter

from apps.nodes.base import NodeContext
from apps.nodes.expressions import render
from apps.nodes.registry import registry

EXECUTION = {"id": "e-1", "workflow_id": "w-1", "started_at": "2026-01-02T03:04:05+00:00", "attempt": 1}


def run_definition(definition: dict, trigger, *, settings=None, credentials=None) -> dict:
    """{node id: {port: value}} of every node that ran (`settings`, `credentials`: given to every node as the
    engine would, e.g. the private-address switch for a local server, decrypted credentials by name)."""
    nodes = {node["id"]: node for node in definition["nodes"]}
    edges = definition["edges"]
    order = TopologicalSorter({nid: {e["source"] for e in edges if e["target"] == nid} for nid in nodes})
    finished: dict[str, dict] = {}
    for nid in order.static_order():
        inbound = [e for e in edges if e["target"] == nid]
        if inbound:
            arriving: dict[str, list] = {}
            for edge in inbound:
                ports = finished.get(edge["source"])
                if ports is not None and edge.get("source_port", "main") in ports:
                    arriving.setdefault(edge.get("target_port", "main"), []).append(
                        ports[edge.get("source_port", "main")]
                    )
            if not arriving:
                continue  # no active inbound edge: skipped
            inputs = {port: values[0] if len(values) == 1 else values for port, values in arriving.items()}
        else:
            inputs = {"main": trigger}
        context = {
            "trigger": trigger,
            "nodes": {k: {"output": v[next(iter(v))] if len(v) == 1 else v} for k, v in finished.items() if v},
            "vars": definition.get("variables", {}),
            "execution": EXECUTION,
        }
        node = nodes[nid]
        config = render(node["config"], context)
        ctx = NodeContext(
            node_id=nid,
            execution_id="e-1",
            organization_id="o-1",
            config=config,
            inputs=inputs,
            expression_context=context,
            settings=settings or {},
            credentials=credentials or {},
        )
        finished[nid] = dict(registry.get(node["type"])().run(ctx).outputs)
    return finished


def webhook_data(body: dict, query: dict | None = None) -> dict:
    return {"method": "POST", "headers": {"content-type": "application/json"}, "query": query or {}, "body": body}
