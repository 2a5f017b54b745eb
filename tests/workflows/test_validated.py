"""A start validates a version once per process, not at every run; a disabled type or a bad draft is still refused."""

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.executions.services import execution_start
from apps.nodes.models import NodeType
from apps.workflows import validated
from apps.workflows.choices import TriggerKind
from apps.workflows.graph import DISABLED_NODE_TYPE
from apps.workflows.services import workflow_create
from apps.workflows.validation import DefinitionInvalid
from tests.orgs.factories import OrganizationFactory

pytestmark = pytest.mark.django_db

DEFINITION = {
    "nodes": [
        {"id": "start", "type": "manual", "config": {}},
        {"id": "a", "type": "set", "config": {"values": {"x": 1}}},
        {"id": "b", "type": "set", "config": {"values": {"y": "{{ nodes.a.output.x }}"}}},
    ],
    "edges": [{"source": "start", "target": "a"}, {"source": "a", "target": "b"}],
}


@pytest.fixture(autouse=True)
def _fresh_cache():
    validated.forget_all()
    yield
    validated.forget_all()


@pytest.fixture
def validations(monkeypatch):
    """How many times the full validation ran (a spy around the real function)."""
    calls = []
    real = validated.workflow_definition_problems

    def counting(definition, **kwargs):
        calls.append(definition)
        return real(definition, **kwargs)

    monkeypatch.setattr(validated, "workflow_definition_problems", counting)
    return calls


@pytest.fixture
def workflow():
    return workflow_create(organization=OrganizationFactory(), name="once", definition=DEFINITION)


def test_a_version_is_validated_once_for_many_starts(workflow, validations):
    for _ in range(3):
        execution_start(workflow=workflow, trigger_data={}, trigger_kind=TriggerKind.WEBHOOK)
    assert len(validations) == 1


def test_a_manual_start_validates_the_unchanged_draft_once(workflow, validations):
    for _ in range(3):
        execution_start(workflow=workflow, trigger_data={})
    assert len(validations) == 2  # the working copy (by content) and the version (by id), once each


def test_a_repeated_start_costs_one_query_for_the_disabled_types(workflow):
    execution_start(workflow=workflow, trigger_data={}, trigger_kind=TriggerKind.WEBHOOK)
    version = workflow.latest_version
    with CaptureQueriesContext(connection) as queries:
        validated.definition_validate_once(version.definition, version_id=version.pk)
    assert len(queries) == 1


def test_a_type_disabled_after_a_valid_start_is_refused(workflow):
    execution_start(workflow=workflow, trigger_data={}, trigger_kind=TriggerKind.WEBHOOK)
    assert NodeType.objects.filter(name="set").update(is_enabled=False) == 1  # the row sync_node_types keeps
    with pytest.raises(DefinitionInvalid) as refused:
        execution_start(workflow=workflow, trigger_data={}, trigger_kind=TriggerKind.WEBHOOK)
    assert {p.code for p in refused.value.problems} == {DISABLED_NODE_TYPE}
    NodeType.objects.filter(name="set").update(is_enabled=True)
    execution_start(workflow=workflow, trigger_data={}, trigger_kind=TriggerKind.WEBHOOK)


def test_an_edited_invalid_draft_is_refused_every_time(workflow, validations):
    execution_start(workflow=workflow, trigger_data={})
    workflow.definition = {**DEFINITION, "edges": DEFINITION["edges"] + [{"source": "b", "target": "nowhere"}]}
    for _ in range(2):
        with pytest.raises(ValidationError) as refused:
            execution_start(workflow=workflow, trigger_data={})
        assert "definition" in refused.value.message_dict
    assert len(validations) == 4  # the invalid draft is never remembered: validated in full at each start
