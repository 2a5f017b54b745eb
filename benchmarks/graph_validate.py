"""Validate a 200-node workflow with the built-in node types and compare with two baselines of the same run.

    .venv/bin/python benchmarks/graph_validate.py [--nodes 200] [--repeat 200]

What is measured (median of --repeat runs, plus the first, cold run):

- validate: `validate_definition` with NodeSpecs of the real registry: node settings, types, JSON Schema of
  every config (Draft 2020-12, formats), Jinja2 syntax of every expression, ports, cycles, reachability;
- structure: the same without the config and expression checks (graph.py's own share);
- baseline json: `json.loads(json.dumps(definition))`, what parsing the request body costs anyway;
- baseline graphlib: a topological sort of the same edges with `graphlib` alone.

No database is needed: disabled node types (one query in production) are passed as an empty set.
The target in issue 4 is "well under 50 ms" for 200 nodes.
"""

from __future__ import annotations

import argparse
import graphlib
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "concertmaster.settings")


def build_definition(size: int) -> dict:
    """A manual trigger, then alternating if/else and switch diamonds, each joined by a merge, to `size` nodes."""
    nodes = [{"id": "start", "type": "manual", "config": {}}]
    edges: list[dict] = []
    tail, block = "start", 0

    def add(node_id: str, node_type: str, config: dict, **extra) -> str:
        nodes.append({"id": node_id, "type": node_type, "config": config, **extra})
        return node_id

    while len(nodes) + 6 <= size:
        b = block
        value = f"{{{{ nodes.{tail}.output.amount | default(0) }}}}"
        if b % 2 == 0:
            split = add(f"check{b}", "if_else", {"condition": f"{{{{ nodes.{tail}.output.amount > vars.threshold }}}}"})
            left_port, right_port = "true", "false"
        else:
            cases = [{"port": "low", "equals": 1}, {"port": "high", "equals": 2}]
            split = add(f"route{b}", "switch", {"value": value, "cases": cases})
            left_port, right_port = "low", "high"
            leaf = add(f"other{b}", "log", {"message": "no case matched for {{ execution.id }}", "level": "warning"})
            edges.append({"source": split, "source_port": "default", "target": leaf})
        left = add(f"set{b}", "set", {"values": {"amount": value, "label": "block {{ vars.label }}"}})
        right = add(f"text{b}", "template", {"template": "Amount {{ nodes." + tail + ".output.amount }}"})
        join = add(f"join{b}", "merge", {"mode": "combine"}, retry={"max_attempts": 3}, timeout_seconds=30)
        edges += [
            {"source": tail, "target": split},
            {"source": split, "source_port": left_port, "target": left},
            {"source": split, "source_port": right_port, "target": right},
            {"source": left, "target": join, "target_port": "a"},
            {"source": right, "target": join, "target_port": "b"},
        ]
        tail, block = join, block + 1
    while len(nodes) < size:
        node_id = add(f"log{len(nodes)}", "log", {"message": f"{{{{ nodes.{tail}.output }}}}"})
        edges.append({"source": tail, "target": node_id})
        tail = node_id
    return {"nodes": nodes, "edges": edges, "variables": {"threshold": 100, "label": "x"}}


def timed(function, repeat: int) -> tuple[float, float]:
    """(first run, median of the next `repeat` runs), in milliseconds."""
    start = time.perf_counter()
    function()
    first = (time.perf_counter() - start) * 1000
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        samples.append((time.perf_counter() - start) * 1000)
    return first, statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()

    import dataclasses

    import django

    django.setup()
    from apps.nodes.expressions import expression_syntax_errors
    from apps.workflows.graph import validate_definition
    from apps.workflows.validation import node_specs

    definition = build_definition(args.nodes)
    specs = node_specs(disabled=())
    problems = validate_definition(definition, node_types=specs, expression_errors=expression_syntax_errors)
    if problems:
        raise SystemExit(f"The benchmark definition is invalid: {problems[:3]}")

    def validate() -> None:
        validate_definition(definition, node_types=specs, expression_errors=expression_syntax_errors)

    bare_specs = {name: dataclasses.replace(spec, config_errors=lambda config: []) for name, spec in specs.items()}

    def structure() -> None:
        validate_definition(definition, node_types=bare_specs)

    def json_roundtrip() -> None:
        json.loads(json.dumps(definition))

    def graphlib_only() -> None:
        predecessors: dict[str, set[str]] = {node["id"]: set() for node in definition["nodes"]}
        for edge in definition["edges"]:
            predecessors[edge["target"]].add(edge["source"])
        tuple(graphlib.TopologicalSorter(predecessors).static_order())

    functions = {"validate": validate, "structure": structure, "json": json_roundtrip, "graphlib": graphlib_only}
    results = {name: timed(function, args.repeat) for name, function in functions.items()}
    nodes, edges = len(definition["nodes"]), len(definition["edges"])
    print(f"Graph validation: {nodes} nodes, {edges} edges, median of {args.repeat} runs (first run in brackets)")
    for name, (first, median) in results.items():
        print(f"  {name:<10} {median:8.3f} ms  [{first:8.3f} ms]")
    validate_ms = results["validate"][1]
    print(f"  validate / json round trip: {validate_ms / results['json'][1]:6.1f}x")
    print(f"  validate / graphlib alone:  {validate_ms / results['graphlib'][1]:6.1f}x")
    print(f"  target: well under 50 ms -> {'met' if validate_ms < 50 else 'MISSED'} ({validate_ms:.2f} ms)")


if __name__ == "__main__":
    main()
