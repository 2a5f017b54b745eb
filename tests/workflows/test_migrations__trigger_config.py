"""Migration 0004: form and webhook trigger settings move into the start node; the trigger keeps no config."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = ("workflows", "0003_variables_in_definition_and_revision")
AFTER = ("workflows", "0004_trigger_config_into_start_node")
SCHEMA = {
    "title": "Contact us",
    "type": "object",
    "required": ["email"],
    "properties": {"email": {"type": "string", "format": "email"}},
}
LOG = {"id": "log", "type": "log", "config": {"message": "from {{ trigger.form.email }}"}}
MANUAL_START = {
    "nodes": [{"id": "start", "type": "manual", "config": {}}, LOG],
    "edges": [{"source": "start", "target": "log"}],
}
WEBHOOK_START = {
    "nodes": [{"id": "in", "type": "webhook", "config": {}}, LOG],
    "edges": [{"source": "in", "target": "log"}],
}


def _migrate(target) -> object:
    executor = MigrationExecutor(connection)
    executor.migrate([target])
    executor.loader.build_graph()
    return executor.loader.project_state([target]).apps


@pytest.mark.django_db(transaction=True)
def test_trigger_settings_move_into_the_start_node_and_a_new_version():
    old = _migrate(BEFORE)
    organization = old.get_model("orgs", "Organization").objects.create(name="Acme", slug="acme-trigger-move")
    Workflow = old.get_model("workflows", "Workflow")
    Version = old.get_model("workflows", "WorkflowVersion")
    Trigger = old.get_model("workflows", "Trigger")

    def trigger(name, definition, kind, config, secret=""):
        workflow = Workflow.objects.create(organization=organization, name=name, definition=definition)
        Version.objects.create(organization=organization, workflow=workflow, number=1, definition=definition)
        row = Trigger.objects.create(
            organization=organization, workflow=workflow, kind=kind, config=config, signing_secret=secret
        )
        return row.pk, workflow.pk

    form = trigger("form", MANUAL_START, "form", {"schema": SCHEMA, "success_message": "Thanks!"})
    signed = trigger("signed", WEBHOOK_START, "webhook", {"response_mode": "wait", "timeout_seconds": 20}, "whsec_1")
    unsigned = trigger("unsigned", WEBHOOK_START, "webhook", {})
    schedule = trigger("tick", MANUAL_START, "schedule", {"cron": "0 9 * * *", "timezone": "UTC"})
    try:
        new = _migrate(AFTER)
        Workflow = new.get_model("workflows", "Workflow")
        Version = new.get_model("workflows", "WorkflowVersion")
        Trigger = new.get_model("workflows", "Trigger")

        def after(pair):
            trigger_pk, workflow_pk = pair
            versions = {v.number: v.definition for v in Version.objects.filter(workflow_id=workflow_pk)}
            return Trigger.objects.get(pk=trigger_pk), Workflow.objects.get(pk=workflow_pk).definition, versions

        row, definition, versions = after(form)
        start = definition["nodes"][0]
        assert start["type"] == "form"
        assert start["config"]["title"] == "Contact us"
        assert start["config"]["fields"]["required"] == ["email"]
        assert start["config"]["success_message"] == "Thanks!"
        assert definition["nodes"][1]["config"]["message"] == "from {{ trigger.email }}"
        assert versions[2] == definition and versions[1] == MANUAL_START
        assert row.config == {}

        row, definition, versions = after(signed)
        assert definition["nodes"][0]["config"] == {
            "require_signature": True,
            "response_mode": "response_node",
            "response_timeout_seconds": 20,
        }
        assert sorted(versions) == [1, 2]
        assert (row.config, row.signing_secret) == ({}, "whsec_1")

        row, definition, versions = after(unsigned)
        assert definition == WEBHOOK_START and sorted(versions) == [1]
        assert row.signing_secret.startswith("whsec_") and row.config == {}

        row, definition, versions = after(schedule)
        assert row.config == {"cron": "0 9 * * *", "timezone": "UTC"} and sorted(versions) == [1]
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
