"""docs/grafana-dashboard.json queries only what /metrics exports: every metric name in every PromQL expression is a
name the process registry declares (with the _total, _bucket, _count, _sum suffixes it exports), and every label a
query selects or groups by is one of that metric's labels."""

import json
import re
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

import apps.core.metrics  # registers the HTTP and database metrics, as the middleware does)
import apps.executions.metrics  # noqa: F401  (same: the engine, webhooks, live connections, queues)

DASHBOARD = Path(__file__).resolve().parents[1] / "docs" / "grafana-dashboard.json"
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset"}
IDENTIFIER = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
SELECTOR = re.compile(rf"({IDENTIFIER})\s*\{{([^}}]*)\}}")


def parse(expr: str) -> tuple[set[str], dict[str, set[str]], set[str]]:
    """Metric names of a PromQL expression, the labels each selector matches on, and the labels it groups by."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals: label values, regexes
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # range durations
    grouped = {label.strip() for labels in GROUPING.findall(expr) for label in labels.split(",") if label.strip()}
    expr = GROUPING.sub(" ", expr)
    selected: dict[str, set[str]] = {}
    for name, matchers in SELECTOR.findall(expr):
        selected.setdefault(name, set()).update(re.findall(rf"({IDENTIFIER})\s*(?:=~|!~|!=|=)", matchers))
    expr = re.sub(r"\{[^}]*\}", " ", expr)
    names = {
        token
        for token, call in re.findall(rf"(?<![\w.])({IDENTIFIER})\s*(\(?)", expr)
        if not call and token not in KEYWORDS
    }
    return names, selected, grouped


def declared() -> dict[str, set[str]]:
    """Every sample name the registry declares, with its metric's label names (+ `le` for histogram buckets)."""
    names: dict[str, set[str]] = {}
    for name, collector in REGISTRY._names_to_collectors.items():
        labels = getattr(collector, "_labelnames", None)
        if labels is None:
            described = collector.describe() if hasattr(collector, "describe") else []  # the process's own: no labels
            families = [family for family in described if name.startswith(family.name)]
            labels = [label for family in families for label in getattr(family, "_labelnames", ())]
        names[name] = set(labels) | ({"le"} if name.endswith("_bucket") else set())
    return names


def expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


@pytest.mark.parametrize("expr", expressions())
def test_every_query_uses_exported_metrics_and_labels(expr):
    exported = declared()
    names, selected, grouped = parse(expr)
    assert names, f"no metric found in {expr!r}"
    assert names <= set(exported), f"not exported: {sorted(names - set(exported))} in {expr!r}"
    for name, labels in selected.items():
        assert labels <= exported[name], f"{name} has no label {sorted(labels - exported[name])}"
    labels_of_names = set().union(*(exported[name] for name in names))
    assert grouped <= labels_of_names, f"grouped by a label no metric has: {sorted(grouped - labels_of_names)}"


def test_the_dashboard_shows_every_metric_family_of_the_platform():
    used = set().union(*(parse(expr)[0] for expr in expressions()))
    for family in (
        "http_requests_total",
        "http_request_duration_seconds_bucket",
        "celery_queue_length",
        "node_runs_total",
        "webhook_deliveries_total",
        "db_connections",
        "db_pool_connections",
        "websocket_connections",
    ):
        assert family in used


def test_the_parser_catches_a_wrong_name_and_a_wrong_label():
    """The check is not vacuous: a misspelt metric and a label the metric lacks are both found."""
    names, selected, grouped = parse('sum by (rout) (rate(http_request_total{staus="500"}[5m])) / 2')
    assert names == {"http_request_total"}
    assert selected == {"http_request_total": {"staus"}}
    assert grouped == {"rout"}
    assert "http_request_total" not in declared()
    assert "rout" not in declared()["http_requests_total"]
