"""n8n workflow JSON -> a ConcertMaster definition and a per-node report. Pure: no ORM, no network.

The item model: every translated n8n node outputs the list of its items' `json` objects. A trigger is
followed by a `jmespath` node (`[@][]`) that turns the trigger data into that list; per-item work (Edit
Fields, IF, Filter, Switch, Sort, ...) runs on every item through the list transforms (`map`, `filter`,
`sort`, ...); nodes that act (HTTP Request, Slack, GitHub, Send Email) run once per item through a `map` of each
item's values and a `per_item` node; Respond to Webhook answers once, as in n8n. See docs/n8n.md for the table.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import cast

from .conditions import filter_condition, v1_condition
from .dates import luxon_to_strftime
from .expressions import Scope, Untranslatable, config_value, is_expression, value_expression

TRANSLATED = "translated"
CHANGED = "translated_with_changes"
REFUSED = "not_translatable"

NOT_N8N = "This is not an n8n workflow: it needs a list of nodes and a connections object."
NO_TRIGGER = "No node could be translated into a trigger, so the workflow could not start."
UNKNOWN_TYPE = "n8n node type {type} has no ConcertMaster translation."
AI_NODE = "AI / LangChain node ({type}): ConcertMaster has no AI nodes."
CONNECTION_TYPE = "connection type {type!r} (not 'main') is not translated; the connection is dropped."
UNKNOWN_TARGET = "connects to node {name!r}, which is not in the workflow."
PER_ITEM = "runs once per input item (a per_item node fed by a map of each item's values), as in n8n."
DISABLED = "disabled in n8n: kept as a pass-through node (items go through unchanged)."
CREDENTIAL_NEEDED = "needs a ConcertMaster credential matching n8n credential {name!r} ({type}); not copied."
CODE_KEPT = "Code node kept with its code; it will not run until rewritten (no {type} code step installed)."
CODE_MAPPED = "Code node mapped to {type} with its code unchanged (n8n's Code-node names; Python's _input differs)."

RESPONSE_WAIT_SECONDS = 300
RESPONSE_WAIT = "the caller waits at most {seconds} s for the answer (n8n: until Respond to Webhook runs)."
PASS_THROUGH = "@"
TO_ITEMS = "[@][]"

TRIGGER_TYPES = {
    "n8n-nodes-base.manualTrigger": "manual",
    "n8n-nodes-base.webhook": "webhook",
    "n8n-nodes-base.scheduleTrigger": "schedule",
    "n8n-nodes-base.cron": "schedule",
    "n8n-nodes-base.formTrigger": "form",
    "n8n-nodes-base.executeWorkflowTrigger": "manual",
}
BRANCHING = {"n8n-nodes-base.if", "n8n-nodes-base.switch", "n8n-nodes-base.filter", "n8n-nodes-base.splitInBatches"}


@dataclass
class Built:
    """The ConcertMaster nodes one n8n node became, and where its n8n inputs and outputs land."""

    nodes: list[dict]
    edges: list[dict] = field(default_factory=list)
    inputs: dict[int, tuple[str, str]] = field(default_factory=dict)
    outputs: dict[int, tuple[str, str]] = field(default_factory=dict)
    work: str | None = None
    changes: list[str] = field(default_factory=list)


@dataclass
class Context:
    """What a node handler needs from the whole workflow."""

    ids: dict[str, str]
    node_refs: dict[str, str]
    workflow: dict
    available_types: Collection[str]
    workflow_ids: Mapping[str, str]
    webhook_response_node: bool = False

    def scope(self, *, per_item: bool, items_ref: str = "input") -> Scope:
        return Scope(
            per_item=per_item,
            json_ref=f"{items_ref}[0]",
            input_ref=items_ref,
            node_refs=self.node_refs,
            workflow=self.workflow,
        )


def _slug(name: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "node"
    if base[0].isdigit():
        base = f"n_{base}"
    base = base[:60]
    slug, counter = base, 2
    while slug in taken:
        slug, counter = f"{base}_{counter}", counter + 1
    taken.add(slug)
    return slug


def _node(node_id: str, type_name: str, config: dict, n8n: dict, label: str | None = None) -> dict:
    position = n8n.get("position") or [0, 0]
    x, y = [*position, 0, 0][:2] if isinstance(position, list) else (0, 0)
    return {
        "id": node_id,
        "type": type_name,
        "config": config,
        "position": {"x": x, "y": y},
        "label": label or n8n.get("name", node_id),
    }


def _edge(source: str, target: str, source_port: str = "main", target_port: str = "main") -> dict:
    edge = {"source": source, "target": target}
    if source_port != "main":
        edge["source_port"] = source_port
    if target_port != "main":
        edge["target_port"] = target_port
    return edge


def _simple(node_id: str, type_name: str, config: dict, n8n: dict, changes: list[str] | None = None) -> Built:
    return Built(
        nodes=[_node(node_id, type_name, config, n8n)],
        inputs={0: (node_id, "main")},
        outputs={0: (node_id, "main")},
        work=node_id,
        changes=list(changes or []),
    )


def _with_input(node_id: str, n8n: dict, build) -> Built:
    """A node that acts once: a pass-through `<id>__in` holds the arriving items, so the node's config reads
    `nodes.<id>__in.output[0]` whatever branch or join the items came from."""
    holder = f"{node_id}__in"
    built = build(f"nodes.{holder}.output")
    built.nodes.insert(0, _node(holder, "jmespath", {"expression": PASS_THROUGH}, n8n, f"{n8n['name']} (items)"))
    built.edges.insert(0, _edge(holder, built.nodes[1]["id"]))
    built.inputs = {0: (holder, "main")}
    return built


# --- triggers ---------------------------------------------------------------------------------------------


def _trigger(node: dict, node_id: str, ctx: Context) -> Built:
    kind = TRIGGER_TYPES[node["type"]]
    params = node.get("parameters") or {}
    changes: list[str] = []
    config: dict = {}
    if kind == "webhook":
        method = params.get("httpMethod", "GET")
        config["methods"] = [method] if isinstance(method, str) else list(method)
        mode = params.get("responseMode", "onReceived")
        if mode == "responseNode":
            config["response_mode"] = "response_node"
            config["response_timeout_seconds"] = RESPONSE_WAIT_SECONDS
            changes.append(RESPONSE_WAIT.format(seconds=RESPONSE_WAIT_SECONDS))
        elif mode == "lastNode":
            changes.append("responseMode lastNode: answers at once (202); add a Webhook response node for a reply.")
        changes.append(f"webhook path {params.get('path', '')!r}: ConcertMaster publishes its own webhook URL.")
        if params.get("authentication", "none") != "none":
            changes.append("webhook authentication is not copied: use the trigger's signature check.")
    elif kind == "schedule":
        config = _schedule(params, changes)
    elif kind == "form":
        config = _form(params, changes)
    if node["type"] == "n8n-nodes-base.executeWorkflowTrigger":
        changes.append("started by a sub_workflow node: its input is the calling node's item list.")
    trigger_id = f"{node_id}__trigger"
    return Built(
        nodes=[
            _node(trigger_id, kind, config, node),
            _node(node_id, "jmespath", {"expression": TO_ITEMS}, node, f"{node['name']} (items)"),
        ],
        edges=[_edge(trigger_id, node_id)],
        outputs={0: (node_id, "main")},
        work=trigger_id,
        changes=changes,
    )


def _schedule(params: dict, changes: list[str]) -> dict:
    intervals = ((params.get("rule") or {}).get("interval") or [{}]) if "rule" in params else []
    if "triggerTimes" in params:  # the old Cron node
        items = (params.get("triggerTimes") or {}).get("item") or [{}]
        first = items[0]
        if first.get("mode") == "custom" and first.get("cronExpression"):
            return {"cron": first["cronExpression"]}
        return {"cron": f"{first.get('minute', 0)} {first.get('hour', 0)} * * *"}
    rule = intervals[0] if intervals else {}
    field_name = rule.get("field", "days")
    if len(intervals) > 1:
        changes.append("only the first of several schedule rules is kept.")
    if field_name == "cronExpression":
        return {"cron": rule.get("expression", "0 0 * * *")}
    if field_name == "minutes":
        return {"cron": f"*/{rule.get('minutesInterval', 5)} * * * *"}
    if field_name == "hours":
        return {"cron": f"{rule.get('triggerAtMinute', 0)} */{rule.get('hoursInterval', 1)} * * *"}
    if field_name == "weeks":
        days = ",".join(str(d) for d in rule.get("triggerAtDay", [1])) or "1"
        return {"cron": f"{rule.get('triggerAtMinute', 0)} {rule.get('triggerAtHour', 0)} * * {days}"}
    if field_name == "months":
        day = rule.get("triggerAtDayOfMonth", 1)
        return {"cron": f"{rule.get('triggerAtMinute', 0)} {rule.get('triggerAtHour', 0)} {day} * *"}
    if field_name == "seconds":
        changes.append("an interval in seconds runs every minute (cron's finest step).")
        return {"cron": "* * * * *"}
    interval = rule.get("daysInterval", 1)
    day = "*" if interval == 1 else f"*/{interval}"
    return {"cron": f"{rule.get('triggerAtMinute', 0)} {rule.get('triggerAtHour', 0)} {day} * *"}


_FORM_TYPES = {"number": {"type": "number"}, "email": {"type": "string", "format": "email"}}


def _form(params: dict, changes: list[str]) -> dict:
    properties: dict = {}
    required: list[str] = []
    for raw in (params.get("formFields") or {}).get("values") or []:
        label = raw.get("fieldLabel") or "field"
        schema = dict(_FORM_TYPES.get(raw.get("fieldType", "text"), {"type": "string"}), title=label)
        if raw.get("fieldType") == "dropdown":
            schema["enum"] = [option.get("option") for option in (raw.get("fieldOptions") or {}).get("values") or []]
        properties[label] = schema
        if raw.get("requiredField"):
            required.append(label)
    fields = {"type": "object", "properties": properties}
    if required:
        fields["required"] = required
    return {
        "title": params.get("formTitle") or "Form",
        "description": params.get("formDescription", ""),
        "fields": fields,
    }


# --- per-item transforms ----------------------------------------------------------------------------------

_SET_TYPES = {"stringValue", "numberValue", "booleanValue", "arrayValue", "objectValue"}


def _set_assignments(params: dict, version: float) -> tuple[list[tuple[str, object, str]], bool]:
    """[(name, value, type)] and whether the other input fields are kept, for every Edit Fields version."""
    if version < 3:
        rows: list[tuple[str, object, str]] = []
        for kind, values in (params.get("values") or {}).items():
            rows.extend((v.get("name", ""), v.get("value"), kind) for v in values or [])
        return rows, not params.get("keepOnlySet", False)
    if "assignments" in params:
        rows = [
            (a.get("name", ""), a.get("value"), a.get("type", "string"))
            for a in (params.get("assignments") or {}).get("assignments") or []
        ]
    else:
        rows = []
        for v in (params.get("fields") or {}).get("values") or []:
            kind = v.get("type", "stringValue")
            rows.append((v.get("name", ""), v.get(kind if kind in _SET_TYPES else "stringValue"), kind))
    include = params.get("include", "all" if version < 3.3 else None)
    keep = params.get("includeOtherFields", False) if version >= 3.3 else include in (None, "all")
    if version < 3.3 and "includeOtherFields" in params:
        keep = params["includeOtherFields"]
    return rows, keep


def _typed(expression: str, value: object, kind: str) -> str:
    if is_expression(value):
        return expression
    if kind.startswith("number") and isinstance(value, str):
        try:
            return repr(float(value) if "." in value else int(value))
        except ValueError:
            return expression
    return expression


def _nested(pairs: list[tuple[str, str]]) -> str:
    """A dict literal from dotted names (n8n's dot notation: `a.b` sets b inside a)."""
    tree: dict = {}
    for name, expression in pairs:
        parts = name.split(".")
        node = tree
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = expression

    def emit(node) -> str:
        if isinstance(node, str):
            return node
        return "{ " + ", ".join(f"{json.dumps(k)}: {emit(v)}" for k, v in node.items()) + " }"

    return emit(tree)


def _edit_fields(node: dict, node_id: str, ctx: Context) -> Built:
    params = node.get("parameters") or {}
    version = float(node.get("typeVersion", 1))
    scope = ctx.scope(per_item=True)
    if params.get("mode") == "raw":
        built = _simple(node_id, "map", {"expression": value_expression(params.get("jsonOutput", "{}"), scope)}, node)
        if params.get("includeOtherFields"):
            built.nodes[0]["config"]["expression"] = f"dict(item, **{built.nodes[0]['config']['expression']})"
        built.changes.extend(scope.changes)
        return built
    rows, keep = _set_assignments(params, version)
    dot = (params.get("options") or {}).get("dotNotation", True)
    pairs = [
        (name if dot else name.replace(".", "_"), _typed(value_expression(value, scope), value, kind))
        for name, value, kind in rows
    ]
    literal = _nested(pairs)
    expression = f"dict(item, **{literal})" if keep else literal
    built = _simple(node_id, "map", {"expression": expression}, node, scope.changes)
    if keep and any("." in name for name, _ in pairs):
        built.changes.append("a dotted field replaces the whole top-level object it names (n8n merges into it).")
    if not dot and any("." in name for name, _, _ in rows):
        built.changes.append("dots in field names (dot notation off) became underscores.")
    return built


def _if(node: dict, node_id: str, ctx: Context) -> Built:
    params = node.get("parameters") or {}
    scope = ctx.scope(per_item=True)
    if float(node.get("typeVersion", 1)) >= 2:
        condition = filter_condition(params.get("conditions") or {}, scope)
    else:
        condition = v1_condition(params, scope)
    built = _simple(node_id, "filter", {"condition": condition, "skip_empty": True}, node, scope.changes)
    built.outputs = {0: (node_id, "main"), 1: (node_id, "rejected")}
    return built


def _filter(node: dict, node_id: str, ctx: Context) -> Built:
    scope = ctx.scope(per_item=True)
    condition = filter_condition((node.get("parameters") or {}).get("conditions") or {}, scope)
    built = _simple(node_id, "filter", {"condition": condition, "skip_empty": True}, node, scope.changes)
    return built


def _switch(node: dict, node_id: str, ctx: Context) -> Built:
    """Each rule is one `filter` (kept items go to that output, the rest to the next rule), so every item goes
    to the first output whose rule it matches, as in n8n; the last filter's rejected items are the fallback."""
    params = node.get("parameters") or {}
    scope = ctx.scope(per_item=True)
    if params.get("mode") == "expression":
        count = int(params.get("numberOutputs", 4))
        output = value_expression(params.get("output", ""), scope)
        conditions = [f"({output}) == {index}" for index in range(count)]
    else:
        rules = (params.get("rules") or {}).get("values") or (params.get("rules") or {}).get("rules") or []
        conditions = [filter_condition(rule.get("conditions") or {}, scope) for rule in rules]
    if not conditions:
        raise Untranslatable("a Switch without rules")
    options = params.get("options") or {}
    if options.get("allMatchingOutputs"):
        return _switch_all_matching(node, node_id, conditions, options, scope)
    built = Built(nodes=[], changes=list(scope.changes))
    previous = None
    for index, condition in enumerate(conditions):
        step_id = node_id if index == 0 else f"{node_id}__{index + 1}"
        built.nodes.append(
            _node(step_id, "filter", {"condition": condition, "skip_empty": True}, node, f"{node['name']} #{index}")
        )
        if previous is not None:
            built.edges.append(_edge(previous, step_id, "rejected"))
        built.outputs[index] = (step_id, "main")
        previous = step_id
    fallback = options.get("fallbackOutput", "none")
    if fallback == "extra":
        built.outputs[len(conditions)] = (cast(str, previous), "rejected")  # a rule came before
    elif isinstance(fallback, int) and fallback in built.outputs:
        built.changes.append("the fallback output is the rejected port of the last rule, joined to that output.")
        built.outputs[len(conditions)] = (cast(str, previous), "rejected")
    built.inputs = {0: (node_id, "main")}
    built.work = node_id
    return built


def _switch_all_matching(node: dict, node_id: str, conditions: list[str], options: dict, scope: Scope) -> Built:
    """'Send data to all matching outputs': every rule filters all the items (an item goes to each output whose
    rule it matches); the fallback output takes the items no rule matched."""
    built = Built(nodes=[_node(node_id, "jmespath", {"expression": PASS_THROUGH}, node, f"{node['name']} (items)")])
    for index, condition in enumerate(conditions):
        step_id = f"{node_id}__{index + 1}"
        config = {"condition": condition, "skip_empty": True}
        built.nodes.append(_node(step_id, "filter", config, node, f"{node['name']} #{index}"))
        built.edges.append(_edge(node_id, step_id))
        built.outputs[index] = (step_id, "main")
    fallback = options.get("fallbackOutput", "none")
    if fallback == "extra":
        rest = f"{node_id}__fallback"
        condition = "not (" + " or ".join(f"({c})" for c in conditions) + ")"
        built.nodes.append(
            _node(rest, "filter", {"condition": condition, "skip_empty": True}, node, f"{node['name']} (fallback)")
        )
        built.edges.append(_edge(node_id, rest))
        built.outputs[len(conditions)] = (rest, "main")
    elif fallback != "none":
        raise Untranslatable("a fallback joined to a rule's output with 'all matching outputs' is not translated")
    built.inputs = {0: (node_id, "main")}
    built.work = node_id
    built.changes = list(scope.changes)
    return built


def _sort(node: dict, node_id: str, ctx: Context) -> Built:
    params = node.get("parameters") or {}
    if params.get("type", "simple") != "simple":
        raise Untranslatable(f"sort type {params.get('type')!r} is not translated")
    fields = (params.get("sortFieldsUi") or {}).get("sortField") or []
    by = [
        {
            "expression": "item" + "".join(f"[{json.dumps(p)}]" for p in f.get("fieldName", "").split(".")),
            "descending": f.get("order") == "descending",
        }
        for f in fields
    ]
    return _simple(node_id, "sort", {"by": by} if by else {}, node)


def _limit(node: dict, node_id: str, ctx: Context) -> Built:
    params = node.get("parameters") or {}
    config: dict = {"count": int(params.get("maxItems", 1))}
    if params.get("keep") == "lastItems":
        config["from"] = "end"
    return _simple(node_id, "limit", config, node)


def _remove_duplicates(node: dict, node_id: str, ctx: Context) -> Built:
    params = node.get("parameters") or {}
    compare = params.get("compare", "allFields")
    if compare == "allFields":
        condition = "item not in input[:index]"
    elif compare == "selectedFields":
        names = [n.strip() for n in str(params.get("fieldsToCompare", "")).split(",") if n.strip()]
        if not names:
            raise Untranslatable("no fields to compare")
        selection = "input[:index]" + "".join(
            f" | selectattr({json.dumps(n)}, 'equalto', item[{json.dumps(n)}])" for n in names
        )
        condition = f"not ({selection} | list)"
    else:
        raise Untranslatable(f"compare mode {compare!r} is not translated")
    return _simple(node_id, "filter", {"condition": condition}, node)


def _path(name: str) -> str:
    """An n8n field path (`a.b`: dot notation) as a JMESPath of quoted identifiers."""
    return ".".join(json.dumps(part) for part in name.split("."))


def _split_out(node: dict, node_id: str, ctx: Context) -> Built:
    params = node.get("parameters") or {}
    name = params.get("fieldToSplitOut", "")
    if "," in name or params.get("include", "noOtherFields") != "noOtherFields":
        raise Untranslatable("splitting several fields or keeping other fields is not translated")
    built = _simple(node_id, "jmespath", {"expression": f"[].{_path(name)}[]"}, node)
    built.changes.append("list elements that are not objects stay bare values (n8n wraps them as {field: value}).")
    return built


def _aggregate(node: dict, node_id: str, ctx: Context) -> Built:
    params = node.get("parameters") or {}
    if params.get("aggregate") == "aggregateAllItemData":
        target = params.get("destinationFieldName", "data")
        return _simple(node_id, "jmespath", {"expression": f"[{{{json.dumps(target)}: @}}]"}, node)
    fields = (params.get("fieldsToAggregate") or {}).get("fieldToAggregate") or []
    if not fields:
        raise Untranslatable("no fields to aggregate")
    pairs = []
    for f in fields:
        source = f.get("fieldToAggregate", "")
        target = f.get("outputFieldName") if f.get("renameField") else source
        pairs.append(f"{json.dumps(target)}: [].{_path(source)}")
    return _simple(node_id, "jmespath", {"expression": "[{" + ", ".join(pairs) + "}]"}, node)


def _merge(node: dict, node_id: str, ctx: Context) -> Built:
    params = node.get("parameters") or {}
    mode = params.get("mode", "append")
    built = Built(nodes=[], inputs={0: (node_id, "a"), 1: (node_id, "b")}, outputs={0: (node_id, "main")}, work=node_id)
    if mode == "append":
        built.nodes.append(_node(node_id, "merge", {"mode": "append"}, node))
        return built
    if mode in ("combine", "mergeByKey", "mergeByIndex", "multiplex"):
        combine_by = params.get("combineBy", params.get("combinationMode", "combineByFields"))
        if mode == "mergeByIndex" or combine_by in ("combineByPosition", "mergeByPosition"):
            return _merge_by_position(node, node_id, built)
        if mode == "mergeByKey" or combine_by in ("combineByFields", "mergeByFields"):
            return _merge_by_key(node, node_id, params, built)
        raise Untranslatable(f"merge mode {combine_by or mode!r} is not translated")
    if mode in ("chooseBranch", "wait", "passThrough"):
        choice = params.get("output", params.get("chooseBranchMode"))
        port = "b" if choice in ("input2", "secondInput") else "a"
        wait = f"{node_id}__wait"
        built.nodes = [
            _node(wait, "merge", {"mode": "wait"}, node, f"{node['name']} (wait)"),
            _node(node_id, "jmespath", {"expression": port}, node),
        ]
        built.edges = [_edge(wait, node_id)]
        built.inputs = {0: (wait, "a"), 1: (wait, "b")}
        built.work = wait
        return built
    raise Untranslatable(f"merge mode {mode!r} is not translated")


def _merge_by_key(node: dict, node_id: str, params: dict, built: Built) -> Built:
    pairs = (params.get("mergeByFields") or {}).get("values") or []
    if pairs:
        left, right = pairs[0].get("field1"), pairs[0].get("field2")
    elif params.get("fieldsToMatchString"):
        left = right = params["fieldsToMatchString"].split(",")[0].strip()
    else:
        left, right = params.get("propertyName1"), params.get("propertyName2")
    if len(pairs) > 1 or (not pairs and "," in str(params.get("fieldsToMatchString", ""))):
        raise Untranslatable("matching on several fields is not translated")
    if not left or not right:
        raise Untranslatable("no fields to match")
    join_mode = params.get("joinMode", "keepMatches")
    source = params.get("outputDataFrom", "both")
    if join_mode == "keepNonMatches" or (join_mode == "keepMatches" and source != "both"):
        return _merge_by_filters(node, node_id, left, right, join_mode, source, built)
    if left != right:
        raise Untranslatable("merging matches of differently named fields is not translated")
    join = {"keepMatches": "inner", "keepEverything": "outer", "enrichInput1": "left"}.get(
        params.get("joinMode", "keepMatches")
    )
    if join is None:
        raise Untranslatable(f"join mode {params.get('joinMode')!r} is not translated")
    built.nodes.append(_node(node_id, "merge", {"mode": "by_key", "key": left, "join": join}, node))
    return built


def _merge_by_filters(
    node: dict, node_id: str, left: str, right: str, join_mode: str, source: str, built: Built
) -> Built:
    """Keep Non-Matches (input 1, input 2, or both appended with `_source`), and Keep Matches outputting input 1's
    or input 2's matched items: the two inputs wait for each other, then a `filter` per input keeps its items
    that have (or lack) a partner in the other input (strict equality, as n8n without fuzzy compare)."""
    wait = f"{node_id}__wait"
    a, b = '(input.a if "a" in input else [])', '(input.b if "b" in input else [])'
    mine = {"a": (left, right, b), "b": (right, left, a)}
    keep = join_mode == "keepMatches"
    sides = ["a", "b"] if source == "both" else ["a" if source == "input1" else "b"]
    nodes = [_node(wait, "merge", {"mode": "wait"}, node, f"{node['name']} (wait)")]
    edges = []
    for side in sides:
        own, other, others = (json.dumps(v) if i < 2 else v for i, v in enumerate(mine[side]))
        has = (
            f"({own} in item and ({others} | selectattr({other}, 'defined') "
            f"| selectattr({other}, 'equalto', item[{own}]) | list | length) > 0)"
        )
        config = {
            "condition": has if keep else f"not {has}",
            "items": "{{ nodes."
            + wait
            + ".output."
            + side
            + " if '"
            + side
            + "' in nodes."
            + wait
            + ".output else [] }}",
        }
        if len(sides) == 1:
            nodes.append(_node(node_id, "filter", config, node))
            edges.append(_edge(wait, node_id))
            continue
        filtered, marked = f"{node_id}__{side}", f"{node_id}__{side}_source"
        label = "input1" if side == "a" else "input2"
        nodes.append(_node(filtered, "filter", config, node, f"{node['name']} ({label})"))
        nodes.append(_node(marked, "map", {"expression": f'dict(item, **{{ "_source": "{label}" }})'}, node))
        edges += [_edge(wait, filtered), _edge(filtered, marked), _edge(marked, node_id, target_port=side)]
    if len(sides) > 1:
        nodes.append(_node(node_id, "merge", {"mode": "append"}, node))
    built.nodes, built.edges = nodes, edges
    built.inputs = {0: (wait, "a"), 1: (wait, "b")}
    built.work = wait
    return built


def _merge_by_position(node: dict, node_id: str, built: Built) -> Built:
    wait = f"{node_id}__wait"
    built.nodes = [
        _node(wait, "merge", {"mode": "wait"}, node, f"{node['name']} (wait)"),
        _node(
            node_id,
            "map",
            {
                "items": "{{ nodes." + wait + ".output.a }}",
                "expression": "dict(item, **input.b[index]) if index < (input.b | length) else item",
            },
            node,
        ),
    ]
    built.edges = [_edge(wait, node_id)]
    built.inputs = {0: (wait, "a"), 1: (wait, "b")}
    built.work = wait
    built.changes.append("items of input 2 beyond the length of input 1 are dropped.")
    return built


def _pass(node: dict, node_id: str, ctx: Context) -> Built:
    return _simple(node_id, "jmespath", {"expression": PASS_THROUGH}, node)


# --- nodes that act once ------------------------------------------------------------------------------------


def _http(node: dict, node_id: str, ctx: Context) -> Built:
    params = node.get("parameters") or {}
    scope = ctx.scope(per_item=True)
    shared: dict = {"method": params.get("method", params.get("requestMethod", "GET"))}
    values: dict = {"url": params.get("url", "")}
    if params.get("sendQuery"):
        values["query"] = _rows((params.get("queryParameters") or {}).get("parameters"))
    if params.get("sendHeaders"):
        values["headers"] = _rows((params.get("headerParameters") or {}).get("parameters"))
    body: tuple[str, str] | None = None
    if params.get("sendBody"):
        content = params.get("contentType", "json")
        if content == "form-urlencoded":
            values["form"] = _rows((params.get("bodyParameters") or {}).get("parameters"))
        elif content == "json" and params.get("specifyBody") == "json":
            body = ("json", _json_body_expression(params.get("jsonBody", "{}"), scope))
        elif content == "json":
            values["json"] = _rows((params.get("bodyParameters") or {}).get("parameters"))
        else:
            raise Untranslatable(f"body content type {content!r} is not translated")
    timeout = (params.get("options") or {}).get("timeout")
    if timeout:
        shared["timeout_seconds"] = min(float(timeout) / 1000, 300)
    changes: list[str] = []
    credential = None
    if params.get("authentication", "none") != "none":
        credential = _credential_name(node)
        changes.append("authentication uses the ConcertMaster credential named like the n8n one.")
    request = f"{node_id}__request"
    built = _per_item_action(
        node, node_id, "http_request", shared, values, scope, credential=credential, call_id=request, extra=body
    )
    built.nodes.append(_node(node_id, "jmespath", {"expression": "[].body[]"}, node))
    built.edges.append(_edge(request, node_id))
    built.outputs = {0: (node_id, "main")}
    built.changes.extend(changes)
    return built


def _rows(rows: list | None) -> dict:
    return {row.get("name", ""): row.get("value", "") for row in rows or [] if row.get("name")}


def _item_literal(value: object, scope: Scope) -> str:
    """Nested n8n values (some `={{ }}` expressions) as one per-item Jinja expression building the same shape."""
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(str(k))}: {_item_literal(v, scope)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_item_literal(v, scope) for v in value) + "]"
    return value_expression(value, scope)


def _per_item_action(
    node: dict,
    node_id: str,
    node_type: str,
    shared: dict,
    values: dict,
    scope: Scope,
    *,
    credential: str | None = None,
    call_id: str | None = None,
    extra: tuple[str, str] | None = None,
) -> Built:
    """n8n's item model for a node that acts: `<id>__in` (a `map`) computes each item's values, then a
    `per_item` node runs the action once per item with them, as n8n runs the node once per input item."""
    holder, call = f"{node_id}__in", call_id or node_id
    pairs = [f"{json.dumps(key)}: {_item_literal(value, scope)}" for key, value in values.items()]
    if extra is not None:
        pairs.append(f"{json.dumps(extra[0])}: {extra[1]}")
    config: dict = {"node_type": node_type, "config": shared, "items": "{{ nodes." + holder + ".output }}"}
    if credential:
        config["credential"] = credential
    return Built(
        nodes=[
            _node(holder, "map", {"expression": "{ " + ", ".join(pairs) + " }"}, node, f"{node['name']} (items)"),
            _node(call, "per_item", config, node, f"{node['name']} (per item)" if call != node_id else None),
        ],
        edges=[_edge(holder, call)],
        inputs={0: (holder, "main")},
        outputs={0: (call, "main")},
        work=call,
        changes=[PER_ITEM, *scope.changes],
    )


def _json_body_expression(body: object, scope: Scope) -> str:
    if isinstance(body, str) and not is_expression(body):
        try:
            return _item_literal(json.loads(body), scope)
        except ValueError as error:
            raise Untranslatable("the JSON body is not valid JSON") from error
    return _item_literal(body, scope)


def _json_body(body: object, scope: Scope) -> object:
    if isinstance(body, str) and not is_expression(body):
        try:
            return json.loads(body)
        except ValueError as error:
            raise Untranslatable("the JSON body is not valid JSON") from error
    return config_value(body, scope)


def _credential_name(node: dict) -> str:
    credentials = node.get("credentials") or {}
    for value in credentials.values():
        if isinstance(value, dict) and value.get("name"):
            return str(value["name"])[:200]
    return node.get("name", "credential")[:200]


def _respond(node: dict, node_id: str, ctx: Context) -> Built:
    params = node.get("parameters") or {}
    options = params.get("options") or {}

    def build(items_ref: str) -> Built:
        scope = ctx.scope(per_item=False, items_ref=items_ref)
        respond_with = params.get("respondWith", "firstIncomingItem")
        config: dict = {"status": int(options.get("responseCode", 200))}
        changes = list(scope.changes)
        if respond_with == "firstIncomingItem":
            config["body"] = "{{ " + items_ref + "[0] }}"
        elif respond_with == "allIncomingItems":
            config["body"] = "{{ " + items_ref + " }}"
        elif respond_with == "json":
            config["body"] = _json_body(params.get("responseBody", "{}"), scope)
            if isinstance(config["body"], str) and not config["body"].startswith("{{"):
                raise Untranslatable("a JSON response body built from text around expressions is not translated")
        elif respond_with == "text":
            config["body"] = config_value(params.get("responseBody", ""), scope)
            config["headers"] = {"Content-Type": "text/plain; charset=utf-8"}
            changes.append("a text body is sent as a JSON string.")
        elif respond_with == "noData":
            config["body"] = ""
            changes.append("no data: the body is an empty JSON string.")
        else:
            raise Untranslatable(f"respondWith {respond_with!r} is not translated")
        headers = (options.get("responseHeaders") or {}).get("entries") or []
        if headers:
            config.setdefault("headers", {}).update(
                {h.get("name", ""): str(config_value(h.get("value", ""), scope)) for h in headers}
            )
        respond = f"{node_id}__respond"
        passed = {"expression": PASS_THROUGH, "data": "{{ " + items_ref + " }}"}
        return Built(
            nodes=[
                _node(respond, "webhook_response", config, node, f"{node['name']} (response)"),
                _node(node_id, "jmespath", passed, node),  # n8n passes the items on after answering
            ],
            edges=[_edge(respond, node_id)],
            outputs={0: (node_id, "main")},
            work=respond,
            changes=changes,
        )

    return _with_input(node_id, node, build)


def _wait(node: dict, node_id: str, ctx: Context) -> Built:
    params = node.get("parameters") or {}
    resume = params.get("resume", "timeInterval")
    if resume == "timeInterval":
        unit = params.get("unit", "hours" if float(node.get("typeVersion", 1)) < 1.1 else "seconds")
        factor = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}.get(unit, 1)
        return _simple(node_id, "delay", {"seconds": float(params.get("amount", 1)) * factor}, node)
    if resume == "specificTime":
        scope = ctx.scope(per_item=False, items_ref="input")
        return _simple(node_id, "delay", {"until": config_value(params.get("dateTime", ""), scope)}, node)
    if resume in ("webhook", "form"):
        approval = f"{node_id}__approval"
        return Built(
            nodes=[
                _node(approval, "wait_for_approval", {"message": f"Resume {node['name']} (n8n {resume})"}, node),
                _node(node_id, "jmespath", {"expression": "input"}, node, f"{node['name']} (items)"),
            ],
            edges=[_edge(approval, node_id, "approved")],
            inputs={0: (approval, "main")},
            outputs={0: (node_id, "main")},
            work=approval,
            changes=[f"resume on {resume}: becomes an approval; approving it resumes the run with the same items."],
        )
    raise Untranslatable(f"resume mode {resume!r} is not translated")


_DATE_DEFAULT_FIELD = {
    "getCurrentDate": "currentDate",
    "addToDate": "newDate",
    "subtractFromDate": "newDate",
    "formatDate": "formattedDate",
    "roundDate": "roundedDate",
    "getTimeBetweenDates": "timeDifference",
    "extractDate": "datePart",
}
_ADD_UNITS = {
    "years": ("years", 1),
    "quarters": ("months", 3),
    "months": ("months", 1),
    "weeks": ("weeks", 1),
    "days": ("days", 1),
    "hours": ("hours", 1),
    "minutes": ("minutes", 1),
    "seconds": ("seconds", 1),
    "milliseconds": ("seconds", 0.001),
}
_ISO_MS = "%Y-%m-%dT%H:%M:%S.%f"
_ROUND_DOWN = {
    "year": "%Y-01-01T00:00:00.000",
    "month": "%Y-%m-01T00:00:00.000",
    "day": "%Y-%m-%dT00:00:00.000",
    "hour": "%Y-%m-%dT%H:00:00.000",
    "minute": "%Y-%m-%dT%H:%M:00.000",
    "second": "%Y-%m-%dT%H:%M:%S.000",
}
_EXTRACT = {"year": "%Y", "month": "%m", "week": "%V", "day": "%d", "hour": "%H", "minute": "%M", "second": "%S"}
_BETWEEN_SECONDS = {"week": 604800, "day": 86400, "hour": 3600, "minute": 60, "second": 1, "millisecond": 0.001}
_DATE_FORMATS = {"MM/dd/yyyy", "yyyy/MM/dd", "MMMM dd yyyy", "MM-dd-yyyy", "yyyy-MM-dd"}
DATES_IN_ZONE = (
    "dates are read and written in {zone} (n8n: the workflow's or instance's time zone, and a date's own UTC "
    "offset when formatting); ISO 8601 text, epoch seconds or milliseconds are read."
)


def _date_value(value: object, scope: Scope) -> str:
    """A date parameter as the per-item value the date_time node reads (epoch milliseconds as seconds, like n8n)."""
    expression = value_expression(value, scope)
    return f"(({expression}) / 1000 if ({expression}) is number and ({expression}) > 99999999999 else ({expression}))"


def _luxon_iso(result: str) -> str:
    """Luxon's ISO text (`toString()`: milliseconds, `Z` for UTC) of a date_time result formatted with _ISO_MS
    (or a rounded format of the same width)."""
    return f"({result}.formatted[:23] ~ ('Z' if {result}.timezone == 'UTC' else {result}.iso[-6:]))"


def _date_time(node: dict, node_id: str, ctx: Context) -> Built:
    """Date & Time 2: each item's values go through the `date_time` node once per item (`per_item`), and a last
    `map` writes the result into the item (or a new item: n8n keeps the input fields only when asked)."""
    params = node.get("parameters") or {}
    if float(node.get("typeVersion", 1)) < 2:
        raise Untranslatable("Date & Time version 1 is not translated (re-add the node in n8n: version 2)")
    operation = params.get("operation", "getCurrentDate")
    target = params.get("outputFieldName") or _DATE_DEFAULT_FIELD.get(operation, "newDate")
    options = params.get("options") or {}
    keep = bool(options.get("includeInputFields"))
    base = "item" if keep else "{}"
    if operation == "getCurrentDate":
        expression = f"dict({base}, **{{ {json.dumps(target)}: {{{{ execution.started_at | tojson }}}} }})"
        built = _simple(node_id, "map", {"expression": expression}, node)
        built.changes.append("the current date is the run's start time (ISO 8601 text).")
        return built
    scope = ctx.scope(per_item=True)
    zone = str((ctx.workflow.get("settings") or {}).get("timezone") or "UTC")
    if zone == "DEFAULT":
        zone = "UTC"
    calc = f"{node_id}__calc"
    result = f"({{{{ nodes.{calc}.output | tojson }}}})[index]"
    shared: dict = {"timezone": zone}
    values: dict[str, str] = {}
    second: str | None = None
    if operation in ("addToDate", "subtractFromDate"):
        unit, factor = _ADD_UNITS.get(params.get("timeUnit", "days"), (None, 0))
        if unit is None:
            raise Untranslatable(f"time unit {params.get('timeUnit')!r} is not translated")
        sign = -1 if operation == "subtractFromDate" else 1
        duration = value_expression(params.get("duration", 0), scope)
        amount = f"(({duration}) * {sign * factor})"
        if unit in ("years", "months"):
            amount = f"({amount} | int)"
        shared.update(operation="shift", format=_ISO_MS)
        values = {
            "value": _date_value(params.get("magnitude", ""), scope),
            "shift": f"{{ {json.dumps(unit)}: {amount} }}",
        }
        output = _luxon_iso(result)
    elif operation == "formatDate":
        if options.get("fromFormat"):
            raise Untranslatable("reading dates in a custom format (fromFormat) is not translated")
        fmt = params.get("customFormat", "") if params.get("format") == "custom" else params.get("format", "MM/dd/yyyy")
        values = {"value": _date_value(params.get("date", ""), scope)}
        if fmt in ("X", "x"):
            shared["operation"] = "parse"
            output = f"({result}.timestamp | int)" if fmt == "X" else f"(({result}.timestamp * 1000) | round | int)"
        else:
            if is_expression(fmt):
                raise Untranslatable("a date format written as an expression is not translated")
            shared.update(operation="format", format=luxon_to_strftime(fmt))
            output = f"{result}.formatted"
    elif operation == "roundDate":
        mode = params.get("mode", "roundDown")
        values = {"value": _date_value(params.get("date", ""), scope)}
        if mode == "roundDown":
            unit = params.get("toNearest", "month")
            if unit not in _ROUND_DOWN:
                raise Untranslatable(f"rounding down to the {unit} is not translated")
            shared.update(operation="format", format=_ROUND_DOWN[unit])
        elif mode == "roundUp" and params.get("to", "month") == "month":
            shared.update(operation="shift", format=_ROUND_DOWN["month"])
            values["shift"] = '{ "months": 1 }'
        else:
            raise Untranslatable(f"round mode {mode!r} is not translated")
        output = _luxon_iso(result)
    elif operation == "extractDate":
        part = params.get("part", "month")
        if part not in _EXTRACT:
            raise Untranslatable(f"date part {part!r} is not translated")
        shared.update(operation="format", format=_EXTRACT[part])
        values = {"value": _date_value(params.get("date", ""), scope)}
        output = f"({result}.formatted | int)"
    elif operation == "getTimeBetweenDates":
        units = params.get("units", ["day"])
        units = [units] if isinstance(units, str) else list(units)
        if not units or any(u not in _BETWEEN_SECONDS for u in units):
            raise Untranslatable("time between dates in years or months (calendar units) is not translated")
        if options.get("isoString"):
            raise Untranslatable("the time between dates as an ISO 8601 duration is not translated")
        shared["operation"] = "parse"
        values = {"value": _date_value(params.get("startDate", ""), scope)}
        second = _date_value(params.get("endDate", ""), scope)
        end = f"({{{{ nodes.{calc}_end.output | tojson }}}})[index]"
        total = f"({end}.timestamp - {result}.timestamp)"
        ordered = sorted(units, key=lambda u: -_BETWEEN_SECONDS[u])
        pairs, previous = [], None
        for position, unit in enumerate(ordered):
            size = _BETWEEN_SECONDS[unit]
            rest = total if previous is None else f"({total} % {previous})"
            value = f"({rest} / {size})" if position == len(ordered) - 1 else f"(({rest} // {size}) | int)"
            pairs.append(f"{json.dumps(unit + 's')}: {value}")
            previous = size
        output = "{ " + ", ".join(pairs) + " }"
    else:
        raise Untranslatable(f"Date & Time operation {operation!r} is not translated")
    holder, items_in = f"{node_id}__items", f"{node_id}__in"
    literal = "{ " + ", ".join(f"{json.dumps(k)}: {v}" for k, v in values.items()) + " }"
    nodes = [
        _node(holder, "jmespath", {"expression": PASS_THROUGH}, node, f"{node['name']} (items)"),
        _node(items_in, "map", {"expression": literal}, node, f"{node['name']} (values)"),
        _node(
            calc,
            "per_item",
            {"node_type": "date_time", "config": shared, "items": "{{ nodes." + items_in + ".output }}"},
            node,
            f"{node['name']} (per item)",
        ),
    ]
    chain_ids = [holder, items_in, calc]
    if second is not None:
        nodes += [
            _node(
                f"{items_in}_end",
                "map",
                {"expression": f'{{ "value": {second} }}', "items": "{{ nodes." + holder + ".output }}"},
                node,
                f"{node['name']} (end values)",
            ),
            _node(
                f"{calc}_end",
                "per_item",
                {"node_type": "date_time", "config": shared, "items": "{{ nodes." + items_in + "_end.output }}"},
                node,
                f"{node['name']} (end per item)",
            ),
        ]
        chain_ids += [f"{items_in}_end", f"{calc}_end"]
    final = {
        "expression": f"dict({base}, **{{ {json.dumps(target)}: {output} }})",
        "items": "{{ nodes." + holder + ".output }}",
    }
    nodes.append(_node(node_id, "map", final, node))
    chain_ids.append(node_id)
    return Built(
        nodes=nodes,
        edges=[_edge(a, b) for a, b in itertools.pairwise(chain_ids)],
        inputs={0: (holder, "main")},
        outputs={0: (node_id, "main")},
        work=calc,
        changes=[DATES_IN_ZONE.format(zone=zone), *scope.changes],
    )


def _execute_workflow(node: dict, node_id: str, ctx: Context) -> Built:
    params = node.get("parameters") or {}
    raw = params.get("workflowId")
    n8n_id = raw.get("value") if isinstance(raw, dict) else raw
    if params.get("source", "database") != "database" or not n8n_id:
        raise Untranslatable("only sub-workflows chosen from the n8n database are translated")
    workflow_id = ctx.workflow_ids.get(str(n8n_id))
    if workflow_id is None:
        raise Untranslatable(f"sub-workflow {n8n_id} is not among the synced workflows (sync it too, then re-sync)")
    changes = []
    if (params.get("options") or {}).get("waitForSubWorkflow") is False:
        changes.append("waits for the sub-workflow (n8n was set not to wait).")
    return _simple(node_id, "sub_workflow", {"workflow_id": workflow_id}, node, changes)


def _code(node: dict, node_id: str, ctx: Context) -> Built:
    params = node.get("parameters") or {}
    if node["type"] == "n8n-nodes-base.code":
        python = params.get("language") in ("python", "pythonNative")
        code = params.get("pythonCode" if python else "jsCode", "")
        mode = params.get("mode", "runOnceForAllItems")
    else:
        python, code, mode = False, params.get("functionCode", params.get("functionItemCode", "")), "legacy"
    type_name = "code_python" if python else "code_js"
    config = {"code": code or "return $input.all();", "mode": "per_item" if mode == "runOnceForEachItem" else "once"}
    built = _simple(node_id, type_name, config, node)
    built.nodes[0]["n8n"] = {"type": node["type"], "mode": mode, "code": code}
    if type_name in ctx.available_types:
        built.changes.append(CODE_MAPPED.format(type=type_name))
    else:
        built.changes.append(CODE_KEPT.format(type=type_name))
        built.nodes[0]["n8n"]["not_runnable"] = True
    return built


def _slack(node: dict, node_id: str, ctx: Context) -> Built:
    params = node.get("parameters") or {}
    scope = ctx.scope(per_item=True)
    values = {"text": params.get("text", "")}
    built = _per_item_action(node, node_id, "slack_message", {}, values, scope, credential=_credential_name(node))
    built.changes.append("posts through an incoming-webhook credential.")
    return built


def _github(node: dict, node_id: str, ctx: Context) -> Built:
    params = node.get("parameters") or {}
    if params.get("resource", "issue") != "issue" or params.get("operation", "create") != "create":
        raise Untranslatable("only GitHub issue creation is translated")
    scope = ctx.scope(per_item=True)
    owner, repo = params.get("owner", ""), params.get("repository", "")
    values: dict = {
        "owner": owner.get("value") if isinstance(owner, dict) else owner,
        "repo": repo.get("value") if isinstance(repo, dict) else repo,
        "title": params.get("title", ""),
        "body": params.get("body", ""),
    }
    labels = [row.get("label") for row in params.get("labels") or [] if isinstance(row, dict)]
    if labels:
        values["labels"] = labels
    return _per_item_action(node, node_id, "github_issue", {}, values, scope, credential=_credential_name(node))


def _email(node: dict, node_id: str, ctx: Context) -> Built:
    params = node.get("parameters") or {}
    scope = ctx.scope(per_item=True)
    values: dict = {
        "to": params.get("toEmail", ""),
        "subject": params.get("subject", ""),
        "body": params.get("text", params.get("message", "")),
    }
    if params.get("fromEmail"):
        values["from_email"] = params["fromEmail"]
    if params.get("html"):
        values["html"] = params["html"]
    built = _per_item_action(node, node_id, "email_send", {}, values, scope)
    built.changes.append("sent through the platform's mail settings or an SMTP credential.")
    return built


def _loop(node: dict, node_id: str, ctx: Context) -> Built:
    built = _simple(node_id, "jmespath", {"expression": PASS_THROUGH}, node)
    built.outputs = {0: (node_id, "main"), 1: (node_id, "main")}
    built.changes.append(
        "Loop Over Items: the loop is unrolled (ConcertMaster nodes take the whole item list); the edge back "
        "into the loop is dropped and both outputs carry all items."
    )
    return built


HANDLERS = {
    "n8n-nodes-base.set": _edit_fields,
    "n8n-nodes-base.if": _if,
    "n8n-nodes-base.filter": _filter,
    "n8n-nodes-base.switch": _switch,
    "n8n-nodes-base.merge": _merge,
    "n8n-nodes-base.sort": _sort,
    "n8n-nodes-base.limit": _limit,
    "n8n-nodes-base.removeDuplicates": _remove_duplicates,
    "n8n-nodes-base.splitOut": _split_out,
    "n8n-nodes-base.aggregate": _aggregate,
    "n8n-nodes-base.dateTime": _date_time,
    "n8n-nodes-base.wait": _wait,
    "n8n-nodes-base.httpRequest": _http,
    "n8n-nodes-base.respondToWebhook": _respond,
    "n8n-nodes-base.noOp": _pass,
    "n8n-nodes-base.executeWorkflow": _execute_workflow,
    "n8n-nodes-base.splitInBatches": _loop,
    "n8n-nodes-base.code": _code,
    "n8n-nodes-base.function": _code,
    "n8n-nodes-base.functionItem": _code,
    "n8n-nodes-base.slack": _slack,
    "n8n-nodes-base.github": _github,
    "n8n-nodes-base.emailSend": _email,
}
for _type in TRIGGER_TYPES:
    HANDLERS[_type] = _trigger


# --- the whole workflow -------------------------------------------------------------------------------------


@dataclass
class Translation:
    """One n8n workflow translated: the definition, the report per n8n node, the credentials it needs."""

    name: str
    n8n_id: str | None
    definition: dict | None
    report: list[dict]
    credentials: list[dict]
    refused: bool = False
    reasons: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        counts = {TRANSLATED: 0, CHANGED: 0, REFUSED: 0}
        for entry in self.report:
            counts[entry["outcome"]] += 1
        return counts

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "n8n_id": self.n8n_id,
            "refused": self.refused,
            "reasons": self.reasons,
            "summary": self.summary(),
            "nodes": self.report,
            "credentials": self.credentials,
        }


def is_n8n_workflow(document: object) -> bool:
    return (
        isinstance(document, dict)
        and isinstance(document.get("nodes"), list)
        and isinstance(document.get("connections"), dict)
        and "edges" not in document
    )


def is_n8n_document(document: object) -> bool:
    """One n8n workflow, a list of them (n8n's export of several), or {"workflows": [...]} of them."""
    if isinstance(document, dict) and isinstance(document.get("workflows"), list):
        document = document["workflows"]
    if isinstance(document, list):
        return bool(document) and all(is_n8n_workflow(item) for item in document)
    return is_n8n_workflow(document)


def _outcome(changes: list[str]) -> str:
    return CHANGED if changes else TRANSLATED


def _is_ai(type_name: str) -> bool:
    return "langchain" in type_name.lower()


def _reachable(start: str, connections: dict) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        name = todo.pop()
        for outputs in (connections.get(name) or {}).get("main") or []:
            for target in outputs or []:
                if isinstance(target, dict) and target.get("node") not in seen:
                    seen.add(target["node"])
                    todo.append(target["node"])
    return seen


def _settings(built: Built, node: dict) -> None:
    work = next((n for n in built.nodes if n["id"] == built.work), None)
    if work is None:
        return
    if node.get("retryOnFail"):
        wait = float(node.get("waitBetweenTries", 1000)) / 1000
        work["retry"] = {
            "max_attempts": max(int(node.get("maxTries", 3)), 1),
            "backoff_seconds": max(wait, 0.001),
            "backoff_factor": 1,
            "jitter": False,
        }
    on_error = node.get("onError") or ("continueRegularOutput" if node.get("continueOnFail") else None)
    if on_error == "continueRegularOutput":
        work["on_error"] = "continue"
        built.changes.append("on error the node continues with {error} as its output (n8n: the items + error).")
    elif on_error == "continueErrorOutput":
        work["on_error"] = "route"
        built.changes.append("the error output is the node's error port, carrying {error} (n8n: the failed items).")
    if node.get("notes"):
        work["notes"] = node["notes"]


def translate_workflow(
    workflow: dict, *, available_types: Collection[str] = (), workflow_ids: Mapping[str, str] | None = None
) -> Translation:
    """Translate one n8n workflow. `available_types` names the node types installed (code steps are used when
    present); `workflow_ids` maps n8n workflow ids to ConcertMaster ones (Execute Workflow)."""
    name = str(workflow.get("name") or "Imported n8n workflow")[:200] if isinstance(workflow, dict) else ""
    n8n_id = str(workflow["id"]) if isinstance(workflow, dict) and workflow.get("id") is not None else None
    if not is_n8n_workflow(workflow):
        return Translation(name, n8n_id, None, [], [], refused=True, reasons=[NOT_N8N])
    taken: set[str] = set()
    nodes = [n for n in workflow["nodes"] if isinstance(n, dict) and isinstance(n.get("name"), str)]
    stickies = [n for n in nodes if n.get("type") == "n8n-nodes-base.stickyNote"]
    nodes = [n for n in nodes if n not in stickies]
    ids = {n["name"]: _slug(n["name"], taken) for n in nodes}
    refs = {
        n["name"]: f"nodes.{ids[n['name']]}.output"
        for n in nodes
        if n.get("type") not in BRANCHING and n.get("disabled") is not None
    }
    refs = {n["name"]: f"nodes.{ids[n['name']]}.output" for n in nodes if n.get("type") not in BRANCHING}
    ctx = Context(
        ids=ids,
        node_refs=refs,
        workflow={"id": n8n_id or "", "name": name, "settings": workflow.get("settings") or {}},
        available_types=set(available_types),
        workflow_ids=dict(workflow_ids or {}),
    )
    built_by_name: dict[str, Built] = {}
    report: list[dict] = []
    credentials: list[dict] = []
    for node in nodes:
        entry = {"node": node["name"], "type": node.get("type", ""), "ids": [], "changes": [], "reason": ""}
        built = _translate_node(node, ids[node["name"]], ctx, entry)
        if built is not None:
            _settings(built, node)
            built_by_name[node["name"]] = built
            entry["ids"] = [n["id"] for n in built.nodes]
            entry["changes"] = built.changes
            entry["outcome"] = _outcome(built.changes)
        for cred_type, value in (node.get("credentials") or {}).items():
            cred_name = value.get("name") if isinstance(value, dict) else str(value)
            credentials.append({"node": node["name"], "n8n_type": cred_type, "name": cred_name})
            if built is not None:
                built.changes.append(CREDENTIAL_NEEDED.format(name=cred_name, type=cred_type))
                entry["outcome"] = CHANGED
        report.append(entry)
    edges = _edges(workflow["connections"], nodes, built_by_name, report)
    cm_nodes = [cm for built in built_by_name.values() for cm in built.nodes]
    internal = [edge for built in built_by_name.values() for edge in built.edges]
    for sticky in stickies:
        report.append(
            {
                "node": sticky["name"],
                "type": sticky["type"],
                "ids": [],
                "changes": ["kept as an editor annotation."],
                "reason": "",
                "outcome": CHANGED,
            }
        )
    definition = {
        "nodes": cm_nodes,
        "edges": internal + edges,
        "variables": {},
        "annotations": [
            {"text": (s.get("parameters") or {}).get("content", ""), "position": s.get("position"), "name": s["name"]}
            for s in stickies
        ],
        "n8n": {"id": n8n_id, "versionId": workflow.get("versionId"), "updatedAt": workflow.get("updatedAt")},
    }
    if not any(cm["type"] in TRIGGER_TYPES.values() for cm in cm_nodes):
        return Translation(name, n8n_id, None, report, credentials, refused=True, reasons=[NO_TRIGGER])
    return Translation(name, n8n_id, definition, report, credentials)


def _translate_node(node: dict, node_id: str, ctx: Context, entry: dict) -> Built | None:
    type_name = node.get("type", "")
    try:
        if _is_ai(type_name):
            raise Untranslatable(AI_NODE.format(type=type_name))
        if node.get("disabled") and type_name not in TRIGGER_TYPES:
            built = _pass(node, node_id, ctx)
            built.changes.append(DISABLED)
            return built
        handler = HANDLERS.get(type_name)
        if handler is None:
            raise Untranslatable(UNKNOWN_TYPE.format(type=type_name))
        return handler(node, node_id, ctx)
    except Untranslatable as error:
        entry["outcome"] = REFUSED
        entry["reason"] = str(error)
        return None


def _edges(connections: dict, nodes: list[dict], built: dict[str, Built], report: list[dict]) -> list[dict]:
    by_name = {n["name"]: n for n in nodes}
    entries = {entry["node"]: entry for entry in report}
    loops = {
        n["name"]: _reachable(n["name"], connections) for n in nodes if n.get("type") == "n8n-nodes-base.splitInBatches"
    }
    edges: list[dict] = []
    seen: set[tuple] = set()
    for source, by_type in connections.items():
        if not isinstance(by_type, dict):
            continue
        for connection_type, outputs in by_type.items():
            if connection_type != "main":
                if source in entries:
                    note = CONNECTION_TYPE.format(type=connection_type)
                    entries[source]["changes"].append(note) if entries[source]["outcome"] != REFUSED else None
                    if entries[source]["outcome"] == TRANSLATED:
                        entries[source]["outcome"] = CHANGED
                continue
            for index, targets in enumerate(outputs or []):
                for target in targets or []:
                    edge = _edge_for(source, index, target, by_name, built, loops, entries)
                    if edge is not None and tuple(sorted(edge.items())) not in seen:
                        seen.add(tuple(sorted(edge.items())))
                        edges.append(edge)
    return edges


def _edge_for(source, index, target, by_name, built, loops, entries) -> dict | None:
    if not isinstance(target, dict):
        return None
    target_name = target.get("node")
    if target_name not in by_name:
        if source in entries:
            entries[source]["changes"].append(UNKNOWN_TARGET.format(name=target_name))
        return None
    if source not in built or target_name not in built:
        return None
    if target_name in loops and source in loops[target_name]:
        return None  # the edge back into Loop Over Items (see _loop)
    src, dst = built[source], built[target_name]
    out = src.outputs.get(index)
    if out is None and by_name[source].get("onError") == "continueErrorOutput":
        out = (src.work, "error")
    into = dst.inputs.get(int(target.get("index", 0)))
    if out is None or into is None:
        return None
    return _edge(out[0], into[0], out[1], into[1])


def translate_document(
    document: object, *, available_types: Collection[str] = (), workflow_ids: Mapping[str, str] | None = None
) -> list[Translation]:
    """One n8n workflow, a list of them (n8n's export of several), or `{"workflows": [...]}`."""
    if isinstance(document, dict) and isinstance(document.get("workflows"), list):
        document = document["workflows"]
    workflows = document if isinstance(document, list) else [document]
    # translate_workflow refuses (NOT_N8N) what is not a workflow object.
    return [
        translate_workflow(cast(dict, w), available_types=available_types, workflow_ids=workflow_ids) for w in workflows
    ]
