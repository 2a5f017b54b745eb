"""Migration 0003: top-level variables merged into the working definition; versions are never rewritten."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = ("workflows", "0002_form_submission")
AFTER = ("workflows", "0003_variables_in_definition_and_revision")
DEFINITION = {
    "nodes": [{"id": "start", "type": "manual", "config": {}}],
    "edges": [],
    "variables": {"limit": 100, "unit": "EUR"},
}


def _migrate(target) -> object:
    executor = MigrationExecutor(connection)
    executor.migrate([target])
    executor.loader.build_graph()
    return executor.loader.project_state([target]).apps


@pytest.mark.django_db(transaction=True)
def test_top_level_variables_move_into_the_definition_and_a_new_version():
    old = _migrate(BEFORE)
    organization = old.get_model("orgs", "Organization").objects.create(name="Acme", slug="acme-migration")
    Workflow = old.get_model("workflows", "Workflow")
    Version = old.get_model("workflows", "WorkflowVersion")

    def workflow(name, definition, variables, *, version_definition):
        row = Workflow.objects.create(organization=organization, name=name, definition=definition, variables=variables)
        Version.objects.create(organization=organization, workflow=row, number=1, definition=version_definition)
        return row.pk

    published = workflow("published", DEFINITION, {"limit": 5}, version_definition=DEFINITION)
    drafted = workflow("draft", {**DEFINITION, "edges": [1]}, {"limit": 6}, version_definition=DEFINITION)
    untouched = workflow("none", DEFINITION, {}, version_definition=DEFINITION)
    try:
        new = _migrate(AFTER)
        Workflow = new.get_model("workflows", "Workflow")
        Version = new.get_model("workflows", "WorkflowVersion")

        def state(pk):
            versions = {v.number: v.definition["variables"] for v in Version.objects.filter(workflow_id=pk)}
            return Workflow.objects.get(pk=pk).definition["variables"], versions

        merged = {"limit": 5, "unit": "EUR"}
        assert state(published) == (merged, {1: DEFINITION["variables"], 2: merged})
        assert state(drafted) == ({"limit": 6, "unit": "EUR"}, {1: DEFINITION["variables"]})
        assert state(untouched) == (DEFINITION["variables"], {1: DEFINITION["variables"]})
        assert {f.name for f in Workflow._meta.fields} >= {"revision"} and "variables" not in {
            f.name for f in Workflow._meta.fields
        }
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
