"""Move what form and webhook trigger records declared into the workflow's start node, then drop it.

The start node's config is now the one source of truth: a form trigger's `config.schema` (and
`success_message`) become the `form` node's `fields`; a webhook trigger's signing (`signing_secret` set)
becomes `require_signature`, its `response_mode: "wait"` becomes `"response_node"` and its
`timeout_seconds` becomes `response_timeout_seconds`. A workflow that started with an empty `manual` node
gets a `form` or `webhook` node in its place (the run input of a form is now the submitted values, so
`trigger.form.x` in the workflow's expressions becomes `trigger.x`). A changed definition is recorded as a
new version, so runs use it (the working copy, which may be a draft, gets the same move). Every webhook trigger gets a signing secret, used when its node asks for one.
"""

import json
import secrets

from django.db import migrations


def _start(definition: dict, node_type: str) -> dict | None:
    return next((node for node in definition.get("nodes", []) if node.get("type") == node_type), None)


def _converted_manual(definition: dict, node_type: str) -> dict | None:
    """The workflow's empty manual start node, turned into `node_type` in place (None when there is none)."""
    targets = {edge.get("target") for edge in definition.get("edges", [])}
    for node in definition.get("nodes", []):
        if node.get("type") == "manual" and not node.get("config") and node.get("id") not in targets:
            node["type"] = node_type
            node["config"] = {}
            return node
    return None


def _form(trigger, definition: dict) -> None:
    config = trigger.config or {}
    schema = config.get("schema")
    node = _start(definition, "form")
    if node is None and isinstance(schema, dict):
        node = _converted_manual(definition, "form")
        if node is not None:
            fields = {key: value for key, value in schema.items() if key not in ("title", "description")}
            node["config"] = {
                "title": schema.get("title") or trigger.name or trigger.workflow.name,
                "fields": {"type": "object", **fields},
                "field_order": list((schema.get("properties") or {}).keys()),
            }
            if schema.get("description"):
                node["config"]["description"] = schema["description"]
            text = json.dumps(definition).replace("trigger.form.", "trigger.")
            definition.clear()
            definition.update(json.loads(text))
            node = _start(definition, "form")
    if node is None:
        return
    node_config = node.setdefault("config", {})
    if "fields" not in node_config and isinstance(schema, dict):
        node_config["fields"] = schema
    if config.get("success_message") and "success_message" not in node_config:
        node_config["success_message"] = config["success_message"]


def _webhook(trigger, definition: dict) -> None:
    config = trigger.config or {}
    node = _start(definition, "webhook") or _converted_manual(definition, "webhook")
    if node is None:
        return
    node_config = node.setdefault("config", {})
    if trigger.signing_secret:
        node_config["require_signature"] = True
    if config.get("response_mode") == "wait":
        node_config["response_mode"] = "response_node"
    if "timeout_seconds" in config and "response_timeout_seconds" not in node_config:
        node_config["response_timeout_seconds"] = min(max(float(config["timeout_seconds"]), 1), 300)


def _moved(trigger, definition) -> dict:
    """A copy of `definition` with the trigger's settings moved into its start node."""
    copy = json.loads(json.dumps(definition if isinstance(definition, dict) else {}))
    (_form if trigger.kind == "form" else _webhook)(trigger, copy)
    return copy


def forwards(apps, schema_editor):
    Trigger = apps.get_model("workflows", "Trigger")
    WorkflowVersion = apps.get_model("workflows", "WorkflowVersion")
    for trigger in Trigger.objects.filter(kind__in=["form", "webhook"]).select_related("workflow"):
        workflow = trigger.workflow
        # The working copy (maybe a draft) and the latest version (what runs) both get the move; versions are
        # immutable, so a changed latest version is recorded as a new one.
        working = _moved(trigger, workflow.definition)
        if working != workflow.definition:
            workflow.definition = working
            workflow.save(update_fields=["definition"])
        latest = WorkflowVersion.objects.filter(workflow=workflow).order_by("-number").first()
        if latest is not None:
            moved = _moved(trigger, latest.definition)
            if moved != latest.definition:
                WorkflowVersion.objects.create(
                    organization_id=workflow.organization_id, workflow=workflow, number=latest.number + 1, definition=moved
                )
        trigger.config = {}
        if trigger.kind == "webhook" and not trigger.signing_secret:
            trigger.signing_secret = "whsec_" + secrets.token_hex(24)
        trigger.save(update_fields=["config", "signing_secret"])


class Migration(migrations.Migration):
    dependencies = [("workflows", "0003_variables_in_definition_and_revision")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
